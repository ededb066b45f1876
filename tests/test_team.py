"""The Team page: admins list accounts, add one (its password shown once), change its role and
deactivate or reactivate it; each change needs a fresh password and leaves a ROLE_CHANGED row,
and the guard rails refuse with a message and change nothing."""

from datetime import datetime

import pytest
from api_support import token_client
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from persona_support import PASSWORD
from step_up_support import confirm_url

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.production_path

User = get_user_model()


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def signs_in(username: str, password: str) -> bool:
    """Through the sign-in form, as a person would (and through the lockout's backend)."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def role_rows() -> list[dict]:
    return [
        entry.request_sent
        for entry in AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED).order_by("pk")
    ]


def groups_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def change_role(client, account, role: str):
    return client.post(reverse("team_role", args=[account.pk]), {"role": role}, follow=True)


def deactivate(client, account):
    return client.post(reverse("team_deactivate", args=[account.pk]), follow=True)


# ---- the list ----


def test_it_lists_every_account_with_its_highest_role_status_and_last_sign_in(
    admin_client_, admin_user, viewer, ops, outsider
):
    ops.groups.add(Group.objects.get(name="Viewer"))
    ops.first_name, ops.last_name, ops.email = "Olga", "Petrova", "olga@example.com"
    ops.last_login = timezone.make_aware(datetime(2026, 3, 4, 5, 6))
    ops.save()
    viewer.is_active = False
    viewer.save()
    outsider.is_superuser = True
    outsider.save()

    response = admin_client_.get(reverse("team"))

    assert response.status_code == 200
    rows = {account.username: role for account, role in response.context["accounts_and_roles"]}
    assert rows == {
        "ada-admin": "Admin",
        "olga-ops": "Ops",
        "oscar-outsider": None,
        "vera-viewer": "Viewer",
    }
    html = response.content.decode()
    ops_row = html.split(f'id="account-{ops.pk}"')[1].split("</tr>")[0]
    assert "Olga Petrova" in ops_row and "olga@example.com" in ops_row
    assert "2026-03-04 05:06" in ops_row and "<td>active</td>" in ops_row
    viewer_row = html.split(f'id="account-{viewer.pk}"')[1].split("</tr>")[0]
    assert "<strong>inactive</strong>" in viewer_row and "never" in viewer_row
    superuser_row = html.split(f'id="account-{outsider.pk}"')[1].split("</tr>")[0]
    assert "superuser" in superuser_row and "no role" in superuser_row
    assert "Change in Django admin" in superuser_row and "Change role" not in superuser_row


def test_the_team_link_is_shown_to_admins_only(admin_client_, ops_client):
    assert 'href="/team/"' in admin_client_.get(reverse("home")).content.decode()
    assert 'href="/team/"' not in ops_client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("persona", ["outsider", "viewer", "support", "ops"])
def test_it_refuses_everyone_without_the_admin_role(client_for_user, persona, request, admin_user):
    client = client_for_user(request.getfixturevalue(persona))

    assert client.get(reverse("team")).status_code == 403
    assert client.get(reverse("team_new")).status_code == 403
    assert client.post(reverse("team_new"), {"username": "intruder"}).status_code == 403
    assert client.post(reverse("team_role", args=[admin_user.pk]), {"role": ""}).status_code == 403
    assert client.post(reverse("team_deactivate", args=[admin_user.pk])).status_code == 403
    assert not User.objects.filter(username="intruder").exists()
    assert groups_of(admin_user) == {"Admin"} and User.objects.get(pk=admin_user.pk).is_active
    assert role_rows() == []


# ---- adding an account ----


def test_an_admin_adds_an_account_that_signs_in_with_the_password_shown_once(
    admin_client_, admin_user
):
    response = admin_client_.post(
        reverse("team_new"),
        {"username": "nina-new", "email": "nina@example.com", "role": "Support"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("team")
    shown = admin_client_.get(reverse("team"))
    password = shown.context["created_account"]["password"]
    assert f'<pre id="new-password">{password}</pre>' in shown.content.decode()
    assert password not in admin_client_.get(reverse("team")).content.decode()
    account = User.objects.get(username="nina-new")
    assert (account.email, account.is_active, account.is_staff) == ("nina@example.com", True, False)
    assert groups_of(account) == {"Support"}
    assert signs_in("nina-new", password)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert (entry.actor, entry.source) == (admin_user, AuditEntry.Source.PAGE)
    assert entry.request_sent == {
        "user": "nina-new",
        "created": True,
        "groups_granted": ["Support"],
        "flags": {"is_active": True},
    }
    assert password not in str(entry.request_sent)


def test_an_account_may_start_without_a_role(admin_client_):
    admin_client_.post(reverse("team_new"), {"username": "no-role-yet", "role": ""})

    account = User.objects.get(username="no-role-yet")
    assert groups_of(account) == set()
    assert not account.has_perm("sessions_app.inspect_session")


@pytest.mark.parametrize(
    "username, error",
    [
        ("two words", "Enter a valid username."),
        ("x" * 151, "Ensure this value has at most 150 characters"),
        ("OLGA-OPS", "A user with that username already exists."),
        ("", "This field is required."),
    ],
)
def test_it_checks_the_username_as_django_does(admin_client_, ops, username, error):
    response = admin_client_.post(reverse("team_new"), {"username": username, "role": "Viewer"})

    assert response.status_code == 400
    assert any(error in text for text in response.context["form"].errors["username"])
    assert error in response.content.decode()
    assert set(User.objects.values_list("username", flat=True)) == {"olga-ops", "ada-admin"}
    assert role_rows() == []


def test_it_refuses_a_role_that_does_not_exist(admin_client_):
    response = admin_client_.post(reverse("team_new"), {"username": "nina", "role": "Boss"})

    assert response.status_code == 400
    assert "Boss is not one of the available choices" in str(response.context["form"].errors)
    assert not User.objects.filter(username="nina").exists()


# ---- changing a role ----


def test_changing_a_role_leaves_exactly_that_role_and_the_other_groups(
    admin_client_, admin_user, support
):
    night_shift = Group.objects.create(name="Night shift")
    support.groups.add(night_shift, Group.objects.get(name="Viewer"))

    response = change_role(admin_client_, support, "Ops")

    assert "sam-support now holds the Ops role." in said(response)
    assert groups_of(support) == {"Ops", "Night shift"}
    assert support.has_perm("sessions_app.reset_session")
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert (entry.actor, entry.source) == (admin_user, AuditEntry.Source.PAGE)
    assert entry.request_sent == {
        "user": "sam-support",
        "groups_granted": ["Ops"],
        "groups_revoked": ["Support", "Viewer"],
    }


def test_no_role_takes_every_role_away(client_for_user, admin_client_, ops):
    response = change_role(admin_client_, ops, "")

    assert "olga-ops now holds no role." in said(response)
    assert groups_of(ops) == set()
    assert role_rows() == [{"user": "olga-ops", "groups_revoked": ["Ops"]}]
    assert client_for_user(ops).get(reverse("job_new")).status_code == 403


def test_choosing_the_role_held_already_records_nothing(admin_client_, ops):
    change_role(admin_client_, ops, "Ops")

    assert groups_of(ops) == {"Ops"}
    assert role_rows() == []


def test_it_refuses_an_unknown_role(admin_client_, ops):
    response = change_role(admin_client_, ops, "Boss")

    assert "Nothing changed: choose one of the roles, or no role." in said(response)
    assert groups_of(ops) == {"Ops"}


# ---- deactivating and reactivating ----


def test_a_deactivated_account_cannot_sign_in_nor_use_its_session_or_tokens(
    client_for_user, admin_client_, admin_user, ops
):
    ops_session = client_for_user(ops)
    ops_api = token_client(ops)
    assert ops_api.get("/api/v1/projects").status_code == 200

    response = deactivate(admin_client_, ops)

    assert "olga-ops deactivated: they can no longer sign in or use their API tokens." in said(
        response
    )
    ops.refresh_from_db()
    assert ops.is_active is False
    assert groups_of(ops) == {"Ops"}  # kept, for when the account comes back
    assert not signs_in("olga-ops", PASSWORD)
    assert ops_session.get(reverse("home"))["Location"].startswith("/accounts/login/")
    assert ops_api.get("/api/v1/projects").status_code == 401
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert (entry.actor, entry.source) == (admin_user, AuditEntry.Source.PAGE)
    assert entry.request_sent == {"user": "olga-ops", "flags": {"is_active": False}}


def test_a_reactivated_account_signs_in_again(admin_client_, ops):
    deactivate(admin_client_, ops)

    response = admin_client_.post(reverse("team_reactivate", args=[ops.pk]), follow=True)

    assert "olga-ops reactivated: they can sign in again." in said(response)
    assert signs_in("olga-ops", PASSWORD)
    assert role_rows()[-1] == {"user": "olga-ops", "flags": {"is_active": True}}


# ---- guard rails: refused with a message, nothing changed, nothing recorded ----


def test_an_admin_cannot_change_their_own_role(admin_client_, admin_user, support):
    support.groups.set([Group.objects.get(name="Admin")])  # another admin exists

    response = change_role(admin_client_, admin_user, "Viewer")

    assert "Nothing changed. You cannot change your own role; another admin can." in said(response)
    assert groups_of(admin_user) == {"Admin"}
    assert role_rows() == []


def test_an_admin_cannot_deactivate_themselves(admin_client_, admin_user, support):
    support.groups.set([Group.objects.get(name="Admin")])

    response = deactivate(admin_client_, admin_user)

    assert "Nothing changed. You cannot deactivate your own account; another admin can." in said(
        response
    )
    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert role_rows() == []


def test_superusers_are_left_to_django_admin(admin_client_, outsider):
    outsider.is_superuser = True
    outsider.save()
    refusal = (
        "Nothing changed. oscar-outsider is a superuser: superusers are changed in Django admin "
        "only."
    )

    assert refusal in said(change_role(admin_client_, outsider, "Viewer"))
    assert refusal in said(deactivate(admin_client_, outsider))

    outsider.refresh_from_db()
    assert (outsider.is_active, groups_of(outsider)) == (True, set())
    assert role_rows() == []


@pytest.fixture
def team_manager(client_for_user, ops):
    """Someone who manages the team without holding the Admin role: a permission granted to the
    account directly (Django admin allows it), so the only Admin is somebody else."""
    ops.user_permissions.add(Permission.objects.get(codename="manage_team"))
    return client_for_user(ops)


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(team_manager, admin_user):
    refusal = (
        "Nothing changed. ada-admin is the last active account with the Admin role and cannot be "
        "{verb}; give another account the Admin role first."
    )

    assert refusal.format(verb="demoted") in said(change_role(team_manager, admin_user, "Ops"))
    assert refusal.format(verb="deactivated") in said(deactivate(team_manager, admin_user))

    admin_user.refresh_from_db()
    assert (admin_user.is_active, groups_of(admin_user)) == (True, {"Admin"})
    assert role_rows() == []


def test_an_inactive_admin_does_not_count_as_another_admin(team_manager, admin_user, support):
    support.groups.set([Group.objects.get(name="Admin")])
    support.is_active = False
    support.save()

    response = change_role(team_manager, admin_user, "Ops")

    assert any("last active account with the Admin role" in text for text in said(response))
    assert groups_of(admin_user) == {"Admin"}


@pytest.mark.parametrize("other_admin", ["Admin role", "superuser"])
def test_an_admin_may_be_demoted_while_another_remains(
    team_manager, admin_user, support, other_admin
):
    if other_admin == "superuser":
        support.is_superuser = True
        support.save()
    else:
        support.groups.set([Group.objects.get(name="Admin")])

    response = change_role(team_manager, admin_user, "Ops")

    assert "ada-admin now holds the Ops role." in said(response)
    assert groups_of(admin_user) == {"Ops"}


# ---- step-up ----


def test_a_stale_session_confirms_before_the_new_account_form(stale_admin):
    response = stale_admin.get(reverse("team_new"))

    assert response["Location"] == confirm_url(reverse("team_new"))


def test_a_stale_session_changes_nothing_and_is_sent_to_confirm(stale_admin, ops):
    posts = [
        (reverse("team_new"), {"username": "nina", "role": "Admin"}, reverse("team_new")),
        (reverse("team_role", args=[ops.pk]), {"role": "Admin"}, reverse("team")),
        (reverse("team_deactivate", args=[ops.pk]), {}, reverse("team")),
    ]
    for url, form, back_to in posts:
        response = stale_admin.post(url, form)

        assert response.status_code == 302
        assert response["Location"] == confirm_url(back_to)

    ops.refresh_from_db()
    assert (ops.is_active, groups_of(ops)) == (True, {"Ops"})
    assert not User.objects.filter(username="nina").exists()
    assert role_rows() == []
    warning = said(stale_admin.get(confirm_url(reverse("team"))))
    assert any("Nothing was done yet" in text for text in warning)


def test_after_confirming_the_change_goes_through(stale_admin, ops):
    stale_admin.post(reverse("step_up"), {"password": PASSWORD, "next": reverse("team")})

    response = change_role(stale_admin, ops, "Support")

    assert "olga-ops now holds the Support role." in said(response)
    assert groups_of(ops) == {"Support"}
