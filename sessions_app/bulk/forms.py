"""The job pages' forms: a new job from an input, and starting a checked job."""

from django import forms
from django.core.files.uploadedfile import UploadedFile

from ..models import BulkJob, WriteMode
from ..workspace import EnvironmentChoiceField, environments_without_secrets
from . import limits
from .checking import Format
from .parsing import parse_variables_object, text_lines_as_binary

# What the new-job page offers, one card each: the job's kind and how its input is read.
MODES = {
    "file": "Preload variables from a file",
    "list": "The same variables for a list of users",
    "reset": "Reset sessions",
}
CHOOSE_MODE = "Choose what the job does."


def _value_error(check, value):
    try:
        check(value)
    except ValueError as error:
        raise forms.ValidationError(str(error)) from None


class NewJobForm(forms.Form):
    """A preload from a CSV or JSON Lines file, the same variables for a list of userIDs, or a
    reset of a list; the list is pasted or uploaded. Size limits are checked here; the rows are
    checked by a worker once the job is created (jobs.create_job)."""

    mode = forms.ChoiceField(
        choices=MODES.items(),
        error_messages={"required": CHOOSE_MODE, "invalid_choice": CHOOSE_MODE},
    )
    environment = EnvironmentChoiceField(
        queryset=environments_without_secrets(),
        error_messages={
            "required": "Choose the environment the job runs in.",
            "invalid_choice": "Choose the environment the job runs in.",
        },
    )
    format = forms.ChoiceField(
        choices=[(Format.CSV, "CSV"), (Format.JSONL, "JSON Lines")],
        required=False,
        error_messages={"invalid_choice": "Choose CSV or JSON Lines."},
    )
    file = forms.FileField(required=False, allow_empty_file=True)
    # A userID is used exactly as written, spaces included (voiceflow/userids.py): not stripped.
    user_ids = forms.CharField(required=False, strip=False, widget=forms.Textarea)
    variables = forms.CharField(required=False, strip=False, widget=forms.Textarea)

    def clean_file(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("file")
        if upload:
            _value_error(limits.check_upload, upload)
        return upload or None

    def clean_user_ids(self) -> str:
        pasted = self.cleaned_data.get("user_ids", "")
        _value_error(limits.check_pasted, pasted)
        return pasted

    def clean(self) -> dict:
        cleaned = super().clean()
        mode = cleaned.get("mode")
        upload = cleaned.get("file")
        if mode == "file":
            cleaned["kind"] = BulkJob.Kind.PRELOAD
            cleaned["source_format"] = cleaned.get("format") or Format.CSV
            cleaned["variables"] = None
            if upload is None and "file" not in self.errors:
                self.add_error("file", "Choose a file to upload.")
        elif mode in ("list", "reset"):
            cleaned["kind"] = BulkJob.Kind.RESET if mode == "reset" else BulkJob.Kind.PRELOAD
            cleaned["source_format"] = Format.USER_LIST
            if mode == "list":
                try:
                    cleaned["variables"] = parse_variables_object(cleaned.get("variables", ""))
                except ValueError as error:
                    self.add_error("variables", str(error))
            else:
                cleaned["variables"] = None
            pasted = cleaned.get("user_ids", "")
            if upload is None and not pasted.strip() and "user_ids" not in self.errors:
                self.add_error(
                    "user_ids", "Paste the userIDs, one a line, or upload a file of them."
                )
        return cleaned

    def job_input(self) -> dict:
        """The keyword arguments of `jobs.create_job` for the valid form."""
        data = self.cleaned_data
        upload = data["file"]
        return {
            "kind": data["kind"],
            "source_format": data["source_format"],
            "binary": upload if upload is not None else text_lines_as_binary(data["user_ids"]),
            "source_name": upload.name if upload is not None else "pasted list",
            "variables": data["variables"],
        }


class StartJobForm(forms.Form):
    """The job page's decision: how to write, and the confirmations a job may need."""

    write_mode = forms.ChoiceField(
        choices=WriteMode.choices,
        required=False,
        error_messages={
            "invalid_choice": "Choose how to write: read each state first, or no undo."
        },
    )
    confirm_production = forms.BooleanField(required=False)
    skip_bad_rows = forms.BooleanField(required=False)

    def start_options(self) -> dict:
        """The keyword arguments of `jobs.start_job` for the valid form."""
        return {
            "confirmed_production": self.cleaned_data["confirm_production"],
            "skip_bad_rows": self.cleaned_data["skip_bad_rows"],
            "write_mode": self.cleaned_data["write_mode"] or WriteMode.READ_FIRST,
        }
