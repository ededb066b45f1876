"""The Content Security Policy allows no inline styles (style-src 'self'): no template writes a
style attribute or element, our scripts set none as an attribute (classes, or the CSSOM, which
the policy allows), and htmx is told not to insert its indicator styles."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
SCRIPTS = sorted(p for p in (ROOT / "static" / "js").glob("*.js") if not p.name.endswith(".min.js"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_no_template_writes_an_inline_style(template):
    text = template.read_text()

    assert not re.search(r"\sstyle\s*=|<style[\s>]", text)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_script_sets_a_style_attribute(script):
    text = script.read_text()

    assert not re.search(r"setAttribute\(\s*[\"']style|\.cssText|<style|style=", text)


def test_htmx_inserts_no_indicator_styles():
    base = (ROOT / "templates" / "base.html").read_text()

    assert '"includeIndicatorStyles": false' in base
