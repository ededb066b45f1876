"""Scheduled jobs: saved with their beat entry (django-celery-beat), started by a real beat with
the database scheduler, run as their owner with the role checked again, each run its own job;
paused, edited and refused input."""

from datetime import timedelta

import pytest
from bulk_support import wait_for, wait_until_finished
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from sessions_app import schedules, segments
from sessions_app.known_sessions import note_session
from sessions_app.models import BulkJob, Schedule

IDLE_30_DAYS = [{"field": "last_active", "op": "before", "value": "30d"}]


def idle_users(sandbox, sandbox_project, environment, count: int) -> list[str]:
    users = [f"idle-{n}" for n in range(count)]
    for user_id in users:
        state = {"stack": [], "storage": {}, "variables": {"left": user_id}}
        sandbox.set_state(sandbox_project["project_id"], user_id, state)
        known = note_session(environment, user_id, state)
        known.last_activity_at = timezone.now() - timedelta(days=40)
        known.save(update_fields=["last_activity_at"])
    return users


@pytest.mark.worker
@pytest.mark.production_path
def test_a_real_beat_starts_a_scheduled_job_as_its_owner(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    users = idle_users(sandbox, sandbox_project, environment, 3)
    segment = segments.save_segment(environment, ops, name="idle", conditions=IDLE_30_DAYS)
    schedule = schedules.save_schedule(
        environment,
        ops,
        name="clean up once",
        kind="reset",
        segment=segment,
        run_at=timezone.now() + timedelta(seconds=3),
        time_zone="Europe/Berlin",
    )
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.one_off, task.enabled, task.clocked is not None) == (True, True, True)

    job = wait_for(
        lambda: BulkJob.objects.filter(schedule=schedule).first(),
        timeout_s=120,
        what="beat to start the scheduled job",
    )
    progress = wait_until_finished(job)

    assert (progress["done"], progress["failed"]) == (3, 0)
    assert (job.created_by, job.started_by, job.segment) == (ops, ops, segment)
    for user_id in users:
        assert sandbox.state(sandbox_project["project_id"], user_id) is None
    assert "(Europe/Berlin)" in schedules.next_runs(schedule)


@pytest.mark.production_path
def test_each_run_is_its_own_job_and_the_role_is_checked_again(
    sandbox, sandbox_project, environment, ops
):
    idle_users(sandbox, sandbox_project, environment, 2)
    segment = segments.save_segment(environment, ops, name="idle", conditions=IDLE_30_DAYS)
    schedule = schedules.save_schedule(
        environment,
        ops,
        name="nightly",
        kind="remove_variables",
        variable_names=["left"],
        segment=segment,
        cron="0 2 * * *",
        time_zone="Europe/Berlin",
    )
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.crontab.hour, task.crontab.minute, str(task.crontab.timezone)) == (
        "2",
        "0",
        "Europe/Berlin",
    )

    first = schedules.run_schedule(schedule.pk)
    second = schedules.run_schedule(schedule.pk)
    assert first != second
    assert BulkJob.objects.filter(schedule=schedule).count() == 2
    assert BulkJob.objects.get(pk=first).status == BulkJob.Status.QUEUED

    ops.groups.clear()  # moved to no role since scheduling
    assert schedules.run_schedule(schedule.pk) is None
    schedule.refresh_from_db()
    assert "may no longer run bulk jobs" in schedule.last_refusal
    assert BulkJob.objects.filter(schedule=schedule).count() == 2


def test_a_run_whose_webhook_no_longer_passes_the_guard_is_recorded_as_not_run(environment, ops):
    segment = segments.save_segment(environment, ops, name="idle", conditions=IDLE_30_DAYS)
    schedule = schedules.save_schedule(
        environment, ops, name="nightly", kind="reset", segment=segment, cron="0 2 * * *"
    )
    # As if the webhook's name had resolved to a public address when saved and a private one now.
    Schedule.objects.filter(pk=schedule.pk).update(notify_webhook_url="http://169.254.169.254/h")

    assert schedules.run_schedule(schedule.pk) is None
    schedule.refresh_from_db()
    assert "not run" in schedule.last_refusal and "private" in schedule.last_refusal
    assert not BulkJob.objects.filter(schedule=schedule).exists()


@pytest.mark.production_path
def test_a_schedule_is_paused_edited_and_listed(client_for_user, environment, ops):
    segment = segments.save_segment(environment, ops, name="idle", conditions=IDLE_30_DAYS)
    schedule = schedules.save_schedule(
        environment, ops, name="nightly", kind="reset", segment=segment, cron="0 2 * * *"
    )
    page = client_for_user(ops)

    page.post(f"/schedules/{schedule.pk}/pause")
    schedule.refresh_from_db()
    assert schedule.paused and not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert schedules.run_schedule(schedule.pk) is None

    page.post(f"/schedules/{schedule.pk}/resume")
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled

    answer = page.post(
        f"/schedules/{schedule.pk}/edit",
        {"schedule_name": "weekly", "kind": "reset", "cron": "30 9 * * 1", "timezone": "UTC"},
    )
    assert answer.status_code == 302
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "9", "1")
    listing = page.get("/schedules/").content.decode()
    assert "weekly" in listing and "30 9 * * 1 (UTC)" in listing

    api = client_for_user(ops)
    listed = api.get("/api/v1/schedules").json()
    assert [row["name"] for row in listed["results"]] == ["weekly"]

    page.post(f"/schedules/{schedule.pk}/delete")
    assert (
        not Schedule.objects.exists()
        and not PeriodicTask.objects.filter(name__startswith="schedule ").exists()
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "every night"}, "five fields"),
        ({"cron": "0 25 * * *"}, "not valid"),
        ({"cron": "0 2 * * *", "time_zone": "Mars/Olympus"}, "not a time zone"),
        ({}, "either a time to start at or a repeat rule"),
        ({"run_at": "past"}, "in the past"),
        ({"cron": "0 2 * * *", "notify_webhook_url": "http://127.0.0.2/hook"}, "private"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_saved(environment, ops, fields, message):
    segment = segments.save_segment(environment, ops, name="idle", conditions=IDLE_30_DAYS)
    if fields.get("run_at") == "past":
        fields["run_at"] = timezone.now() - timedelta(minutes=1)
    with pytest.raises(schedules.ScheduleError, match=message):
        schedules.save_schedule(
            environment, ops, name="bad", kind="reset", segment=segment, **fields
        )
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith="schedule ").exists()


def test_a_production_schedule_needs_a_confirmation(production_environment, ops):
    segment = segments.save_segment(
        production_environment, ops, name="idle", conditions=IDLE_30_DAYS
    )
    with pytest.raises(schedules.ScheduleError, match="production"):
        schedules.save_schedule(
            production_environment,
            ops,
            name="nightly",
            kind="reset",
            segment=segment,
            cron="0 2 * * *",
        )


def test_the_segment_page_schedules_a_job_and_refuses_bad_input(client_for_user, environment, ops):
    segment = segments.save_segment(environment, ops, name="idle", conditions=IDLE_30_DAYS)
    page = client_for_user(ops)

    refused = page.post(
        f"/segments/{segment.pk}/schedule",
        {"schedule_name": "nightly", "kind": "reset", "cron": "at two", "timezone": "UTC"},
    )
    assert refused.status_code == 400
    assert "five fields" in refused.content.decode()
    assert not Schedule.objects.exists()

    answer = page.post(
        f"/segments/{segment.pk}/schedule",
        {
            "schedule_name": "nightly",
            "kind": "reset",
            "cron": "0 2 * * *",
            "timezone": "Europe/Berlin",
            "notify_emails": "ops@example.com",
        },
    )
    assert answer.status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.created_by, schedule.segment, schedule.timezone) == (
        ops,
        segment,
        "Europe/Berlin",
    )
    assert schedule.notify_emails == "ops@example.com"
    assert "0 2 * * * (Europe/Berlin)" in page.get("/schedules/").content.decode()
