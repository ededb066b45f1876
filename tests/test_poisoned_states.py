"""A conversation whose state holds what a database column refuses (NUL characters, lone
surrogates, NaN and Infinity, numbers like 1e400) is read, shown, edited, reset and audited like
any other, and its values come back exactly from the audit trail."""

import html
import json
import math
import re
from urllib.parse import quote

import pytest
from api_support import etag_of, token_client
from poisoned_support import (
    NON_FINITE,
    NUL_NAME,
    POISONED_VARIABLES,
    STATE,
    TYPED_OUT_NUL_NAME,
    USER,
    remote,
    seed,
)

from sessions_app.models import AuditEntry, BulkItem, BulkJob, KnownSession
from sessions_app.stored_json import MARK, from_storable, to_storable

# Also run on PostgreSQL by `make test`: jsonb is where these values used to fail.
pytestmark = pytest.mark.production_path


def api_url(environment, tail: str = "state", user: str = USER) -> str:
    return f"/api/v1/environments/{environment.pk}/sessions/{tail}?user={quote(user, safe='')}"


def page_url(environment, name: str, user: str = USER) -> str:
    return f"/sessions/{environment.pk}/{name}?user={quote(user, safe='')}"


@pytest.fixture
def poisoned(sandbox, environment) -> str:
    seed(sandbox, environment, USER, {**STATE, "variables": {**POISONED_VARIABLES, **NON_FINITE}})
    return USER


def same(left, right) -> bool:
    """Equality that counts NaN equal to NaN."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def test_the_sandbox_holds_such_states_and_serves_them_as_voiceflow_does(
    sandbox, environment, poisoned
):
    held = remote(sandbox, environment, poisoned)
    assert held["variables"]["last_utterance"] == "my order\x00 is late"
    assert held["variables"]["half_emoji"] == "\ud83d and more"
    assert math.isnan(held["variables"]["score"]) and held["variables"]["huge"] == math.inf

    from sessions_app.voiceflow import client_for

    served = client_for(environment).get_state(poisoned)
    # JSON.stringify: NaN and Infinity become null, NUL and lone surrogates are escaped.
    assert served["variables"] == {
        **POISONED_VARIABLES,
        "score": None,
        "ceiling": None,
        "floor": None,
        "huge": None,
    }


def test_the_api_reads_it_and_notes_it_in_the_index(sandbox, environment, poisoned, viewer):
    response = token_client(viewer).get(api_url(environment))

    assert response.status_code == 200, response.content[:500]
    body = json.loads(response.content)
    assert body["state"]["variables"]["last_utterance"] == "my order\x00 is late"
    assert body["state"]["variables"]["half_emoji"] == "\ud83d and more"
    assert response["ETag"] == etag_of(body["state"])
    known = KnownSession.objects.get(user_id=poisoned)
    assert known.variables_snapshot["last_utterance"] == "my order\x00 is late"
    assert "my order\ufffd is late" in known.search_text


def test_the_inspector_shows_it_and_says_what_is_odd(sandbox, environment, poisoned, support):
    from django.test import Client

    client = Client()
    client.force_login(support)
    response = client.get(page_url(environment, "inspect"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "last_utterance contains a NUL character" in page
    assert "half_emoji contains a lone surrogate (shown as \\ud83d)" in page
    assert "my order\\u0000 is late" in page


def test_support_sets_and_removes_variables_and_the_audit_trail_keeps_every_value(
    sandbox, environment, poisoned, support
):
    client = token_client(support)
    etag = client.get(api_url(environment))["ETag"]

    patched = client.patch(
        api_url(environment, "state/variables"), {"plan": "gold"}, format="json", HTTP_IF_MATCH=etag
    )
    assert patched.status_code == 200, patched.content[:500]

    from django.test import Client

    page = Client()
    page.force_login(support)
    based_on = json.loads(client.get(api_url(environment)).content)["etag"]
    removed = page.post(
        f"/sessions/{environment.pk}/remove-variable",
        {"user": poisoned, "name": "marked", "based_on": based_on},
    )
    assert removed.status_code == 302, removed.content.decode()[:2000]

    held = remote(sandbox, environment, poisoned)["variables"]
    assert held["plan"] == "gold"
    assert "marked" not in held
    assert held["nick\x00name"] == "nul in a name"
    # Written back exactly as read, lone surrogates included.
    assert held["half_emoji"] == "\ud83d and more"
    assert held["nested"] == POISONED_VARIABLES["nested"]
    assert held["last_utterance"] == "my order\x00 is late"

    first, second = AuditEntry.objects.order_by("pk")
    assert first.outcome == second.outcome == AuditEntry.Outcome.SUCCEEDED
    first.refresh_from_db()
    assert first.state_before["variables"]["nick\x00name"] == "nul in a name"
    assert first.state_before["variables"]["marked"] == POISONED_VARIABLES["marked"]
    assert first.state_after["variables"]["plan"] == "gold"


TWINS = {NUL_NAME: "the NUL one", TYPED_OUT_NUL_NAME: "the typed-out one", "plan": "basic"}


@pytest.fixture
def twins(sandbox, environment) -> str:
    seed(sandbox, environment, USER, {**STATE, "variables": TWINS})
    return USER


def signed_in(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def row_holding(page: str, value: str) -> str:
    """The variable row whose value is `value` (both twins show the same name)."""
    rows = re.findall(r'<tr class="var-row[^"]*".*?</tr>', page, re.S)
    (row,) = [row for row in rows if f'<span class="value-text">{value}</span>' in row]
    return row


def remove_button_fields(page: str, value: str) -> dict:
    """What the Remove button of that row posts: its remove form's fields and its own."""
    button = re.search(
        r'<button type="submit" form="([^"]+)" name="([^"]+)" value="([^"]*)"',
        row_holding(page, value),
    )
    form_id, field, sent = button.groups()
    form = re.search(rf'<form [^>]*id="{form_id}">(.*?)</form>', page, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    fields.pop("csrfmiddlewaretoken", None)
    return {**{k: html.unescape(v) for k, v in fields.items()}, field: html.unescape(sent)}


@pytest.mark.parametrize(
    ("clicked", "removed", "kept"),
    [
        ("the NUL one", NUL_NAME, TYPED_OUT_NUL_NAME),
        ("the typed-out one", TYPED_OUT_NUL_NAME, NUL_NAME),
    ],
    ids=["nul-in-the-name", "typed-out-twin"],
)
def test_a_rows_remove_button_removes_that_variable_and_never_its_look_alike(
    sandbox, environment, twins, support, clicked, removed, kept
):
    client = signed_in(support)
    page = client.get(page_url(environment, "inspect")).content.decode()
    assert page.count("nick\\u0000name</code>") == 2  # shown alike

    response = client.post(
        f"/sessions/{environment.pk}/remove-variable", remove_button_fields(page, clicked)
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    held = remote(sandbox, environment, twins)["variables"]
    assert held == {name: value for name, value in TWINS.items() if name != removed}
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REMOVE_VARIABLES)
    entry.refresh_from_db()
    assert entry.state_before["variables"] == TWINS
    assert removed not in entry.state_after["variables"]
    assert entry.state_after["variables"][kept] == TWINS[kept]
    assert entry.request_sent["remove_variables"] == [removed]
    # The session's history names the variable removed as JSON does, the two told apart.
    after = client.get(page_url(environment, "inspect")).content.decode()
    assert f"variables[{html.escape(json.dumps(removed))}]" in after


def test_a_name_with_a_lone_surrogate_is_edited_and_removed_from_the_page(
    sandbox, environment, support, ops
):
    seed(sandbox, environment, USER, {**STATE, "variables": {"half\ud83d": "x", "plan": "basic"}})
    client = signed_in(support)
    page = client.get(page_url(environment, "inspect")).content.decode()
    edit = re.search(r'data-name="([^"]*)" data-name-json="([^"]*)"', row_holding(page, "x"))
    fields = remove_button_fields(page, "x")
    shown_name, name_json = (html.unescape(part) for part in edit.groups())
    assert shown_name == "half\\ud83d"

    edited = client.post(
        f"/sessions/{environment.pk}/set-variable",
        {**fields, "name": shown_name, "name_json": name_json, "kind": "string", "value": "y"},
    )

    assert edited.status_code == 302, edited.content.decode()[:2000]
    assert remote(sandbox, environment, USER)["variables"] == {"half\ud83d": "y", "plan": "basic"}
    page = client.get(page_url(environment, "inspect")).content.decode()

    removed = client.post(
        f"/sessions/{environment.pk}/remove-variable", remove_button_fields(page, "y")
    )

    assert removed.status_code == 302, removed.content.decode()[:2000]
    assert remote(sandbox, environment, USER)["variables"] == {"plan": "basic"}
    audit = signed_in(ops)
    for url in ["/audit/"] + [f"/audit/{entry.pk}/" for entry in AuditEntry.objects.all()]:
        shown = audit.get(url)
        assert shown.status_code == 200, url
        assert "half\\ud83d" in shown.content.decode(), url


def test_in_production_the_confirmation_names_the_variable_and_removes_exactly_it(
    sandbox, production_environment, support
):
    environment = production_environment
    seed(sandbox, environment, USER, {**STATE, "variables": TWINS})
    client = signed_in(support)
    page = client.get(page_url(environment, "inspect")).content.decode()

    asked = client.post(
        f"/sessions/{environment.pk}/remove-variable", remove_button_fields(page, "the NUL one")
    )

    assert asked.status_code == 200
    question = asked.content.decode()
    assert "Remove the variable <code>nick\\u0000name</code>" in question
    assert "It holds the text “the NUL one”." in question
    assert remote(sandbox, environment, USER)["variables"] == TWINS
    form = re.search(
        r'<form method="post" action="([^"]+)" class="actions">(.*?)</form>', question, re.S
    )
    confirmed = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    )
    confirmed.pop("csrfmiddlewaretoken")

    response = client.post(form.group(1), {k: html.unescape(v) for k, v in confirmed.items()})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert remote(sandbox, environment, USER)["variables"] == {
        TYPED_OUT_NUL_NAME: "the typed-out one",
        "plan": "basic",
    }


def test_edit_sets_the_variable_of_its_row_and_a_typed_name_means_the_typed_text(
    sandbox, environment, twins, support
):
    client = signed_in(support)
    page = client.get(page_url(environment, "inspect")).content.decode()
    edit = re.search(
        r'data-name="([^"]*)" data-name-json="([^"]*)"', row_holding(page, "the NUL one")
    )
    based_on = remove_button_fields(page, "the NUL one")["based_on"]
    # What inspector.js puts in the set form from the Edit button, as the page would post it.
    fields = {"user": twins, "based_on": based_on, "kind": "string", "value": "edited"}
    shown_name, name_json = (html.unescape(part) for part in edit.groups())

    edited = client.post(
        f"/sessions/{environment.pk}/set-variable",
        {**fields, "name": shown_name, "name_json": name_json},
    )

    assert edited.status_code == 302, edited.content.decode()[:2000]
    held = remote(sandbox, environment, twins)["variables"]
    assert held == {**TWINS, NUL_NAME: "edited"}

    based_on = json.loads(token_client(support).get(api_url(environment)).content)["etag"]
    typed = client.post(
        f"/sessions/{environment.pk}/set-variable",
        {**fields, "based_on": based_on, "name": shown_name, "value": "typed"},
    )

    assert typed.status_code == 302, typed.content.decode()[:2000]
    held = remote(sandbox, environment, twins)["variables"]
    assert held == {**TWINS, NUL_NAME: "edited", TYPED_OUT_NUL_NAME: "typed"}


def test_a_reset_always_goes_through_and_can_be_undone(sandbox, environment, poisoned, ops):
    client = token_client(ops)

    response = client.delete(api_url(environment))

    assert response.status_code == 200, response.content[:500]
    assert remote(sandbox, environment, poisoned) is None
    entry = AuditEntry.objects.get(action=AuditEntry.Action.RESET)
    entry.refresh_from_db()
    assert entry.state_before["variables"]["last_utterance"] == "my order\x00 is late"

    restored = client.post(f"/api/v1/audit/{entry.pk}/restore", format="json")
    assert restored.status_code == 200, restored.content[:500]
    assert remote(sandbox, environment, poisoned)["variables"]["half_emoji"] == "\ud83d and more"


def test_every_json_column_stores_and_gives_back_any_value(db, environment):
    value = {
        **POISONED_VARIABLES,
        "score": math.nan,
        "ceiling": math.inf,
        "floor": -math.inf,
        "big_integer": 10**400,
        MARK + "n": MARK + "nNaN",
    }
    entry = AuditEntry.objects.create(
        source="cli",
        action=AuditEntry.Action.SET_VARIABLES,
        state_before={"variables": value},
        state_after=value,
        request_sent={"body": value},
    )
    job = BulkJob.objects.create(
        kind=BulkJob.Kind.PRELOAD, environment=environment, validation_report={"v": value}
    )
    item = BulkItem.objects.create(
        job=job, line_number=2, user_id="u", variables=value, state_to_restore={"variables": value}
    )
    known = KnownSession.objects.create(
        environment=environment, user_id="u", variables_snapshot=value
    )

    for row in (entry, job, item, known):
        row.refresh_from_db()
    assert same(entry.state_before["variables"], value)
    assert same(entry.state_after, value) and same(entry.request_sent["body"], value)
    assert same(job.validation_report["v"], value)
    assert same(item.variables, value) and same(item.state_to_restore["variables"], value)
    assert same(known.variables_snapshot, value)
    # Lookups on the stored JSON see the stored form of ordinary values unchanged.
    assert AuditEntry.objects.filter(state_after__plan="basic").exists()


def test_the_stored_form_is_exactly_reversible():
    tricky = ["", MARK, MARK + "s", MARK + "n", "\\u0000", "\x00", "\ud800\udc00", "🍕"]
    for text in tricky:
        assert from_storable(to_storable(text)) == text
        assert from_storable(to_storable({text: [text]})) == {text: [text]}
    assert from_storable(to_storable("plain")) == "plain"
    assert to_storable({"plain": [1, "x", None]}) == {"plain": [1, "x", None]}


def test_the_command_line_prints_it_escaped(sandbox, environment, poisoned, support):
    from cli_support import run

    for extra in ((), ("--json",)):
        status, printed = run(
            "session_state", "--environment", str(environment.pk), poisoned, *extra
        )

        assert status == 0
        assert "\\ud83d and more" in printed


def test_the_reset_page_resets_it(sandbox, environment, poisoned, ops):
    from django.test import Client

    client = Client()
    client.force_login(ops)
    shown = client.get(page_url(environment, "reset"))
    assert shown.status_code == 200
    based_on = shown.context["form"]["based_on"].value()

    response = client.post(
        f"/sessions/{environment.pk}/reset",
        {"user": poisoned, "confirm_user_id": poisoned, "based_on": based_on},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert remote(sandbox, environment, poisoned) is None
    entry = AuditEntry.objects.get(action=AuditEntry.Action.RESET)
    entry.refresh_from_db()
    assert entry.state_before["variables"]["nick\x00name"] == "nul in a name"


def test_the_sandbox_keeps_such_states_in_its_state_file(tmp_path):
    from sessions_app.sandbox.store import Store

    store = Store()
    store.put("p", USER, STATE)
    store.save_file(tmp_path / "state.json")
    reloaded = Store()
    reloaded.load_file(tmp_path / "state.json")

    assert reloaded.get("p", USER) == STATE


def test_the_home_list_and_the_audit_pages_show_it(sandbox, environment, poisoned, ops):
    from django.test import Client

    seed(sandbox, environment, "poisoned-2", {**STATE, "variables": {"half": "\ud83d x"}})
    token_client(ops).get(api_url(environment, user="poisoned-2"))  # now a known session
    token_client(ops).patch(
        api_url(environment, "state/variables"), {"plan": "gold"}, format="json"
    )
    entry = AuditEntry.objects.get()
    client = Client()
    client.force_login(ops)

    assert client.get("/audit/").status_code == 200
    for url in (f"/?environment={environment.pk}", f"/audit/{entry.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "\\ud83d" in response.content.decode(), url
