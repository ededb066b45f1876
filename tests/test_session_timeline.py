"""One timeline per session: turns and audited writes by time, each write with its diff, and the
diff between any two recorded states."""

import re

import pytest
from flow_support import talk
from inspector_support import action_url, text_of

from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.models import AuditEntry

pytestmark = pytest.mark.production_path


def timeline(client, environment, user_id: str):
    response = client.get(action_url("session_timeline", environment, user_id))
    assert response.status_code == 200
    return response


def test_turns_and_writes_are_merged_by_time_each_write_with_its_diff(
    client_for_user, sandbox, sandbox_project, environment, support, ops
):
    talk(sandbox, sandbox_project, "story", "I want a pizza")
    do_set_variables(
        environment,
        "story",
        {"pizza_size": "large"},
        context=WriteContext(actor=support, source=AuditEntry.Source.PAGE),
    )
    headers = {"Authorization": sandbox_project["api_key"], "versionID": "development"}
    sandbox.client(**headers).post(
        "/state/user/story/interact", json={"action": {"type": "text", "payload": "pepperoni"}}
    ).raise_for_status()

    response = timeline(client_for_user(ops), environment, "story")
    text = text_of(response)

    order = ["User I want a pizza", "Set variables", "User pepperoni"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "by sam-support · Page" in text
    assert re.search(r"What changed \(\d+\)", text)
    assert "variables.pizza_size" in text


def test_two_recorded_states_can_be_compared(
    client_for_user, sandbox, sandbox_project, environment, support, viewer
):
    talk(sandbox, sandbox_project, "compared")
    first = do_set_variables(
        environment,
        "compared",
        {"a": 1},
        context=WriteContext(actor=support, source=AuditEntry.Source.PAGE),
    )
    second = do_set_variables(
        environment,
        "compared",
        {"b": "two"},
        context=WriteContext(actor=support, source=AuditEntry.Source.API),
    )
    client = client_for_user(viewer)

    picker = text_of(timeline(client, environment, "compared"))
    response = client.get(
        action_url("session_compare", environment, "compared")
        + f"&from={first.pk}-before&to={second.pk}-after"
    )
    text = text_of(response)

    assert f"before the set variables (#{first.pk})" in picker
    assert response.status_code == 200
    assert "variables.a added" in text
    assert "variables.b added" in text


def test_comparing_states_that_were_not_recorded_says_so(client_for_user, environment, viewer):
    response = client_for_user(viewer).get(
        action_url("session_compare", environment, "nobody") + "&from=1-before&to=2-after"
    )

    assert response.status_code == 400
    assert "Pick two states this session's audit trail recorded." in text_of(response)


def test_a_write_by_a_bulk_job_names_its_job(
    client_for_user, sandbox, sandbox_project, environment, ops, viewer
):
    from sessions_app.models import BulkJob

    talk(sandbox, sandbox_project, "bulk-touched")
    job = BulkJob.objects.create(
        kind=BulkJob.Kind.PRELOAD, environment=environment, created_by=ops, total_items=1
    )
    do_set_variables(
        environment,
        "bulk-touched",
        {"c": True},
        context=WriteContext(actor=ops, source=AuditEntry.Source.BULK, job=job),
    )

    text = text_of(timeline(client_for_user(viewer), environment, "bulk-touched"))

    assert f"Bulk job ( job #{job.pk} )" in text
