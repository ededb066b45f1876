"""The application's own forms: projects and environments (shared by the dashboard's pages and
Django's admin), the Team page's accounts and roles, and the audit list's filter. A feature package
(console, discovery, flows, inspector, bulk, segments) keeps its forms in its own `forms.py`.

Secrets are write-only: the key and token fields are never filled in from the stored value (not
even after a validation error), an empty field keeps the stored secret, and the form shows only
the hint (`VF.DM.…9f2c`).
"""

import re
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet, inlineformset_factory
from django.utils import timezone

from .flows.links import validate_crm_link_template
from .models import PROJECT_SETTINGS, USER_ID_MAX_LENGTH, AuditEntry, Environment, Project
from .roles import ROLE_NAMES
from .voiceflow.address_guard import PrivateAddressRefused, check_base_url
from .workspace import EnvironmentChoiceField, environments_without_secrets

# `^VF\.DM\.\w{24}\.\w{16,}` is the check of one version of Voiceflow's base-types; another only
# checks the prefix (voiceflow-api.md §5). A key with the prefix but another shape is saved with
# a warning: private clouds may issue such keys, and "Test connection" gives the real answer.
API_KEY_PREFIX = "VF.DM."
API_KEY_PATTERN = re.compile(r"VF\.DM\.\w{24}\.\w{16,}")
VERSION_ALIASES = ("development", "staging", "production")
# ASCII only: these travel in HTTP headers and URL paths to Voiceflow.
IDENTIFIER_PATTERN = re.compile(r"[\w-]+", re.ASCII)
HEADER_VALUE_PATTERN = re.compile(r"[!-~]+")
BUDGET_MAX = 100_000

# Its own code: a URL form field would replace the message of an "invalid" error with its own.
http_url = URLValidator(
    schemes=["http", "https"], message="Enter an http:// or https:// URL.", code="not_http"
)


UNUSUAL_KEY_WARNING = (
    "The API key starts with VF.DM. but does not have the usual shape "
    "(VF.DM. + 24 characters + '.' + at least 16 characters). It was saved; "
    "use Test connection to check that Voiceflow accepts it."
)


# ---- the checks of each field, shared by these forms, Django's admin and the API ----


def validate_project_id(value: str) -> str:
    project_id = value.strip()
    if not IDENTIFIER_PATTERN.fullmatch(project_id):
        raise forms.ValidationError(
            "A Voiceflow project ID has only letters, digits, '-' and '_' "
            "(copy it from the project's Settings → General)."
        )
    return project_id


def validate_api_key(value: str) -> str:
    """A non-empty Dialog Manager key; one of an unusual shape passes (see API_KEY_PATTERN)."""
    api_key = value.strip()
    if re.search(r"\s", api_key):
        raise forms.ValidationError("An API key has no spaces or line breaks.")
    if not HEADER_VALUE_PATTERN.fullmatch(api_key):
        raise forms.ValidationError(
            "An API key has only printable ASCII characters (it is sent in an HTTP header)."
        )
    if api_key.startswith("VF.WS."):
        raise forms.ValidationError(
            "This is a workspace key (VF.WS.…); the runtime needs the project's Dialog "
            "Manager API key (VF.DM.…)."
        )
    if not api_key.startswith(API_KEY_PREFIX):
        raise forms.ValidationError(
            "A Dialog Manager API key starts with VF.DM. (the project's Settings → API keys)."
        )
    return api_key


def validate_access_token(value: str) -> str:
    """A personal access token, or empty for none."""
    access_token = value.strip()
    if re.search(r"\s", access_token):
        raise forms.ValidationError("An access token has no spaces or line breaks.")
    if access_token and not HEADER_VALUE_PATTERN.fullmatch(access_token):
        raise forms.ValidationError(
            "An access token has only printable ASCII characters (it is sent in an HTTP header)."
        )
    return access_token


def validate_version_id(value: str) -> str:
    version_id = value.strip()
    if version_id.lower() in VERSION_ALIASES:
        return version_id.lower()
    if not IDENTIFIER_PATTERN.fullmatch(version_id):
        raise forms.ValidationError(
            "Use development, staging, production or a literal version ID "
            "(letters, digits, '-' and '_')."
        )
    return version_id


def validate_alias(value: str) -> str:
    alias = value.strip()
    if not IDENTIFIER_PATTERN.fullmatch(alias):
        raise forms.ValidationError(
            "An environment alias has only letters, digits, '-' and '_' (e.g. main)."
        )
    return alias


def https_by_default(db_field, **kwargs) -> forms.Field | None:
    """Model form fields, with a URL typed without a scheme taken as https://."""
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class SecretInput(forms.PasswordInput):
    """A password box that never renders a value (Django's default, stated here on purpose)."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


class ProjectForm(forms.ModelForm):
    api_key = forms.CharField(
        label="Dialog Manager API key",
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text="VF.DM.… from the project's Settings → API keys. Leave empty to keep the current key.",
    )
    access_token = forms.CharField(
        label="Personal access token",
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text="Optional, for the newer Realtime and transcript APIs. Leave empty to keep the current token.",
    )
    remove_access_token = forms.BooleanField(
        label="Remove the stored personal access token", required=False
    )
    budget_per_minute = forms.IntegerField(
        label="Request budget per minute",
        validators=[MinValueValidator(1), MaxValueValidator(BUDGET_MAX)],
        help_text=Project._meta.get_field("budget_per_minute").help_text,
    )

    class Meta:
        model = Project
        formfield_callback = https_by_default
        fields = list(PROJECT_SETTINGS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("runtime_url", "realtime_url", "analytics_url", "project_api_url"):
            self.fields[name].validators.append(http_url)
        self.fields["project_api_url"].required = False
        # Shown beside the empty secret fields so an operator can tell which key is stored.
        self.api_key_hint = self.instance.api_key_hint
        self.access_token_hint = self.instance.access_token_hint
        if not self.access_token_hint:
            del self.fields["remove_access_token"]
        self.warnings: list[str] = []

    def clean_voiceflow_project_id(self) -> str:
        return validate_project_id(self.cleaned_data["voiceflow_project_id"])

    def clean_api_key(self) -> str:
        api_key = self.cleaned_data["api_key"]
        if not api_key:
            if self.instance.pk is None:
                raise forms.ValidationError("A new project needs its Dialog Manager API key.")
            return ""
        api_key = validate_api_key(api_key)
        if not API_KEY_PATTERN.fullmatch(api_key):
            self.warnings.append(UNUSUAL_KEY_WARNING)
        return api_key

    def clean_access_token(self) -> str:
        return validate_access_token(self.cleaned_data["access_token"])

    def _clean_base_url(self, name: str) -> str:
        url = self.cleaned_data[name]
        try:
            check_base_url(url, what=str(self.fields[name].label))
        except PrivateAddressRefused as refusal:
            raise forms.ValidationError(refusal.message) from refusal
        return url

    def clean_runtime_url(self) -> str:
        return self._clean_base_url("runtime_url")

    def clean_realtime_url(self) -> str:
        return self._clean_base_url("realtime_url")

    def clean_analytics_url(self) -> str:
        return self._clean_base_url("analytics_url")

    def clean_project_api_url(self) -> str:
        # Left empty (or not sent by an older client): Voiceflow's own host.
        if not self.cleaned_data.get("project_api_url"):
            self.cleaned_data["project_api_url"] = Project._meta.get_field(
                "project_api_url"
            ).default
        return self._clean_base_url("project_api_url")

    def clean_crm_link_template(self) -> str:
        template = self.cleaned_data["crm_link_template"].strip()
        try:
            validate_crm_link_template(template)
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from error
        return template

    def save(self, commit: bool = True) -> Project:
        project = super().save(commit=False)
        if self.cleaned_data.get("api_key"):
            project.api_key = self.cleaned_data["api_key"]
        if self.cleaned_data.get("access_token"):
            project.access_token = self.cleaned_data["access_token"]
        elif self.cleaned_data.get("remove_access_token"):
            project.access_token = ""
        if commit:
            project.save()
        return project


class EnvironmentForm(forms.ModelForm):
    class Meta:
        model = Environment
        fields = ["label", "version_id", "alias", "realtime_version", "badge", "is_production"]

    def clean_version_id(self) -> str:
        return validate_version_id(self.cleaned_data["version_id"])

    def clean_alias(self) -> str:
        return validate_alias(self.cleaned_data["alias"])


class BaseEnvironmentFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if (form.instance.pk or form.has_changed()) and not self._should_delete_form(form)
        ]
        if not kept:
            raise forms.ValidationError(
                "A project needs at least one environment (e.g. Development with versionID "
                "development)."
            )


EnvironmentFormSet = inlineformset_factory(
    Project,
    Environment,
    form=EnvironmentForm,
    formset=BaseEnvironmentFormSet,
    extra=1,
    can_delete=True,
)


# ---- the Team page: a new account, and the role an account holds ----

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


# ---- the audit list's filter ----


class AuditFilterForm(forms.Form):
    operator = forms.ChoiceField(required=False)
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEntry.Action.choices]
    )
    environment = EnvironmentChoiceField(
        required=False,
        queryset=environments_without_secrets(),
        empty_label="Any environment",
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *AuditEntry.Outcome.choices]
    )
    user = forms.CharField(
        required=False,
        strip=False,
        max_length=USER_ID_MAX_LENGTH,
        label="userID contains",
        widget=forms.TextInput(attrs={"placeholder": "part of a userID, any case"}),
    )
    # Set by the inspector's "All of it in the audit log": that one userID, not every one
    # containing it.
    exact_user = forms.BooleanField(required=False, widget=forms.HiddenInput)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The accounts, not DISTINCT actor_name over the whole audit table (0.6 s at a million
        # entries); accounts are deactivated, not deleted, so every name on record is here.
        operators = (
            get_user_model()
            .objects.order_by(get_user_model().USERNAME_FIELD)
            .values_list(get_user_model().USERNAME_FIELD, flat=True)
        )
        names = list(operators)
        asked = self.data.get("operator") if self.is_bound else None
        if asked and asked not in names:
            names.append(asked)  # a deleted account's entries stay findable by its name
        self.fields["operator"].choices = [("", "Anyone"), *((name, name) for name in names)]

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def filter(self, entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        data = self.cleaned_data
        if data.get("operator"):
            entries = entries.filter(actor_name=data["operator"])
        for name in ("action", "outcome", "environment"):
            if data.get(name):
                entries = entries.filter(**{name: data[name]})
        if data.get("user") and data.get("exact_user"):
            entries = entries.filter(user_id=data["user"])
        elif data.get("user"):
            # Ignores case on SQLite for ASCII letters only, as the home page's prefix search.
            entries = entries.filter(user_id__icontains=data["user"])
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            entries = entries.filter(
                created_at__gte=datetime.combine(data["date_from"], time.min, tzinfo=zone)
            )
        if data.get("date_to"):
            entries = entries.filter(
                created_at__lt=datetime.combine(
                    data["date_to"] + timedelta(days=1), time.min, tzinfo=zone
                )
            )
        return entries
