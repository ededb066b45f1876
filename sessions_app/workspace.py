"""Which project and environment an operator is working in, remembered per user."""

from django.http import HttpRequest

from .models import Environment, OperatorPreference


def current_environment(request: HttpRequest) -> Environment | None:
    cached = getattr(request, "_current_environment", False)
    if cached is not False:
        return cached
    preference = (
        OperatorPreference.objects.filter(user=request.user)
        .select_related("environment__project")
        .defer("environment__project__api_key", "environment__project__access_token")
        .first()
    )
    environment = preference.environment if preference else None
    if environment is None:
        environment = (
            Environment.objects.select_related("project")
            .defer("project__api_key", "project__access_token")
            .first()
        )
    request._current_environment = environment
    return environment


def remember_environment(request: HttpRequest, environment: Environment) -> None:
    OperatorPreference.objects.update_or_create(
        user=request.user, defaults={"environment": environment}
    )
    request._current_environment = environment
