"""The projects and credentials pages: who may use them, what they save, what they refuse."""

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from project_form_support import STORED_PROJECT_API_KEY, posted, submitted

from sessions_app.models import AuditEntry, BulkJob, Environment, Project

pytestmark = pytest.mark.production_path

NEW_API_KEY = "VF.DM.0123456789abcdef01234567.replacementKeyReplacement9"


NEW_PROJECT = {
    "name": "Bookings",
    "voiceflow_project_id": "aaaabbbbccccddddeeeeffff",
    "runtime_url": "https://general-runtime.voiceflow.com",
    "api_key": NEW_API_KEY,
    "budget_per_minute": "300",
    "environments-0-label": "Staging",
    "environments-0-version_id": "staging",
    "environments-0-badge": "amber",
}


def create_form(client: Client, **changes) -> dict:
    return submitted(client.get(reverse("project_create")), **{**NEW_PROJECT, **changes})


# ---- who may use the pages ----

PAGES = [
    ("get", "projects", False),
    ("get", "project_create", False),
    ("post", "project_create", False),
    ("get", "project_edit", True),
    ("post", "project_edit", True),
    ("get", "project_delete", True),
    ("post", "project_delete", True),
]


@pytest.mark.parametrize(
    "persona", ["viewer_client", "support_client", "ops_client", "outsider_client"]
)
@pytest.mark.parametrize(("method", "name", "needs_project"), PAGES)
def test_every_role_but_admin_gets_403_on_the_project_pages(
    request, stored_project, persona, method, name, needs_project
):
    client = request.getfixturevalue(persona)
    url = reverse(name, args=[stored_project.pk] if needs_project else [])

    response = getattr(client, method)(url, {"name": "Taken over"} if method == "post" else None)

    assert response.status_code == 403
    assert Project.objects.filter(name="Pizzeria").exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "persona", ["viewer_client", "support_client", "ops_client", "outsider_client"]
)
def test_every_role_but_admin_gets_403_on_test_connection(request, stored_project, persona):
    environment = stored_project.environments.first()
    client = request.getfixturevalue(persona)

    response = client.post(reverse("environment_test_connection", args=[environment.pk]))

    assert response.status_code == 403


@pytest.mark.parametrize(("method", "name", "needs_project"), PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(stored_project, method, name, needs_project):
    url = reverse(name, args=[stored_project.pk] if needs_project else [])

    response = getattr(Client(), method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["viewer_client", "support_client", "ops_client"])
def test_roles_without_the_right_see_no_projects_link(request, persona):
    page = request.getfixturevalue(persona).get(reverse("home"))

    assert reverse("projects") not in page.content.decode()


def test_admin_sees_the_projects_link(admin_client_):
    page = admin_client_.get(reverse("home"))

    assert f'href="{reverse("projects")}"' in page.content.decode()


# ---- listing ----


def test_admin_sees_each_project_with_its_environments_badges_and_key_hint(
    admin_client_, stored_project
):
    page = admin_client_.get(reverse("projects")).content.decode()

    assert "Pizzeria" in page
    assert '<span class="badge badge-green">Development</span>' in page
    assert '<span class="badge badge-red">Production</span>' in page
    assert "VF.DM.…ey01" in page
    for environment in stored_project.environments.all():
        assert reverse("environment_test_connection", args=[environment.pk]) in page


# ---- creating and changing ----


def test_admin_creates_a_project_with_its_environments_and_the_audit_says_what_without_the_key(
    admin_client_, admin_user
):
    response = admin_client_.post(reverse("project_create"), create_form(admin_client_))

    assert response.status_code == 302
    project = Project.objects.get(name="Bookings")
    assert project.api_key == NEW_API_KEY
    assert project.budget_per_minute == 300
    assert [(e.label, e.version_id, e.badge) for e in project.environments.all()] == [
        ("Staging", "staging", "amber")
    ]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.source, entry.actor, entry.project) == (
        AuditEntry.Action.PROJECT_CREATED,
        AuditEntry.Source.PAGE,
        admin_user,
        project,
    )
    assert "api_key" in entry.request_sent["fields"]
    assert entry.request_sent["environments"] == {"added": ["Staging"]}
    assert NEW_API_KEY not in str(entry.request_sent)


def test_an_empty_key_field_keeps_the_stored_key(admin_client_, stored_project):
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))

    response = admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]),
        submitted(edit, name="Pizzeria Napoli", api_key=""),
    )

    assert response.status_code == 302
    project = Project.objects.get(pk=stored_project.pk)
    assert (project.name, project.api_key, project.api_key_hint) == (
        "Pizzeria Napoli",
        STORED_PROJECT_API_KEY,
        "VF.DM.…ey01",
    )
    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.PROJECT_CHANGED
    assert entry.request_sent == {"fields": ["name"]}


def test_a_new_key_replaces_the_old_and_is_audited_as_a_credentials_change_without_the_key(
    admin_client_, stored_project
):
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))

    admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]),
        submitted(edit, api_key=NEW_API_KEY, budget_per_minute="120"),
    )

    project = Project.objects.get(pk=stored_project.pk)
    assert project.api_key == NEW_API_KEY
    assert project.api_key_hint == "VF.DM.…ent9"
    actions = {entry.action: entry.request_sent for entry in AuditEntry.objects.all()}
    assert actions == {
        AuditEntry.Action.CREDENTIALS_CHANGED: {"fields": ["api_key"]},
        AuditEntry.Action.PROJECT_CHANGED: {"fields": ["budget_per_minute"]},
    }


def test_saving_an_unchanged_form_records_nothing(admin_client_, stored_project):
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))

    response = admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]), submitted(edit)
    )

    assert response.status_code == 302
    assert not AuditEntry.objects.exists()


def test_environments_are_added_changed_and_removed_on_the_project_page(
    admin_client_, stored_project
):
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))
    rows = {
        form["label"].value(): form.prefix
        for form in edit.context["environments"].forms
        if form.instance.pk
    }
    blank = edit.context["environments"].forms[-1].prefix

    admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]),
        submitted(
            edit,
            **{
                f"{rows['Development']}-badge": "blue",
                f"{rows['Production']}-DELETE": "on",
                f"{blank}-label": "Staging",
                f"{blank}-version_id": "staging",
            },
        ),
    )

    environments = {e.label: e.badge for e in Environment.objects.filter(project=stored_project)}
    assert environments == {"Development": "blue", "Staging": "blue"}
    entry = AuditEntry.objects.get()
    assert entry.request_sent["environments"] == {
        "added": ["Staging"],
        "changed": {"Development": ["badge"]},
        "removed": ["Production"],
    }


def test_the_stored_access_token_can_be_removed(admin_client_, stored_project):
    stored_project.access_token = "vfp_token_toremove"
    stored_project.save()
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))

    admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]),
        submitted(edit, remove_access_token="on"),
    )

    project = Project.objects.get(pk=stored_project.pk)
    assert (project.access_token, project.access_token_hint) == ("", "")
    assert AuditEntry.objects.get().request_sent == {"fields": ["access_token"]}


# ---- what is refused ----

REFUSALS = [
    ({"api_key": "sk-0123456789abcdef"}, "A Dialog Manager API key starts with VF.DM."),
    ({"api_key": "VF.WS.0123456789abcdef01234567.abc"}, "This is a workspace key (VF.WS.…)"),
    ({"api_key": "VF.DM.0123 4567"}, "An API key has no spaces or line breaks."),
    ({"api_key": ""}, "A new project needs its Dialog Manager API key."),
    ({"runtime_url": "ftp://runtime.example.com"}, "Enter an http:// or https:// URL."),
    ({"runtime_url": "javascript:alert(1)"}, "Enter a valid URL."),
    ({"budget_per_minute": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"budget_per_minute": "100001"}, "Ensure this value is less than or equal to 100000."),
    ({"voiceflow_project_id": "abc/def"}, "A Voiceflow project ID has only letters, digits"),
    (
        {"environments-0-version_id": "dev elopment"},
        "Use development, staging, production or a literal",
    ),
    (
        # The environment row left as the page offers it: blank, so nothing to create.
        {
            "environments-0-label": "",
            "environments-0-version_id": "development",
            "environments-0-badge": "blue",
        },
        "A project needs at least one environment",
    ),
]


@pytest.mark.parametrize(("changes", "message"), REFUSALS)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(
    admin_client_, changes, message
):
    response = admin_client_.post(reverse("project_create"), create_form(admin_client_, **changes))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Project.objects.exists()
    assert not AuditEntry.objects.exists()


def test_duplicate_environment_labels_are_refused(admin_client_):
    data = create_form(
        admin_client_,
        **{
            "environments-TOTAL_FORMS": "2",
            "environments-1-label": "Staging",
            "environments-1-version_id": "production",
            "environments-1-alias": "main",
            "environments-1-realtime_version": "draft",
            "environments-1-badge": "red",
        },
    )

    response = admin_client_.post(reverse("project_create"), data)

    assert response.status_code == 200
    assert "Please correct the duplicate data for label" in response.content.decode()
    assert not Project.objects.exists()


def test_a_typed_key_is_never_rendered_back_after_a_validation_error(admin_client_):
    data = create_form(admin_client_, budget_per_minute="0", access_token="vfp_typed_secretTOKEN")

    page = admin_client_.post(reverse("project_create"), data).content.decode()

    assert "greater than or equal to 1" in page
    assert NEW_API_KEY not in page
    assert "replacementKey" not in page and "secretTOKEN" not in page


def test_a_key_with_the_prefix_but_an_unusual_shape_is_saved_with_a_warning(admin_client_):
    response = admin_client_.post(
        reverse("project_create"),
        create_form(admin_client_, api_key="VF.DM.privatecloud-key"),
        follow=True,
    )

    assert Project.objects.get().api_key == "VF.DM.privatecloud-key"
    assert "does not have the usual shape" in response.content.decode()


# ---- deleting ----


def test_admin_deletes_a_project_and_the_audit_keeps_its_name(admin_client_, stored_project):
    confirm = admin_client_.get(reverse("project_delete", args=[stored_project.pk]))
    assert "Development, Production" in confirm.content.decode()

    response = admin_client_.post(reverse("project_delete", args=[stored_project.pk]))

    assert response.status_code == 302
    assert not Project.objects.exists() and not Environment.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.project, entry.project_name) == (
        AuditEntry.Action.PROJECT_DELETED,
        None,
        "Pizzeria",
    )
    assert entry.request_sent["environments"] == ["Development", "Production"]


def test_a_project_whose_environment_has_bulk_jobs_is_not_deleted(admin_client_, stored_project):
    BulkJob.objects.create(kind="reset", environment=stored_project.environments.first())

    response = admin_client_.post(reverse("project_delete", args=[stored_project.pk]), follow=True)

    assert "was not deleted" in response.content.decode()
    assert Project.objects.filter(pk=stored_project.pk).exists()
    assert not AuditEntry.objects.exists()


# ---- a key that no longer decrypts ----


def test_a_project_whose_key_no_longer_decrypts_is_still_listed_and_its_key_can_be_replaced(
    admin_client_, stored_project, settings
):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    listing = admin_client_.get(reverse("projects"))
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))
    admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]), submitted(edit, api_key=NEW_API_KEY)
    )

    assert listing.status_code == 200 and "Pizzeria" in listing.content.decode()
    assert Project.objects.get(pk=stored_project.pk).api_key == NEW_API_KEY
    assert AuditEntry.objects.get().action == AuditEntry.Action.CREDENTIALS_CHANGED


def test_test_connection_on_a_key_that_no_longer_decrypts_says_so(
    admin_client_, stored_project, settings
):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    environment = stored_project.environments.first()

    response = admin_client_.post(
        reverse("environment_test_connection", args=[environment.pk]), follow=True
    )

    assert response.status_code == 200
    assert "cannot be decrypted with the configured encryption keys" in response.content.decode()


# ---- Test connection against the sandbox ----


def connection_message(client: Client, environment: Environment) -> str:
    response = client.post(
        reverse("environment_test_connection", args=[environment.pk]), follow=True
    )
    assert response.status_code == 200
    return " ".join(str(message) for message in response.context["messages"])


def test_test_connection_reports_an_accepted_key(admin_client_, environment):
    message = connection_message(admin_client_, environment)

    assert "Connected: Voiceflow accepted the key for versionID development" in message


def test_test_connection_reports_a_refused_key(admin_client_, environment):
    Project.objects.filter(pk=environment.project_id).update(
        api_key="VF.DM.000000000000000000000000.unknownToTheRuntime"
    )
    environment.refresh_from_db()

    assert "Voiceflow refused the API key" in connection_message(admin_client_, environment)


def test_test_connection_reports_an_unpublished_production_environment(
    admin_client_, sandbox, project
):
    unpublished = sandbox.register_project(production_published=False)
    Project.objects.filter(pk=project.pk).update(
        voiceflow_project_id=unpublished["project_id"], api_key=unpublished["api_key"]
    )
    production = Environment.objects.create(project=project, label="Live", version_id="production")

    message = connection_message(admin_client_, production)

    assert "Unknown environment:" in message
    assert "not published to production" in message


def test_test_connection_reports_an_unknown_literal_version(admin_client_, project):
    literal = Environment.objects.create(
        project=project, label="Pinned", version_id="0123456789abcdef0123beef"
    )

    message = connection_message(admin_client_, literal)

    assert "Unknown environment:" in message
    assert "0123456789abcdef0123beef" in message


def test_test_connection_reports_a_runtime_it_cannot_reach(admin_client_, environment, settings):
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = [
        *settings.VOICEFLOW_ALLOW_PRIVATE_URLS,
        "http://127.0.0.1:9",
    ]
    Project.objects.filter(pk=environment.project_id).update(runtime_url="http://127.0.0.1:9")
    environment.refresh_from_db()

    assert "Could not reach Voiceflow at http://127.0.0.1:9" in connection_message(
        admin_client_, environment
    )


def test_test_connection_reports_a_time_out(admin_client_, environment, clean_knobs, settings):
    settings.VOICEFLOW_TIMEOUT_S = 0.3
    clean_knobs.knobs(api_key=environment.project.api_key, latency_ms=1500)

    message = connection_message(admin_client_, environment)

    assert "Timed out: Voiceflow did not answer within 0.3 s" in message


# ---- Django's admin saves through the same audited actions ----


def staff_client(username: str, role: str) -> Client:
    from sessions_app.roles import ensure_roles

    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    user.groups.add(ensure_roles()[role])
    client = Client()
    client.force_login(user, backend="sessions_app.access.PermissionsBackend")
    return client


@pytest.fixture
def staff_admin(db) -> Client:
    return staff_client("stella-staff", "Admin")


def admin_change_data(page, **changes) -> dict:
    inline = page.context["inline_admin_formsets"][0].formset
    return posted(page.context["adminform"].form, inline.management_form, *inline.forms, **changes)


def test_django_admin_shows_only_the_hint_and_an_empty_key_keeps_the_stored_one(
    staff_admin, stored_project
):
    url = reverse("admin:sessions_app_project_change", args=[stored_project.pk])
    page = staff_admin.get(url)
    assert "VF.DM.…ey01" in page.content.decode()
    assert "originalKey" not in page.content.decode()

    response = staff_admin.post(url, admin_change_data(page, budget_per_minute="50", api_key=""))

    assert response.status_code == 302
    project = Project.objects.get(pk=stored_project.pk)
    assert (project.api_key, project.budget_per_minute) == (STORED_PROJECT_API_KEY, 50)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.source, entry.request_sent) == (
        AuditEntry.Action.PROJECT_CHANGED,
        AuditEntry.Source.ADMIN,
        {"fields": ["budget_per_minute"]},
    )


def test_django_admin_replaces_a_key_as_an_audited_credentials_change(staff_admin, stored_project):
    url = reverse("admin:sessions_app_project_change", args=[stored_project.pk])
    page = staff_admin.get(url)

    staff_admin.post(url, admin_change_data(page, api_key=NEW_API_KEY))

    assert Project.objects.get(pk=stored_project.pk).api_key == NEW_API_KEY
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.source) == (
        AuditEntry.Action.CREDENTIALS_CHANGED,
        AuditEntry.Source.ADMIN,
    )


def test_django_admin_deletes_a_project_through_the_audited_action(staff_admin, stored_project):
    url = reverse("admin:sessions_app_project_delete", args=[stored_project.pk])

    staff_admin.post(url, {"post": "yes"})

    assert not Project.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.source, entry.project_name) == (
        AuditEntry.Action.PROJECT_DELETED,
        AuditEntry.Source.ADMIN,
        "Pizzeria",
    )


def test_django_admin_refuses_projects_to_staff_without_the_admin_role(db, stored_project):
    client = staff_client("otto-ops-staff", "Ops")

    response = client.get(reverse("admin:sessions_app_project_change", args=[stored_project.pk]))

    assert response.status_code == 403


def test_removing_an_environment_with_bulk_jobs_is_refused_and_changes_nothing(
    admin_client_, stored_project
):
    development = stored_project.environments.get(label="Development")
    BulkJob.objects.create(kind="reset", environment=development)
    edit = admin_client_.get(reverse("project_edit", args=[stored_project.pk]))
    row = next(
        form.prefix for form in edit.context["environments"].forms if form.instance == development
    )

    response = admin_client_.post(
        reverse("project_edit", args=[stored_project.pk]),
        submitted(edit, name="Renamed", **{f"{row}-DELETE": "on"}),
    )

    assert response.status_code == 200
    assert (
        "Not saved. Bulk jobs in the history of Development refer to it"
        in response.content.decode()
    )
    assert Project.objects.get(pk=stored_project.pk).name == "Pizzeria"
    assert stored_project.environments.count() == 2
    assert not AuditEntry.objects.exists()


def test_django_admin_changes_an_environment_through_the_audited_action(
    staff_admin, stored_project
):
    development = stored_project.environments.get(label="Development")
    url = reverse("admin:sessions_app_environment_change", args=[development.pk])
    form = staff_admin.get(url).context["adminform"].form
    data = {field.html_name: field.value() for field in form if field.value() is not None}

    staff_admin.post(url, data | {"badge": "amber", "is_production": ""})

    assert Environment.objects.get(pk=development.pk).badge == "amber"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.source, entry.environment, entry.request_sent) == (
        AuditEntry.Action.PROJECT_CHANGED,
        AuditEntry.Source.ADMIN,
        development,
        {"fields": [], "environments": {"changed": {"Development": ["badge"]}}},
    )


def test_django_admin_adds_and_deletes_an_environment_through_the_audited_actions(
    staff_admin, stored_project
):
    staff_admin.post(
        reverse("admin:sessions_app_environment_add"),
        {
            "project": stored_project.pk,
            "label": "Staging",
            "version_id": "staging",
            "alias": "main",
            "realtime_version": "draft",
            "badge": "amber",
        },
    )
    staging = Environment.objects.get(label="Staging")
    staff_admin.post(
        reverse("admin:sessions_app_environment_delete", args=[staging.pk]), {"post": "yes"}
    )

    assert not Environment.objects.filter(label="Staging").exists()
    assert [entry.request_sent["environments"] for entry in AuditEntry.objects.order_by("pk")] == [
        {"added": ["Staging"]},
        {"removed": ["Staging"]},
    ]


# ---- in a real browser ----


@pytest.mark.browser
def test_an_admin_adds_a_project_in_the_browser_and_tests_its_connection(
    page, admin_user, sandbox, sandbox_project
):
    from browser_support import sign_in

    sign_in(page, admin_user)
    page.click("nav >> text=Projects")
    page.click("text=New project")
    page.fill("#id_name", "Browser project")
    page.fill("#id_voiceflow_project_id", sandbox_project["project_id"])
    page.fill("#id_runtime_url", sandbox.url)
    page.fill("#id_api_key", sandbox_project["api_key"])
    page.fill("#id_environments-0-label", "Development")
    page.select_option("#id_environments-0-badge", "green")
    page.click("button:has-text('Create project')")

    assert page.locator(".message-success").inner_text() == "Project Browser project created."
    assert page.locator("tr .badge-green", has_text="Development").is_visible()
    assert sandbox_project["api_key"] not in page.content()

    page.click("button:has-text('Test connection')")

    assert (
        "Connected: Voiceflow accepted the key for versionID development"
        in page.locator(".message-success").inner_text()
    )
