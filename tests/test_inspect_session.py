"""Inspecting one conversation: stack, variables with their types, storage, raw JSON, watch mode,
odd userIDs and upstream failures, all against the sandbox over HTTP."""

import html
import json
import re

import pytest
from django.urls import reverse
from django.utils.html import escape
from inspector_support import (
    ORDER_FLOW,
    ROOT_FLOW,
    based_on,
    inspect_url,
    ordering_state,
    text_of,
)

from sessions_app.models import KnownSession, OperatorPreference

ODD_USER_IDS = [
    "a/b",
    "what?x=1",
    "hash#tag",
    "100%",
    "with space",
    "Zoë 🍕 顧客",
    " padded ",
    "../../state/user/other",
    "x" * 128,
]


@pytest.fixture(autouse=True)
def _address_is_not_masked_here(settings):
    # These tests show how values of each type are displayed, with the example state's `address`
    # object; masking personal data has its own tests (test_personal_data.py).
    settings.PERSONAL_DATA_VARIABLES = ["email", "phone", "phone_number"]


@pytest.fixture
def ordering(sandbox, environment):
    """A user in the middle of ordering a pizza."""
    sandbox.set_state(environment.project.voiceflow_project_id, "customer-42", ordering_state())
    return "customer-42"


def row_of(response, name: str) -> str:
    """The table row of one global variable."""
    page = response.content.decode()
    match = re.search(
        rf'<tr class="var-row[^"]*" data-name="{re.escape(name)}".*?</tr>', page, flags=re.S
    )
    assert match, f"no row for {name}"
    return match.group(0)


def test_it_shows_the_stack_root_to_current_with_the_current_frame_marked(
    viewer_client, environment, ordering
):
    response = viewer_client.get(inspect_url(environment, ordering))

    assert response.status_code == 200
    page = response.content.decode()
    frames = re.findall(r'<li class="frame( current)?[^"]*">.*?</li>', page, flags=re.S)
    assert len(frames) == 3  # the runtime's base frame, then the two flows
    base, root, current = re.findall(r'<li class="frame[^"]*">(.*?)</li>', page, flags=re.S)
    assert "Runtime base" in base
    assert ROOT_FLOW in root and "current" not in root.split("</div>")[0]
    assert ORDER_FLOW in current and "66b0c2aa0123456789abcdef" in current
    assert frames[2] == " current"
    assert "DEAL4TWO" in current  # frame variables
    assert "Would you like a second pizza?" in current  # frame storage
    assert "intent" in root  # commands


@pytest.mark.parametrize(
    ("name", "kind", "shown"),
    [
        ("quantity", "number", "5"),
        ("quantity_text", "string", "5"),
        ("vip", "boolean", "true"),
        ("coupon", "null", "null"),
        ("address", "object", "Zürich"),
        ("toppings", "list", '["cheese","basil"]'),
        ("pizza_size", "string", "large"),
    ],
)
def test_it_lists_each_variable_with_its_type(
    viewer_client, environment, ordering, name, kind, shown
):
    response = viewer_client.get(inspect_url(environment, ordering))

    row = row_of(response, name)
    assert f'data-type="{kind}"' in row
    assert f'<span class="type type-{kind}">{kind}</span>' in row
    assert shown in row.replace("&quot;", '"')


def test_it_folds_long_and_nested_values_and_keeps_short_ones_open(
    viewer_client, environment, ordering
):
    response = viewer_client.get(inspect_url(environment, ordering))

    assert '<details class="folded-value"' in row_of(response, "notes")
    assert '<details class="folded-value"' in row_of(response, "address")
    assert "<details" not in row_of(response, "toppings")
    assert "<details" not in row_of(response, "pizza_size")


def test_it_shows_storage_the_raw_state_and_when_it_was_fetched(
    viewer_client, environment, ordering
):
    response = viewer_client.get(inspect_url(environment, ordering))

    page = response.content.decode()
    assert "noMatchesCounter" in page
    raw = re.search(r'<pre id="raw-state-json">(.*?)</pre>', page, flags=re.S).group(1)
    assert json.loads(html.unescape(raw)) == ordering_state()
    assert 'data-copy-target="#raw-state-json"' in page
    assert "Fetched" in text_of(response)


def test_it_shows_an_unknown_user_as_having_no_state_with_a_form_to_create_variables(
    support_client, environment
):
    response = support_client.get(inspect_url(environment, "nobody-yet"))

    assert response.status_code == 200
    text = text_of(response)
    assert "No conversation state for this user" in text
    assert "Create variables" in text
    assert 'id="set-variable-form"' in response.content.decode()


def test_a_viewer_sees_no_state_without_any_edit_form(viewer_client, environment):
    response = viewer_client.get(inspect_url(environment, "nobody-yet"))

    assert "No conversation state for this user" in text_of(response)
    assert 'id="set-variable-form"' not in response.content.decode()


@pytest.mark.parametrize("user_id", ODD_USER_IDS)
def test_it_addresses_odd_user_ids_exactly(viewer_client, sandbox, environment, user_id):
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(
        project_id, user_id, {"stack": [], "storage": {}, "variables": {"marker": f"for {user_id}"}}
    )
    sandbox.set_state(
        project_id,
        user_id.strip() + "-decoy",
        {"stack": [], "storage": {}, "variables": {"marker": "wrong user"}},
    )

    response = viewer_client.get(inspect_url(environment, user_id))

    assert response.status_code == 200
    assert escape(json.dumps(f"for {user_id}", ensure_ascii=False)) in response.content.decode()
    assert "wrong user" not in text_of(response)


def test_links_on_the_page_carry_the_user_id_percent_encoded(
    client_for_user, viewer_client, ops, environment, sandbox
):

    user_id = "a/b?c=d&e#f %"
    sandbox.set_state(environment.project.voiceflow_project_id, user_id, ordering_state())

    response = client_for_user(ops).get(inspect_url(environment, user_id))

    page = response.content.decode()
    assert "user=a%2Fb%3Fc%3Dd%26e%23f%20%25" in page
    assert "user=a/b" not in page


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("line\nbreak", "cannot contain control characters"),
        ("tab\there", "cannot contain control characters"),
        ("", "A userID is required"),
        ("y" * 14_337, "This userID is too long"),
    ],
)
def test_it_refuses_a_user_id_it_cannot_address_with_a_message(
    viewer_client, sandbox, environment, user_id, message
):
    requests_before = sandbox.stats(environment.project.api_key)

    response = viewer_client.get(inspect_url(environment, user_id))

    assert response.status_code == 400
    assert message in text_of(response)
    assert sandbox.stats(environment.project.api_key) == requests_before


def test_inspecting_remembers_the_environment_and_notes_the_session(
    viewer_client, viewer, environment, ordering
):
    viewer_client.get(inspect_url(environment, ordering))

    assert OperatorPreference.objects.get(user=viewer).environment == environment
    known = KnownSession.objects.get(environment=environment, user_id=ordering)
    assert known.has_state and known.stack_depth == 2 and known.current_flow == ORDER_FLOW
    assert known.variables_snapshot["pizza_size"] == "large"


def test_download_gives_the_state_as_a_json_file(viewer_client, environment, ordering):
    url = reverse("session_download", args=[environment.pk]) + "?user=customer-42"

    response = viewer_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "customer-42" in response["Content-Disposition"]
    assert json.loads(response.content) == ordering_state()


def test_watch_mode_polls_the_live_state(viewer_client, environment, ordering):
    response = viewer_client.get(inspect_url(environment, ordering, watch="1"))

    page = response.content.decode()
    assert 'hx-trigger="every 3s"' in page
    assert reverse("session_watch", args=[environment.pk]) in page
    assert "Watching" in text_of(response)


def test_watch_highlights_variables_added_changed_and_removed(
    viewer_client, sandbox, environment, ordering
):
    viewer_client.get(inspect_url(environment, ordering, watch="1"))
    moved = ordering_state()
    moved["variables"]["pizza_size"] = "small"
    moved["variables"]["drink"] = "cola"
    del moved["variables"]["coupon"]
    sandbox.set_state(environment.project.voiceflow_project_id, ordering, moved)

    response = viewer_client.get(
        reverse("session_watch", args=[environment.pk]),
        {"user": ordering, "shown": based_on(ordering_state()), "since": ""},
    )

    assert response.status_code == 200
    assert 'class="var-row changed"' in row_of(response, "pizza_size")
    assert 'class="var-row added"' in row_of(response, "drink")
    assert 'class="var-row removed"' in row_of(response, "coupon")
    assert '<tr class="var-row"' in row_of(response, "quantity")
    assert "3 changes since the previous read" in text_of(response)
    assert f"shown={based_on(moved)}" in response.content.decode()


def test_watch_keeps_the_highlights_while_nothing_moves(
    viewer_client, sandbox, environment, ordering
):
    viewer_client.get(inspect_url(environment, ordering, watch="1"))
    moved = ordering_state()
    moved["variables"]["pizza_size"] = "small"
    sandbox.set_state(environment.project.voiceflow_project_id, ordering, moved)
    watch = reverse("session_watch", args=[environment.pk])
    viewer_client.get(watch, {"user": ordering, "shown": based_on(ordering_state()), "since": ""})

    response = viewer_client.get(
        watch, {"user": ordering, "shown": based_on(moved), "since": based_on(ordering_state())}
    )

    assert 'class="var-row changed"' in row_of(response, "pizza_size")


def test_watch_says_when_the_stack_moved(viewer_client, sandbox, environment, ordering):
    viewer_client.get(inspect_url(environment, ordering, watch="1"))
    moved = ordering_state()
    moved["stack"][-1]["nodeID"] = "66b0c2aa0123456789abc999"
    sandbox.set_state(environment.project.voiceflow_project_id, ordering, moved)

    response = viewer_client.get(
        reverse("session_watch", args=[environment.pk]),
        {"user": ordering, "shown": based_on(ordering_state())},
    )

    assert (
        f"the conversation moved (it was at {ORDER_FLOW} at node 66b0c2aa0123456789abcdef"
        in text_of(response)
    )
    assert "frame current frame-changed" in response.content.decode()


def test_watch_without_a_change_says_so(viewer_client, environment, ordering):
    viewer_client.get(inspect_url(environment, ordering, watch="1"))

    response = viewer_client.get(
        reverse("session_watch", args=[environment.pk]),
        {"user": ordering, "shown": based_on(ordering_state())},
    )

    assert "No change since the previous read" in text_of(response)


def test_it_shows_wrong_credentials_as_a_message_not_an_error_page(
    viewer_client, environment, ordering
):
    environment.project.api_key = "VF.DM.000000000000000000000000.wrongwrongwrongwrong"
    environment.project.save()

    response = viewer_client.get(inspect_url(environment, ordering))

    assert response.status_code == 200
    assert "Voiceflow refused the credentials" in text_of(response)


def test_it_shows_an_unknown_environment_as_a_message(viewer_client, project, ordering):
    from sessions_app.models import Environment

    staging = Environment.objects.create(
        project=project, label="Staging", version_id="0123456789abcdef01234567"
    )

    response = viewer_client.get(inspect_url(staging, ordering))

    assert response.status_code == 200
    assert "Voiceflow cannot find this environment's version" in text_of(response)


def test_it_shows_a_rate_limit_with_the_seconds_to_wait(
    viewer_client, clean_knobs, environment, ordering
):
    clean_knobs.knobs(budget_per_minute=1, api_key=environment.project.api_key)
    viewer_client.get(inspect_url(environment, ordering))

    response = viewer_client.get(inspect_url(environment, ordering))

    assert response.status_code == 200
    assert re.search(r"retry in \d+ s", text_of(response))


def test_it_shows_a_time_out_as_a_message(
    viewer_client, clean_knobs, settings, environment, ordering
):
    settings.VOICEFLOW_TIMEOUT_S = 0.5
    clean_knobs.knobs(
        failures={"mode": "timeout", "hold_seconds": 2}, api_key=environment.project.api_key
    )

    response = viewer_client.get(inspect_url(environment, ordering))

    assert response.status_code == 200
    assert "did not answer within 0.5 s" in text_of(response)


def test_watch_keeps_showing_the_last_state_when_a_read_fails(
    viewer_client, clean_knobs, environment, ordering
):
    viewer_client.get(inspect_url(environment, ordering, watch="1"))
    clean_knobs.knobs(failures={"mode": "5xx", "status": 503}, api_key=environment.project.api_key)

    response = viewer_client.get(
        reverse("session_watch", args=[environment.pk]),
        {"user": ordering, "shown": based_on(ordering_state())},
    )

    assert response.status_code == 200
    text = text_of(response)
    assert "Voiceflow failed (503)." in text
    assert "Showing the state from the last successful read." in text
    assert "Fetched" not in text
    assert "pizza_size" in text
    assert 'hx-trigger="every 3s"' in response.content.decode()


def test_download_explains_an_upstream_failure(viewer_client, clean_knobs, environment, ordering):
    clean_knobs.knobs(failures={"mode": "5xx", "status": 502}, api_key=environment.project.api_key)

    response = viewer_client.get(
        reverse("session_download", args=[environment.pk]), {"user": ordering}
    )

    assert response.status_code == 200
    assert "Voiceflow failed (502)." in text_of(response)
