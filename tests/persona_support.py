"""The test personas' password and how a persona is made (the persona fixtures are in conftest.py)."""

from django.contrib.auth import get_user_model

PASSWORD = "correct horse battery staple 42"


def create_persona(username: str, role: str | None):
    """An account holding one role (a group of sessions_app.roles), or none for an outsider."""
    from sessions_app.roles import ensure_roles

    groups = ensure_roles()
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    if role:
        user.groups.add(groups[role])
    return user
