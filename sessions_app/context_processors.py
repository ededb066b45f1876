from django.http import HttpRequest

from .models import Environment
from .workspace import current_environment


def workspace(request: HttpRequest) -> dict:
    """The environment switcher and badge shown on every page."""
    if not request.user.is_authenticated:
        return {}
    return {
        "current_environment": current_environment(request),
        "all_environments": Environment.objects.select_related("project"),
    }
