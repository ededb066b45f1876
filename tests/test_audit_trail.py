"""The audit trail: each session's history on the inspector, the global audit page with its
filters, one entry in full, rows nobody can change, and the retention period."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from inspector_support import based_on, inspect_url, ordering_state, text_of

from sessions_app.actions import WriteContext, do_reset_session, do_set_variables
from sessions_app.models import AuditEntry
from sessions_app.tasks import purge_expired_audit_entries

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def set_on_page(client, environment, name, kind, value, state, user_id=USER):
    return client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {"user": user_id, "based_on": based_on(state), "name": name, "kind": kind, "value": value},
    )


def test_the_inspector_shows_the_sessions_history_newest_first(
    support_client, viewer_client, sandbox, environment, ordering
):
    set_on_page(support_client, environment, "pizza_size", "string", "small", ordering)
    after = sandbox.state(environment.project.voiceflow_project_id, USER)
    set_on_page(support_client, environment, "quantity", "number", "2", after)

    response = viewer_client.get(inspect_url(environment, USER))

    history = text_of(response).split("History", 1)[1]
    assert history.index("Set variables") < history.index("variables.pizza_size")
    first, second = history.split("Set variables")[1:3]
    assert "Succeeded by sam-support · Page" in first
    assert "variables.quantity changed number 5 number 2" in first
    assert "variables.pizza_size changed string large string small" in second


def test_a_failed_write_shows_in_the_history_with_its_error(
    support_client, clean_knobs, environment, ordering
):
    clean_knobs.knobs(
        failures={"mode": "5xx", "status": 503, "routes": ["state.patch"]},
        api_key=environment.project.api_key,
    )
    set_on_page(support_client, environment, "pizza_size", "string", "small", ordering)
    clean_knobs.reset_knobs()

    response = support_client.get(inspect_url(environment, USER))

    history = text_of(response).split("History", 1)[1]
    assert "Set variables Failed by sam-support" in history
    assert "Voiceflow failed (503)" in history


def test_the_history_belongs_to_one_session(
    support_client, viewer_client, sandbox, environment, ordering
):
    set_on_page(support_client, environment, "plan", "string", "gold", {}, user_id="someone-else")

    response = viewer_client.get(inspect_url(environment, USER))

    assert "The dashboard has not changed this conversation yet." in text_of(response)


@pytest.fixture
def trail(environment, production_environment, support, ops, sandbox):
    """Writes by two operators in two environments, through the same actions the pages use."""
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(project_id, "alice", ordering_state())
    sandbox.set_state(project_id, "bob", ordering_state())
    do_set_variables(
        environment, "alice", {"plan": "gold"}, context=WriteContext(actor=support, source="page")
    )
    do_reset_session(production_environment, "bob", context=WriteContext(actor=ops, source="api"))
    old = do_set_variables(
        environment, "bob", {"plan": "silver"}, context=WriteContext(actor=ops, source="page")
    )
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    return AuditEntry.objects.all()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {("alice", "set_variables"), ("bob", "reset"), ("bob", "set_variables")}),
        ({"operator": "sam-support"}, {("alice", "set_variables")}),
        ({"action": "reset"}, {("bob", "reset")}),
        ({"outcome": "succeeded", "user": "bob"}, {("bob", "reset"), ("bob", "set_variables")}),
        ({"outcome": "failed"}, set()),
    ],
)
def test_the_audit_page_filters_by_operator_action_outcome_and_user(
    viewer_client, trail, filters, expected
):
    response = viewer_client.get(reverse("audit_list"), filters)

    assert response.status_code == 200
    assert {(entry.user_id, entry.action) for entry in response.context["page"]} == expected


def test_the_audit_page_filters_by_environment(viewer_client, trail, production_environment):
    response = viewer_client.get(reverse("audit_list"), {"environment": production_environment.pk})

    assert [entry.action for entry in response.context["page"]] == ["reset"]


def test_the_audit_page_filters_by_date_range(viewer_client, trail):
    today = timezone.localdate()

    recent = viewer_client.get(reverse("audit_list"), {"date_from": today.isoformat()})
    older = viewer_client.get(
        reverse("audit_list"), {"date_to": (today - timedelta(days=5)).isoformat()}
    )

    assert {e.user_id for e in recent.context["page"]} == {"alice", "bob"}
    assert len(recent.context["page"]) == 2
    assert [(e.user_id, e.action) for e in older.context["page"]] == [("bob", "set_variables")]


def test_an_impossible_date_range_is_explained(viewer_client, trail):
    response = viewer_client.get(
        reverse("audit_list"), {"date_from": "2026-05-02", "date_to": "2026-05-01"}
    )

    assert response.status_code == 400
    assert "The end date is before the start date." in text_of(response)


def test_the_audit_page_is_paginated(viewer_client, environment, support):
    AuditEntry.objects.bulk_create(
        AuditEntry(
            source="page",
            action="set_variables",
            outcome="succeeded",
            environment=environment,
            user_id=f"u{n}",
        )
        for n in range(120)
    )

    first = viewer_client.get(reverse("audit_list"))
    third = viewer_client.get(reverse("audit_list"), {"page": 3})

    assert len(first.context["page"]) == 50
    assert "Page 1 of 3" in text_of(first)
    assert len(third.context["page"]) == 20


def test_an_entry_shows_the_states_the_request_and_the_upstream_status(
    viewer_client, support_client, clean_knobs, environment, ordering
):
    set_on_page(support_client, environment, "pizza_size", "string", "small", ordering)
    clean_knobs.knobs(
        failures={"mode": "5xx", "status": 503, "routes": ["state.patch"]},
        api_key=environment.project.api_key,
    )
    set_on_page(
        support_client,
        environment,
        "quantity",
        "number",
        "9",
        ordering | {"variables": {**ordering["variables"], "pizza_size": "small"}},
    )
    succeeded = AuditEntry.objects.get(outcome="succeeded")
    failed = AuditEntry.objects.get(outcome="failed")

    ok_page = text_of(viewer_client.get(reverse("audit_detail", args=[succeeded.pk])))
    failed_page = text_of(viewer_client.get(reverse("audit_detail", args=[failed.pk])))

    assert "variables.pizza_size changed string large string small" in ok_page
    assert '"method": "PATCH"' in ok_page and '"pizza_size": "small"' in ok_page
    assert "State before" in ok_page and "State after" in ok_page
    assert "Upstream status 503" in failed_page
    assert "Voiceflow failed (503)" in failed_page
    assert "Not recorded (the write did not complete)." in failed_page


def test_no_page_changes_or_deletes_an_audit_row(admin_client_, trail):
    entry = trail.first()
    original = (entry.user_id, entry.outcome, entry.state_before)
    detail = reverse("audit_detail", args=[entry.pk])

    assert admin_client_.post(detail, {"user_id": "tampered"}).status_code == 405
    assert admin_client_.delete(detail).status_code == 405
    assert admin_client_.post(reverse("audit_list"), {"delete": entry.pk}).status_code == 405
    entry.refresh_from_db()
    assert (entry.user_id, entry.outcome, entry.state_before) == original
    assert AuditEntry.objects.count() == 3


def test_the_django_admin_shows_audit_rows_read_only(client_for_user, db, trail):
    staff = get_user_model().objects.create_superuser("root", password="x" * 20)
    client = client_for_user(staff)
    entry = trail.first()

    assert client.get(reverse("admin:sessions_app_auditentry_changelist")).status_code == 200
    assert (
        client.get(reverse("admin:sessions_app_auditentry_change", args=[entry.pk])).status_code
        == 200
    )
    assert client.get(reverse("admin:sessions_app_auditentry_add")).status_code == 403
    assert (
        client.get(reverse("admin:sessions_app_auditentry_delete", args=[entry.pk])).status_code
        == 403
    )
    client.post(
        reverse("admin:sessions_app_auditentry_change", args=[entry.pk]), {"user_id": "tampered"}
    )
    client.post(
        reverse("admin:sessions_app_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    entry.refresh_from_db()
    assert entry.user_id != "tampered"
    assert AuditEntry.objects.count() == 3


def test_retention_deletes_only_rows_older_than_the_setting(settings, environment):
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    for age_days in (45, 31, 29, 0):
        AuditEntry.objects.create(
            source="page",
            action="set_variables",
            environment=environment,
            user_id=f"aged-{age_days}",
            created_at=now - timedelta(days=age_days),
        )

    deleted = purge_expired_audit_entries()

    assert deleted == 2
    assert sorted(AuditEntry.objects.values_list("user_id", flat=True)) == ["aged-0", "aged-29"]


def test_retention_of_zero_days_keeps_every_row(settings, environment):
    settings.AUDIT_RETENTION_DAYS = 0
    AuditEntry.objects.create(
        source="page",
        action="reset",
        environment=environment,
        created_at=timezone.now() - timedelta(days=900),
    )

    assert purge_expired_audit_entries() == 0
    assert AuditEntry.objects.count() == 1


def test_the_retention_task_is_the_one_the_schedule_names(settings):
    from voiceflow_admin.celery import app

    scheduled = settings.CELERY_BEAT_SCHEDULE["purge-expired-audit-entries"]["task"]
    assert purge_expired_audit_entries.name == scheduled
    assert app.tasks[scheduled].name == scheduled
