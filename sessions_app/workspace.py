"""Which project and environment an operator is working in, remembered per user."""

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import SECRET_FIELDS, Environment, OperatorPreference


def environments_without_secrets() -> QuerySet[Environment]:
    """Environments with their project, its secrets left unloaded: what lists and choices need,
    and a key that no longer decrypts cannot break them."""
    return Environment.objects.select_related("project").defer(
        *(f"project__{name}" for name in SECRET_FIELDS)
    )


class EnvironmentChoiceField(forms.ModelChoiceField):
    """A choice of environment, each named environment first (`Environment.choice_label`)."""

    def label_from_instance(self, obj: Environment) -> str:
        return obj.choice_label


def current_environment(request: HttpRequest) -> Environment | None:
    cached = getattr(request, "_current_environment", False)
    if cached is not False:
        return cached
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
    """Remember the operator's environment; written only when it changes (every read of a
    session passes here, and an unchanged preference needs no write transaction)."""
    kept = OperatorPreference.objects.filter(user=request.user).values("environment_id").first()
    if kept is None or kept["environment_id"] != environment.pk:
        OperatorPreference.objects.update_or_create(
            user=request.user, defaults={"environment": environment}
        )
    request._current_environment = environment
