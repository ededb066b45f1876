"""Uploading a project file (.vf) exported from Voiceflow."""

import json

from django import forms

from ..models import Project
from .vf import ProjectFile, ProjectFileError, parse_project_file

# A project with hundreds of flows exports to a few megabytes; this leaves ample room.
UPLOAD_MAX_BYTES = 50 * 1024 * 1024


class ProjectFileUploadForm(forms.Form):
    project_file = forms.FileField(
        label="Project file (.vf)",
        help_text="Voiceflow → the agent's ⋯ menu → Export → .vf. Names flows and blocks for "
        "conversations on that version.",
    )

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.parsed: ProjectFile | None = None

    def clean_project_file(self):
        upload = self.cleaned_data["project_file"]
        if upload.size > UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.0f} MB; at most "
                f"{UPLOAD_MAX_BYTES // 1024 // 1024} MB is accepted."
            )
        raw = upload.read()
        try:
            document = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            raise forms.ValidationError(
                "The file is not text (UTF-8); export it again as .vf."
            ) from error
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"The file is not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg}); export it again as .vf."
            ) from error
        try:
            parsed = parse_project_file(document)
        except ProjectFileError as error:
            raise forms.ValidationError(str(error)) from error
        if parsed.project_id and parsed.project_id != self.project.voiceflow_project_id:
            raise forms.ValidationError(
                f"This file is of the Voiceflow project {parsed.project_id}"
                f"{' (' + parsed.project_name + ')' if parsed.project_name else ''}, not of this "
                f"project ({self.project.voiceflow_project_id}). Nothing was changed."
            )
        self.parsed = parsed
        return upload
