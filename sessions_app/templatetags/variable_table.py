"""The rows of a variable table and a shown value, built in Python.

A state commonly holds dozens of variables and the inspector draws a row for each on every read
(and every watch-mode poll). As a template, each row cost an include and about thirty variable
lookups: most of the page's rendering time (bench/read_overhead.py, docs/benchmarks.md). Built
here, with the same markup and the same escaping (`format_html` escapes every value), a row costs
a few string formats.
"""

from django import template
from django.utils.html import format_html, format_html_join
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
    table's one remove form (`<table_id>-remove`) with its row's name."""
    if not rows:
        return EMPTY_TABLE
    remove_form = f"{table_id}-remove"
    return format_html_join(
        "", "{}", ((_row(row, actions, remove_form, fold_prefix),) for row in rows)
    )


def _row(row: VariableRow, actions: bool, remove_form: str, fold_prefix: str) -> SafeString:
    kind = row.value.kind
    name_cell = format_html("<code>{}</code>", row.name)
    if row.runtime_note:
        name_cell += format_html(
            ' <span class="badge badge-grey runtime-note" '
            'title="The runtime\'s own variable. {}">runtime</span>',
            row.runtime_note,
        )
    if row.change:
        name_cell += format_html(' <span class="change-label">{}</span>', CHANGE_LABELS[row.change])
    value_cell = shown_value(row.value, fold_prefix + row.name)
    if row.value_before:
        value_cell += format_html('<div class="was">was {}</div>', shown_value(row.value_before))
    action_cell = ""
    if actions:
        buttons = ""
        if row.change != "removed":
            buttons = format_html(
                '<button type="button" class="small" data-edit-variable data-name="{}" '
                'data-kind="{}" data-value="{}">Edit</button> '
                '<button type="submit" form="{}" name="name" value="{}" class="small" '
                'aria-label="Remove the variable {}">Remove</button>',
                row.name,
                kind,
                row.editable,
                remove_form,
                row.name,
                row.name,
            )
        action_cell = format_html('<td class="row-actions">{}</td>', buttons)
    return format_html(
        '<tr class="var-row{}" data-name="{}" data-type="{}">'
        '<td class="var-name">{}</td>'
        '<td><span class="type type-{}">{}</span></td>'
        '<td class="value">{}</td>{}</tr>',
        format_html(" {}", row.change) if row.change else "",
        row.name,
        kind,
        name_cell,
        kind,
        kind,
        value_cell,
        action_cell,
    )
