from django.http import HttpRequest

from .workspace import current_environment, environments_without_secrets


def workspace(request: HttpRequest) -> dict:
    """The environment switcher and badge shown on every page."""
    if not request.user.is_authenticated:
        return {}
    return {
        "current_environment": current_environment(request),
        # Without the secrets: the switcher never needs them, and a key that no longer
        # decrypts must not take every page down with it.
        "all_environments": environments_without_secrets(),
    }
