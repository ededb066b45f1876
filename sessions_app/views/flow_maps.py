"""A project's flow maps on its page (Admin): upload a .vf file, or fetch the files again."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ..access import require
from ..admin_actions import record_project_change
from ..flows.forms import ProjectFileUploadForm
from ..flows.loading import fetch_again, store_project_file
from ..models import SECRET_FIELDS, AuditEntry, FlowMap, Project
from ..step_up import step_up_required


@require_POST
@step_up_required
def project_flow_map_upload(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "manage_projects")
    project = get_object_or_404(Project.objects.defer(*SECRET_FIELDS), pk=pk)
    form = ProjectFileUploadForm(request.POST, request.FILES, project=project)
    if not form.is_valid():
        return render(
            request,
            "flows/upload_problem.html",
            {"project": project, "upload_form": form},
            status=400,
        )
    parsed = form.parsed
    store_project_file(
        project.pk,
        parsed.version_id,
        parsed,
        source=FlowMap.Source.UPLOAD,
        uploaded_by=request.user,
    )
    record_project_change(
        project,
        {"flow_map_uploaded": {"version_id": parsed.version_id, "flows": len(parsed.flows)}},
        actor=request.user,
        source=AuditEntry.Source.PAGE,
    )
    messages.success(
        request,
        f"Flow names of version {parsed.version_id} loaded: {len(parsed.flows)} flows, "
        f"{len(parsed.nodes)} blocks and steps.",
    )
    return HttpResponseRedirect(reverse("project_edit", args=[project.pk]) + "#flow-maps")


@require_POST
def project_flow_map_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "manage_projects")
    project = get_object_or_404(Project.objects.defer(*SECRET_FIELDS), pk=pk)
    queued = fetch_again(project)
    if queued:
        messages.success(
            request,
            f"Fetching the project file of {queued} environment{'s' if queued != 1 else ''} "
            "again; the inspector shows the new names once it is in.",
        )
    else:
        messages.warning(request, "Fetching project files is turned off (FLOW_MAP_FETCH).")
    return HttpResponseRedirect(reverse("project_edit", args=[project.pk]) + "#flow-maps")
