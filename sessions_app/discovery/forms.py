"""The "Find by activity" page's forms: each validates fully before anything is sent."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from ..models import Environment
from ..workspace import EnvironmentChoiceField, environments_without_secrets
from .search import ACTIVITY_WINDOWS

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format=DATETIME_LOCAL)


class ImportForm(forms.Form):
    environment = EnvironmentChoiceField(
        queryset=environments_without_secrets(),
        empty_label=None,
        label="Import into",
        error_messages={"invalid_choice": "Choose one of the listed environments."},
    )
    start = forms.DateTimeField(
        label="Active from",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=DateTimeLocalInput(),
        error_messages={
            "required": "Give the start of the period.",
            "invalid": "Give the start as a date and time, e.g. 2025-01-31 09:00.",
        },
    )
    end = forms.DateTimeField(
        label="Until",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=DateTimeLocalInput(),
        error_messages={
            "required": "Give the end of the period.",
            "invalid": "Give the end as a date and time, e.g. 2025-01-31 17:00.",
        },
    )
    this_environment_only = forms.BooleanField(
        required=False,
        initial=True,
        label="Only conversations held in this environment",
    )

    @classmethod
    def for_today(cls, environment: Environment | None) -> "ImportForm":
        now = timezone.localtime()
        return cls(
            initial={
                "environment": environment,
                "start": (now - timedelta(hours=24)).strftime(DATETIME_LOCAL),
                "end": now.strftime(DATETIME_LOCAL),
                "this_environment_only": True,
            }
        )

    def clean_end(self):
        # The field has minute precision; "until 09:41" includes what happened during 09:41.
        end = self.cleaned_data["end"]
        return end + timedelta(minutes=1, microseconds=-1)

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start >= end:
            self.add_error("end", "The end is not after the start; nothing was imported.")
        if start and start > timezone.now():
            self.add_error("start", "The start is in the future; nothing was imported.")
        return cleaned


class ActivitySearchForm(forms.Form):
    user = forms.CharField(required=False, strip=False, max_length=128, label="userID starts with")
    active = forms.ChoiceField(
        required=False,
        choices=[("", "Any time"), *((value, label) for value, label, _ in ACTIVITY_WINDOWS)],
        label="Last activity",
        error_messages={"invalid_choice": "Choose one of the listed periods."},
    )
    value = forms.CharField(
        required=False,
        max_length=200,
        label="A variable value contains",
        help_text="Matches the variables last read; name=value matches one variable.",
    )

    def active_within(self) -> timedelta | None:
        chosen = self.cleaned_data.get("active")
        return next((window for value, _, window in ACTIVITY_WINDOWS if value == chosen), None)
