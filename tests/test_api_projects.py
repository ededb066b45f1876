"""Projects and environments over the API: audited changes, write-only secrets, test connection."""

import pytest
from api_support import error_of, token_client

from sessions_app.models import AuditEntry, BulkJob, Environment, Project

SECRET_KEY = "VF.DM.aaaaaaaaaaaaaaaaaaaaaaaa.SECRETSECRETSECRET1234"
SECRET_TOKEN = "vfp_tok_SECRETTOKENVALUE9876"


def new_project_body(sandbox, **overrides) -> dict:
    return {
        "name": "Pizzeria",
        "voiceflow_project_id": "66b0c1d2e3f4a5b6c7d8e9f0",
        "runtime_url": sandbox.url,
        "api_key": SECRET_KEY,
        "access_token": SECRET_TOKEN,
        **overrides,
    }


def assert_no_secret(response) -> None:
    text = response.content.decode()
    assert "SECRETSECRETSECRET" not in text
    assert "SECRETTOKENVALUE" not in text


def test_an_admin_creates_a_project_and_sees_only_the_hints(sandbox, admin_user):
    response = token_client(admin_user).post(
        "/api/v1/projects", new_project_body(sandbox), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["api_key_hint"] == "VF.DM.…1234"
    assert body["access_token_hint"] == "vfp_…9876"
    assert "api_key" not in body and "access_token" not in body
    assert_no_secret(response)
    project = Project.objects.get(pk=body["id"])
    assert project.api_key == SECRET_KEY
    entry = AuditEntry.objects.get(action="project_created")
    assert (entry.source, entry.actor) == ("api", admin_user)
    assert "SECRETSECRET" not in str(entry.request_sent)


def test_a_project_needs_its_api_key(sandbox, admin_user):
    body = new_project_body(sandbox)
    del body["api_key"]

    response = token_client(admin_user).post("/api/v1/projects", body, format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
    assert "api_key" in error_of(response)["details"]
    assert not Project.objects.exists()


def test_project_names_are_unique(sandbox, project, admin_user):
    response = token_client(admin_user).post(
        "/api/v1/projects", new_project_body(sandbox, name=project.name), format="json"
    )

    assert response.status_code == 400
    assert "name" in error_of(response)["details"]


def test_changing_a_key_is_audited_as_a_credentials_change_without_the_key(project, admin_user):
    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}", {"api_key": SECRET_KEY}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["api_key_hint"] == "VF.DM.…1234"
    assert_no_secret(response)
    project.refresh_from_db()
    assert project.api_key == SECRET_KEY
    entry = AuditEntry.objects.get(action="credentials_changed")
    assert entry.request_sent == {"fields": ["api_key"]}


def test_a_change_that_leaves_the_secrets_out_keeps_them(project, admin_user):
    key_before = project.api_key

    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}", {"budget_per_minute": 300}, format="json"
    )

    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.api_key, project.budget_per_minute) == (key_before, 300)
    assert AuditEntry.objects.get(action="project_changed").request_sent["fields"] == [
        "budget_per_minute"
    ]
    assert not AuditEntry.objects.filter(action="credentials_changed").exists()


def test_reading_projects_never_shows_a_secret(project, environment, viewer):
    listed = token_client(viewer).get("/api/v1/projects")
    one = token_client(viewer).get(f"/api/v1/projects/{project.pk}")

    assert listed.status_code == one.status_code == 200
    assert listed.json()["count"] == 1
    assert one.json()["environments"][0]["label"] == "Development"
    for response in (listed, one):
        assert project.api_key not in response.content.decode()
        assert project.access_token not in response.content.decode()


def test_an_admin_deletes_a_project(project, environment, admin_user):
    response = token_client(admin_user).delete(f"/api/v1/projects/{project.pk}")

    assert response.status_code == 204
    assert not Project.objects.exists()
    entry = AuditEntry.objects.get(action="project_deleted")
    assert (entry.project_name, entry.source) == (project.name, "api")


def test_a_project_whose_environment_has_jobs_cannot_be_deleted(project, environment, admin_user):
    BulkJob.objects.create(kind="reset", environment=environment)

    response = token_client(admin_user).delete(f"/api/v1/projects/{project.pk}")

    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"
    assert Project.objects.filter(pk=project.pk).exists()


# ---- environments ----


def test_an_admin_adds_changes_and_removes_an_environment(project, admin_user):
    client = token_client(admin_user)

    created = client.post(
        "/api/v1/environments",
        {"project": project.pk, "label": "Staging", "version_id": "staging", "badge": "amber"},
        format="json",
    )
    changed = client.patch(
        f"/api/v1/environments/{created.json()['id']}", {"is_production": True}, format="json"
    )
    removed = client.delete(f"/api/v1/environments/{created.json()['id']}")

    assert created.status_code == 201, created.json()
    assert changed.status_code == 200 and changed.json()["is_production"] is True
    assert removed.status_code == 204
    assert not Environment.objects.filter(label="Staging").exists()
    records = list(AuditEntry.objects.order_by("pk").values_list("request_sent", flat=True))
    assert records == [
        {"fields": [], "environments": {"added": ["Staging"]}},
        {"fields": [], "environments": {"changed": {"Staging": ["is_production"]}}},
        {"fields": [], "environments": {"removed": ["Staging"]}},
    ]


def test_environment_labels_are_unique_in_a_project(environment, admin_user):
    response = token_client(admin_user).post(
        "/api/v1/environments",
        {"project": environment.project_id, "label": environment.label},
        format="json",
    )

    assert response.status_code == 400
    assert "label" in error_of(response)["details"]


def test_environments_can_be_listed_by_project(environment, production_environment, viewer):
    response = token_client(viewer).get(f"/api/v1/environments?project={environment.project_id}")
    none = token_client(viewer).get("/api/v1/environments?project=999999")

    assert [e["label"] for e in response.json()["results"]] == ["Development", "Production"]
    assert none.json()["count"] == 0


def test_test_connection_reports_success(environment, admin_user):
    response = token_client(admin_user).post(
        f"/api/v1/environments/{environment.pk}/test-connection"
    )

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["message"].startswith("Connected")


def test_test_connection_reports_refused_credentials_without_the_key(environment, admin_user):
    project = environment.project
    project.api_key = SECRET_KEY
    project.save()

    response = token_client(admin_user).post(
        f"/api/v1/environments/{environment.pk}/test-connection"
    )

    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert_no_secret(response)


# ---- roles ----

WRITES = [
    ("post", "/api/v1/projects", None),
    ("patch", "/api/v1/projects/{project}", {"budget_per_minute": 10}),
    ("delete", "/api/v1/projects/{project}", None),
    ("post", "/api/v1/environments", None),
    ("patch", "/api/v1/environments/{environment}", {"label": "x"}),
    ("delete", "/api/v1/environments/{environment}", None),
    ("post", "/api/v1/environments/{environment}/test-connection", None),
]


@pytest.mark.parametrize("persona", ["outsider", "viewer", "support", "ops"])
@pytest.mark.parametrize("method, path, body", WRITES)
def test_only_admins_change_projects(request, sandbox, environment, persona, method, path, body):
    client = token_client(request.getfixturevalue(persona))
    path = path.format(project=environment.project_id, environment=environment.pk)

    response = getattr(client, method)(path, body or new_project_body(sandbox), format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert Environment.objects.filter(pk=environment.pk, label="Development").exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/environments"])
def test_a_person_without_a_role_cannot_list_projects(environment, outsider, path):
    assert token_client(outsider).get(path).status_code == 403


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/projects/{project}", {"api_key": "VF.DM.clé"}),
        ("/api/v1/projects/{project}", {"voiceflow_project_id": "a b"}),
        ("/api/v1/environments/{environment}", {"version_id": "prodüction"}),
        ("/api/v1/environments/{environment}", {"alias": "ma in"}),
    ],
)
def test_values_sent_in_http_headers_must_be_printable_ascii(environment, admin_user, path, body):
    path = path.format(project=environment.project_id, environment=environment.pk)

    response = token_client(admin_user).patch(path, body, format="json")

    assert response.status_code == 400
    assert "HTTP header" in error_of(response)["message"]
    assert (
        token_client(admin_user)
        .post(f"/api/v1/environments/{environment.pk}/test-connection")
        .json()["ok"]
    )


# ---- one validation: the API refuses what the project forms refuse, with the same words ----

REFUSED_PROJECT_FIELDS = [
    ("voiceflow_project_id", "../../x?y#z"),
    ("voiceflow_project_id", "abc/def"),
    ("api_key", "VF.WS.aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb"),
    ("api_key", "sk-live-0123456789"),
]


@pytest.mark.production_path
@pytest.mark.parametrize(("field", "value"), REFUSED_PROJECT_FIELDS)
def test_the_api_refuses_project_fields_the_form_refuses(sandbox, admin_user, field, value):
    from sessions_app.forms import ProjectForm

    form = ProjectForm(
        data={**new_project_body(sandbox, **{field: value}), "state_api": "legacy"},
    )
    response = token_client(admin_user).post(
        "/api/v1/projects", new_project_body(sandbox, **{field: value}), format="json"
    )

    assert field in form.errors
    assert response.status_code == 400
    assert error_of(response)["details"][field] == form.errors[field]
    assert not Project.objects.exists()


@pytest.mark.production_path
@pytest.mark.parametrize(("field", "value"), [("version_id", "../x"), ("alias", "a?b")])
def test_the_api_refuses_environment_fields_the_form_refuses(project, admin_user, field, value):
    from sessions_app.forms import EnvironmentForm

    body = {"label": "Odd", "version_id": "development", "alias": "main", field: value}
    form = EnvironmentForm(data={**body, "badge": "blue", "realtime_version": "draft"})
    response = token_client(admin_user).post(
        "/api/v1/environments", {**body, "project": project.pk}, format="json"
    )

    assert field in form.errors
    assert response.status_code == 400
    assert error_of(response)["details"][field] == form.errors[field]
    assert not Environment.objects.filter(label="Odd").exists()
