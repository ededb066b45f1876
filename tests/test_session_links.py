"""Links in and out of a session: the stable address a helpdesk links to by userID, the copy
link on the inspector, and the CRM link template an Admin sets per project."""

import html
import re
from urllib.parse import quote

import pytest
from django.urls import reverse
from flow_support import talk
from inspector_support import action_url, text_of
from project_form_support import submitted

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.production_path


def stable_url(project_id: str, environment: str, user_id: str) -> str:
    return f"/s/{project_id}/{environment}?user={quote(user_id, safe='')}"


@pytest.mark.parametrize("user_id", ["plain-user", "acme/eu#7 ü?x=1&y", "a%2Fb"])
def test_the_stable_link_opens_the_inspector_of_that_session(
    client_for_user, environment, viewer, user_id
):
    project_id = environment.project.voiceflow_project_id

    answer = client_for_user(viewer).get(stable_url(project_id, "Development", user_id))

    assert answer.status_code == 302
    assert answer["Location"] == action_url("session_inspect", environment, user_id)


def test_the_environment_may_be_named_by_its_label_in_any_case_or_its_version(
    client_for_user, environment, viewer
):
    project_id = environment.project.voiceflow_project_id
    client = client_for_user(viewer)

    for name in ("development", "DEVELOPMENT"):
        answer = client.get(stable_url(project_id, name, "u"))
        assert answer["Location"] == action_url("session_inspect", environment, "u")


def test_an_unknown_project_or_environment_is_not_found(client_for_user, environment, viewer):
    client = client_for_user(viewer)

    assert client.get(stable_url("nope", "Development", "u")).status_code == 404
    assert (
        client.get(stable_url(environment.project.voiceflow_project_id, "Staging", "u")).status_code
        == 404
    )


def test_a_signed_out_helpdesk_agent_comes_back_to_the_session_after_signing_in(environment):
    from django.test import Client

    url = stable_url(environment.project.voiceflow_project_id, "Development", "ticket-user")

    answer = Client().get(url)

    assert answer.status_code == 302
    assert answer["Location"] == f"{reverse('login')}?next={quote(url, safe='/')}"


def test_the_inspector_shows_the_stable_link_to_copy(
    client_for_user, sandbox, sandbox_project, environment, viewer
):
    talk(sandbox, sandbox_project, "linked user")

    page = client_for_user(viewer).get(action_url("session_inspect", environment, "linked user"))
    html = page.content.decode()

    link = "http://testserver" + stable_url(
        environment.project.voiceflow_project_id, "Development", "linked user"
    )
    assert f'<code id="session-link">{link}</code>' in html
    assert 'data-copy-target="#session-link"' in html
    assert "crm-link" not in html


def test_the_crm_template_turns_the_userid_into_a_link(client_for_user, environment, viewer):
    environment.project.crm_link_template = "https://crm.example.com/people?external_id={userID}"
    environment.project.save()

    page = client_for_user(viewer).get(action_url("session_inspect", environment, "a&b c"))

    assert 'href="https://crm.example.com/people?external_id=a%26b%20c"' in page.content.decode()


@pytest.mark.parametrize(
    "template, message",
    [
        ("javascript:alert({userID})", "must be an http:// or https:// address"),
        ("https://crm.example.com/customers", "must contain {userID}"),
        ("https://crm.example.com/{userID}/{email}", "Only {userID} may be used"),
        ("https://crm.example.com/?q={userid}", "must contain {userID}"),
        ("https:///{userID}", "must be an http:// or https:// address"),
        ("https://crm.example.com/a b/{userID}", "may not contain spaces"),
    ],
)
def test_an_invalid_crm_template_is_refused_with_a_message(
    stored_project,
    admin_client_,
    template,
    message,
):
    url = reverse("project_edit", args=[stored_project.pk])

    answer = admin_client_.post(url, submitted(admin_client_.get(url), crm_link_template=template))

    assert answer.status_code == 200
    assert message in text_of(answer)
    stored_project.refresh_from_db()
    assert stored_project.crm_link_template == ""


def test_an_admin_sets_the_crm_template_and_the_change_is_audited(
    stored_project,
    admin_client_,
):
    url = reverse("project_edit", args=[stored_project.pk])
    template = "https://example.zendesk.com/agent/search/1?q={userID}"

    answer = admin_client_.post(url, submitted(admin_client_.get(url), crm_link_template=template))

    assert answer.status_code == 302
    stored_project.refresh_from_db()
    assert stored_project.crm_link_template == template
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PROJECT_CHANGED)
    assert "crm_link_template" in entry.request_sent["fields"]


def test_an_environment_label_with_any_characters_has_a_working_link(
    client_for_user, project, viewer
):
    from sessions_app.models import Environment

    odd = Environment.objects.create(
        project=project, label='EU/west #2 ?"<x>', version_id="production"
    )
    client = client_for_user(viewer)

    page = client.get(action_url("session_inspect", odd, "u-1"))
    link = re.search(r'<code id="session-link">([^<]+)</code>', page.content.decode()).group(1)
    answer = client.get(html.unescape(link).removeprefix("http://testserver"))

    assert answer["Location"] == action_url("session_inspect", odd, "u-1")


def test_the_api_sets_the_crm_template_and_refuses_a_bad_one(project, admin_user):
    from api_support import token_client

    client = token_client(admin_user)
    url = f"/api/v1/projects/{project.pk}"

    refused = client.patch(url, {"crm_link_template": "ftp://crm/{userID}"}, format="json")
    accepted = client.patch(
        url, {"crm_link_template": "https://crm.example.com/c/{userID}"}, format="json"
    )

    assert refused.status_code == 400
    assert "http:// or https://" in str(refused.json())
    assert accepted.status_code == 200
    assert accepted.json()["crm_link_template"] == "https://crm.example.com/c/{userID}"


def test_a_signed_in_person_without_a_role_learns_nothing_about_which_projects_exist(
    client_for_user, environment, outsider
):
    client = client_for_user(outsider)
    known = stable_url(environment.project.voiceflow_project_id, "Development", "u")

    assert client.get(known).status_code == 403
    assert client.get(stable_url("nope", "Development", "u")).status_code == 403
