"""A campaign's end: a preload with an end date takes its values off again by itself, only where
they are still the values it set; a value the conversation changed since is left and reported."""

from datetime import timedelta

import pytest
from bulk_support import preload_for_users, wait_until_finished
from django.utils import timezone

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem, BulkJob
from sessions_app.segments.tasks import end_campaigns

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def test_the_end_of_a_campaign_takes_off_only_the_values_still_set(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    project_id = sandbox_project["project_id"]

    def variables(user_id: str) -> dict:
        return sandbox.state(project_id, user_id)["variables"]

    base = {"stack": [], "storage": {}}
    sandbox.set_state(project_id, "kept", {**base, "variables": {"promo": "spring", "x": 1}})
    sandbox.set_state(project_id, "half", {**base, "variables": {"x": 2}})
    sandbox.set_state(project_id, "moved", {**base, "variables": {"x": 3}})
    campaign = {"promo": "SUMMER", "banner": True}
    preload = preload_for_users(environment, ops, ["kept", "half", "moved"], campaign)
    BulkJob.objects.filter(pk=preload.pk).update(
        campaign_ends_at=timezone.now() + timedelta(days=7)
    )
    bulk.start_job(preload, ops)
    assert wait_until_finished(preload)["done"] == 3
    assert end_campaigns() == []  # not due yet

    # The conversations went on: "half" changed the promo, "moved" changed both.
    sandbox.set_state(
        project_id, "half", {**base, "variables": {"x": 2, "promo": "WON", "banner": True}}
    )
    sandbox.set_state(
        project_id, "moved", {**base, "variables": {"x": 3, "promo": "NO", "banner": False}}
    )
    BulkJob.objects.filter(pk=preload.pk).update(campaign_ends_at=timezone.now())

    started = end_campaigns()
    assert end_campaigns() == []  # a campaign ends once
    end = BulkJob.objects.get(pk=started[0])
    assert (end.kind, end.undo_of_id, end.total_items) == ("campaign_end", preload.pk, 3)
    progress = wait_until_finished(end)

    assert (progress["done"], progress["skipped"], progress["failed"]) == (2, 1, 0)
    assert variables("kept") == {"promo": "spring", "x": 1}  # its value from before came back
    assert variables("half") == {"x": 2, "promo": "WON"}
    assert variables("moved") == {"x": 3, "promo": "NO", "banner": False}
    items = {item.user_id: item for item in end.items.all()}
    assert items["half"].status == BulkItem.Status.SUCCEEDED
    assert items["half"].reason == "Left as the conversation changed them since: promo."
    assert items["moved"].status == BulkItem.Status.SKIPPED
    assert "Every value was changed by the conversation" in items["moved"].reason
    entries = AuditEntry.objects.filter(job=end)
    assert set(entries.values_list("user_id", "outcome")) == {
        ("kept", "succeeded"),
        ("half", "succeeded"),
    }
    # The end is a job like any other: it can be undone.
    undo = bulk.create_undo_job(end, ops)
    assert undo.total_items == 2
