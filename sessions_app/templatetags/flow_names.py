"""`{{ known|current_flow_name }}`: a known session's current flow by its name in the project's
newest loaded flow map, where the stored value is a diagramID (frames rarely carry a name)."""

from django import template

from ..flows.loading import newest_flow_names
from ..models import Environment

register = template.Library()
_project_of: dict[int, int] = {}


@register.filter
def current_flow_name(known) -> str:
    stored = known.current_flow
    if not stored:
        return stored
    project_id = _project_of.get(known.environment_id)
    if project_id is None:  # an environment stays in its project: asked once per process
        project_id = Environment.objects.values_list("project_id", flat=True).get(
            pk=known.environment_id
        )
        _project_of[known.environment_id] = project_id
    return newest_flow_names(project_id).get(stored, stored)
