"""In a real browser: a reset job in production, whose password confirmation has run out. Its dry
run is compact (the count, a sample, the rest behind a link), and after the password the job
starts at once with the boxes already ticked, instead of leading back to the draft."""

import pytest
from browser_support import sign_in
from bulk_support import reset_users
from django.contrib.sessions.backends.db import SessionStore
from persona_support import PASSWORD

from sessions_app.models import BulkJob
from sessions_app.step_up import SESSION_KEY

pytestmark = pytest.mark.browser


def confirmation_runs_out(page) -> None:
    [cookie] = [c for c in page.context.cookies() if c["name"] == "sessionid"]
    session = SessionStore(session_key=cookie["value"])
    session[SESSION_KEY] = 0.0
    session.save()


def test_after_the_password_a_reset_job_starts_without_ticking_the_boxes_again(
    page, sandbox, sandbox_project, production_environment, ops
):
    many_variables = {f"var_{n:02d}": n for n in range(40)}
    for n in range(8):
        sandbox.set_state(
            sandbox_project["project_id"],
            f"reset-{n}",
            {
                "stack": [{"programID": "p", "nodeID": "n"}],
                "storage": {},
                "variables": many_variables,
            },
        )
    job = reset_users(production_environment, ops, [f"reset-{n}" for n in range(8)])
    sign_in(page, ops)
    confirmation_runs_out(page)

    page.goto(f"/jobs/{job.pk}/")
    page.wait_for_selector("#job-preview .reset-sample")
    sample = page.locator("#job-preview tr.diff")
    assert sample.count() == 5
    assert (
        "40 variables (var_00, var_01, var_02, var_03, var_04, var_05 and 34 more), a stack of 1"
        in (sample.first.inner_text())
    )
    assert page.locator("#all-user-ids").inner_text() == "All 8 userIDs (CSV)"
    assert page.locator("#dry-run").bounding_box()["height"] < 700  # not a table per variable

    page.check("input[name=confirm_production]")
    page.click("text=Start the job")
    page.wait_for_selector("#step-up-continue")
    page.fill("#id_step_up_password", PASSWORD)
    page.click("text=Confirm and start the job")

    page.wait_for_selector("#job-progress")
    assert page.url.endswith(f"/jobs/{job.pk}/")
    job.refresh_from_db()
    assert job.status != BulkJob.Status.DRAFT
    assert job.started_by == ops
