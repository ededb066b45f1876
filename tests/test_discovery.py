"""Finding sessions from Voiceflow's transcripts, against the sandbox over HTTP: imports over both
transcript searches (paging, date range, environment filter), the background read of the
imported users' states, the periodic refresh, and the "Find by activity" page's searches."""

from datetime import UTC, datetime, timedelta

import pytest
from bulk_support import wait_for
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from inspector_support import inspect_url, text_of
from project_form_support import submitted

from sessions_app.discovery import (
    TranscriptSearch,
    import_from_transcripts,
    read_pending_states,
)
from sessions_app.discovery.tasks import refresh_known_sessions
from sessions_app.models import Environment, KnownSession, Project
from sessions_app.voiceflow import Unauthorized

pytestmark = pytest.mark.production_path

DAY = datetime(2024, 5, 1, tzinfo=UTC)
ORDER_STATE = {
    "stack": [{"diagramID": "d1", "nodeID": "n1", "name": "Order pizza"}],
    "storage": {},
    "variables": {"pizza_size": "large", "pizza_type": "margherita"},
}


@pytest.fixture(params=[TranscriptSearch.REALTIME, TranscriptSearch.ANALYTICS])
def source(request, environment) -> str:
    """Each test runs over the realtime search (the project has an access token) and over the
    analytics search (it has none)."""
    if request.param == TranscriptSearch.ANALYTICS:
        project = environment.project
        project.access_token = ""
        project.save()
    return request.param


def plant(sandbox, environment: Environment, user_id: str, at: datetime, **fields) -> None:
    """A transcript of a conversation `user_id` held at `at` (updated a minute later)."""
    sandbox.control.post(
        "/_sandbox/transcripts",
        json={
            "project_id": environment.project.voiceflow_project_id,
            "user_id": user_id,
            "created_at": at.isoformat(),
            "updated_at": (at + timedelta(minutes=1)).isoformat(),
            **fields,
        },
    ).raise_for_status()


def search_requests(sandbox, environment: Environment) -> dict[str, int]:
    by_route = sandbox.stats(environment.project.api_key)["by_route"]
    return {name: count for name, count in by_route.items() if "transcripts" in name}


def imported(environment: Environment) -> dict[str, KnownSession]:
    return {known.user_id: known for known in KnownSession.objects.filter(environment=environment)}


def run_import(environment: Environment, **options):
    options = {"start": None, "end": None, "this_environment_only": False} | options
    return import_from_transcripts(environment, **options)


# ---- importing ----


def test_an_import_records_each_user_with_the_time_of_their_last_activity(
    sandbox, environment, source
):
    plant(sandbox, environment, "maria", DAY)
    plant(sandbox, environment, "maria", DAY + timedelta(hours=5))
    plant(sandbox, environment, "+1-555-0142", DAY + timedelta(hours=1))

    report = run_import(environment)

    assert (report.source, report.transcripts, report.user_ids, report.new) == (source, 3, 2, 2)
    rows = imported(environment)
    assert set(rows) == {"maria", "+1-555-0142"}
    assert rows["maria"].last_activity_at == DAY + timedelta(hours=5, minutes=1)
    assert rows["+1-555-0142"].last_activity_at == DAY + timedelta(hours=1, minutes=1)
    assert {(row.origin, row.state_pending) for row in rows.values()} == {("imported", True)}
    route = (
        "realtime.transcripts.search"
        if source == TranscriptSearch.REALTIME
        else "analytics.transcripts.search"
    )
    assert search_requests(sandbox, environment) == {route: 1}


def test_an_import_pages_through_more_than_one_page(sandbox, environment, source):
    for n in range(130):
        plant(sandbox, environment, f"guest-{n:03d}", DAY + timedelta(minutes=n))

    report = run_import(environment)

    assert (report.pages, report.transcripts, report.user_ids, report.complete) == (
        2,
        130,
        130,
        True,
    )
    assert len(imported(environment)) == 130
    assert sum(search_requests(sandbox, environment).values()) == 2


def test_an_import_that_reaches_its_page_limit_says_so_and_keeps_the_newest(
    sandbox, environment, source
):
    for n in range(101):
        plant(sandbox, environment, f"guest-{n:03d}", DAY + timedelta(minutes=n))

    report = run_import(environment, max_pages=1)

    assert (report.user_ids, report.complete) == (100, False)
    assert "guest-000" not in imported(environment)
    assert "Stopped after 1 page (100 transcripts, newest first)" in report.summary()


def test_an_import_takes_only_the_conversations_of_the_date_range(sandbox, environment, source):
    for day in range(1, 6):
        plant(sandbox, environment, f"day-{day}", DAY + timedelta(days=day))

    report = run_import(
        environment, start=DAY + timedelta(days=2), end=DAY + timedelta(days=4, hours=1)
    )

    assert report.user_ids == 3
    assert set(imported(environment)) == {"day-2", "day-3", "day-4"}


def test_an_import_can_keep_to_the_conversations_of_its_environment(sandbox, environment, source):
    plant(sandbox, environment, "in-development", DAY, version="development")
    plant(sandbox, environment, "in-production", DAY + timedelta(hours=1), version="production")

    run_import(environment, this_environment_only=True)
    assert set(imported(environment)) == {"in-development"}

    run_import(environment, this_environment_only=False)
    assert set(imported(environment)) == {"in-development", "in-production"}


def test_userids_the_state_api_cannot_take_are_counted_and_left_out(sandbox, environment):
    plant(sandbox, environment, "fine", DAY)
    plant(sandbox, environment, "x" * 2_601, DAY)

    report = run_import(environment)

    assert (report.user_ids, report.unusable) == (1, 1)
    assert set(imported(environment)) == {"fine"}
    assert "1 transcript had no usable userID" in report.summary()


def test_an_import_that_cannot_read_the_transcripts_records_nothing(sandbox, environment):
    plant(sandbox, environment, "someone", DAY)
    project = environment.project
    project.access_token = "vfp_wrong"
    project.save()

    with pytest.raises(Unauthorized, match="personal access token"):
        run_import(environment)

    assert imported(environment) == {}


def test_a_user_already_known_keeps_their_snapshot_until_new_activity_needs_a_fresh_read(
    sandbox, environment
):
    sandbox.set_state(environment.project.voiceflow_project_id, "regular", ORDER_STATE)
    plant(sandbox, environment, "regular", DAY)
    run_import(environment)
    read_pending_states(environment, max_wait_s=5)
    regular = KnownSession.objects.get(environment=environment, user_id="regular")
    assert (regular.state_pending, regular.variables_snapshot["pizza_size"]) == (False, "large")

    run_import(environment)
    regular.refresh_from_db()
    assert regular.state_pending is False, "nothing happened since the last read"

    later = (timezone.now() + timedelta(minutes=5)).replace(microsecond=0)
    plant(sandbox, environment, "regular", later)
    report = run_import(environment)
    regular.refresh_from_db()
    assert (report.new, report.to_read) == (0, 1)
    assert (regular.state_pending, regular.last_activity_at) == (True, later + timedelta(minutes=1))
    assert regular.origin == KnownSession.Origin.IMPORTED


# ---- reading the imported users' states ----


def test_the_states_of_imported_users_are_read_into_the_index(sandbox, environment, source):
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(project_id, "ordering", ORDER_STATE)
    sandbox.set_state(project_id, "only-variables", {"variables": {"vip": True}})
    for user_id in ("ordering", "only-variables", "long-gone"):
        plant(sandbox, environment, user_id, DAY)
    run_import(environment)

    report = read_pending_states(environment, max_wait_s=5)

    assert (report.read, report.failed, report.stopped_by) == (3, 0, "")
    rows = imported(environment)
    assert rows["ordering"].variables_snapshot == ORDER_STATE["variables"]
    assert (rows["ordering"].has_state, rows["ordering"].current_flow) == (True, "Order pizza")
    assert rows["only-variables"].variables_snapshot == {"vip": True}
    assert rows["long-gone"].has_state is False
    assert not any(row.state_pending for row in rows.values())
    assert all(row.origin == "imported" for row in rows.values())


def test_reading_states_stops_at_a_failure_every_user_would_share(sandbox, environment):
    plant(sandbox, environment, "one", DAY)
    plant(sandbox, environment, "two", DAY)
    run_import(environment)
    project = environment.project
    project.api_key = "VF.DM.000000000000000000000000.unknownToTheRuntime"
    project.save()

    report = read_pending_states(environment, max_wait_s=5)

    assert (report.read, "refused the credentials" in report.stopped_by) == (0, True)
    assert all(row.state_pending for row in imported(environment).values())


def test_a_user_whose_state_cannot_be_read_waits_for_the_next_run(
    sandbox, clean_knobs, environment
):
    plant(sandbox, environment, "flaky", DAY)
    plant(sandbox, environment, "steady", DAY + timedelta(minutes=5))
    run_import(environment)
    clean_knobs.knobs(
        api_key=environment.project.api_key,
        failures={"mode": "5xx", "status": 503, "user_ids": ["flaky"]},
    )

    report = read_pending_states(environment, max_wait_s=5)

    assert (report.read, report.failed) == (1, 1)
    rows = imported(environment)
    assert (rows["flaky"].state_pending, rows["steady"].state_pending) == (True, False)


# ---- the periodic refresh ----


def test_the_periodic_refresh_imports_recent_conversations_of_projects_with_discovery_on(
    sandbox, environment, production_environment, source
):
    project = environment.project
    project.discovery_enabled = True
    project.save()
    now = timezone.now()
    sandbox.set_state(project.voiceflow_project_id, "recent", ORDER_STATE)
    plant(sandbox, environment, "recent", now - timedelta(hours=2), version="development")
    plant(sandbox, environment, "live", now - timedelta(hours=1), version="production")
    plant(
        sandbox,
        environment,
        "too-old",
        now - timedelta(hours=settings.DISCOVERY_LOOKBACK_HOURS + 1),
        version="development",
    )

    found = refresh_known_sessions()

    assert found == {environment.pk: 1, production_environment.pk: 1}
    assert set(imported(environment)) == {"recent"}
    assert set(imported(production_environment)) == {"live"}
    recent = imported(environment)["recent"]
    assert (recent.state_pending, recent.variables_snapshot["pizza_size"]) == (False, "large")


def test_the_periodic_refresh_leaves_projects_without_discovery_alone(sandbox, environment):
    plant(sandbox, environment, "recent", timezone.now() - timedelta(hours=1))

    assert refresh_known_sessions() == {}
    assert imported(environment) == {}
    assert search_requests(sandbox, environment) == {}


def test_one_failing_project_does_not_stop_the_refresh_of_the_others(sandbox, environment, db):
    broken = Project.objects.create(
        name="Broken",
        voiceflow_project_id="000000000000000000000000",
        api_key="VF.DM.000000000000000000000000.unknownToTheRuntime",
        access_token="vfp_unknown",
        runtime_url=sandbox.url,
        realtime_url=sandbox.url,
        analytics_url=sandbox.url,
        discovery_enabled=True,
    )
    Environment.objects.create(project=broken, label="Development")
    Project.objects.filter(pk=environment.project_id).update(discovery_enabled=True)
    plant(sandbox, environment, "recent", timezone.now() - timedelta(hours=1))

    assert refresh_known_sessions() == {environment.pk: 1}
    assert set(imported(environment)) == {"recent"}


@pytest.mark.worker
def test_beat_runs_the_refresh_on_its_schedule(celery_worker, sandbox, environment):
    Project.objects.filter(pk=environment.project_id).update(discovery_enabled=True)
    sandbox.set_state(environment.project.voiceflow_project_id, "beaten", ORDER_STATE)
    plant(sandbox, environment, "beaten", timezone.now() - timedelta(minutes=30))
    celery_worker.kill()
    celery_worker.start(DISCOVERY_INTERVAL_S="1")

    known = wait_for(
        lambda: KnownSession.objects.filter(
            environment=environment, user_id="beaten", state_pending=False
        ).first(),
        timeout_s=60,
        what="the scheduled refresh to import and read 'beaten'",
    )

    assert known.variables_snapshot["pizza_type"] == "margherita"


# ---- the page ----


def find_page(client, **query):
    return client.get(reverse("find_by_activity"), query)


@pytest.fixture
def indexed(sandbox, environment):
    """Three imported users whose states were read: active 10 minutes, 3 hours and 3 days ago."""
    project_id = environment.project.voiceflow_project_id
    now = timezone.now()
    sandbox.set_state(project_id, "hungry", ORDER_STATE)
    sandbox.set_state(
        project_id,
        "booker",
        {"stack": [], "storage": {}, "variables": {"party_size": 4, "pizza_size": "small"}},
    )
    sandbox.set_state(project_id, "old-friend", {"variables": {"pizza_size": "large"}})
    plant(sandbox, environment, "hungry", now - timedelta(minutes=11))
    plant(sandbox, environment, "booker", now - timedelta(hours=3))
    plant(sandbox, environment, "old-friend", now - timedelta(days=3))
    run_import(environment)
    read_pending_states(environment, max_wait_s=5)
    return environment


def listed(response) -> list[str]:
    return [known.user_id for known in response.context["results"]]


def test_the_page_lists_known_sessions_most_recently_active_first(viewer_client, indexed):
    response = find_page(viewer_client)

    assert response.status_code == 200
    assert listed(response) == ["hungry", "booker", "old-friend"]


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ("15m", ["hungry"]),
        ("1h", ["hungry"]),
        ("24h", ["hungry", "booker"]),
        ("7d", ["hungry", "booker", "old-friend"]),
    ],
)
def test_the_page_finds_sessions_by_time_of_last_activity(viewer_client, indexed, active, expected):
    assert listed(find_page(viewer_client, active=active)) == expected


def test_the_page_finds_sessions_by_variable_value(viewer_client, indexed):
    assert listed(find_page(viewer_client, value="large")) == ["hungry", "old-friend"]
    assert listed(find_page(viewer_client, value="pizza_size=small")) == ["booker"]
    assert listed(find_page(viewer_client, value="large", active="1h")) == ["hungry"]


def test_the_page_finds_sessions_by_userid_prefix(viewer_client, indexed):
    assert listed(find_page(viewer_client, user="boo")) == ["booker"]


def test_each_result_opens_the_inspector(viewer_client, indexed):
    response = find_page(viewer_client, active="15m")

    known = KnownSession.objects.get(environment=indexed, user_id="hungry")
    link = reverse("known_session_open", args=[known.pk])
    assert f'href="{link}"' in response.content.decode()
    assert viewer_client.get(link)["Location"] == inspect_url(indexed, "hungry")
    assert viewer_client.get(link, follow=True).status_code == 200


def test_an_unknown_activity_period_is_refused_with_a_message(viewer_client, indexed):
    response = find_page(viewer_client, active="forever")

    assert response.status_code == 400
    assert "Choose one of the listed periods." in text_of(response)


def test_the_page_needs_the_inspect_permission(outsider_client, environment):
    assert find_page(outsider_client).status_code == 403
    assert (
        outsider_client.post(
            reverse("import_transcripts"), {"environment": environment.pk}
        ).status_code
        == 403
    )


def import_form(environment, start: datetime, end: datetime, **fields) -> dict:
    zone = timezone.get_current_timezone()
    return {
        "environment": environment.pk,
        "start": start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "end": end.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "this_environment_only": "on",
        **fields,
    }


def test_importing_from_the_page_records_the_users_and_reports_in_words(
    viewer_client, sandbox, environment
):
    plant(sandbox, environment, "from-page", DAY + timedelta(hours=2))
    plant(sandbox, environment, "in-the-last-minute", DAY + timedelta(days=1, seconds=30))
    plant(sandbox, environment, "before-range", DAY - timedelta(days=2))

    response = viewer_client.post(
        reverse("import_transcripts"),
        import_form(environment, DAY, DAY + timedelta(days=1)),
        follow=True,
    )

    assert response.redirect_chain == [(reverse("find_by_activity"), 302)]
    page = text_of(response)
    assert "Imported 2 userIDs in 2 transcripts (2 new)." in page
    assert "not read yet" in page
    assert set(imported(environment)) == {"from-page", "in-the-last-minute"}


def test_the_page_says_when_userids_come_from_sessionids(viewer_client, source, environment):
    page = text_of(find_page(viewer_client))

    assert ("sessionID is used as the userID" in page) == (source == TranscriptSearch.ANALYTICS)


def test_an_import_with_its_end_before_its_start_is_refused_and_sends_nothing(
    support_client, sandbox, environment
):
    response = support_client.post(
        reverse("import_transcripts"), import_form(environment, DAY, DAY - timedelta(hours=1))
    )

    assert response.status_code == 400
    assert "The end is not after the start; nothing was imported." in text_of(response)
    assert search_requests(sandbox, environment) == {}


def test_an_import_the_api_refuses_shows_why_and_records_nothing(
    support_client, sandbox, environment
):
    plant(sandbox, environment, "someone", DAY)
    project = environment.project
    project.access_token = "vfp_wrong"
    project.save()

    response = support_client.post(
        reverse("import_transcripts"), import_form(environment, DAY, DAY + timedelta(days=1))
    )

    assert "Nothing was imported: Voiceflow refused the credentials" in text_of(response)
    assert imported(environment) == {}


@pytest.mark.worker
def test_users_imported_from_the_page_are_found_by_variable_value_once_read(
    celery_worker, support_client, sandbox, environment
):
    sandbox.set_state(environment.project.voiceflow_project_id, "late-diner", ORDER_STATE)
    plant(sandbox, environment, "late-diner", timezone.now() - timedelta(minutes=20))

    support_client.post(
        reverse("import_transcripts"),
        import_form(environment, timezone.now() - timedelta(hours=1), timezone.now()),
    )

    wait_for(
        lambda: listed(find_page(support_client, value="margherita")) == ["late-diner"],
        timeout_s=60,
        what="the background read of the imported state",
    )


def test_an_admin_turns_the_periodic_refresh_on_for_a_project(admin_client_, environment):
    from sessions_app.models import AuditEntry

    url = reverse("project_edit", args=[environment.project_id])
    edit = admin_client_.get(url)
    assert "Import userIDs from transcripts periodically" in text_of(edit)

    response = admin_client_.post(url, submitted(edit, discovery_enabled="on"))

    assert response.status_code == 302
    environment.project.refresh_from_db()
    assert environment.project.discovery_enabled is True
    change = AuditEntry.objects.get(action=AuditEntry.Action.PROJECT_CHANGED)
    assert "discovery_enabled" in str(change.request_sent)
