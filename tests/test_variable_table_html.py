"""The inspector's variable rows are built in Python (templatetags/variable_table.py): every
value from a state must come out escaped, in text and in attributes alike."""

import html
import json
import re

from sessions_app.inspector.display import variable_rows as rows_of
from sessions_app.templatetags.variable_table import shown_value, variable_rows

HOSTILE = '"><img src=x onerror=alert(1)>'


def rendered(variables: dict, previous: dict | None = None, *, actions: bool = True) -> str:
    return str(
        variable_rows(
            rows_of(variables, previous), actions=actions, table_id="t", fold_prefix="var-"
        )
    )


def test_names_and_values_are_escaped_in_text_and_attributes():
    page = rendered({HOSTILE: HOSTILE, "long": HOSTILE * 20, "obj": {HOSTILE: [HOSTILE]}})

    assert "<img" not in page
    # Every attribute holds its value whole: the quote in the name did not end it.
    names = re.findall(r'<tr class="var-row" data-name="([^"]*)"', page)
    assert [html.unescape(name) for name in names] == [HOSTILE, "long", "obj"]
    values = re.findall(r' value="([^"]*)"', page)
    assert json.loads(html.unescape(values[0])) == HOSTILE
    assert html.escape(HOSTILE, quote=True) in page


def test_a_row_shows_kind_change_runtime_note_and_actions():
    page = rendered(
        {"user_id": "u-1", "plan": "gold", "empty": ""},
        {"user_id": "u-1", "plan": "silver", "gone": 1},
    )

    assert '<tr class="var-row" data-name="user_id" data-type="string">' in page
    assert "title=\"The runtime's own variable. The userID" in page
    assert '<tr class="var-row added" data-name="empty"' in page
    assert '<span class="muted">(empty text)</span>' in page
    changed = re.search(r'<tr class="var-row changed" data-name="plan".*?</tr>', page).group(0)
    assert '<div class="was">was <span class="value-text">silver</span></div>' in changed
    assert 'form="t-remove" name="name_json" value="&quot;plan&quot;"' in changed
    removed = re.search(r'<tr class="var-row removed" data-name="gone".*?</tr>', page).group(0)
    assert "Remove</button>" not in removed
    assert '<span class="change-label">removed</span>' in removed


def test_without_actions_no_buttons_and_an_empty_table_says_so():
    assert "<button" not in rendered({"plan": "gold"}, actions=False)
    assert "No variables." in rendered({})


def test_a_long_value_folds_with_its_key():
    folded = rendered({"notes": "line one\nline two"})

    assert '<details class="folded-value" data-fold="var-notes">' in folded
    assert "<pre>line one\nline two</pre>" in folded
    assert "data-fold" not in str(shown_value(rows_of({"n": "a\nb"})[0].value))


def test_the_buttons_send_the_exact_name_which_the_shown_name_is_not():
    nul, typed_out = "nick\x00name", "nick\\u0000name"
    page = rendered({nul: 1, typed_out: 2, "half\ud83d": 3})

    assert page.count('data-name="nick\\u0000name"') == 4  # each row and its Edit button
    sent = [
        json.loads(html.unescape(v)) for v in re.findall(r'name="name_json" value="([^"]*)"', page)
    ]
    assert sent == [nul, typed_out, "half\ud83d"]
    edited = [json.loads(html.unescape(v)) for v in re.findall(r'data-name-json="([^"]*)"', page)]
    assert edited == sent
