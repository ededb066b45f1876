"""Who may do what: one place that answers 403 to a role without the right, 404 to a missing object."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from .models import Environment
from .roles import roles_holding

APP = "sessions_app"


class MissingPermission(PermissionDenied):
    """A 403 that knows which permission was missing, so the page can name it and its roles."""

    def __init__(self, codename: str) -> None:
        self.codename = codename
        self.roles = roles_holding(codename)
        holders = f" ({' or '.join(self.roles)})" if self.roles else ""
        super().__init__(
            f"Your role does not allow this: it needs the “{codename.replace('_', ' ')}” "
            f"permission{holders}."
        )


def require(request: HttpRequest, codename: str) -> None:
    if not request.user.has_perm(f"{APP}.{codename}"):
        raise MissingPermission(codename)


def environment_or_404(environment_id: int) -> Environment:
    """The environment with its project, or 404: how pages and the API look one up."""
    return get_object_or_404(Environment.objects.select_related("project"), pk=environment_id)


def environment_for(request: HttpRequest, environment_id: int, codename: str) -> Environment:
    """The environment, if the signed-in operator holds `codename`."""
    require(request, codename)
    return environment_or_404(environment_id)


def can(request: HttpRequest, codename: str) -> bool:
    return request.user.has_perm(f"{APP}.{codename}")
