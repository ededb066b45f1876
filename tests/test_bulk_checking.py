"""Validation as a job: a check whose queue message was lost (or whose worker died) is queued
again by the sweep and finishes; a second copy of the same check gives way to the first."""

from datetime import timedelta

import pytest
from bulk_support import csv_file, wait_for
from django.utils import timezone

from sessions_app import bulk
from sessions_app.models import BulkJob

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def received(environment, ops, *lines: str) -> BulkJob:
    return bulk.create_job(
        environment,
        ops,
        kind=BulkJob.Kind.PRELOAD,
        source_format=bulk.Format.CSV,
        binary=csv_file(*lines),
        source_name="lost.csv",
    )


def test_a_check_whose_message_was_lost_is_queued_again_by_the_sweep(
    celery_worker, environment, ops
):
    from voiceflow_admin.celery import app

    celery_worker.kill()
    job = received(environment, ops, "userID,n:integer", "a,1", "b,2", "c,x")
    app.control.purge()  # the check's message is gone, as with a Redis that lost it
    BulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    celery_worker.start()  # its beat runs the sweep every second (process_env)

    def checked():
        job.refresh_from_db()
        return job.status == BulkJob.Status.DRAFT

    wait_for(checked, timeout_s=90, what="the sweep to queue the check again")
    assert (job.total_items, job.validation_report["bad_rows"]) == (2, 1)
    assert "Input check of job" in celery_worker.log_path.read_text()


def test_a_second_copy_of_a_check_gives_way(transactional_db, environment, ops):
    job = received(environment, ops, "userID,n:integer", "a,1", "b,2")
    bulk.validate_upload(job.pk)
    job.refresh_from_db()
    report = job.validation_report

    bulk.validate_upload(job.pk)  # a late duplicate: the job is no longer being checked

    job.refresh_from_db()
    assert (job.status, job.total_items, job.validation_report) == (
        BulkJob.Status.DRAFT,
        2,
        report,
    )
