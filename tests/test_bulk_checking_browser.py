"""Validation as a job, in a real browser: the upload is answered at once with the input stored,
a worker checks it while the page shows the check's progress, and the page turns into the draft
with its report when the check is done."""

import pytest
from browser_support import sign_in
from django.urls import reverse

from sessions_app.models import BulkJob, BulkUploadChunk

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_an_upload_is_checked_by_a_worker_while_the_page_shows_progress(
    page, live_server, celery_worker, environment, ops, ops_client
):
    celery_worker.kill()  # nothing checks the input until a worker runs
    rows = ["userID,plan:string,credits:integer"] + [f"user-{n},gold,{n}" for n in range(3000)]
    rows.insert(1500, "user-bad,gold,lots")
    sign_in(page, ops)

    page.goto("/jobs/new")
    page.set_input_files(
        "#file-file",
        {"name": "big.csv", "mimeType": "text/csv", "buffer": ("\n".join(rows) + "\n").encode()},
    )
    page.click("form:has(#file-file) button[type=submit]")

    checking = page.wait_for_selector("#job-checking")
    assert checking.get_attribute("data-percent") == "0"
    assert "Checking the input" in page.inner_text("#job-checking")
    job = BulkJob.objects.get()
    assert job.status == BulkJob.Status.VALIDATING
    assert BulkUploadChunk.objects.filter(job=job).exists()  # stored, not yet read
    progress = ops_client.get(reverse("job_progress", args=[job.pk])).json()
    assert progress["checking"] == {
        "ready": False,
        "percent": 0.0,
        "rows_read": 0,
        "message": "Checked 0 rows (0% of the file).",
    }

    celery_worker.start()
    page.wait_for_selector("#validation-report", timeout=90_000)  # the page refreshed itself

    assert page.inner_text("#validation-report [data-count=valid]") == "3000"
    assert page.inner_text("#validation-report [data-count=bad]") == "1"
    assert "lots is not an integer (credits:integer)." in page.inner_text("#validation-report")
    job.refresh_from_db()
    assert (job.status, job.total_items) == (BulkJob.Status.DRAFT, 3000)
    assert not BulkUploadChunk.objects.filter(job=job).exists()  # dropped once checked
