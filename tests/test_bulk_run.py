"""A preload job run by a real Celery worker: exact counts, and every value in Voiceflow with
its type, audited as a bulk write of that job."""

import pytest
from bulk_support import preload_from_csv, wait_until_finished

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def test_a_preload_completes_with_exact_counts_and_typed_values(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    lines = ["userID,plan:string,credits:integer,ratio:number,vip:boolean,gone:null,profile:json"]
    for n in range(40):
        lines.append(
            f'user-{n},gold,{n},{n}.5,{"true" if n % 2 else "false"},null,"{{""tier"": {n}}}"'
        )
    job = preload_from_csv(environment, ops, *lines)
    assert job.total_items == 40

    bulk.start_job(job, ops)
    progress = wait_until_finished(job)

    assert (progress["status"], progress["done"], progress["failed"], progress["remaining"]) == (
        "completed",
        40,
        0,
        0,
    )
    for n in range(40):
        variables = sandbox.state(sandbox_project["project_id"], f"user-{n}")["variables"]
        assert variables == {
            "plan": "gold",
            "credits": n,
            "ratio": n + 0.5,
            "vip": bool(n % 2),
            "gone": None,
            "profile": {"tier": n},
        }
        assert type(variables["credits"]) is int and type(variables["ratio"]) is float
    stats = sandbox.stats(sandbox_project["api_key"])
    assert stats["writes_by_user"] == {f"user-{n}": 1 for n in range(40)}
    entries = AuditEntry.objects.filter(job=job)
    assert entries.count() == 40
    assert set(entries.values_list("source", "outcome", "action", "actor")) == {
        ("bulk", "succeeded", "set_variables", ops.pk)
    }
    assert BulkItem.objects.filter(job=job, audit_entry__isnull=True).count() == 0
