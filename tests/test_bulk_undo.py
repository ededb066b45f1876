"""Undo puts back exactly the states a preload or a reset replaced."""

import pytest
from bulk_support import preload_from_csv, reset_users, wait_until_finished

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkJob

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def conversation(n: int) -> dict:
    return {
        "stack": [
            {
                "diagramID": f"flow-{n}",
                "nodeID": f"node-{n}",
                "storage": {"output": [{"text": "Hi"}]},
                "variables": {"local": n},
            },
        ],
        "storage": {"locale": "en-US", "noMatchesCounter": n % 3},
        "variables": {
            "sessions": n,
            "user_id": f"user-{n}",
            "pizza": "pepperoni",
            "nested": {"a": [1, 2, {"b": None}]},
        },
    }


def run(job: BulkJob, actor) -> dict:
    bulk.start_job(job, actor)
    return wait_until_finished(job)


def test_undo_of_a_reset_brings_back_every_state_exactly(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    project_id = sandbox_project["project_id"]
    user_ids = [f"user-{n}" for n in range(8)]
    for n, user_id in enumerate(user_ids):
        sandbox.set_state(project_id, user_id, conversation(n))
    before = {user_id: sandbox.state(project_id, user_id) for user_id in user_ids}

    reset = reset_users(environment, ops, user_ids)
    assert run(reset, ops)["done"] == 8
    assert all(sandbox.state(project_id, user_id) in (None, {}) for user_id in user_ids)
    snapshots = dict(AuditEntry.objects.filter(job=reset).values_list("user_id", "state_before"))
    assert snapshots == before

    undo = bulk.create_undo_job(reset, ops)
    assert (undo.kind, undo.undo_of, undo.total_items) == ("undo", reset, 8)
    assert run(undo, ops)["done"] == 8

    for user_id in user_ids:
        assert sandbox.state(project_id, user_id) == before[user_id]
    restorations = AuditEntry.objects.filter(job=undo)
    assert set(restorations.values_list("action", "source", "outcome")) == {
        ("restore", "bulk", "succeeded")
    }
    assert {entry.restored_from.job_id for entry in restorations} == {reset.pk}


def test_undo_of_a_preload_restores_changed_users_and_removes_created_ones(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    project_id = sandbox_project["project_id"]
    sandbox.set_state(project_id, "existing", conversation(1))
    original = sandbox.state(project_id, "existing")
    preload = preload_from_csv(
        environment,
        ops,
        "userID,pizza:string,credits:integer",
        "existing,margherita,10",
        "newcomer,hawaii,5",
    )
    assert run(preload, ops)["done"] == 2
    assert sandbox.state(project_id, "existing")["variables"]["pizza"] == "margherita"
    assert sandbox.state(project_id, "newcomer")["variables"] == {"pizza": "hawaii", "credits": 5}

    undo = bulk.create_undo_job(preload, ops)
    assert run(undo, ops)["done"] == 2

    assert sandbox.state(project_id, "existing") == original
    assert sandbox.state(project_id, "newcomer") in (None, {})
