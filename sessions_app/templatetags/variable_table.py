"""The rows of a variable table and a shown value, built in Python.

A state commonly holds dozens of variables and the inspector draws a row for each on every read
(and every watch-mode poll). As a template, each row cost an include and about thirty variable
lookups: most of the page's rendering time (bench/read_overhead.py, docs/benchmarks.md). Built
here, with the same markup and the same escaping (`format_html` escapes every value), a row costs
a few string formats.
"""

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from ..inspector.display import ValueView, VariableRow

register = template.Library()

CHANGE_LABELS = {"added": "new", "changed": "changed", "removed": "removed"}
EMPTY_TABLE = mark_safe('<tr><td colspan="4" class="muted">No variables.</td></tr>')
EMPTY_TEXT = mark_safe('<span class="muted">(empty text)</span>')


@register.simple_tag
def shown_value(value: ValueView, fold_key: str = "") -> SafeString:
    """One value: in full, or folded to its summary; `fold_key` keeps a fold open across reads."""
    if value.folded:
        fold = format_html(' data-fold="{}"', fold_key) if fold_key else ""
        return format_html(
            '<details class="folded-value"{}><summary>{}</summary><pre>{}</pre></details>',
            fold,
            value.short,
            value.full,
        )
    if value.kind == "string" and not value.short:
        return EMPTY_TEXT
    return format_html('<span class="value-text">{}</span>', value.short)


@register.simple_tag
def variable_rows(
    rows: list[VariableRow], *, actions: bool, table_id: str, fold_prefix: str
) -> SafeString:
    """The table's body rows. `actions` adds Edit and Remove; each Remove button submits the
    table's one remove form (`<table_id>-remove`) with its row's exact name as JSON text
    (`name_json`), and Edit hands the set form the same."""
    if not rows:
        return EMPTY_TABLE
    remove_form = escape(f"{table_id}-remove")
    # Plain f-strings rather than format_html: this runs for every variable on every read, and
    # `_row` escapes each value it puts in.
    return mark_safe("".join(_row(row, actions, remove_form, fold_prefix) for row in rows))  # noqa: S308


def _row(row: VariableRow, actions: bool, remove_form: str, fold_prefix: str) -> str:
    name, kind = escape(row.name), escape(row.value.kind)
    name_cell = f"<code>{name}</code>"
    if row.runtime_note:
        name_cell += (
            ' <span class="badge badge-grey runtime-note" title="The runtime\'s own variable. '
            f'{escape(row.runtime_note)}">runtime</span>'
        )
    if row.change:
        name_cell += f' <span class="change-label">{CHANGE_LABELS[row.change]}</span>'
    value_cell = shown_value(row.value, fold_prefix + row.name)
    if row.value_before:
        value_cell += f'<div class="was">was {shown_value(row.value_before)}</div>'
    action_cell = ""
    if actions:
        buttons = ""
        if row.change != "removed":
            name_json = escape(row.name_json)
            buttons = (
                f'<button type="button" class="small" data-edit-variable data-name="{name}" '
                f'data-name-json="{name_json}" data-kind="{kind}" '
                f'data-value="{escape(row.editable)}">Edit</button> '
                f'<button type="submit" form="{remove_form}" name="name_json" value="{name_json}" '
                f'class="small" aria-label="Remove the variable {name}">Remove</button>'
            )
        action_cell = f'<td class="row-actions">{buttons}</td>'
    change = f" {escape(row.change)}" if row.change else ""
    return (
        f'<tr class="var-row{change}" data-name="{name}" data-type="{kind}">'
        f'<td class="var-name">{name_cell}</td>'
        f'<td><span class="type type-{kind}">{kind}</span></td>'
        f'<td class="value">{value_cell}</td>{action_cell}</tr>'
    )
