"""The four roles and what each may do. Each role includes everything of the ones before it."""

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "Viewer": ["inspect_session", "view_audit"],
    "Support": ["edit_variables", "interact_session"],
    "Ops": ["replace_state", "reset_session", "run_bulk_jobs", "see_personal_data"],
    "Admin": ["manage_projects", "manage_team"],
}
ROLE_NAMES = list(ROLE_PERMISSIONS)


def permissions_of(role: str) -> list[str]:
    """Codenames granted to a role, including those of the roles below it."""
    granted: list[str] = []
    for name in ROLE_NAMES:
        granted.extend(ROLE_PERMISSIONS[name])
        if name == role:
            return granted
    raise ValueError(f"Unknown role {role!r}; roles are {', '.join(ROLE_NAMES)}.")


def roles_holding(codename: str) -> list[str]:
    """The roles that hold a permission, lowest first (each role includes those below it)."""
    return [role for role in ROLE_NAMES if codename in permissions_of(role)]


def highest_role(group_names: Iterable[str]) -> str | None:
    """The highest of the four roles among these groups; None when none of them is a role."""
    held = set(group_names)
    return next((role for role in reversed(ROLE_NAMES) if role in held), None)


def ensure_roles() -> dict[str, Group]:
    """Create or update the role groups so each holds exactly its permissions."""
    groups = {}
    for role in ROLE_NAMES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="sessions_app", codename__in=permissions_of(role)
            )
        )
        groups[role] = group
    return groups
