"""Who may do what: one place that answers 403 to a role without the right, 404 to a missing object."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from .models import Environment
from .roles import roles_holding

APP = "sessions_app"


class PermissionsBackend(ModelBackend):
    """Django's ModelBackend, with a user's own and their roles' permissions read in one query
    (a UNION) instead of two. Like ModelBackend it keeps them on the user object for this request
    only, so a change of role applies from the next request on."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                held = _labels(Permission.objects.all())
            else:
                held = _labels(Permission.objects.filter(user=user_obj)).union(
                    _labels(Permission.objects.filter(group__user=user_obj))
                )
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in held}
        return user_obj._perm_cache


def _labels(permissions):
    return permissions.values_list("content_type__app_label", "codename").order_by()


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
