"""The runtime's own variables are marked as the runtime's, each explained, and changing or
removing one is asked about on a page of its own before anything is sent."""

import html
import re

import pytest
from django.urls import reverse
from inspector_support import based_on, inspect_url, text_of
from real_runtime_states import mid_flow_state, seed

from sessions_app.inspector.display import RUNTIME_VARIABLES
from sessions_app.models import AuditEntry

USER = "probe-30d4f1-mid"
RUNTIME_NAMES = [
    "sessions",
    "user_id",
    "timestamp",
    "_memory_",
    "vf_memory",
    "last_event",
    "last_response",
    "platform",
    "locale",
    "intent_confidence",
    "last_utterance",
]


@pytest.fixture
def mid_flow(sandbox, environment) -> dict:
    return seed(sandbox, environment, USER, mid_flow_state(USER))


def stored(sandbox, environment) -> dict:
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def name_cell(page: str, table_id: str, name: str) -> str:
    table = re.search(rf'<table class="variables" id="{table_id}".*?</table>', page, re.S).group(0)
    row = re.search(rf'<tr class="var-row[^"]*" data-name="{name}".*?</tr>', table, re.S)
    return re.search(r'<td class="var-name">.*?</td>', row.group(0), re.S).group(0)


def test_every_runtime_variable_has_an_explanation():
    assert sorted(RUNTIME_VARIABLES) == sorted(RUNTIME_NAMES)
    assert all(len(note) > 20 for note in RUNTIME_VARIABLES.values())


def test_the_runtimes_variables_are_marked_and_explained(viewer_client, environment, mid_flow):
    page = viewer_client.get(inspect_url(environment, USER)).content.decode()

    for name in ("sessions", "user_id", "timestamp", "_memory_", "vf_memory", "last_event"):
        cell = name_cell(page, "global-variables", name)
        title = html.unescape(re.search(r'title="([^"]*)">runtime</span>', cell).group(1))
        assert title == f"The runtime's own variable. {RUNTIME_VARIABLES[name]}"
    for name in ("name", "counter", "hold"):
        assert ">runtime</span>" not in name_cell(page, "global-variables", name)
    # last_response is a frame variable in the runtime's states.
    assert ">runtime</span>" in name_cell(page, "frame-1-variables", "last_response")


def test_changing_a_runtime_variable_asks_first_and_sends_nothing(
    support_client, sandbox, environment, mid_flow
):
    fields = {
        "user": USER,
        "based_on": based_on(mid_flow),
        "name": "sessions",
        "kind": "number",
        "value": "1",
    }

    response = support_client.post(reverse("session_set_variable", args=[environment.pk]), fields)

    assert response.status_code == 200
    page = text_of(response)
    assert "Change the runtime's variable sessions ?" in page
    assert RUNTIME_VARIABLES["sessions"] in page
    assert "Set sessions to the number 1 for probe-30d4f1-mid" in page
    assert stored(sandbox, environment) == mid_flow
    assert not AuditEntry.objects.exists()

    confirmed = support_client.post(
        reverse("session_set_variable", args=[environment.pk]), {**fields, "confirm_runtime": "on"}
    )

    assert confirmed.status_code == 302
    assert stored(sandbox, environment)["variables"]["sessions"] == 1


def test_the_confirmation_page_posts_the_same_change_again(
    support_client, sandbox, environment, mid_flow
):
    fields = {"user": USER, "based_on": based_on(mid_flow), "name": "last_utterance"}
    page = support_client.post(
        reverse("session_remove_variable", args=[environment.pk]), fields
    ).content.decode()

    (form,) = [
        found
        for found in re.finditer(r'<form method="post" action="([^"]*)">(.*?)</form>', page, re.S)
        if "confirm_runtime" in found.group(2)
    ]
    assert form.group(1) == reverse("session_remove_variable", args=[environment.pk])
    posted = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    )
    del posted["csrfmiddlewaretoken"]
    assert posted == {**fields, "confirm_runtime": "on"}
    assert "last_utterance" in stored(sandbox, environment)["variables"]

    support_client.post(reverse("session_remove_variable", args=[environment.pk]), posted)

    assert "last_utterance" not in stored(sandbox, environment)["variables"]


def test_the_agents_own_variables_change_without_a_question(
    support_client, sandbox, environment, mid_flow
):
    response = support_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(mid_flow),
            "name": "hold",
            "kind": "number",
            "value": "0",
        },
    )

    assert response.status_code == 302
    assert stored(sandbox, environment)["variables"]["hold"] == 0
