"""UserIDs that begin or end with a space: the runtime keeps spaces as part of a userID
(docs/voiceflow-api.md §9), so a bulk file's row runs for the userID exactly as written, with a
warning, as the inspector reads and writes it (voiceflow/userids.py, the one rule)."""

import pytest
from bulk_support import csv_file
from django.urls import reverse
from inspector_support import inspect_url, text_of

from sessions_app import bulk
from sessions_app.bulk.engine import run_job
from sessions_app.bulk.parsing import user_id_problem
from sessions_app.models import AuditEntry, BulkJob, WriteMode
from sessions_app.voiceflow import edge_space_warning, validate_user_id

pytestmark = pytest.mark.production_path

SPACED = "  spaced-customer "


def test_the_parser_and_the_client_accept_the_same_spaced_userid():
    assert validate_user_id(SPACED) == SPACED
    assert user_id_problem(SPACED) is None
    assert edge_space_warning(SPACED)
    assert not edge_space_warning("spaced customer")  # a space inside is no slip


def test_a_csv_row_with_a_spaced_userid_is_handled_as_the_inspector_handles_it(
    transactional_db, ops, ops_client, environment
):
    job = bulk.create_job(
        environment,
        ops,
        kind=BulkJob.Kind.PRELOAD,
        source_format=bulk.Format.CSV,
        binary=csv_file("userID,plan:string", f"{SPACED},gold", "plain,silver"),
        source_name="spaced.csv",
        check_here=True,
    )

    assert sorted(job.items.values_list("user_id", flat=True)) == sorted([SPACED, "plain"])
    assert (job.validation_report["bad_rows"], job.validation_report["spaced_user_ids"]) == (0, 1)
    report_page = text_of(ops_client.get(reverse("job_detail", args=[job.pk])))
    assert "1 userID begins or ends with a space" in report_page

    BulkJob.objects.filter(pk=job.pk).start(ops, WriteMode.READ_FIRST)
    run_job(job.pk)  # the worker's part, in this process (nothing is queued)

    written = AuditEntry.objects.get(job=job, user_id=SPACED)
    assert written.outcome == AuditEntry.Outcome.SUCCEEDED
    inspector = text_of(ops_client.get(inspect_url(environment, SPACED)))
    assert edge_space_warning(SPACED) in inspector
    assert "gold" in inspector
    # The userID without its spaces is another conversation, which the job did not touch.
    assert "gold" not in text_of(ops_client.get(inspect_url(environment, SPACED.strip())))


@pytest.mark.parametrize("user_id", [" leading", "trailing ", " both "])
def test_a_pasted_list_keeps_the_spaces(ops_client, environment, user_id):
    response = ops_client.post(
        reverse("job_new"),
        {
            "mode": "reset",
            "environment": environment.pk,
            "user_ids": f"alpha\n{user_id}\n",
        },
    )
    assert response.status_code == 302, response.content[:500]
    job = BulkJob.objects.get(pk=response.url.rstrip("/").split("/")[-1])
    bulk.validate_upload(job.pk)

    assert sorted(job.items.values_list("user_id", flat=True)) == sorted(["alpha", user_id])
