"""Setting one variable from the inspector: the value reaches the sandbox with exactly the type the
operator chose, only that variable changes, and bad input or upstream failures change nothing."""

import pytest
from django.urls import reverse
from inspector_support import based_on, inspect_url, ordering_state, text_of

from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def set_variable(client, environment, name, kind, value, *, state, user_id=USER):
    return client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {"user": user_id, "based_on": based_on(state), "name": name, "kind": kind, "value": value},
    )


def stored(sandbox, environment, user_id=USER):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


@pytest.mark.parametrize(
    ("kind", "typed", "expected"),
    [
        ("number", "5", 5),
        ("string", "5", "5"),
        ("number", "-2.5", -2.5),
        ("number", "1e3", 1000.0),
        ("boolean", "true", True),
        ("boolean", "False", False),
        ("null", "", None),
        ("string", "", ""),
        ("string", "  spaces kept  ", "  spaces kept  "),
        ("string", "line one\nline two", "line one\nline two"),
        ("string", "Grüße aus Zürich 🍕 顧客", "Grüße aus Zürich 🍕 顧客"),
        ("string", "long " * 4000, "long " * 4000),
        (
            "object",
            '{"street": "1 Main St", "geo": {"lat": 47.37, "tags": [1, "2", null]}}',
            {"street": "1 Main St", "geo": {"lat": 47.37, "tags": [1, "2", None]}},
        ),
        ("list", '[1, "1", true, null, {"a": []}]', [1, "1", True, None, {"a": []}]),
        ("object", "{}", {}),
        ("string", "<script>alert(1)</script>", "<script>alert(1)</script>"),
    ],
)
def test_the_value_reaches_the_sandbox_with_the_chosen_type(
    support_client, sandbox, environment, ordering, kind, typed, expected
):
    response = set_variable(support_client, environment, "favourite", kind, typed, state=ordering)

    assert response.status_code == 302
    value = stored(sandbox, environment)["variables"]["favourite"]
    assert value == expected
    assert type(value) is type(expected)


def test_it_changes_only_the_named_variable(support_client, sandbox, environment, ordering):
    set_variable(support_client, environment, "pizza_size", "string", "small", state=ordering)

    expected = ordering_state()
    expected["variables"]["pizza_size"] = "small"
    assert stored(sandbox, environment) == expected


def test_it_replaces_a_nested_value_whole(support_client, sandbox, environment, ordering):
    set_variable(
        support_client, environment, "address", "object", '{"city": "Bern"}', state=ordering
    )

    assert stored(sandbox, environment)["variables"]["address"] == {"city": "Bern"}


def test_it_creates_variables_for_a_user_without_state(support_client, sandbox, environment):
    response = set_variable(
        support_client, environment, "plan", "string", "gold", state={}, user_id="new-customer"
    )

    assert response.status_code == 302
    assert stored(sandbox, environment, "new-customer") == {"variables": {"plan": "gold"}}


def test_after_saving_it_returns_to_the_inspector_with_a_confirmation(
    support_client, environment, ordering
):
    response = set_variable(support_client, environment, "quantity", "number", "7", state=ordering)

    assert response["Location"] == inspect_url(environment, USER)
    page = support_client.get(response["Location"])
    assert "Set quantity to the number 7." in text_of(page)


@pytest.mark.parametrize(
    ("kind", "typed", "message"),
    [
        ("object", '{"a": 1,\n "b": }', "Not valid JSON. Line 2, column 7: Expecting value."),
        ("object", "[1, 2]", "Expected a JSON object ({…}), got a list."),
        ("list", '{"a": 1}', "Expected a JSON list ([…]), got an object."),
        ("number", "five", "'five' is not a number"),
        ("number", "NaN", "'NaN' is not a number"),
        ("boolean", "yes", "A true/false value must be true or false."),
        ("null", "something", "An empty (null) value takes no text"),
    ],
)
def test_it_refuses_a_value_that_does_not_match_its_type_and_sends_nothing(
    support_client, sandbox, environment, ordering, kind, typed, message
):
    response = set_variable(support_client, environment, "favourite", kind, typed, state=ordering)

    assert response.status_code == 400
    assert message in text_of(response)
    assert stored(sandbox, environment) == ordering_state()
    assert not AuditEntry.objects.exists()


def test_the_refused_form_keeps_what_the_operator_typed(support_client, environment, ordering):
    response = set_variable(
        support_client, environment, "favourite", "object", '{"a": 1,', state=ordering
    )

    page = response.content.decode()
    assert "{&quot;a&quot;: 1," in page
    assert 'value="favourite"' in page
    assert '<option value="object" selected>' in page
    # The refused field says so to assistive technology and points at its message.
    assert 'aria-invalid="true" aria-describedby="id_value_error"' in page
    assert 'id="id_value_error"' in page
    assert 'aria-describedby="id_name_error"' not in page


def test_a_fresh_form_asks_for_a_name_of_at_most_the_storable_length(
    support_client, environment, ordering
):
    page = support_client.get(inspect_url(environment, USER)).content.decode()

    assert '<input type="text" name="name" maxlength="200" required id="id_name">' in page
    assert '<option value="string" selected>Text (string)</option>' in page
    assert "aria-invalid" not in page


@pytest.mark.parametrize("name", ["", "   ", "bad\nname", "x" * 201])
def test_it_refuses_a_variable_name_it_cannot_store(
    support_client, sandbox, environment, ordering, name
):
    response = set_variable(support_client, environment, name, "string", "v", state=ordering)

    assert response.status_code == 400
    assert stored(sandbox, environment) == ordering_state()


def test_it_refuses_a_form_that_does_not_say_what_state_it_was_based_on(
    support_client, sandbox, environment, ordering
):
    response = support_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {"user": USER, "name": "plan", "kind": "string", "value": "gold"},
    )

    assert response.status_code == 400
    assert "does not say which state it was based on" in text_of(response)
    assert stored(sandbox, environment) == ordering_state()


def test_the_write_is_recorded_in_the_audit_trail(support_client, support, environment, ordering):
    set_variable(support_client, environment, "quantity", "number", "7", state=ordering)

    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.SET_VARIABLES
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert entry.source == AuditEntry.Source.PAGE
    assert entry.actor == support and entry.actor_name == "sam-support"
    assert entry.environment == environment and entry.user_id == USER
    assert entry.state_before == ordering_state()
    assert entry.state_after["variables"]["quantity"] == 7
    assert entry.request_sent == {"method": "PATCH", "path": "variables", "body": {"quantity": 7}}


def test_a_failure_upstream_leaves_a_failed_audit_row_and_a_plain_message(
    support_client, sandbox, clean_knobs, environment, ordering
):
    clean_knobs.knobs(
        failures={"mode": "5xx", "status": 503, "routes": ["state.patch"]},
        api_key=environment.project.api_key,
    )

    response = set_variable(support_client, environment, "quantity", "number", "7", state=ordering)

    assert response.status_code == 200
    assert "The change did not go through. Voiceflow failed (503)." in text_of(response)
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.FAILED
    assert entry.upstream_status == 503
    assert "Voiceflow failed (503)" in entry.error
    assert stored(sandbox, environment) == ordering_state()


def test_voiceflow_refusing_the_value_is_shown_in_its_words(
    support_client, sandbox, environment, ordering
):
    response = set_variable(
        support_client, environment, "transcript", "string", "x" * 1_100_000, state=ordering
    )

    assert response.status_code == 200
    assert "The state is too large for Voiceflow (the limit is 1 MB)." in text_of(response)
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.FAILED
    assert "transcript" not in stored(sandbox, environment)["variables"]


def test_it_answers_only_post(support_client, environment):
    response = support_client.get(
        reverse("session_set_variable", args=[environment.pk]), {"user": USER}
    )

    assert response.status_code == 405
