"""The segment form: rows of (field, operator, value) that become the conditions of
conditions.py, with the conditions' JSON kept as an advanced field for scripts.

A flow row and a block row together make one position condition. With the project's flow map
loaded, what is typed there is looked up as a name (or an ID the map lists); without one it is
an ID. A variable's value is read as JSON when it is a number, true, false, null or quoted text
("12" stays text), else as the text typed.
"""

import json
from typing import Any

from django import forms

from ..flows.loading import loaded_map_of
from ..models import Environment
from ..workspace import EnvironmentChoiceField, environments_without_secrets

FIELDS = [
    ("", "—"),
    ("flow", "Position: flow"),
    ("block", "Position: block"),
    ("variable", "Variable (path)"),
    ("last_active", "Last active"),
    ("user_id", "userID"),
]
OPERATORS = [
    ("equals", "equals / is"),
    ("contains", "contains"),
    ("exists", "exists"),
    ("missing", "is missing"),
    ("gt", "greater than"),
    ("lt", "less than"),
    ("before", "before"),
    ("after", "after"),
    ("prefix", "starts with"),
]
ROWS_MAX = 20


class ConditionRowForm(forms.Form):
    field = forms.ChoiceField(choices=FIELDS, required=False)
    path = forms.CharField(required=False, max_length=200)
    op = forms.ChoiceField(choices=OPERATORS, required=False, initial="equals")
    value = forms.CharField(required=False, max_length=500, strip=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():  # the script and the tests find them so
            field.widget.attrs["class"] = f"condition-{name}"
        self.fields["path"].widget.attrs["placeholder"] = "variable path, e.g. profile.tier"
        self.fields["value"].widget.attrs["placeholder"] = "value"


ConditionRows = forms.formset_factory(
    ConditionRowForm, extra=1, max_num=ROWS_MAX, absolute_max=ROWS_MAX, validate_max=True
)


class SegmentForm(forms.Form):
    """A segment's name, environment (fixed when editing) and conditions: from the rows, or
    from the advanced JSON when the JSON's own button was pressed (`source=json`)."""

    name = forms.CharField(max_length=120, label="Name")
    environment = EnvironmentChoiceField(
        queryset=environments_without_secrets(), label="Environment"
    )
    conditions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Conditions as JSON (for scripts; docs/segments.md)",
    )

    def __init__(self, *args, environment: Environment | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_environment = environment
        if environment is not None:
            del self.fields["environment"]
        self.rows = ConditionRows(self.data or None, prefix="rows", initial=self.initial_rows())

    def initial_rows(self) -> list[dict]:
        text = self.initial.get("conditions") or ""
        try:
            return rows_from_conditions(json.loads(text)) if text else []
        except (ValueError, AttributeError):
            return []

    def clean(self) -> dict:
        cleaned = super().clean()
        environment = self.fixed_environment or cleaned.get("environment")
        if environment is None:
            return cleaned
        cleaned["environment"] = environment
        if self.data.get("source") == "json":
            cleaned["condition_list"] = cleaned.get("conditions") or "[]"
            return cleaned
        if not self.rows.is_valid():
            problems = [str(error) for error in self.rows.non_form_errors()] + [
                f"Row {number}: {next(iter(errors.values()))[0]}"
                for number, errors in enumerate(self.rows.errors, start=1)
                if errors
            ]
            raise forms.ValidationError(problems[0])
        try:
            cleaned["condition_list"] = conditions_from_rows(
                [row.cleaned_data for row in self.rows.forms],
                names=loaded_map_of(environment) is not None,
            )
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return cleaned


def value_of(text: str) -> Any:
    """A variable's value as typed: JSON scalars as such, anything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def shown_value(value: Any) -> str:
    """The reverse of `value_of`: text that reads back as the same value."""
    if isinstance(value, str) and not isinstance(value_of(value), str):
        return json.dumps(value)
    return value if isinstance(value, str) else json.dumps(value)


def conditions_from_rows(rows: list[dict], *, names: bool) -> list[dict]:
    """The conditions the filled rows say (blank rows left out); ValueError names the row."""
    conditions: list[dict] = []
    position: dict[str, Any] = {}
    for number, row in enumerate(rows, start=1):
        field, op = row.get("field") or "", row.get("op") or "equals"
        value, path = row.get("value") or "", (row.get("path") or "").strip()
        if not field:
            if value.strip() or path:
                raise ValueError(f"Row {number}: choose what the row is about.")
            continue
        if field in ("flow", "block"):
            key = f"{field}_name" if names else field
            if op != "equals" or not value.strip():
                raise ValueError(f"Row {number}: a {field} row is “equals / is” and a name or ID.")
            if key in position:
                raise ValueError(f"Row {number}: a segment has one {field} position.")
            if not position:  # one condition, where the first of its rows stands
                conditions.append(position)
            position.update({"field": "position", key: value.strip()})
        elif field == "variable":
            condition = {"field": "variable", "path": path, "op": op}
            if op not in ("exists", "missing"):
                condition["value"] = value if op == "contains" else value_of(value.strip())
            conditions.append(condition)
        else:
            conditions.append({"field": field, "op": op, "value": value.strip()})
    if position and "flow" not in position and "flow_name" not in position and not names:
        raise ValueError("Without the project's flow map, a block needs its flow's ID too.")
    return conditions


def rows_from_conditions(conditions: list[dict]) -> list[dict]:
    """The rows that show saved conditions again (the names typed, where a position has them)."""
    rows: list[dict] = []
    for condition in conditions:
        if condition.get("field") == "position":
            flow = condition.get("flow_name") or condition.get("flow")
            block = condition.get("block_name") or condition.get("block")
            rows += [{"field": "flow", "op": "equals", "value": flow}] if flow else []
            rows += [{"field": "block", "op": "equals", "value": block}] if block else []
        elif condition.get("field") == "variable":
            shown = "" if "value" not in condition else shown_value(condition["value"])
            rows.append(
                {
                    "field": "variable",
                    "path": condition.get("path", ""),
                    "op": condition.get("op"),
                    "value": shown,
                }
            )
        else:
            rows.append(
                {
                    "field": condition.get("field"),
                    "op": condition.get("op"),
                    "value": str(condition.get("value", "")),
                }
            )
    return rows
