"""Links in and out of a session: the stable address a helpdesk links to, and the CRM link an
Admin sets per project."""

from urllib.parse import quote, urlsplit

from django.core.exceptions import ValidationError
from django.urls import reverse

from ..models import Environment, Project

USER_PLACEHOLDER = "{userID}"


def validate_crm_link_template(template: str) -> None:
    """An http(s) address holding `{userID}` once or more, and no other placeholder."""
    if not template:
        return
    if USER_PLACEHOLDER not in template:
        raise ValidationError(
            "The template must contain {userID}, where the userID goes, e.g. "
            "https://crm.example.com/customers?external_id={userID}."
        )
    sample = template.replace(USER_PLACEHOLDER, "user-1")
    if "{" in sample or "}" in sample:
        raise ValidationError("Only {userID} may be used in the template (case matters).")
    if any(character.isspace() for character in sample):
        raise ValidationError("The template may not contain spaces or line breaks.")
    parts = urlsplit(sample)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("The template must be an http:// or https:// address.")


def crm_link(project: Project, user_id: str) -> str:
    """The customer's page in the project's CRM, the userID percent-encoded; "" without a template."""
    if not project.crm_link_template:
        return ""
    return project.crm_link_template.replace(USER_PLACEHOLDER, quote(user_id, safe=""))


def session_link(environment: Environment, user_id: str) -> str:
    """The stable path of a session: the Voiceflow project ID and the environment's label do not
    change when the dashboard's database ids do (a restored backup, a second installation)."""
    path = reverse(
        "session_link",
        args=[environment.project.voiceflow_project_id, environment.label],
    )
    return f"{path}?user={quote(user_id, safe='')}"
