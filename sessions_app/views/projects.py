"""Projects and credentials: list, create, edit, delete, and "Test connection" (Admin role)."""

from django.contrib import messages
from django.db.models import Prefetch, ProtectedError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from ..access import require
from ..admin_actions import check_connection, do_delete_project, do_save_project
from ..flows.loading import flow_maps_of
from ..forms import EnvironmentFormSet, ProjectForm
from ..models import SECRET_FIELDS, AuditEntry, Environment, Project
from ..step_up import step_up_required
from ..workspace import environments_without_secrets

MANAGE = "manage_projects"


def _projects():
    # Secrets stay deferred: pages never need them, and a project whose key no longer decrypts
    # must still be listed and editable (to enter the key again).
    return Project.objects.defer(*SECRET_FIELDS).prefetch_related(
        Prefetch("environments", queryset=Environment.objects.order_by("label"))
    )


def project_list(request: HttpRequest) -> HttpResponse:
    require(request, MANAGE)
    return render(request, "projects/list.html", {"projects": _projects()})


def _protected_message(error: ProtectedError) -> str:
    labels = sorted({str(obj.environment.label) for obj in error.protected_objects})
    return (
        f"Bulk jobs in the history of {', '.join(labels)} refer to it; an environment with "
        "bulk jobs cannot be deleted."
    )


def _edit(request: HttpRequest, project: Project) -> HttpResponse:
    creating = project.pk is None
    form = ProjectForm(request.POST or None, instance=project)
    environments = EnvironmentFormSet(request.POST or None, instance=project, prefix="environments")
    if request.method == "POST" and form.is_valid() and environments.is_valid():
        try:
            do_save_project(
                form.save(commit=False),
                environments=environments,
                actor=request.user,
                source=AuditEntry.Source.PAGE,
            )
        except ProtectedError as error:
            messages.error(request, f"Not saved. {_protected_message(error)}")
        else:
            for warning in form.warnings:
                messages.warning(request, warning)
            verb = "created" if creating else "saved"
            messages.success(request, f"Project {project.name} {verb}.")
            return HttpResponseRedirect(reverse("projects"))
    return render(
        request,
        "projects/edit.html",
        {
            "form": form,
            "environments": environments,
            "project": project,
            "creating": creating,
            "flow_maps": flow_maps_of(project),
        },
    )


@require_http_methods(["GET", "POST"])
@step_up_required
def project_create(request: HttpRequest) -> HttpResponse:
    require(request, MANAGE)
    return _edit(request, Project())


@require_http_methods(["GET", "POST"])
@step_up_required
def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, MANAGE)
    return _edit(request, get_object_or_404(_projects(), pk=pk))


@require_http_methods(["GET", "POST"])
@step_up_required
def project_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, MANAGE)
    project = get_object_or_404(_projects(), pk=pk)
    if request.method == "POST":
        name = project.name
        try:
            do_delete_project(project, actor=request.user, source=AuditEntry.Source.PAGE)
        except ProtectedError as error:
            messages.error(request, f"Project {name} was not deleted. {_protected_message(error)}")
        else:
            messages.success(request, f"Project {name} deleted.")
        return HttpResponseRedirect(reverse("projects"))
    return render(request, "projects/delete.html", {"project": project})


@require_POST
def environment_test_connection(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    require(request, MANAGE)
    # Loaded without the secrets: a key that no longer decrypts is reported by check_connection.
    environment = get_object_or_404(environments_without_secrets(), pk=pk)
    connected, message = check_connection(environment)
    label = f"{environment.project.name} · {environment.label}: "
    (messages.success if connected else messages.error)(request, label + message)
    return HttpResponseRedirect(reverse("projects") + f"#environment-{environment.pk}")
