"""The Team page's forms: a new account, and the role an account holds."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from .roles import ROLE_NAMES

ROLE_CHOICES = [("", "No role"), *((role, role) for role in ROLE_NAMES)]


def role_field(**options) -> forms.TypedChoiceField:
    """One of the four roles, or None for "No role"."""
    return forms.TypedChoiceField(choices=ROLE_CHOICES, required=False, empty_value=None, **options)


class RoleForm(forms.Form):
    role = role_field()


class NewAccountForm(UserCreationForm):
    """Django's own account form, so a username is checked by Django's rules (characters,
    length, taken already in any letter case), without its password fields: the password is
    generated (account_actions.do_create_account)."""

    password1 = None
    password2 = None
    role = role_field(initial=ROLE_NAMES[0])

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
