"""Every environment selector names the environment first and whole ("Production · Demo Pizzeria
& Bookings (sandbox)"), never cut, so Production and Development cannot look alike."""

import pytest
from browser_support import sign_in
from django.urls import reverse
from playwright.sync_api import expect

from sessions_app.models import Environment, OperatorPreference

pytestmark = pytest.mark.browser

LONG_NAME = "Demo Pizzeria & Bookings (sandbox)"

# How much of the selected option's text the select leaves unshown (0 when it shows it whole).
CUT_PIXELS = """select => {
  const option = select.options[select.selectedIndex];
  const style = getComputedStyle(select);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const inner = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  // Chromium draws the drop-down arrow inside the box: about 1.2em.
  const arrow = 1.2 * parseFloat(style.fontSize);
  return Math.max(0, Math.ceil(context.measureText(option.text).width + arrow - inner));
}"""


@pytest.fixture
def long_named(project, production_environment, environment, ops):
    project.name = LONG_NAME
    project.save(update_fields=["name"])
    OperatorPreference.objects.create(user=ops, environment=production_environment)
    return production_environment


def selected_text(page, selector: str) -> str:
    return page.locator(selector).evaluate("select => select.options[select.selectedIndex].text")


@pytest.mark.parametrize(
    ("where", "selector"),
    [
        ("home", "#env-select"),
        ("home", "#id_environment"),
        ("find_by_activity", "#id_environment"),
    ],
)
def test_the_selector_shows_the_environment_first_and_whole(page, ops, long_named, where, selector):
    sign_in(page, ops)
    page.goto(reverse(where))
    select = page.locator(selector)
    if selector != "#env-select":
        select.select_option(str(long_named.pk))

    assert selected_text(page, selector) == f"Production · {LONG_NAME}"
    assert select.evaluate(CUT_PIXELS) == 0
    options = select.locator("option").all_inner_texts()
    assert f"Development · {LONG_NAME}" in [text.strip() for text in options]


@pytest.mark.parametrize("form", ["file", "list", "reset"])
def test_the_job_forms_name_each_environment_first_and_whole(page, ops, long_named, form):
    sign_in(page, ops)
    page.goto(reverse("job_new"))

    choices = page.locator(f"#{form}-environment label.choice")

    assert [" ".join(text.split()) for text in choices.all_inner_texts()] == [
        f"Development · {LONG_NAME}",
        f"Production · {LONG_NAME}",
    ]
    for choice in choices.all():
        assert choice.evaluate("label => label.scrollWidth <= label.clientWidth")
    expect(choices.nth(1).locator("input")).to_be_checked()


def test_a_production_environment_with_another_label_is_marked(project, ops):
    live = Environment.objects.create(project=project, label="Live", is_production=True)

    assert live.choice_label == f"Live (production) · {project.name}"


def test_the_audit_filter_shows_the_environment_whole(page, ops, long_named):
    sign_in(page, ops)
    page.goto(reverse("audit_list"))
    page.select_option("#id_environment", str(long_named.pk))

    expect(page.locator("#id_environment")).to_be_visible()
    assert page.locator("#id_environment").evaluate(CUT_PIXELS) == 0
