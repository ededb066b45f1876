"""Every successful edit's message carries an Undo link: the restore of its audit entry, which
previews first. Ops may undo anything; whoever edits variables may undo their own variable edit
while it is the conversation's latest change, and nothing else."""

import pytest
from django.urls import reverse
from inspector_support import based_on, ordering_state

from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def undo_href(entry: AuditEntry) -> str:
    return f'<a class="undo-link" href="{reverse("audit_restore", args=[entry.pk])}">Undo</a>'


def set_variable(client, environment, state, name="pizza_size", value="small"):
    return client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {"user": USER, "based_on": based_on(state), "name": name, "kind": "string", "value": value},
        follow=True,
    )


EDITS = {
    "set a variable": lambda client, environment, state: set_variable(client, environment, state),
    "remove a variable": lambda client, environment, state: client.post(
        reverse("session_remove_variable", args=[environment.pk]),
        {"user": USER, "based_on": based_on(state), "name": "coupon"},
        follow=True,
    ),
    "replace the state": lambda client, environment, state: client.post(
        reverse("session_edit_state", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(state),
            "state_json": '{"stack": [], "storage": {}, "variables": {"a": 1}}',
            "step": "send",
        },
        follow=True,
    ),
    "reset": lambda client, environment, state: client.post(
        reverse("session_reset", args=[environment.pk]),
        {"user": USER, "based_on": based_on(state), "confirm_user_id": USER},
        follow=True,
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_the_message_of_a_successful_edit_links_to_its_undo(
    ops_client, environment, ordering, edit
):
    response = EDITS[edit](ops_client, environment, ordering)

    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert undo_href(entry) in response.content.decode()


def test_a_restore_message_links_to_the_undo_of_the_restore(ops_client, environment, ordering):
    change = set_variable(ops_client, environment, ordering) and AuditEntry.objects.get()

    response = ops_client.post(
        reverse("audit_restore", args=[change.pk]),
        {"based_on": based_on(change.state_after)},
        follow=True,
    )

    restoration = AuditEntry.objects.get(action=AuditEntry.Action.RESTORE)
    assert undo_href(restoration) in response.content.decode()


def test_support_undoes_its_own_latest_variable_edit(
    support_client, sandbox, environment, ordering
):
    set_variable(support_client, environment, ordering)
    change = AuditEntry.objects.get()

    preview = support_client.get(reverse("audit_restore", args=[change.pk]))
    done = support_client.post(
        reverse("audit_restore", args=[change.pk]), {"based_on": based_on(change.state_after)}
    )

    assert preview.status_code == 200 and done.status_code == 302
    stored = sandbox.state(environment.project.voiceflow_project_id, USER)
    assert stored["variables"]["pizza_size"] == "large"


def test_support_may_not_undo_an_edit_that_later_changes_followed(
    support_client, ops_client, sandbox, environment, ordering
):
    set_variable(support_client, environment, ordering)
    mine = AuditEntry.objects.get()
    set_variable(ops_client, environment, mine.state_after, name="coupon", value="X")

    response = support_client.post(
        reverse("audit_restore", args=[mine.pk]), {"based_on": based_on(mine.state_after)}
    )

    assert response.status_code == 403
    assert sandbox.state(environment.project.voiceflow_project_id, USER)["variables"]["coupon"]


def test_support_may_not_undo_someone_elses_edit(support_client, ops_client, environment, ordering):
    set_variable(ops_client, environment, ordering)
    theirs = AuditEntry.objects.get()

    assert support_client.get(reverse("audit_restore", args=[theirs.pk])).status_code == 403


def test_a_viewer_may_not_undo_anything(viewer_client, ops_client, environment, ordering):
    set_variable(ops_client, environment, ordering)

    response = viewer_client.get(reverse("audit_restore", args=[AuditEntry.objects.get().pk]))

    assert response.status_code == 403
