"""Hostile input everywhere a person sees it, in a real browser: userIDs, variable names and
values, what the console sends and gets back, CSV cells, project and environment names, audit
pages. Each is shown as text: no dialog opens, no CSP violation is reported (the `page` fixture
fails the test on one), and template syntax stays literal."""

import io
from urllib.parse import quote, urlencode

import pytest
from browser_support import sign_in

from sessions_app import bulk
from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.models import BulkJob, Environment

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
TEMPLATE = "{{7*7}}{% now 'Y' %}"
RTL = "\u202eevil\u202c"
ZERO_WIDTH = "zero\u200bwidth"
LONG = "L" * 3000
HOSTILE_USER = f"{IMAGE}{SCRIPT}"
VARIABLES = {
    SCRIPT: IMAGE,
    "html_value": SCRIPT,
    "link": JS_URL,
    "template": TEMPLATE,
    "rtl": RTL,
    "zero": ZERO_WIDTH,
    "long": LONG,
    "nested": {IMAGE: [SCRIPT, {"deep": TEMPLATE}]},
}


@pytest.fixture
def dialogs(page) -> list[str]:
    opened: list[str] = []

    def dismiss(dialog):
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


@pytest.fixture
def hostile(sandbox, environment, ops) -> Environment:
    project = environment.project
    project.name = f"Pizzeria {IMAGE}{TEMPLATE}"
    project.save()
    environment.label = f"Dev {SCRIPT}{RTL}"
    environment.save()
    sandbox.set_state(
        project.voiceflow_project_id,
        HOSTILE_USER,
        {"stack": [], "storage": {SCRIPT: IMAGE}, "variables": VARIABLES},
    )
    do_set_variables(
        environment,
        HOSTILE_USER,
        {"html_value": IMAGE},
        context=WriteContext(actor=ops, source="page"),
    )
    return environment


def assert_shown_as_text(page, dialogs, *texts: str) -> None:
    body = page.inner_text("body")
    for text in texts:
        assert text in body, f"{text!r} is not shown as text"
    assert "49" not in body.split(TEMPLATE)[0][-5:]  # {{7*7}} was not evaluated
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script:not([src])").count() == 0


def inspector(environment, **params) -> str:
    return f"/sessions/{environment.pk}/inspect?{urlencode({'user': HOSTILE_USER, **params})}"


def test_the_inspector_shows_hostile_names_values_and_user_ids_as_text(page, dialogs, hostile, ops):
    sign_in(page, ops)
    page.goto(inspector(hostile))
    page.wait_for_selector("table.variables")

    assert_shown_as_text(page, dialogs, HOSTILE_USER, SCRIPT, IMAGE, JS_URL, TEMPLATE)
    assert page.locator(f"a[href='{JS_URL}']").count() == 0
    page.goto(inspector(hostile, watch="1"))
    page.wait_for_timeout(3500)  # one watch refresh swaps the live part in
    assert_shown_as_text(page, dialogs, SCRIPT, IMAGE)


def test_the_home_list_and_the_environment_switcher_show_them_as_text(page, dialogs, hostile, ops):
    sign_in(page, ops)
    page.goto(inspector(hostile))  # the session becomes known
    page.goto(f"/?environment={hostile.pk}")

    assert_shown_as_text(page, dialogs, HOSTILE_USER, f"Dev {SCRIPT}")


def test_audit_pages_show_them_as_text(page, dialogs, hostile, admin_user, ops):
    sign_in(page, admin_user)
    page.goto("/audit/?" + urlencode({"user": HOSTILE_USER}))
    assert_shown_as_text(page, dialogs, HOSTILE_USER, f"Pizzeria {IMAGE}")

    page.click("table a[href^='/audit/']")
    page.wait_for_load_state()
    assert_shown_as_text(page, dialogs, HOSTILE_USER, SCRIPT, IMAGE)


def test_project_pages_show_hostile_names_as_text(page, dialogs, hostile, admin_user):
    sign_in(page, admin_user)
    page.goto("/projects/")

    assert_shown_as_text(page, dialogs, f"Pizzeria {IMAGE}", f"Dev {SCRIPT}")
    page.goto(f"/projects/{hostile.project_id}/edit")
    assert page.input_value("#id_name") == f"Pizzeria {IMAGE}{TEMPLATE}"
    assert dialogs == []


def test_the_console_shows_what_was_sent_and_answered_as_text(page, dialogs, hostile, support):
    sign_in(page, support)
    page.goto(inspector(hostile))
    page.fill("#console-text", f"{SCRIPT}{IMAGE}{TEMPLATE}")
    page.click("#console button:has-text('Send text')")
    page.wait_for_selector(".console-turn, .turn", timeout=10_000)

    assert_shown_as_text(page, dialogs, f"{SCRIPT}{IMAGE}")


def test_bulk_job_validation_reports_and_results_show_csv_cells_as_text(
    page, dialogs, hostile, ops
):
    csv_text = "\n".join(
        [
            f"user_id,{SCRIPT}:number,note",
            f"{HOSTILE_USER},not a number,{IMAGE}",
            f"ok-user,5,{TEMPLATE}",
        ]
    )
    job = bulk.create_job_from_upload(
        hostile,
        ops,
        kind=BulkJob.Kind.PRELOAD,
        source_format=bulk.Format.CSV,
        binary=io.BytesIO(csv_text.encode()),
        source_name=f"{IMAGE}.csv",
    )
    sign_in(page, ops)
    page.goto(f"/jobs/{job.pk}/")

    assert_shown_as_text(page, dialogs, f"{IMAGE}.csv")
    assert SCRIPT in page.inner_text("body") or quote(SCRIPT) in page.content()
    page.goto("/jobs/")
    assert_shown_as_text(page, dialogs, f"Dev {SCRIPT}")


def test_the_step_up_page_never_links_to_a_javascript_url(page, dialogs, admin_user):
    sign_in(page, admin_user)
    page.goto("/account/confirm?" + urlencode({"next": JS_URL}))

    assert page.get_attribute("a:has-text('Cancel')", "href") == "/"
    page.click("a:has-text('Cancel')")
    assert dialogs == []
