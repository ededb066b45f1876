"""Personal data stays hidden from roles without `see_personal_data` on every surface: names by
pattern (PERSONAL_DATA_VARIABLES), values by their shape (emails, phone numbers), nested values
and the JSON text of known-session snapshots included, userIDs shown partly; Django admin's
pages, the known-sessions API and its searches, the audit API, the job validation report on
the page and in the API. Ops see everything."""

import json

import pytest
from api_support import token_client
from bulk_support import preload_from_csv
from django.urls import reverse

from sessions_app import actions, bulk
from sessions_app.known_sessions import note_session
from sessions_app.personal_data import (
    MASK,
    is_personal_name,
    looks_personal,
    shown_user_id,
)

pytestmark = pytest.mark.production_path

USER = "maria.rossi@example.com"
STREET = "Via Roma 12"
MOBILE = "079 555 01 23"
NESTED_EMAIL = "maria.work@example.org"
STATE = {
    "stack": [],
    "storage": {},
    "variables": {
        "customer_name": "Maria Rossi",
        "delivery_address": {"street": STREET, "city": "Milano"},
        "Contact_Email": "m.rossi@example.net",
        "user_id": USER,
        "last_utterance": f"call me on {MOBILE} please",
        # Not personal by name; nested objects go into the snapshot as JSON text.
        "contacts": [{"kind": "work", "mail": NESTED_EMAIL, "mobile": "+41 79 555 01 24"}],
        "pizza_size": "large",
        "last_seen": "2024-10-30",
        "order_id": "3f2a1b4c-1234-4567-8901-abcdef123456",
    },
}
HIDDEN = ["Maria Rossi", STREET, "m.rossi@example.net", USER, MOBILE, NESTED_EMAIL, "555 01 24"]
SHOWN = ["large", "2024-10-30", "3f2a1b4c-1234-4567-8901-abcdef123456"]


def assert_hidden(text: str) -> None:
    for value in HIDDEN:
        assert value not in text, value


@pytest.fixture
def maria(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, STATE)
    note_session(environment, USER, STATE)
    return USER


@pytest.fixture
def staff_viewer(viewer):
    viewer.is_staff = True
    viewer.save()
    return viewer


@pytest.fixture
def staff_ops(ops):
    ops.is_staff = True
    ops.save()
    return ops


# ---- what counts as personal ----


@pytest.mark.parametrize(
    "name", ["email", "Contact_Email", "delivery_address", "customer_name", "mobile_phone"]
)
def test_the_default_patterns_cover_the_demo_names(name):
    assert is_personal_name(name)


@pytest.mark.parametrize("name", ["pizza_size", "order_number", "intent_confidence", "locale"])
def test_the_default_patterns_leave_other_names_alone(name):
    assert not is_personal_name(name)


@pytest.mark.parametrize(
    "text",
    [
        "maria.rossi@example.com",
        "zoë.ångström@example.se",
        "+1-555-0142",
        "+44 20 7946 0958",
        "0049-30-1234567",
        "whatsapp:+15550100",
        "call me on 079 555 01 23 please",
    ],
)
def test_emails_and_phone_numbers_are_recognised_by_their_shape(text):
    assert looks_personal(text)


@pytest.mark.parametrize(
    "text",
    [
        "2024-10-30",
        "2024-12-24T18:30:00Z",
        "3f2a1b4c-1234-4567-8901-abcdef123456",
        "66b0c2aa0123456789abcdef",
        "192.168.1.20",
        "1234.56",
        "sess_9f8e7d6c5b4a",
        "order 4411",
    ],
)
def test_dates_ids_and_numbers_are_not_taken_for_phone_numbers(text):
    assert not looks_personal(text)


def test_a_personal_user_id_is_shown_partly(viewer, ops):
    assert shown_user_id(USER, viewer) == "m•••@example.com"
    assert shown_user_id("whatsapp:+15550100", viewer) == "whatsapp:••••••00"
    assert shown_user_id("guest-0007", viewer) == "guest-0007"
    assert shown_user_id(USER, ops) == USER


# ---- the pages ----


def test_the_inspector_hides_names_by_pattern_and_values_by_shape(
    support_client, ops_client, environment, maria
):
    url = reverse("session_inspect", args=[environment.pk])

    as_support = support_client.get(url, {"user": USER}).content.decode()
    as_ops = ops_client.get(url, {"user": USER}).content.decode()

    for value in ["Maria Rossi", STREET, "m.rossi@example.net", MOBILE, NESTED_EMAIL]:
        assert value not in as_support
        assert value in as_ops
    for value in SHOWN:
        assert value in as_support


def test_the_home_list_shows_a_personal_user_id_partly_and_links_without_it(
    viewer_client, environment, maria
):
    page = viewer_client.get(reverse("home"), {"environment": environment.pk}).content.decode()

    assert_hidden(page)
    assert "m•••@example.com" in page
    assert "?user=" not in page


def test_a_personal_user_id_is_found_only_when_typed_in_full(
    viewer_client, viewer, ops, environment, maria
):
    api = f"/api/v1/environments/{environment.pk}/known-sessions"
    home = reverse("home")

    def listed(client, prefix: str) -> bool:
        page = client.get(home, {"environment": environment.pk, "prefix": prefix})
        return "@example.com" in page.content.decode()

    assert not listed(viewer_client, "maria")
    assert listed(viewer_client, USER)
    assert token_client(viewer).get(api, {"user_prefix": "maria"}).json()["results"] == []
    assert token_client(viewer).get(api, {"user_prefix": USER}).json()["results"]
    assert token_client(ops).get(api, {"user_prefix": "maria"}).json()["results"]


# ---- the known-sessions API ----


def test_the_known_sessions_api_masks_nested_values_and_json_snapshots(
    viewer, ops, environment, maria
):
    api = f"/api/v1/environments/{environment.pk}/known-sessions"

    as_viewer = token_client(viewer).get(api)
    as_ops = token_client(ops).get(api).json()["results"][0]

    assert_hidden(as_viewer.content.decode())
    shown = as_viewer.json()["results"][0]
    assert shown["user_id"] == "m•••@example.com"
    snapshot = shown["variables_snapshot"]
    assert snapshot["delivery_address"] == MASK
    assert json.loads(snapshot["contacts"]) == [{"kind": "work", "mail": MASK, "mobile": MASK}]
    assert snapshot["pizza_size"] == "large"
    assert NESTED_EMAIL in as_ops["variables_snapshot"]["contacts"]
    assert as_ops["user_id"] == USER


@pytest.mark.parametrize("needle", ["maria.work", "555 01 24", "via roma", "milano", "rossi"])
def test_a_masked_value_is_not_found_by_a_variable_search(viewer, ops, environment, maria, needle):
    api = f"/api/v1/environments/{environment.pk}/known-sessions"

    assert token_client(viewer).get(api, {"variable": needle}).json()["results"] == []
    assert token_client(ops).get(api, {"variable": needle}).json()["results"]


def test_a_visible_value_is_still_found(viewer, environment, maria):
    api = f"/api/v1/environments/{environment.pk}/known-sessions"

    assert token_client(viewer).get(api, {"variable": "large"}).json()["results"]


# ---- the audit trail ----


@pytest.fixture
def written(maria, environment, ops):
    return actions.do_set_variables(
        environment,
        maria,
        {"pizza_size": "small"},
        context=actions.WriteContext(actor=ops, source="page"),
    )


def test_the_audit_api_masks_the_user_id_and_nested_values(viewer, written):
    listed = token_client(viewer).get("/api/v1/audit")
    detail = token_client(viewer).get(f"/api/v1/audit/{written.pk}").json()

    assert_hidden(listed.content.decode())
    assert detail["user_id"] == "m•••@example.com"
    assert detail["state_before"]["variables"]["contacts"][0]["mail"] == MASK


def test_the_audit_pages_mask_the_user_id_and_link_without_it(viewer_client, written):
    listed = viewer_client.get(reverse("audit_list")).content.decode()
    detail = viewer_client.get(reverse("audit_detail", args=[written.pk])).content.decode()
    opened = viewer_client.get(reverse("audit_entry_session", args=[written.pk]))

    assert_hidden(listed)
    assert_hidden(detail)
    assert "m•••@example.com" in detail
    assert opened.status_code == 302  # to the inspector, for a role that may open it


# ---- Django admin ----


def test_django_admin_audit_pages_mask_personal_data(
    client_for_user, staff_viewer, staff_ops, written
):
    viewer_admin = client_for_user(staff_viewer)
    change = reverse("admin:sessions_app_auditentry_change", args=[written.pk])
    changelist = reverse("admin:sessions_app_auditentry_changelist")

    page = viewer_admin.get(change)
    listed = viewer_admin.get(changelist)
    searched = viewer_admin.get(changelist, {"q": "maria"})

    assert page.status_code == 200
    assert_hidden(page.content.decode())
    assert MASK in page.content.decode()
    assert_hidden(listed.content.decode())
    assert "0 audit entries" in searched.content.decode()
    assert STREET in client_for_user(staff_ops).get(change).content.decode()


def test_django_admin_known_session_pages_mask_personal_data(
    client_for_user, staff_viewer, staff_ops, environment, maria
):
    from sessions_app.models import KnownSession

    known = KnownSession.objects.get(environment=environment, user_id=USER)
    change = reverse("admin:sessions_app_knownsession_change", args=[known.pk])

    page = client_for_user(staff_viewer).get(change)
    listed = client_for_user(staff_viewer).get(
        reverse("admin:sessions_app_knownsession_changelist")
    )

    assert page.status_code == 200
    assert_hidden(page.content.decode())
    assert_hidden(listed.content.decode())
    assert STREET in client_for_user(staff_ops).get(change).content.decode()


# ---- the job validation report ----


@pytest.fixture
def bad_preload(environment, ops):
    return preload_from_csv(
        environment,
        ops,
        "userID,customer_email:integer,visits:integer",
        f"{USER},maria.private@example.org,3",
        "guest-0007,5,not-a-number",
        "+44 20 7946 0958,6,7,extra",
    )


def test_the_validation_report_masks_personal_values_on_the_page_and_in_the_api(
    client_for_user, bad_preload, viewer, ops
):
    page = client_for_user(viewer).get(reverse("job_detail", args=[bad_preload.pk]))
    api = token_client(viewer).get(f"/api/v1/jobs/{bad_preload.pk}")
    listed = token_client(viewer).get("/api/v1/jobs")
    as_ops = token_client(ops).get(f"/api/v1/jobs/{bad_preload.pk}").content.decode()

    for text in (page.content.decode(), api.content.decode(), listed.content.decode()):
        assert "maria.private@example.org" not in text
        assert "+44 20 7946 0958" not in text
        assert "not-a-number" in text  # other values are shown as usual
    assert "maria.private@example.org" in as_ops


def test_the_rows_refused_at_upload_are_masked_on_a_started_jobs_page(
    environment, viewer, ops, client_for_user
):
    runnable = preload_from_csv(
        environment,
        ops,
        "userID,customer_email:integer,visits:integer",
        f"{USER},maria.private@example.org,3",
        "guest-0007,5,not-a-number",
        "+44 20 7946 0958,6,7,extra",
        "guest-0008,5,6",
    )
    bulk.start_job(runnable, ops, skip_bad_rows=True)
    job_page = reverse("job_detail", args=[runnable.pk])

    shown = client_for_user(viewer).get(job_page).content.decode()
    as_ops = client_for_user(ops).get(job_page).content.decode()

    assert 'id="rejected-rows"' in shown
    assert "maria.private@example.org" not in shown
    assert "+44 20 7946 0958" not in shown
    assert "not-a-number" in shown
    assert "maria.private@example.org" in as_ops
    assert "+44 20 7946 0958" in as_ops


def test_a_412_answer_masks_the_current_state(sandbox, support, environment, maria):
    response = token_client(support).patch(
        f"/api/v1/environments/{environment.pk}/sessions/state/variables?user={USER}",
        {"pizza_size": "small"},
        format="json",
        HTTP_IF_MATCH='"stale-etag"',
    )

    assert response.status_code == 412
    assert_hidden(response.content.decode())
    assert response.json()["error"]["details"]["state"]["variables"]["pizza_size"] == "large"
