"""Running the ops commands in tests: the exit status and what they printed."""

import io
import json

from django.core.management import call_command
from django.core.management.base import CommandError


def run(command: str, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    """(exit status, stdout) as a shell would see them; stdin needs pytest's monkeypatch."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    out = io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def run_json(command: str, *args: str, **kwargs) -> tuple[int, dict]:
    status, printed = run(command, *args, "--json", **kwargs)
    return status, json.loads(printed.strip().splitlines()[-1])


def bootstrap(*args: str) -> str:
    """What `manage.py bootstrap` printed; a CommandError reaches the test."""
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()
