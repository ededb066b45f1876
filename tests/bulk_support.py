"""Building bulk jobs in tests and waiting for a real worker to finish them."""

import io
import time

from sessions_app import bulk
from sessions_app.models import BulkJob


def csv_file(*lines: str) -> io.BytesIO:
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def preload_from_csv(environment, actor, *lines: str) -> BulkJob:
    return bulk.create_job_from_upload(
        environment,
        actor,
        kind=BulkJob.Kind.PRELOAD,
        source_format=bulk.Format.CSV,
        binary=csv_file(*lines),
        source_name="test.csv",
    )


def preload_for_users(environment, actor, user_ids: list[str], variables: dict) -> BulkJob:
    return bulk.create_job_from_text(
        environment, actor, kind=BulkJob.Kind.PRELOAD, text="\n".join(user_ids), variables=variables
    )


def reset_users(environment, actor, user_ids: list[str]) -> BulkJob:
    return bulk.create_job_from_text(
        environment, actor, kind=BulkJob.Kind.RESET, text="\n".join(user_ids)
    )


def wait_for(condition, *, timeout_s: float = 90, what: str = "the condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout_s} s waiting for {what}.")


def wait_until_finished(job: BulkJob, *, timeout_s: float = 90) -> dict:
    def finished():
        job.refresh_from_db()
        progress = bulk.job_progress(job)
        return progress if progress["is_finished"] else None

    return wait_for(finished, timeout_s=timeout_s, what=f"job {job.pk} to finish")
