"""One poisoned item never stalls a bulk job: a state the database used to refuse is processed
like any other, an item the database refuses for good ends failed with the reason after the
normal attempts, and a cancel always finishes the job."""

import json

import pytest
from bulk_support import preload_for_users, wait_for, wait_until_finished
from django.db import connection

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem, BulkJob

pytestmark = [pytest.mark.worker, pytest.mark.production_path]

POISONED_STATE = {
    "stack": [{"diagramID": "root", "nodeID": "start"}],
    "storage": {},
    "variables": {"last_utterance": "hello\x00there", "half": "\ud800", "score": "<NaN>"},
}
REFUSED_USER = "refused-by-the-database"


def seed_poisoned(sandbox, project_id: str, user_id: str) -> None:
    body = json.dumps(
        {"project_id": project_id, "user_id": user_id, "state": POISONED_STATE}
    ).replace('"<NaN>"', "NaN")
    sandbox.control.put(
        "/_sandbox/state", content=body.encode(), headers={"Content-Type": "application/json"}
    ).raise_for_status()


@pytest.fixture
def refusing_database(transactional_db):
    """The database itself refuses every audit row of one userID, as it refused states holding
    NUL characters: a real error from the real database, the same on every attempt."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_one_user() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.user_id = '{REFUSED_USER}' THEN "
                "RAISE EXCEPTION 'value refused' USING ERRCODE = '22023'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_one_user BEFORE INSERT ON sessions_app_auditentry "
                "FOR EACH ROW EXECUTE FUNCTION refuse_one_user()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_one_user BEFORE INSERT ON sessions_app_auditentry "
                f"WHEN NEW.user_id = '{REFUSED_USER}' "
                "BEGIN SELECT RAISE(ABORT, 'value refused'); END"
            )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER refuse_one_user ON sessions_app_auditentry")
            cursor.execute("DROP FUNCTION refuse_one_user()")
        else:
            cursor.execute("DROP TRIGGER refuse_one_user")


def test_a_preload_over_a_poisoned_state_finishes_with_every_item_done(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    seed_poisoned(clean_knobs, sandbox_project["project_id"], "poisoned-0")
    user_ids = ["clean-0", "poisoned-0", "clean-1"]
    job = preload_for_users(environment, ops, user_ids, {"offer": "spring"})
    bulk.start_job(job, ops)

    progress = wait_until_finished(job, timeout_s=120)

    assert (progress["done"], progress["failed"]) == (3, 0)
    held = clean_knobs.state(sandbox_project["project_id"], "poisoned-0")["variables"]
    assert held["offer"] == "spring" and held["last_utterance"] == "hello\x00there"
    entry = AuditEntry.objects.get(job=job, user_id="poisoned-0")
    assert entry.state_before["variables"]["half"] == "\ud800"


def test_an_item_the_database_refuses_ends_failed_and_the_others_finish(
    refusing_database, celery_worker, clean_knobs, sandbox_project, environment, ops
):
    user_ids = ["before", REFUSED_USER, "after", "last"]
    job = preload_for_users(environment, ops, user_ids, {"offer": "spring"})
    bulk.start_job(job, ops)

    progress = wait_until_finished(job, timeout_s=180)

    assert (progress["status"], progress["done"], progress["failed"]) == ("completed", 3, 1)
    refused = job.items.get(user_id=REFUSED_USER)
    assert refused.status == BulkItem.Status.FAILED
    assert refused.reason.startswith("Could not be processed (")
    assert refused.attempts == bulk.engine.TRANSIENT_ATTEMPTS
    # Nothing was written for it: the audit row, recorded first, was refused.
    assert clean_knobs.state(sandbox_project["project_id"], REFUSED_USER) is None


def test_a_cancel_finishes_the_job_even_while_an_item_keeps_failing(
    refusing_database, celery_worker, clean_knobs, sandbox_project, environment, ops
):
    clean_knobs.knobs(api_key=sandbox_project["api_key"], latency_ms=200)
    user_ids = [REFUSED_USER] + [f"waiting-{n}" for n in range(30)]
    job = preload_for_users(environment, ops, user_ids, {"offer": "spring"})
    bulk.start_job(job, ops)
    wait_for(
        lambda: job.items.get(user_id=REFUSED_USER).attempts >= 2,
        timeout_s=120,
        what="the refused item to be tried again",
    )

    bulk.cancel_job(BulkJob.objects.get(pk=job.pk), ops, source=AuditEntry.Source.PAGE)

    wait_for(
        lambda: BulkJob.objects.get(pk=job.pk).finished_at is not None,
        timeout_s=120,
        what="the cancelled job to finish",
    )
    job.refresh_from_db()
    assert job.status == BulkJob.Status.CANCELLED
    still_open = job.items.filter(status__in=[BulkItem.Status.PENDING, BulkItem.Status.CLAIMED])
    assert not still_open.exists()
    assert job.items.get(user_id=REFUSED_USER).status in (
        BulkItem.Status.SKIPPED,
        BulkItem.Status.FAILED,
    )
