"""The lists and pages that grow with an installation answer in a bounded number of SQL queries:
as many for three rows as for thirty (no query per row), and never a recount of a job's items
(docs/benchmarks.md has the times at a million rows, from bench/db_scale.py)."""

import pytest
from api_support import session_client
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions_app.known_sessions import note_session
from sessions_app.models import AuditEntry, BulkItem, BulkJob, OperatorPreference

pytestmark = pytest.mark.production_path


def queries_of(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries)


def add_known_sessions(environment, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        note_session(environment, f"Customer-{n:04d}", {"variables": {"plan": "gold", "n": n}})


def add_audit_entries(environment, actor, count: int) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(
            **AuditEntry.actor_fields(actor),
            source=AuditEntry.Source.PAGE,
            project=environment.project,
            project_name=environment.project.name,
            environment=environment,
            environment_label=environment.label,
            user_id=f"Customer-{n:04d}",
            action=AuditEntry.Action.SET_VARIABLES,
            outcome=AuditEntry.Outcome.SUCCEEDED,
            state_before={},
            state_after={"variables": {"n": n}},
        )
        for n in range(count)
    )


def add_jobs(environment, actor, count: int, items: int = 5) -> None:
    for _ in range(count):
        job = BulkJob.objects.create(
            kind=BulkJob.Kind.PRELOAD,
            status=BulkJob.Status.COMPLETED,
            environment=environment,
            created_by=actor,
            total_items=items,
            succeeded_count=items,
        )
        BulkItem.objects.bulk_create(
            BulkItem(job=job, line_number=n, user_id=f"u{n}", status=BulkItem.Status.SUCCEEDED)
            for n in range(items)
        )


@pytest.mark.parametrize(
    "search", [{}, {"prefix": "customer-00"}, {"value": "gold"}, {"prefix": "CUST", "value": "n=1"}]
)
def test_the_home_list_and_its_search_take_as_many_queries_for_30_sessions_as_for_3(
    viewer_client, viewer, environment, search, django_assert_max_num_queries
):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    add_known_sessions(environment, 3)
    few = queries_of(viewer_client, reverse("home"), search)
    add_known_sessions(environment, 27, start=3)

    with django_assert_max_num_queries(few):
        viewer_client.get(reverse("home"), search)
    assert few <= 12


def test_the_known_sessions_prefix_search_ignores_case(viewer_client, viewer, environment):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    add_known_sessions(environment, 3)
    note_session(environment, "other-1", {"variables": {}})

    response = viewer_client.get(reverse("home"), {"prefix": "cUsToMeR-000"})

    assert {known.user_id for known in response.context["known_page"]} == {
        "Customer-0000",
        "Customer-0001",
        "Customer-0002",
    }


@pytest.mark.parametrize("search", [{}, {"user_prefix": "customer"}, {"variable": "gold"}])
def test_the_known_sessions_api_takes_as_many_queries_for_30_as_for_3(
    viewer, environment, search, django_assert_max_num_queries
):
    client = session_client(viewer)
    url = reverse("api-known-sessions", args=[environment.pk])
    add_known_sessions(environment, 3)
    few = queries_of(client, url, search)
    add_known_sessions(environment, 27, start=3)

    with django_assert_max_num_queries(few):
        client.get(url, search)
    assert few <= 10


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"operator": "olga-ops"},
        {"action": "set_variables", "outcome": "succeeded"},
        {"user": "Customer-0001"},
        {"date_from": "2020-01-01", "date_to": "2099-12-31"},
    ],
)
def test_the_audit_list_takes_as_many_queries_for_60_entries_as_for_3(
    ops, admin_client_, environment, filters, django_assert_max_num_queries
):
    add_audit_entries(environment, ops, 3)
    few = queries_of(admin_client_, reverse("audit_list"), filters)
    add_audit_entries(environment, ops, 57)

    with django_assert_max_num_queries(few):
        admin_client_.get(reverse("audit_list"), filters)
    assert few <= 12


def test_the_audit_filter_offers_the_accounts_without_reading_the_audit_table(
    ops, admin_client_, environment
):
    add_audit_entries(environment, ops, 3)

    with CaptureQueriesContext(connection) as captured:
        response = admin_client_.get(reverse("audit_list"))

    assert "olga-ops" in response.content.decode()
    assert not [q for q in captured.captured_queries if "DISTINCT" in q["sql"].upper()]


def test_the_audit_api_takes_as_many_queries_for_60_entries_as_for_3(
    ops, admin_user, environment, django_assert_max_num_queries
):
    client = session_client(admin_user)
    add_audit_entries(environment, ops, 3)
    few = queries_of(client, reverse("api-audit"), {"outcome": "succeeded"})
    add_audit_entries(environment, ops, 57)

    with django_assert_max_num_queries(few):
        client.get(reverse("api-audit"), {"outcome": "succeeded"})
    assert few <= 10


def test_the_job_lists_take_as_many_queries_for_30_jobs_as_for_3(
    ops, ops_client, environment, django_assert_max_num_queries
):
    api = session_client(ops)
    add_jobs(environment, ops, 3)
    few_page = queries_of(ops_client, reverse("job_list"))
    few_api = queries_of(api, reverse("api-jobs"))
    add_jobs(environment, ops, 27)

    with django_assert_max_num_queries(few_page):
        ops_client.get(reverse("job_list"))
    with django_assert_max_num_queries(few_api):
        api.get(reverse("api-jobs"))
    assert few_page <= 12 and few_api <= 10


def test_a_jobs_page_and_progress_never_recount_its_items(
    ops, ops_client, environment, django_assert_max_num_queries
):
    add_jobs(environment, ops, 1, items=50)
    job = BulkJob.objects.get()

    with CaptureQueriesContext(connection) as captured:
        page = ops_client.get(reverse("job_detail", args=[job.pk]))
        progress = session_client(ops).get(reverse("api-job", args=[job.pk]))

    assert page.status_code == progress.status_code == 200
    assert progress.json()["progress"]["done"] == 50
    item_table = BulkItem._meta.db_table
    recounts = [
        q["sql"]
        for q in captured.captured_queries
        if "COUNT(" in q["sql"].upper() and item_table in q["sql"] and "GROUP BY" in q["sql"]
    ]
    assert recounts == []


def test_a_list_of_more_than_ten_thousand_records_says_so_without_counting_them_all(
    ops, admin_user, admin_client_, environment
):
    add_audit_entries(environment, ops, 10_001)

    page = admin_client_.get(reverse("audit_list")).content.decode()
    api = session_client(admin_user).get(reverse("api-audit"), {"limit": 10}).json()

    assert "More than 10,000 records" in page
    assert "Page 1 of 201+" in page
    # The API's count is exact up to 10,000 rows past the page, then one more than that.
    assert api["count"] == 10_001 and api["next"]
