"""In a real browser: upload a CSV, read the validation report, run the valid rows, watch the
progress bar reach 100% without a reload, and download the results."""

import csv
import io
from pathlib import Path

import pytest
from browser_support import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_an_operator_uploads_runs_watches_and_downloads_a_preload(
    page, live_server, celery_worker, clean_knobs, sandbox_project, environment, ops
):
    clean_knobs.knobs(api_key=sandbox_project["api_key"], latency_ms=150)
    rows = (
        ["userID,plan:string,credits:integer"]
        + [f"browser-{n},gold,{n}" for n in range(24)]
        + ["browser-bad,gold,many"]
    )
    sign_in(page, ops)

    page.click("nav >> text=Jobs")
    page.click("text=New job")
    page.set_input_files(
        "#file-file",
        {
            "name": "campaign.csv",
            "mimeType": "text/csv",
            "buffer": ("\n".join(rows) + "\n").encode(),
        },
    )
    page.click("form:has(#file-file) button[type=submit]")

    report = page.locator("#validation-report")
    assert report.locator("[data-count=valid]").inner_text() == "24"
    assert report.locator("[data-count=bad]").inner_text() == "1"
    problem = report.locator("table.problems tbody tr")
    assert problem.locator("td").nth(0).inner_text() == "26"
    assert "many is not an integer (credits:integer)." in problem.inner_text()
    page.wait_for_selector("#dry-run .diff")  # the dry run read a few current states

    page.check("input[name=skip_bad_rows]")
    page.click("text=Start the job")
    page.evaluate("window.stillTheSamePage = true")
    bar = page.locator("progress.job-bar")
    page.wait_for_selector("#job-progress:not([data-percent='0'])", timeout=30_000)
    assert 0 < float(bar.get_attribute("value")) <= 100
    page.wait_for_selector("#job-progress[data-percent='100']", timeout=60_000)

    assert bar.get_attribute("value") == "100"
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.locator("[data-count=done]").inner_text() == "24"
    with page.expect_download() as download_info:
        page.click("text=Download results (CSV)")
    results = list(
        csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8")))
    )
    assert len(results) == 25  # every line of the file, the refused one included
    assert {row["outcome"] for row in results[:24]} == {"succeeded"}
    assert (results[24]["line"], results[24]["outcome"]) == ("26", "rejected")
    assert (
        results[3]["userID"] == "browser-3"
        and results[3]["variables_after"] == '{"credits": 3, "plan": "gold"}'
    )
    assert clean_knobs.state(sandbox_project["project_id"], "browser-23")["variables"] == {
        "plan": "gold",
        "credits": 23,
    }
