"""UserIDs longer than the 128 characters hosted Voiceflow documents: the runtime stores them
(it answers 431 only past its 16 KiB request head), so pages, the API, commands and bulk files
accept them with a warning, and refuse only what cannot be sent or recorded, by one rule.

The sandbox's legacy routes still refuse more than 128 characters (the hosted behaviour) until
they follow the recorded runtime; these tests read and write over the realtime state API, whose
routes have no such check, so what is tested is the product's own rule.
"""

import io
import json
import secrets
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.urls import reverse
from inspector_support import inspect_url, text_of

from sessions_app import bulk
from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.models import USER_ID_MAX_LENGTH, AuditEntry, BulkJob, KnownSession
from sessions_app.voiceflow import InvalidUserID, user_id_warning, validate_user_id
from sessions_app.voiceflow.userids import REQUEST_HEAD_LIMIT_BYTES, USER_ID_PATH_MAX_BYTES

pytestmark = pytest.mark.production_path

LONG = "support-ticket-" + "a1b2c3d4" * 36  # 303 characters, like a token used as a userID


def random_user_id(length: int) -> str:
    return secrets.token_urlsafe(length)[:length]


@pytest.mark.parametrize("length", [129, 1_000, USER_ID_MAX_LENGTH])
def test_any_userid_that_can_be_sent_and_recorded_is_accepted(length):
    assert validate_user_id("x" * length)


def test_the_limit_counts_bytes_and_every_one_fits_in_the_request_head():
    # "é" is two UTF-8 bytes, each sent as %XX: six bytes in the URL.
    fits = "é" * (USER_ID_MAX_LENGTH // 2)
    assert validate_user_id(fits)
    assert len(quote(fits, safe="")) <= USER_ID_PATH_MAX_BYTES < REQUEST_HEAD_LIMIT_BYTES
    with pytest.raises(InvalidUserID, match=r"it takes 2,602 bytes"):
        validate_user_id(fits + "é")


def test_only_longer_than_128_is_warned_about():
    assert user_id_warning("x" * 128) == ""
    assert user_id_warning("x" * 129).startswith(
        "This userID has 129 characters, more than the 128 Voiceflow's hosted API documents."
    )


def test_the_inspector_opens_a_long_userid_with_a_warning(
    viewer_client, sandbox, realtime_environment
):
    project_id = realtime_environment.project.voiceflow_project_id
    sandbox.set_state(project_id, LONG, {"stack": [], "storage": {}, "variables": {"plan": "pro"}})

    response = viewer_client.get(inspect_url(realtime_environment, LONG))

    assert response.status_code == 200
    assert response.context["state"]["variables"] == {"plan": "pro"}
    assert "This userID has 303 characters, more than the 128" in text_of(response)


def test_the_home_page_opens_a_long_userid(viewer_client, realtime_environment):
    response = viewer_client.get(
        reverse("home"), {"environment": realtime_environment.pk, "user": LONG}
    )

    assert response.status_code == 302


def test_the_api_reads_and_writes_a_long_userid_with_a_warning(
    sandbox, realtime_environment, support
):
    from api_support import token_client

    base = f"/api/v1/environments/{realtime_environment.pk}/sessions/state"
    api = token_client(support)

    written = api.patch(f"{base}/variables?user={LONG}", {"plan": "gold"}, format="json")
    read = api.get(f"{base}?user={LONG}")

    assert written.status_code == 200, written.json()
    assert read.json()["state"]["variables"]["plan"] == "gold"
    assert read.json()["warnings"][0].startswith("This userID has 303 characters")
    project_id = realtime_environment.project.voiceflow_project_id
    assert sandbox.state(project_id, LONG)["variables"]["plan"] == "gold"


def test_the_api_still_refuses_what_cannot_be_sent(realtime_environment, support):
    from api_support import error_of, token_client

    response = token_client(support).get(
        f"/api/v1/environments/{realtime_environment.pk}/sessions/state?user={'x' * 14_337}"
    )

    assert response.status_code == 400
    assert "This userID is too long" in error_of(response)["message"]


def test_a_command_warns_on_stderr_and_goes_on(realtime_environment):
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "session_state",
        "--environment",
        str(realtime_environment.pk),
        LONG,
        "--json",
        stdout=out,
        stderr=err,
    )

    assert json.loads(out.getvalue())["user_id"] == LONG
    assert "Warning: This userID has 303 characters" in err.getvalue()


def test_a_bulk_list_runs_long_userids_and_says_so(ops_client, realtime_environment):
    response = ops_client.post(
        reverse("job_new"),
        {
            "mode": "list",
            "environment": realtime_environment.pk,
            "variables": '{"campaign": "spring"}',
            "user_ids": f"userID\nalpha\n{LONG}\n",
        },
    )
    # The page answers at once with the list stored; the worker's check (run here in-process)
    # makes the job a draft with its report.
    assert response.status_code == 302, response.content[:500]
    job = BulkJob.objects.get(pk=response.url.rstrip("/").split("/")[-1])
    assert job.status == BulkJob.Status.VALIDATING
    bulk.validate_upload(job.pk)
    job.refresh_from_db()

    assert sorted(job.items.values_list("user_id", flat=True)) == sorted(["alpha", LONG])
    assert job.validation_report["long_user_ids"] == 1
    page = text_of(ops_client.get(reverse("job_detail", args=[job.pk])))
    assert "1 userID is longer than the 128 characters" in page


def test_a_long_userid_is_audited_and_indexed_whole(ops, realtime_environment):
    user_id = random_user_id(USER_ID_MAX_LENGTH)  # random: PostgreSQL cannot compress it

    entry = do_set_variables(
        realtime_environment, user_id, {"a": 1}, context=WriteContext(actor=ops, source="api")
    )

    assert AuditEntry.objects.get(pk=entry.pk).user_id == user_id
    assert KnownSession.objects.get(user_id=user_id).has_state
