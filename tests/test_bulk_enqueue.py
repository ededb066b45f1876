"""Work is queued only once the transaction that asked for it commits: a start, a resume or an
input's check that rolls back leaves nothing on the broker (Celery's `delay_on_commit`)."""

import pytest
from bulk_support import csv_file, preload_for_users
from django.db import transaction

from sessions_app import bulk
from sessions_app.models import BulkJob

pytestmark = pytest.mark.production_path


class RolledBack(Exception):
    pass


@pytest.fixture
def broker(transactional_db, test_broker):
    """The test broker's control, its queue emptied: `purge()` then counts (and drops) what
    was queued since."""
    from voiceflow_admin.celery import app

    app.control.purge()
    return app.control


def test_a_start_that_rolls_back_queues_nothing(broker, environment, ops, settings):
    settings.BULK_TASKS_PER_JOB = 2
    job = preload_for_users(environment, ops, ["a", "b"], {"plan": "gold"})

    with pytest.raises(RolledBack), transaction.atomic():
        bulk.start_job(job, ops)
        raise RolledBack

    job.refresh_from_db()
    assert job.status == BulkJob.Status.DRAFT
    assert broker.purge() == 0

    bulk.start_job(job, ops)

    assert broker.purge() == 2  # BULK_TASKS_PER_JOB tasks, once it committed


def test_an_input_whose_creation_rolls_back_queues_no_check(broker, environment, ops):
    with pytest.raises(RolledBack), transaction.atomic():
        bulk.create_job(
            environment,
            ops,
            kind=BulkJob.Kind.PRELOAD,
            source_format=bulk.Format.CSV,
            binary=csv_file("userID,plan:string", "a,gold"),
        )
        raise RolledBack

    assert not BulkJob.objects.exists()
    assert broker.purge() == 0
