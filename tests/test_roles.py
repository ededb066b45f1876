"""The four roles: each holds exactly its permissions and those of the roles below it."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from sessions_app.roles import ROLE_NAMES, permissions_of

pytestmark = pytest.mark.production_path

VIEWER = {"inspect_session", "view_audit"}
SUPPORT = VIEWER | {"edit_variables", "interact_session"}
OPS = SUPPORT | {"replace_state", "reset_session", "run_bulk_jobs", "see_personal_data"}
ADMIN = OPS | {"manage_projects", "manage_team"}
EXPECTED = {"Viewer": VIEWER, "Support": SUPPORT, "Ops": OPS, "Admin": ADMIN}


def granted(group_name: str) -> set[str]:
    return set(Group.objects.get(name=group_name).permissions.values_list("codename", flat=True))


@pytest.mark.django_db
def test_setup_roles_creates_the_four_groups_each_including_the_ones_below(capsys):
    call_command("setup_roles")

    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLE_NAMES)
    for role, codenames in EXPECTED.items():
        assert granted(role) == codenames, role
    assert "Admin: inspect_session" in capsys.readouterr().out


@pytest.mark.django_db
def test_setup_roles_puts_a_changed_group_back_to_exactly_its_permissions():
    call_command("setup_roles")
    viewer = Group.objects.get(name="Viewer")
    viewer.permissions.add(Permission.objects.get(codename="manage_projects"))
    Group.objects.get(name="Ops").permissions.remove(
        Permission.objects.get(codename="reset_session")
    )

    call_command("setup_roles")

    assert granted("Viewer") == VIEWER
    assert granted("Ops") == OPS
    assert Group.objects.filter(name="Viewer").count() == 1


def test_it_refuses_an_unknown_role():
    with pytest.raises(ValueError, match="Unknown role 'Boss'"):
        permissions_of("Boss")


@pytest.mark.parametrize(
    ("persona", "role"),
    [("viewer", "Viewer"), ("support", "Support"), ("ops", "Ops"), ("admin_user", "Admin")],
)
def test_each_persona_may_do_exactly_what_its_role_grants(request, persona, role):
    user = request.getfixturevalue(persona)
    every_codename = ADMIN

    allowed = {codename for codename in every_codename if user.has_perm(f"sessions_app.{codename}")}

    assert allowed == EXPECTED[role]


def test_a_signed_in_user_without_a_role_may_do_nothing(outsider):
    assert not any(outsider.has_perm(f"sessions_app.{codename}") for codename in ADMIN)


def test_a_user_s_own_and_role_permissions_are_read_in_one_query(viewer, django_assert_num_queries):
    viewer.user_permissions.add(Permission.objects.get(codename="run_bulk_jobs"))
    user = type(viewer).objects.get(pk=viewer.pk)  # as a request loads it: nothing read yet

    with django_assert_num_queries(1):
        allowed = {codename for codename in ADMIN if user.has_perm(f"sessions_app.{codename}")}

    assert allowed == VIEWER | {"run_bulk_jobs"}
    assert user.has_module_perms("sessions_app")


def test_a_change_of_role_applies_from_the_next_request(viewer_client, viewer):
    assert viewer_client.get(reverse("home")).context.get("no_role") is None
    viewer.groups.clear()

    assert viewer_client.get(reverse("home")).context["no_role"] is True


def test_a_superuser_holds_every_permission_and_an_inactive_user_none(admin_user, viewer):
    admin_user.is_superuser = True
    viewer.is_active = False

    assert {f"sessions_app.{codename}" for codename in ADMIN} <= admin_user.get_all_permissions()
    assert viewer.get_all_permissions() == set()
