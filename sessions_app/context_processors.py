from django.http import HttpRequest

from .models import Environment
from .workspace import current_environment


def workspace(request: HttpRequest) -> dict:
    """The environment switcher and badge shown on every page."""
    if not request.user.is_authenticated:
        return {}
    return {
        "current_environment": current_environment(request),
        # Without the secrets: the switcher never needs them, and a key that no longer
        # decrypts must not take every page down with it.
        "all_environments": Environment.objects.select_related("project").defer(
            "project__api_key", "project__access_token"
        ),
    }
