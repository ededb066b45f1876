"""Jobs from a segment, run by a real worker against the sandbox: reset, set variables and remove
variables over the indexed members, each member re-read before its write, and a member that
moved since the index was read skipped and reported. From the API and the command line."""

import json

import pytest
from bulk_support import wait_for, wait_until_finished
from django.core.management import call_command

from sessions_app import segments
from sessions_app.known_sessions import note_session
from sessions_app.models import AuditEntry, BulkItem, BulkJob

pytestmark = [pytest.mark.worker, pytest.mark.production_path]

AT_PAY = [{"field": "position", "flow": "checkout", "block": "pay"}]


def state_at(node: str, **variables) -> dict:
    return {
        "stack": [{"diagramID": "checkout", "nodeID": node, "storage": {}, "variables": {}}],
        "storage": {},
        "variables": variables,
    }


def seed(sandbox, sandbox_project, environment, states: dict[str, dict]) -> None:
    """Each user's state in Voiceflow, and the index having read it."""
    for user_id, state in states.items():
        sandbox.set_state(sandbox_project["project_id"], user_id, state)
        note_session(environment, user_id, state)


def test_a_reset_from_the_api_skips_the_member_who_moved(
    client_for_user, celery_worker, sandbox, sandbox_project, environment, ops
):
    project_id = sandbox_project["project_id"]
    seed(
        sandbox,
        sandbox_project,
        environment,
        {f"stuck-{n}": state_at("pay", plan="gold") for n in range(5)}
        | {"elsewhere": state_at("address", plan="gold")},
    )
    segment = segments.save_segment(environment, ops, name="stuck at pay", conditions=AT_PAY)
    # stuck-4 went on to the next block after the index read it.
    sandbox.set_state(project_id, "stuck-4", state_at("done", plan="gold"))

    api = client_for_user(ops)
    preview = api.get(f"/api/v1/segments/{segment.pk}/preview").json()
    assert preview["count"] == 5
    answer = api.post(
        f"/api/v1/segments/{segment.pk}/jobs",
        {"kind": "reset", "start": True},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    job = BulkJob.objects.get(pk=answer.json()["id"])
    assert (job.kind, job.total_items, job.segment_id) == ("reset", 5, segment.pk)
    progress = wait_until_finished(job)

    assert (progress["done"], progress["skipped"], progress["failed"]) == (4, 1, 0)
    for n in range(4):
        assert sandbox.state(project_id, f"stuck-{n}") is None
    assert sandbox.state(project_id, "stuck-4") == state_at("done", plan="gold")
    assert sandbox.state(project_id, "elsewhere") == state_at("address", plan="gold")
    moved = job.items.get(user_id="stuck-4")
    assert moved.status == BulkItem.Status.SKIPPED
    assert moved.reason == (
        "Moved since the index was read: no longer at flow checkout, block pay."
    )
    entries = AuditEntry.objects.filter(job=job)
    assert set(entries.values_list("user_id", "action", "outcome", "source", "actor")) == {
        (f"stuck-{n}", "reset", "succeeded", "bulk", ops.pk) for n in range(4)
    }
    # Undoable like any job.
    assert all(entry.state_before == state_at("pay", plan="gold") for entry in entries)


def test_set_and_remove_variables_from_a_segment(
    client_for_user, celery_worker, sandbox, sandbox_project, environment, ops
):
    project_id = sandbox_project["project_id"]
    seed(
        sandbox,
        sandbox_project,
        environment,
        {
            "a": state_at("pay", plan="gold", promo="X1"),
            "b": state_at("pay", plan="gold"),
            "c": state_at("pay", plan="silver", promo="X1"),
        },
    )
    gold = segments.save_segment(
        environment,
        ops,
        name="gold",
        conditions=[{"field": "variable", "path": "plan", "op": "equals", "value": "gold"}],
    )
    api = client_for_user(ops)
    answer = api.post(
        f"/api/v1/segments/{gold.pk}/jobs",
        {"kind": "remove_variables", "variable_names": ["promo"], "start": True},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    removal = BulkJob.objects.get(pk=answer.json()["id"])
    progress = wait_until_finished(removal)
    assert (progress["done"], progress["skipped"]) == (1, 1)
    assert sandbox.state(project_id, "a")["variables"] == {"plan": "gold"}
    assert sandbox.state(project_id, "c")["variables"] == {"plan": "silver", "promo": "X1"}
    assert removal.items.get(user_id="b").reason == "None of promo is set in this session."
    entry = AuditEntry.objects.get(job=removal)
    assert (entry.action, entry.user_id) == ("remove_variables", "a")

    answer = api.post(
        f"/api/v1/segments/{gold.pk}/jobs",
        {"kind": "preload", "variables": {"tier": 2}, "start": True},
        content_type="application/json",
    )
    preload = BulkJob.objects.get(pk=answer.json()["id"])
    assert wait_until_finished(preload)["done"] == 2
    assert sandbox.state(project_id, "a")["variables"] == {"plan": "gold", "tier": 2}
    assert sandbox.state(project_id, "b")["variables"] == {"plan": "gold", "tier": 2}
    assert "tier" not in sandbox.state(project_id, "c")["variables"]


def test_bad_job_input_from_the_api_changes_nothing(client_for_user, environment, ops):
    segment = segments.save_segment(environment, ops, name="all", conditions=[])
    api = client_for_user(ops)
    for body, message in [
        ({"kind": "preload"}, "variables to set"),
        ({"kind": "remove_variables"}, "at least one variable"),
        (
            {"kind": "reset", "campaign_ends_at": "2030-01-01T00:00:00Z"},
            "(a preload) can carry a campaign end",
        ),
        ({"kind": "reset", "notify_webhook_url": "http://169.254.169.254/hook"}, "private"),
        ({"kind": "reset", "notify_emails": "not an address"}, "not an email address"),
        ({"kind": "reset", "write_mode": "single_request"}, "cannot run without undo"),
    ]:
        answer = api.post(
            f"/api/v1/segments/{segment.pk}/jobs", body, content_type="application/json"
        )
        assert answer.status_code == 400, body
        assert message in answer.json()["error"]["message"]
    assert not BulkJob.objects.exists()


def test_a_segment_job_never_starts_without_the_read_its_recheck_needs(
    client_for_user, sandbox, sandbox_project, environment, ops
):
    """Skipping the members that moved needs each state read before its write: a segment job
    refuses the single-request ("no undo") mode instead of writing to members unchecked."""
    seed(sandbox, sandbox_project, environment, {"m": state_at("pay")})
    segment = segments.save_segment(environment, ops, name="stuck at pay", conditions=AT_PAY)
    api = client_for_user(ops)
    created = api.post(
        f"/api/v1/segments/{segment.pk}/jobs", {"kind": "reset"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    job = BulkJob.objects.get(pk=created.json()["id"])

    refused = api.post(
        f"/api/v1/jobs/{job.pk}/start",
        {"write_mode": "single_request"},
        content_type="application/json",
    )

    assert refused.status_code == 409, refused.content
    assert "cannot run without undo" in refused.json()["error"]["message"]
    job.refresh_from_db()
    assert (job.status, job.write_mode) == ("draft", "read_first")
    assert not AuditEntry.objects.exists()
    assert sandbox.state(sandbox_project["project_id"], "m") == state_at("pay")


def test_the_command_counts_then_runs_a_segment_job(
    celery_worker, sandbox, sandbox_project, environment, ops, capsys
):
    project_id = sandbox_project["project_id"]
    seed(sandbox, sandbox_project, environment, {f"u{n}": state_at("pay") for n in range(3)})
    segments.save_segment(environment, ops, name="stuck at pay", conditions=AT_PAY)
    common = ["--environment", str(environment.pk), "--as-user", ops.username, "--json"]

    call_command("segment_job", "stuck at pay", *common)
    counted = json.loads(capsys.readouterr().out)
    assert counted["count"] == 3 and sorted(counted["sample"]) == ["u0", "u1", "u2"]
    assert counted["conditions"] == AT_PAY
    assert not BulkJob.objects.exists()

    call_command(
        "segment_job",
        "stuck at pay",
        *common,
        "--kind",
        "preload",
        "--variables",
        '{"nudge": true}',
        "--run",
        "--follow",
        "--interval",
        "0.5",
    )
    finished = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (finished["status"], finished["done"]) == ("completed", 3)
    for n in range(3):
        assert sandbox.state(project_id, f"u{n}")["variables"] == {"nudge": True}


def test_refresh_from_voiceflow_rereads_the_members_on_a_worker_before_a_job(
    celery_worker, sandbox, sandbox_project, environment, ops, viewer, client_for_user
):
    """The page's "Refresh from Voiceflow" button: a worker reads the states over HTTP into the
    index, so a member who left the block since is no longer counted and one who arrived is."""
    project_id = sandbox_project["project_id"]
    seed(
        sandbox,
        sandbox_project,
        environment,
        {"left": state_at("pay"), "stayed": state_at("pay"), "arrived": state_at("address")},
    )
    segment = segments.save_segment(environment, ops, name="stuck at pay", conditions=AT_PAY)
    # In Voiceflow, after the index read them:
    sandbox.set_state(project_id, "left", state_at("done"))
    sandbox.set_state(project_id, "arrived", state_at("pay"))

    def counted() -> set[str]:
        return {row.user_id for row in segments.preview(environment, segment.conditions).sample}

    assert counted() == {"left", "stayed"}
    page = client_for_user(viewer)  # reading only: the inspect permission is enough
    answer = page.post(f"/segments/{segment.pk}/refresh")
    assert answer.status_code == 302

    wait_for(
        lambda: counted() == {"stayed", "arrived"},
        timeout_s=90,
        what="the worker's refresh of the segment",
    )
    segment.refresh_from_db()
    assert segment.refreshed_at is not None
    shown = page.get(f"/segments/{segment.pk}/").content.decode()
    assert '<strong data-count="2">2</strong> indexed sessions match' in shown
