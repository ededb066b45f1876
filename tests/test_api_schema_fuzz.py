"""Schema-driven fuzzing: every operation of the live schema, served by a live server with the
sandbox behind it, called with generated input as an Admin with a real token. No answer may be
a server error or break the schema.

Bounded and repeatable: a fixed number of examples per operation, derandomized. Ids in paths and
bodies are pinned to objects that exist, so the calls reach the real code paths; the objects a
fuzzed call may change or delete are scratch ones, and every URL a fuzzed project gets points
at the sandbox (a test never sends traffic anywhere else).
"""

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from sessions_app import actions, bulk
from sessions_app.models import Environment, Project

# Also run on PostgreSQL by `make test`.
pytestmark = pytest.mark.production_path

EXAMPLES_PER_OPERATION = 25
URL_FIELDS = ("runtime_url", "realtime_url", "analytics_url", "project_api_url")


@dataclass
class World:
    token: str
    environment: Environment
    scratch_project: Project
    scratch_environment: Environment
    audit_entry_id: int
    job_id: int
    sandbox_url: str


@pytest.fixture
def world(transactional_db, test_broker, sandbox, environment, admin_user) -> World:
    sandbox.set_state(
        environment.project.voiceflow_project_id,
        "fuzz-customer",
        {"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"plan": "gold"}},
    )
    entry = actions.do_set_variables(
        environment,
        "fuzz-customer",
        {"plan": "pro"},
        context=actions.WriteContext(actor=admin_user, source="api"),
    )
    scratch_project = Project.objects.create(
        name="Scratch",
        voiceflow_project_id="scratch",
        api_key="VF.DM.scratch",
        runtime_url=sandbox.url,
    )
    job = bulk.create_job_from_text(environment, admin_user, kind="reset", text="fuzz-a\nfuzz-b\n")
    _, token = AuthToken.objects.create(admin_user, expiry=None)
    return World(
        token=token,
        environment=environment,
        scratch_project=scratch_project,
        scratch_environment=Environment.objects.create(project=scratch_project, label="Scratch"),
        audit_entry_id=entry.pk,
        job_id=job.pk,
        sandbox_url=sandbox.url,
    )


def pin(case, world: World) -> None:
    """Point ids at existing objects (scratch ones where the call may change or delete them)."""
    path = case.operation.path
    parameters = case.path_parameters if case.path_parameters is not None else {}
    if "environment_id" in parameters:
        parameters["environment_id"] = world.environment.pk
    if path.startswith("/api/v1/environments/{id}"):
        parameters["id"] = world.scratch_environment.pk
    elif path.startswith("/api/v1/projects/{id}"):
        parameters["id"] = world.scratch_project.pk
    elif path.startswith("/api/v1/audit/{id}"):
        parameters["id"] = world.audit_entry_id
    elif path.startswith("/api/v1/jobs/{id}"):
        parameters["id"] = world.job_id
    if isinstance(case.body, dict):
        for field in URL_FIELDS:
            if field in case.body:
                case.body[field] = world.sandbox_url
        if path == "/api/v1/environments" and "project" in case.body:
            case.body["project"] = world.scratch_project.pk
        if path == "/api/v1/jobs" and "environment" in case.body:
            case.body["environment"] = world.environment.pk


def test_no_input_makes_a_server_error_or_breaks_the_schema(live_server, world):
    loaded = schemathesis.openapi.from_url(
        f"{live_server.url}/api/v1/schema/?format=json",
        headers={"Authorization": f"Token {world.token}"},
    )
    failures: list[str] = []
    # Deletions last, so the scratch objects they may remove serve every other operation first.
    operations = sorted(
        (result.ok() for result in loaded.get_all_operations()),
        key=lambda operation: operation.method.upper() == "DELETE",
    )

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def call(case):
            pin(case, world)
            case.call_and_validate(
                headers={"Authorization": f"Token {world.token}"},
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            call()
        except Exception as failure:  # every operation runs; all failures are reported together
            failures.append(f"{operation.label}: {failure}")

    assert len(operations) >= 30
    assert not failures, "\n\n".join(failures)
