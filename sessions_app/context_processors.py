from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Environment
from .workspace import current_environment


def workspace(request: HttpRequest) -> dict:
    """The environment switcher and badge shown on every page."""
    if not request.user.is_authenticated:
        return {}
    return {
        # Looked up when a template shows it: a fragment (watch mode's poll) shows neither.
        "current_environment": SimpleLazyObject(lambda: current_environment(request)),
        # Only what the switcher shows (`Environment.choice_label`): no secrets, so a key that
        # no longer decrypts cannot take every page down with it. Evaluated once, by the
        # switcher's first use of it.
        "all_environments": Environment.objects.select_related("project").only(
            "label", "is_production", "project__name"
        ),
    }
