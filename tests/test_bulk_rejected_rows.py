"""A started job keeps the rows its input check refused: on its page and in its results file, so
the file reconciles line by line with the upload."""

import csv
import html
import io

import pytest
from bulk_support import preload_from_csv, wait_until_finished
from django.urls import reverse

from sessions_app import bulk

pytestmark = [pytest.mark.worker, pytest.mark.production_path]

BAD = {
    7: "u07,gold,seven",  # not an integer
    19: "u19\x7f,gold,19",  # a control character in the userID
    30: "u30,gold",  # a cell short
    44: "u44,gold,44x",
}


def fifty_rows() -> list[str]:
    rows = []
    for line in range(2, 52):
        rows.append(BAD.get(line, f"u{line:02d},gold,{line}"))
    return rows


def test_a_started_job_shows_and_reports_the_rows_refused_at_upload(
    celery_worker, environment, ops, ops_client
):
    job = preload_from_csv(environment, ops, "userID,plan:string,credits:integer", *fifty_rows())
    bulk.start_job(job, ops, skip_bad_rows=True)
    progress = wait_until_finished(job)

    assert (progress["total"], progress["done"], progress["rejected"]) == (46, 46, 4)
    page = html.unescape(ops_client.get(reverse("job_detail", args=[job.pk])).content.decode())
    assert 'id="rejected-rows"' in page
    assert "4</strong> rows of the file were refused" in page
    assert "seven is not an integer (credits:integer)." in page
    assert "This row has 2 cells; the header has 3." in page

    response = ops_client.get(reverse("job_results", args=[job.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(row["line"]) for row in rows] == list(range(2, 52))  # every line, once, in order
    rejected = {int(r["line"]): r for r in rows if r["outcome"] == "rejected"}
    assert sorted(rejected) == sorted(BAD)
    assert (rejected[7]["userID"], rejected[7]["rejected_column"]) == ("u07", "credits:integer")
    assert rejected[7]["rejected_value"] == "seven"
    assert "is not an integer" in rejected[7]["reason"]
    assert rejected[19]["rejected_column"] == "userID"
    assert {r["outcome"] for r in rows if int(r["line"]) not in BAD} == {"succeeded"}


def test_both_lines_of_a_duplicate_stay_in_the_results_of_the_started_job(ops, environment):
    job = preload_from_csv(environment, ops, "userID,n:integer", "a,1", "dup,2", "b,3", "dup,4")
    bulk.start_job(job, ops, skip_bad_rows=True)

    rows = list(csv.DictReader(io.StringIO("".join(bulk.iter_results_csv(job)))))

    assert [(r["line"], r["userID"], r["outcome"]) for r in rows] == [
        ("2", "a", "pending"),
        ("3", "dup", "rejected"),
        ("4", "b", "pending"),
        ("5", "dup", "rejected"),
    ]
    assert "appears again on line 5" in rows[1]["reason"]
    assert "already on line 3" in rows[3]["reason"]
