"""JSON that is not standard or that Voiceflow cannot hold (nested 900 deep, 1e400, NaN,
Infinity, lone surrogates) is refused with a 400 or a form error that names the problem, on
every surface (API, pages, command line, bulk files), and nothing is sent or recorded.
NUL characters are accepted (Voiceflow holds them): tests/test_poisoned_states.py."""

from urllib.parse import quote

import pytest
from api_support import error_of, token_client
from cli_support import run
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkJob
from sessions_app.stored_json import MAX_DEPTH

pytestmark = pytest.mark.production_path

DEEP = "[" * 900 + "]" * 900
# (JSON text of a value, words the refusal must contain)
HOSTILE_VALUES = [
    (DEEP, f"nested more than {MAX_DEPTH} levels"),
    ("1e400", "too large"),
    ("-1e400", "too large"),
    ("1" + "0" * 400, "too large"),
    ("NaN", "NaN is not standard JSON"),
    ("Infinity", "Infinity is not standard JSON"),
    ("-Infinity", "-Infinity is not standard JSON"),
    ('"\\ud800"', "lone surrogate"),
    ('"tail \\udfff"', "lone surrogate"),
    ("9" * 309, "too large"),  # 309 digits, still beyond a double
    ("1" * 5000, "too large"),  # more digits than Python converts at all
]
STATE = {"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"plan": "basic"}}


def api(environment, tail: str) -> str:
    return f"/api/v1/environments/{environment.pk}/sessions/{tail}?user=hostile-1"


@pytest.fixture
def customer(sandbox, environment) -> str:
    sandbox.set_state(environment.project.voiceflow_project_id, "hostile-1", STATE)
    return "hostile-1"


def untouched(sandbox, environment) -> bool:
    held = sandbox.state(environment.project.voiceflow_project_id, "hostile-1")
    return held == STATE and not AuditEntry.objects.exists()


@pytest.mark.parametrize(("value", "problem"), HOSTILE_VALUES)
@pytest.mark.parametrize(
    ("method", "tail", "template"),
    [
        ("PATCH", "state/variables", '{"plan": VALUE}'),
        (
            "PUT",
            "state",
            '{"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"x": VALUE}}',
        ),
        ("POST", "interact", '{"action": {"type": "text", "payload": VALUE}}'),
    ],
)
def test_the_api_refuses_it_with_a_400_that_names_the_problem(
    sandbox, environment, customer, ops, method, tail, template, value, problem
):
    response = token_client(ops).generic(
        method,
        api(environment, tail),
        template.replace("VALUE", value).encode(),
        content_type="application/json",
        HTTP_IF_MATCH="*",
    )

    assert response.status_code == 400, response.content[:300]
    error = error_of(response)
    assert error["code"] == "validation"
    assert problem in error["message"]
    assert untouched(sandbox, environment)


def test_a_job_body_with_such_variables_is_refused_too(environment, ops):
    response = token_client(ops).generic(
        "POST",
        "/api/v1/jobs",
        ('{"environment": ENV, "kind": "preload", "user_ids": ["a"], "variables": {"x": NaN}}')
        .replace("ENV", str(environment.pk))
        .encode(),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "NaN is not standard JSON" in error_of(response)["message"]
    assert not BulkJob.objects.exists()


def test_the_variables_of_a_multipart_job_are_checked_the_same_way(environment, ops):
    response = token_client(ops).post(
        "/api/v1/jobs",
        {
            "environment": environment.pk,
            "kind": "preload",
            "file": SimpleUploadedFile("ids.txt", b"a\nb\n"),
            "variables": '{"x": 1e400}',
        },
        format="multipart",
    )

    assert response.status_code == 400
    assert "too large" in error_of(response)["message"]


def upload(client, environment, content: bytes, fmt: str):
    response = client.post(
        reverse("job_new"),
        {
            "mode": "file",
            "format": fmt,
            "environment": environment.pk,
            "file": SimpleUploadedFile(f"input.{fmt}", content),
        },
    )
    # The page answers at once with the input stored; the worker's check (run here
    # in-process, as tests/test_bulk_validation.py does) reads it and writes the report.
    assert response.status_code == 302, response.content[:500]
    job = BulkJob.objects.get(pk=response.url.rstrip("/").split("/")[-1])
    assert job.status == BulkJob.Status.VALIDATING
    bulk.validate_upload(job.pk)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(("value", "problem"), HOSTILE_VALUES)
def test_a_csv_json_cell_is_refused_with_its_line_and_column(
    ops_client, environment, value, problem
):
    cell = '"' + value.replace('"', '""') + '"'
    content = f"userID,plan:string,profile:json\ngood,gold,{{}}\nbad,gold,{cell}\n".encode()

    job = upload(ops_client, environment, content, "csv")

    [refused] = job.validation_report["problems"]
    assert (refused["line"], refused["column"]) == (3, "profile:json")
    assert problem in refused["message"]
    assert job.total_items == 1


@pytest.mark.parametrize(("value", "problem"), HOSTILE_VALUES)
def test_a_json_lines_row_is_refused_with_its_line(ops_client, environment, value, problem):
    content = (
        (
            '{"userID": "good", "variables": {"plan": "gold"}}\n'
            '{"userID": "bad", "variables": {"profile": VALUE}}\n'
        )
        .replace("VALUE", value)
        .encode()
    )

    job = upload(ops_client, environment, content, "jsonl")

    [refused] = job.validation_report["problems"]
    assert refused["line"] == 2
    assert problem in refused["message"]
    assert job.total_items == 1


@pytest.mark.parametrize(("value", "problem"), HOSTILE_VALUES[:5])
def test_the_set_variable_form_refuses_it(sandbox, environment, customer, support, value, problem):
    from django.test import Client

    client = Client()
    client.force_login(support)
    response = client.post(
        f"/sessions/{environment.pk}/set-variable?user={quote(customer)}",
        {
            "user": customer,
            "name": "profile",
            "kind": "list" if value.startswith("[") else "object",
            "value": value if value.startswith("[") else '{"x": VALUE}'.replace("VALUE", value),
            "based_on": "whatever",
        },
    )

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert untouched(sandbox, environment)


@pytest.mark.parametrize(("value", "problem"), HOSTILE_VALUES)
def test_the_command_line_refuses_it(sandbox, environment, customer, support, value, problem):
    status, _ = run(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        '{"x": VALUE}'.replace("VALUE", value),
    )

    assert status != 0
    assert untouched(sandbox, environment)


@pytest.mark.parametrize(("value", "problem"), HOSTILE_VALUES)
def test_the_whole_state_editor_refuses_it(sandbox, environment, customer, ops, value, problem):
    from django.test import Client

    client = Client()
    client.force_login(ops)
    state_json = (
        '{"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"x": VALUE}}'
    ).replace("VALUE", value)
    response = client.post(
        f"/sessions/{environment.pk}/edit-state",
        {"user": customer, "state_json": state_json, "based_on": "whatever", "step": "send"},
    )

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert untouched(sandbox, environment)


def test_nul_characters_in_uploads_are_accepted_and_kept(ops_client, environment):
    content = (
        b'{"userID": "jsonl-1", "variables": {"note": "a\\u0000b"}}\n'
        b'{"userID": "jsonl-2", "variables": {"k\\u0000": 1}}\n'
    )

    job = upload(ops_client, environment, content, "jsonl")

    assert job.validation_report["problems"] == []
    items = {item.user_id: item.variables for item in job.items.all()}
    assert items == {"jsonl-1": {"note": "a\x00b"}, "jsonl-2": {"k\x00": 1}}
