"""Which project and environment an operator is working in.

The login session keeps the environment of this login (its id only: the login session never
holds conversation state), so a read of a session in the environment already chosen costs no
query. The operator's preference row keeps the last environment chosen in any login, and is what
a new login starts in; it is written only when a login changes environment.
"""

import functools

from django import forms
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from . import sql
from .models import (
    SECRET_FIELDS,
    Environment,
    OperatorPreference,
    Project,
    environment_choice_label,
)

SESSION_ENVIRONMENT = "workspace_environment_id"


def environments_without_secrets() -> QuerySet[Environment]:
    """Environments with their project, its secrets left unloaded: what lists and choices need,
    and a key that no longer decrypts cannot break them."""
    return Environment.objects.select_related("project").defer(
        *(f"project__{name}" for name in SECRET_FIELDS)
    )


def environment_choices() -> list[tuple[int, str]]:
    """Every environment's id and label (`Environment.choice_label`), in the list's order: what
    the switcher on every page shows. Read as plain values with a query written once (the ORM
    built it, and the model rows, for several times its run on every page), without the
    project's secrets, so a key that no longer decrypts cannot take every page down with it."""
    with connection.cursor() as cursor:
        cursor.execute(_environment_choices_sql())
        rows = cursor.fetchall()
    return [
        (pk, environment_choice_label(label, is_production, project_name))
        for pk, label, is_production, project_name in rows
    ]


@functools.cache
def _environment_choices_sql() -> str:
    pk, label, is_production, project_id = (
        sql.column(Environment, name, "e") for name in ("id", "label", "is_production", "project")
    )
    project_pk, project_name = (sql.column(Project, name, "p") for name in ("id", "name"))
    # The order is Environment.Meta.ordering's.
    return (
        f"SELECT {pk}, {label}, {is_production}, {project_name}"  # noqa: S608
        f" FROM {sql.table(Environment)} e JOIN {sql.table(Project)} p"
        f" ON {project_pk} = {project_id} ORDER BY {project_name}, {label}"
    )


class EnvironmentChoiceField(forms.ModelChoiceField):
    """A choice of environment, each named environment first (`Environment.choice_label`)."""

    def label_from_instance(self, obj: Environment) -> str:
        return obj.choice_label


def _login_session(request: HttpRequest):
    return getattr(request, "session", None)


def current_environment(request: HttpRequest) -> Environment | None:
    cached = getattr(request, "_current_environment", False)
    if cached is not False:
        return cached
    session = _login_session(request)
    kept_id = session.get(SESSION_ENVIRONMENT) if session is not None else None
    environment = None
    if kept_id is not None:
        environment = environments_without_secrets().filter(pk=kept_id).first()
        if environment is None:  # deleted since: start again from the preference
            del session[SESSION_ENVIRONMENT]
    if environment is None:
        preference = (
            OperatorPreference.objects.filter(user=request.user)
            .select_related("environment__project")
            .defer(*(f"environment__project__{name}" for name in SECRET_FIELDS))
            .first()
        )
        environment = preference.environment if preference else None
    if environment is None:
        environment = environments_without_secrets().first()
    request._current_environment = environment
    return environment


def remember_environment(request: HttpRequest, environment: Environment) -> None:
    """Make `environment` this login's, and the preference a new login starts with. Every read
    of a session passes here: when the login is already in this environment it costs no query,
    and the preference is written only when it changes."""
    session = _login_session(request)
    if session is None or session.get(SESSION_ENVIRONMENT) != environment.pk:
        kept = OperatorPreference.objects.filter(user=request.user).values("environment_id").first()
        if kept is None or kept["environment_id"] != environment.pk:
            OperatorPreference.objects.update_or_create(
                user=request.user, defaults={"environment": environment}
            )
        if session is not None:
            session[SESSION_ENVIRONMENT] = environment.pk
    request._current_environment = environment
