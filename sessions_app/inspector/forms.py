"""The inspector's forms: every one validates fully before anything is sent to Voiceflow."""

import json
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from ..actions import StateShapeError, check_state_shape
from ..models import USER_ID_MAX_LENGTH, AuditEntry
from ..stored_json import UnsafeJSON, parse_input
from ..voiceflow import InvalidUserID, validate_user_id
from ..workspace import EnvironmentChoiceField, environments_without_secrets
from .display import RUNTIME_VARIABLES
from .values import TYPE_CHOICES, TypedValueError, json_error_message, parse_typed_value

VARIABLE_NAME_MAX = 200


class UserIDField(forms.CharField):
    """Any characters Voiceflow accepts, kept exactly as typed (spaces included), refused only
    when it cannot be sent or recorded (voiceflow/userids.py)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("strip", False)
        kwargs.setdefault("label", "userID")
        kwargs.setdefault("error_messages", {"required": "Type or paste a userID."})
        super().__init__(**kwargs)

    def validate(self, value: str) -> None:
        super().validate(value)
        if value in self.empty_values:
            return
        try:
            validate_user_id(value)
        except InvalidUserID as error:
            raise forms.ValidationError(error.message) from error


def _check_variable_name(name: str) -> str:
    if not name.strip():
        raise forms.ValidationError("A variable needs a name.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise forms.ValidationError("A variable name cannot contain control characters.")
    return name


class BasedOnForm(forms.Form):
    """Every edit names the state it was based on (its fingerprint), for the conflict check."""

    based_on = forms.CharField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "The form does not say which state it was based on; reload the session and try again."
        },
    )


class FindSessionForm(forms.Form):
    environment = EnvironmentChoiceField(
        queryset=environments_without_secrets(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of the listed environments."},
    )
    user = UserIDField()


class KnownSessionSearchForm(forms.Form):
    prefix = forms.CharField(
        required=False, strip=False, max_length=USER_ID_MAX_LENGTH, label="userID starts with"
    )
    value = forms.CharField(required=False, max_length=200, label="A variable value contains")


class RuntimeVariableConfirmation(forms.Form):
    """Changing one of the runtime's own variables is asked about first (a page, not a script's
    dialog): the runtime sets it itself, so a change may not do what it seems to."""

    confirm_runtime = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def needs_confirmation(self) -> bool:
        return self.cleaned_data["name"] in RUNTIME_VARIABLES and not self.cleaned_data.get(
            "confirm_runtime"
        )


class SetVariableForm(RuntimeVariableConfirmation, BasedOnForm):
    name = forms.CharField(max_length=VARIABLE_NAME_MAX, label="Variable name")
    kind = forms.ChoiceField(choices=TYPE_CHOICES, initial="string", label="Type")
    value = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}), label="Value"
    )

    def clean_name(self) -> str:
        return _check_variable_name(self.cleaned_data["name"])

    def clean(self) -> dict:
        cleaned = super().clean()
        if "kind" in cleaned and "value" in cleaned:
            try:
                cleaned["parsed_value"] = parse_typed_value(cleaned["kind"], cleaned["value"])
            except TypedValueError as error:
                self.add_error("value", str(error))
        return cleaned


class RemoveVariableForm(RuntimeVariableConfirmation, BasedOnForm):
    name = forms.CharField(strip=False, max_length=VARIABLE_NAME_MAX)

    def clean_name(self) -> str:
        return _check_variable_name(self.cleaned_data["name"])


class StateEditForm(BasedOnForm):
    state_json = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false"}),
        label="State (JSON)",
        error_messages={
            "required": "The state cannot be empty; it needs stack, storage and variables."
        },
    )

    error_line: int | None = None
    error_column: int | None = None

    def clean_state_json(self) -> str:
        text = self.cleaned_data["state_json"]
        try:
            state = parse_input(text, "The state")
        except UnsafeJSON as error:
            raise forms.ValidationError(str(error)) from error
        except json.JSONDecodeError as error:
            self.error_line, self.error_column = error.lineno, error.colno
            raise forms.ValidationError(f"Not valid JSON. {json_error_message(error)}") from error
        try:
            self.cleaned_data["state"] = check_state_shape(state)
        except StateShapeError as error:
            raise forms.ValidationError(str(error)) from error
        return text


class ResetForm(BasedOnForm):
    confirm_user_id = UserIDField(
        label="Type the userID to confirm",
        error_messages={"required": "Type the userID to confirm the reset."},
    )

    def __init__(self, *args, user_id: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_id = user_id

    def clean_confirm_user_id(self) -> str:
        typed = self.cleaned_data["confirm_user_id"]
        if typed != self.user_id:
            raise forms.ValidationError(
                "That is not this session's userID; nothing was reset. Type it exactly (case, spaces and all)."
            )
        return typed


class AuditFilterForm(forms.Form):
    operator = forms.ChoiceField(required=False)
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEntry.Action.choices]
    )
    environment = EnvironmentChoiceField(
        required=False,
        queryset=environments_without_secrets(),
        empty_label="Any environment",
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *AuditEntry.Outcome.choices]
    )
    user = forms.CharField(
        required=False,
        strip=False,
        max_length=USER_ID_MAX_LENGTH,
        label="userID contains",
        widget=forms.TextInput(attrs={"placeholder": "part of a userID, any case"}),
    )
    # Set by the inspector's "All of it in the audit log": that one userID, not every one
    # containing it.
    exact_user = forms.BooleanField(required=False, widget=forms.HiddenInput)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The accounts, not DISTINCT actor_name over the whole audit table (0.6 s at a million
        # entries); accounts are deactivated, not deleted, so every name on record is here.
        operators = (
            get_user_model()
            .objects.order_by(get_user_model().USERNAME_FIELD)
            .values_list(get_user_model().USERNAME_FIELD, flat=True)
        )
        names = list(operators)
        asked = self.data.get("operator") if self.is_bound else None
        if asked and asked not in names:
            names.append(asked)  # a deleted account's entries stay findable by its name
        self.fields["operator"].choices = [("", "Anyone"), *((name, name) for name in names)]

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def filter(self, entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        data = self.cleaned_data
        if data.get("operator"):
            entries = entries.filter(actor_name=data["operator"])
        for name in ("action", "outcome", "environment"):
            if data.get(name):
                entries = entries.filter(**{name: data[name]})
        if data.get("user") and data.get("exact_user"):
            entries = entries.filter(user_id=data["user"])
        elif data.get("user"):
            # Ignores case on SQLite for ASCII letters only, as the home page's prefix search.
            entries = entries.filter(user_id__icontains=data["user"])
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            entries = entries.filter(
                created_at__gte=datetime.combine(data["date_from"], time.min, tzinfo=zone)
            )
        if data.get("date_to"):
            entries = entries.filter(
                created_at__lt=datetime.combine(
                    data["date_to"] + timedelta(days=1), time.min, tzinfo=zone
                )
            )
        return entries
