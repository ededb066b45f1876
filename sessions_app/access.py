"""Who may do what: one place that answers 403 to a role without the right, 404 to a missing object."""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from . import sql
from .models import Environment
from .roles import roles_holding

APP = "sessions_app"


class PermissionsBackend(ModelBackend):
    """Django's ModelBackend, with a user's own and their roles' permissions read in one query
    (`_held_permissions_sql`) instead of two. Like ModelBackend it keeps them on the user object
    for this request only, so a change of role applies from the next request on."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                held = _labels(Permission.objects.all())
            else:
                with connection.cursor() as cursor:
                    cursor.execute(_held_permissions_sql(), [user_obj.pk, user_obj.pk])
                    held = cursor.fetchall()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in held}
        return user_obj._perm_cache


@functools.cache
def _held_permissions_sql() -> str:
    """The app label and codename of each permission a user holds, their own or a role's (the
    user's id twice). Written once: built by the ORM (a UNION of two joins) it cost ten times
    its run on every request, and every request of a signed-in operator reads it."""
    user = get_user_model()
    own, roles, granted = (
        user.user_permissions.through,
        user.groups.through,
        Group.permissions.through,
    )
    return (
        f"SELECT {sql.column(ContentType, 'app_label', 'ct')},"  # noqa: S608
        f" {sql.column(Permission, 'codename', 'p')}"
        f" FROM {sql.table(Permission)} p JOIN {sql.table(ContentType)} ct"
        f" ON {sql.column(ContentType, 'id', 'ct')} = {sql.column(Permission, 'content_type', 'p')}"
        f" WHERE {sql.column(Permission, 'id', 'p')} IN ("
        f"SELECT {sql.column(own, 'permission')} FROM {sql.table(own)}"
        f" WHERE {sql.matching(own, 'user')}"
        f" UNION SELECT {sql.column(granted, 'permission', 'g')} FROM {sql.table(granted)} g"
        f" JOIN {sql.table(roles)} r"
        f" ON {sql.column(roles, 'group', 'r')} = {sql.column(granted, 'group', 'g')}"
        f" WHERE {sql.column(roles, 'user', 'r')} = %s)"
    )


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
