"""The inspector's forms: every one validates fully before anything is sent to Voiceflow."""

import json

from django import forms

from ..actions import StateShapeError, check_state_shape
from ..models import USER_ID_MAX_LENGTH
from ..stored_json import UnsafeJSON, name_from_json, parse_input
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


class VariableNameForm(forms.Form):
    """A variable named by `name` as typed, or by `name_json`: a row's exact name as a JSON
    string literal, which the inspector's Edit and Remove buttons send. A form field cannot carry
    a NUL character or a lone surrogate, and the table shows both escaped (`printable`), so a
    name holding one would otherwise come back as other text, possibly another variable's name
    (`\\u0000` typed out). `name_json`, when sent, is the name; `cleaned_data["name"]` holds
    the name either way."""

    name_json = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("name_json"):
            try:
                cleaned["name"] = name_from_json(cleaned["name_json"])
            except ValueError:
                self.add_error("name", "The page sent a variable name it cannot read; reload it.")
        elif "name" not in self.errors:
            try:
                # Only a typed name is checked: a name sent back exactly is one the state holds.
                _check_variable_name(cleaned.get("name") or "")
            except forms.ValidationError as error:
                self.add_error("name", error)
        return cleaned


class SetVariableForm(RuntimeVariableConfirmation, VariableNameForm, BasedOnForm):
    name = forms.CharField(max_length=VARIABLE_NAME_MAX, label="Variable name")
    kind = forms.ChoiceField(choices=TYPE_CHOICES, initial="string", label="Type")
    value = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}), label="Value"
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if "kind" in cleaned and "value" in cleaned:
            try:
                cleaned["parsed_value"] = parse_typed_value(cleaned["kind"], cleaned["value"])
            except TypedValueError as error:
                self.add_error("value", str(error))
        return cleaned


class RemoveVariableForm(RuntimeVariableConfirmation, VariableNameForm, BasedOnForm):
    name = forms.CharField(required=False, strip=False, max_length=VARIABLE_NAME_MAX)


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
