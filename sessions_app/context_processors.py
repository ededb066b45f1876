from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .workspace import current_environment, environment_choices


def workspace(request: HttpRequest) -> dict:
    """The environment switcher and badge shown on every page."""
    if not request.user.is_authenticated:
        return {}
    return {
        # Looked up when a template shows it: a fragment (watch mode's poll) shows neither.
        "current_environment": SimpleLazyObject(lambda: current_environment(request)),
        # Looked up by the switcher's first use of it, like `current_environment`.
        "all_environments": SimpleLazyObject(environment_choices),
    }
