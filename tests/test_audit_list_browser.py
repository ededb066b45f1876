"""The audit trail page in a real browser: the userID filter finds part of a userID in any case,
and each row says in one line what changed."""

import pytest
from browser_support import sign_in
from django.urls import reverse
from inspector_support import ordering_state
from playwright.sync_api import expect

from sessions_app.actions import WriteContext, do_interact, do_reset_session, do_set_variables
from sessions_app.models import AuditEntry

pytestmark = pytest.mark.browser

MARIA = "Maria.Rossi@example.com"
OTHER = "j.smith+pizza@example.org"


@pytest.fixture
def trail(sandbox, environment, support):
    project_id = environment.project.voiceflow_project_id
    for user_id in (MARIA, OTHER):
        sandbox.set_state(project_id, user_id, ordering_state())
    do_set_variables(
        environment,
        MARIA,
        {"pizza_size": "small"},
        context=WriteContext(actor=support, source="page"),
    )
    do_set_variables(
        environment,
        OTHER,
        {"coupon": "HALFOFF"},
        context=WriteContext(actor=support, source="page"),
    )
    do_reset_session(environment, OTHER, context=WriteContext(actor=support, source="page"))


def test_part_of_a_user_id_in_any_case_finds_its_records_each_with_what_changed(page, ops, trail):
    sign_in(page, ops)
    page.goto(reverse("audit_list"))

    page.fill("#id_user", "maria")
    page.click("button:has-text('Filter')")

    rows = page.locator("table.audit-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(MARIA)
    expect(rows.first.locator("td.summary")).to_have_text("pizza_size: large → small")


def test_every_row_says_what_changed(page, viewer, trail):
    sign_in(page, viewer)
    page.goto(reverse("audit_list"))

    summaries = page.locator("table.audit-table tbody td.summary").all_inner_texts()

    assert summaries == [
        "Deleted the state (10 variables)",
        "coupon: null → HALFOFF",
        "pizza_size: large → small",
    ]


def test_part_of_a_personal_user_id_cannot_spell_it_out_for_a_viewer(viewer_client, trail):
    for part in ("maria", "MARIA.ROSSI@", "@example.com", "Maria.Rossi@example.co"):
        response = viewer_client.get(reverse("audit_list"), {"user": part})
        assert response.context["page"].paginator.count == 0, part

    whole = viewer_client.get(reverse("audit_list"), {"user": MARIA.upper()})
    assert [entry.user_id for entry in whole.context["page"]] == ["M•••@example.com"]


@pytest.mark.production_path
def test_the_inspector_history_link_shows_that_user_only(ops_client, environment, trail):
    response = ops_client.get(
        reverse("audit_list"),
        {"environment": environment.pk, "user": "maria", "exact_user": "1"},
    )

    assert response.context["page"].paginator.count == 0
    exact = ops_client.get(
        reverse("audit_list"), {"environment": environment.pk, "user": MARIA, "exact_user": "1"}
    )
    assert [entry.user_id for entry in exact.context["page"]] == [MARIA]


def test_a_turn_is_summed_up_by_what_was_sent(viewer_client, sandbox, environment, support):
    sandbox.set_state(environment.project.voiceflow_project_id, MARIA, ordering_state())
    do_interact(
        environment,
        MARIA,
        {"type": "text", "payload": "a large pizza"},
        context=WriteContext(actor=support, source="page"),
    )

    response = viewer_client.get(reverse("audit_list"))

    entry = AuditEntry.objects.get(action=AuditEntry.Action.INTERACT)
    assert [e.summary for e in response.context["page"] if e.pk == entry.pk] == [
        'text: "a large pizza"'
    ]
