"""What the ops commands share: finding the environment and the acting person, `--json` output,
and exit codes scripts can rely on (docs/api.md lists them)."""

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ..actions import Conflict, StateShapeError
from ..bulk import JobStateError
from ..models import Environment
from ..stored_json import UnsafeJSON, escape_lone_surrogates, parse_input
from ..voiceflow import VoiceflowError, user_id_warning, validate_user_id

OK = 0
UNEXPECTED = 1
BAD_INPUT = 2
CONFLICT = 3
UPSTREAM = 4
NOT_FOUND = 5
NOT_ALLOWED = 6
JOB_INCOMPLETE = 7

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 2 bad input, 3 conflict (the conversation moved, or the job's state "
    "does not allow it), 4 Voiceflow error, 5 environment or job not found, 6 the --as-user role does "
    "not allow it, 7 the job finished with failed or skipped items."
)


class Error(CommandError):
    """An expected failure: its code for `--json` output and its exit status."""

    def __init__(self, message: str, *, code: str, returncode: int, details: dict | None = None):
        super().__init__(message, returncode=returncode)
        self.code = code
        self.details = details


class OpsCommand(BaseCommand):
    """A command over the same actions as the pages and the API, audited with source "cli"."""

    #: the permission --as-user must hold; None for a read that needs no actor
    permission: str | None = None
    requires_actor = True
    #: False for a command about something that names its own environment (a bulk job)
    takes_environment = True

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = EXIT_CODES_HELP
        return parser

    def add_arguments(self, parser) -> None:
        if self.takes_environment:
            parser.add_argument(
                "--environment",
                required=True,
                help='The environment: its id, or "Project name/Environment label".',
            )
        parser.add_argument(
            "--as-user",
            required=self.requires_actor,
            help="The username the audit trail records; that person's role must allow this.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def execute(self, *args, **options):
        self.as_json = options.get("json", False)
        try:
            return super().execute(*args, **options)
        except Error as failure:
            self._report(failure)
            raise
        except Conflict as conflict:
            raise self._fail(
                str(conflict),
                "precondition_failed",
                CONFLICT,
                details={"etag": conflict.fingerprint_now, "state": conflict.state_now},
            ) from None
        except JobStateError as error:
            raise self._fail(str(error), "conflict", CONFLICT) from None
        except VoiceflowError as error:
            returncode = BAD_INPUT if error.code == "validation" else UPSTREAM
            raise self._fail(error.message, error.code, returncode) from None
        except StateShapeError as error:
            raise self._fail(str(error), "validation", BAD_INPUT) from None

    def _fail(self, message: str, code: str, returncode: int, details: dict | None = None) -> Error:
        failure = Error(message, code=code, returncode=returncode, details=details)
        self._report(failure)
        return failure

    def _report(self, failure: Error) -> None:
        if self.as_json:
            error: dict[str, Any] = {"code": failure.code, "message": str(failure)}
            if failure.details is not None:
                error["details"] = failure.details
            self.emit({"error": error})

    def emit(self, payload: dict, text: str | None = None) -> None:
        """One JSON object with --json, else the text for people."""
        if self.as_json:
            self.stdout.write(
                escape_lone_surrogates(json.dumps(payload, ensure_ascii=False, sort_keys=True))
            )
        elif text is not None:
            self.stdout.write(text)

    # ---- what the options name ----

    def environment(self, value: str) -> Environment:
        environments = Environment.objects.select_related("project")
        if value.isdigit():
            found = environments.filter(pk=int(value)).first()
        else:
            project_name, _, label = value.rpartition("/")
            found = environments.filter(project__name=project_name, label=label).first()
        if found is None:
            raise Error(
                f'No environment {value!r}; give its id or "Project name/Environment label".',
                code="not_found",
                returncode=NOT_FOUND,
            )
        return found

    def user_id(self, value: str) -> str:
        """The userID, refused only when it cannot be sent; one longer than hosted Voiceflow
        documents is used with a warning on stderr (voiceflow/userids.py)."""
        validate_user_id(value)
        warning = user_id_warning(value)
        if warning:
            self.stderr.write(f"Warning: {warning}")
        return value

    def actor(self, username: str | None):
        if username is None:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise Error(f"No active user {username!r}.", code="validation", returncode=BAD_INPUT)
        if self.permission and not user.has_perm(f"sessions_app.{self.permission}"):
            raise Error(
                f"{username}'s role does not allow this ({self.permission.replace('_', ' ')}).",
                code="permission_denied",
                returncode=NOT_ALLOWED,
            )
        return user


def parse_json_object(text: str, what: str) -> dict:
    try:
        value = parse_input(text, what)
    except UnsafeJSON as error:
        raise Error(str(error), code="validation", returncode=BAD_INPUT) from None
    except ValueError as error:
        raise Error(
            f"{what} is not valid JSON ({error}).", code="validation", returncode=BAD_INPUT
        ) from None
    if not isinstance(value, dict) or not value:
        raise Error(
            f'{what} must be a JSON object with at least one name, e.g. {{"plan": "gold"}}.',
            code="validation",
            returncode=BAD_INPUT,
        )
    return value


def etag_argument(value: str | None) -> str | None:
    """--if-match accepts the ETag as printed, with or without its quotes."""
    return value.strip().removeprefix("W/").strip('"') if value else None
