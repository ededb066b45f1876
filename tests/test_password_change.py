"""Each person changes their own password from the dashboard (the Password link beside their
name): the current password is asked, Django's password rules apply, other browsers signed in as
them are signed out and this one stays signed in."""

from django.urls import reverse
from inspector_support import text_of
from persona_support import PASSWORD

NEW_PASSWORD = "a much longer new passphrase 7"


def change(client, old: str, new: str, repeated: str | None = None):
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new, "new_password2": repeated or new},
        follow=True,
    )


def test_the_page_is_linked_beside_the_persons_name(viewer_client):
    assert reverse("password_change") in viewer_client.get(reverse("home")).content.decode()


def test_a_changed_password_signs_in_and_the_old_one_no_longer_does(viewer_client, viewer, client):
    response = change(viewer_client, PASSWORD, NEW_PASSWORD)

    assert response.redirect_chain == [(reverse("home"), 302)]
    assert "Your password was changed" in text_of(response)
    viewer.refresh_from_db()
    assert viewer.check_password(NEW_PASSWORD) and not viewer.check_password(PASSWORD)
    assert viewer_client.get(reverse("home")).status_code == 200, "this browser stays signed in"


def test_other_browsers_signed_in_as_the_person_are_signed_out(
    client_for_user, viewer_client, viewer
):
    other_browser = client_for_user(viewer)

    change(viewer_client, PASSWORD, NEW_PASSWORD)

    answer = other_browser.get(reverse("home"))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("login"))


def test_a_wrong_current_password_is_refused_and_changes_nothing(viewer_client, viewer):
    response = change(viewer_client, "not my password", NEW_PASSWORD)

    assert "Your old password was entered incorrectly" in text_of(response)
    viewer.refresh_from_db()
    assert viewer.check_password(PASSWORD)


def test_a_weak_or_mistyped_new_password_is_refused_with_the_rule_it_breaks(viewer_client, viewer):
    too_short = change(viewer_client, PASSWORD, "short1")
    mistyped = change(viewer_client, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")

    assert "This password is too short" in text_of(too_short)
    assert "The two password fields didn" in text_of(mistyped)
    viewer.refresh_from_db()
    assert viewer.check_password(PASSWORD)
