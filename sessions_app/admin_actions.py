"""Administrative changes to projects and their credentials, audited in one place.

The dashboard's project pages and Django's admin both save through these functions, so every
change leaves `AuditEntry` rows that say what changed: field and environment names only, never a
secret's value. A credential change gets its own row, so the trail lists every key change.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.forms.models import BaseInlineFormSet

from .audit import record
from .encryption import UndecryptableSecret
from .models import PROJECT_SETTINGS, SECRET_FIELDS, AuditEntry, Environment, Project
from .voiceflow import (
    RateLimited,
    Unauthorized,
    UnknownEnvironment,
    UpstreamTimeout,
    VoiceflowError,
    client_for,
)

PROJECT_FIELDS = (*PROJECT_SETTINGS, *SECRET_FIELDS)
ENVIRONMENT_FIELDS = ("label", "version_id", "alias", "realtime_version", "badge", "is_production")


def _stored_secret(project_id: int, field: str) -> str | None:
    """The secret as stored now, or None when no configured key decrypts it."""
    try:
        return getattr(Project.objects.only(field).get(pk=project_id), field)
    except UndecryptableSecret:
        return None


def _changed_project_fields(project: Project) -> list[str]:
    if project.pk is None:
        return [name for name in PROJECT_FIELDS if getattr(project, name)]
    before = Project.objects.defer(*SECRET_FIELDS).get(pk=project.pk)
    changed = [
        name
        for name in PROJECT_FIELDS
        if name not in SECRET_FIELDS and getattr(before, name) != getattr(project, name)
    ]
    # A secret counts as changed only when a new value was given (the form leaves the loaded
    # value out when its field is empty) and it differs from the stored one.
    for name in SECRET_FIELDS:
        if name in project.__dict__ and project.__dict__[name] != _stored_secret(project.pk, name):
            changed.append(name)
    return changed


@dataclass
class EnvironmentChanges:
    added: list[str]
    changed: dict[str, list[str]]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def as_record(self) -> dict:
        record: dict = {}
        if self.added:
            record["added"] = self.added
        if self.changed:
            record["changed"] = self.changed
        if self.removed:
            record["removed"] = self.removed
        return record


def _save_environments(formset: BaseInlineFormSet, project: Project) -> EnvironmentChanges:
    formset.instance = project
    formset.save()
    return EnvironmentChanges(
        added=[environment.label for environment in formset.new_objects],
        changed={
            environment.label: sorted(fields) for environment, fields in formset.changed_objects
        },
        removed=[environment.label for environment in formset.deleted_objects],
    )


@transaction.atomic
def do_save_project(
    project: Project,
    *,
    environments: BaseInlineFormSet | None = None,
    actor: AbstractBaseUser | None,
    source: str,
) -> list[AuditEntry]:
    """Create or change a project (and, given a validated formset, its environments).

    Writes PROJECT_CREATED for a new project; otherwise CREDENTIALS_CHANGED when a key or token
    changed and PROJECT_CHANGED for everything else. Nothing is recorded when nothing changed.
    """
    created = project.pk is None
    changed_fields = _changed_project_fields(project)
    project.save()
    environment_changes = (
        _save_environments(environments, project)
        if environments is not None
        else EnvironmentChanges([], {}, [])
    )

    entries = []
    if created:
        request_sent = {"fields": changed_fields}
        if environment_changes:
            request_sent["environments"] = environment_changes.as_record()
        entries.append(
            record(
                AuditEntry.Action.PROJECT_CREATED,
                project=project,
                request_sent=request_sent,
                actor=actor,
                source=source,
            )
        )
        return entries

    secret_fields = [name for name in changed_fields if name in SECRET_FIELDS]
    other_fields = [name for name in changed_fields if name not in SECRET_FIELDS]
    if secret_fields:
        entries.append(
            record(
                AuditEntry.Action.CREDENTIALS_CHANGED,
                project=project,
                request_sent={"fields": secret_fields},
                actor=actor,
                source=source,
            )
        )
    if other_fields or environment_changes:
        request_sent = {"fields": other_fields}
        if environment_changes:
            request_sent["environments"] = environment_changes.as_record()
        entries.append(
            record(
                AuditEntry.Action.PROJECT_CHANGED,
                project=project,
                request_sent=request_sent,
                actor=actor,
                source=source,
            )
        )
    return entries


@transaction.atomic
def do_save_environment(
    environment: Environment, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry | None:
    """Create or change one environment on its own (Django admin's Environment page)."""
    if environment.pk is None:
        environment.save()
        changes = EnvironmentChanges(added=[environment.label], changed={}, removed=[])
    else:
        before = Environment.objects.get(pk=environment.pk)
        fields = [
            name
            for name in ENVIRONMENT_FIELDS
            if getattr(before, name) != getattr(environment, name)
        ]
        environment.save()
        if not fields:
            return None
        changes = EnvironmentChanges(added=[], changed={before.label: fields}, removed=[])
    return record(
        AuditEntry.Action.PROJECT_CHANGED,
        project=environment.project,
        request_sent={"fields": [], "environments": changes.as_record()},
        actor=actor,
        source=source,
        environment=environment,
    )


@transaction.atomic
def do_delete_environment(
    environment: Environment, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry:
    project = environment.project
    label = environment.label
    environment.delete()
    return record(
        AuditEntry.Action.PROJECT_CHANGED,
        project=project,
        request_sent={"fields": [], "environments": {"removed": [label]}},
        actor=actor,
        source=source,
    )


@transaction.atomic
def do_delete_project(
    project: Project, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry:
    """Delete a project and its environments; the audit trail keeps their names.

    Raises django.db.models.ProtectedError (deleting nothing) while bulk jobs refer to one of
    its environments.
    """
    environment_labels = list(project.environments.values_list("label", flat=True))
    project_id = project.pk
    project.delete()
    # Written after the delete, so the row keeps the name and no link to the deleted project.
    return record(
        AuditEntry.Action.PROJECT_DELETED,
        project=project,
        request_sent={"project_id": project_id, "environments": environment_labels},
        actor=actor,
        source=source,
    )


def check_connection(environment: Environment) -> tuple[bool, str]:
    """ "Test connection": a harmless read of a probe user, reported in words."""
    try:
        client_for(environment).probe()
    except UndecryptableSecret:
        return False, (
            "The stored API key cannot be decrypted with the configured encryption keys; "
            "enter the key again to replace it."
        )
    except Unauthorized as error:
        return False, f"Voiceflow refused the API key. {error.upstream_message}".strip()
    except UnknownEnvironment as error:
        return False, f"Unknown environment: {error.message}"
    except UpstreamTimeout as error:
        return False, f"Timed out: {error.message}"
    except RateLimited as error:
        return False, f"Rate limited: {error.message}"
    except VoiceflowError as error:
        # UpstreamFailure's message already says "Could not reach …" or what failed upstream.
        return False, error.message
    return True, (
        f"Connected: Voiceflow accepted the key for versionID {environment.version_id} "
        f"at {environment.project.runtime_url}."
    )


def record_project_change(
    project: Project, request_sent: dict, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry:
    """Audit a change to a project made outside its form (an uploaded project file)."""
    return record(
        AuditEntry.Action.PROJECT_CHANGED,
        project=project,
        request_sent=request_sent,
        actor=actor,
        source=source,
    )
