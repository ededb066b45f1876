"""Every audit row is written here: writes to conversations (recorded pending by actions.py, then
completed), administrative changes to projects, changes of access, and the control of bulk jobs.

A row says what changed, never a credential's value: administrative rows name the fields that
changed (admin_actions.py), access rows name a token by its prefix (account_actions.py).
"""

import functools

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from . import sql
from .models import AuditEntry, BulkJob, Environment, Project, WriteMode

JOB_CONTROL_ACTIONS = (
    AuditEntry.Action.JOB_PAUSED,
    AuditEntry.Action.JOB_RESUMED,
    AuditEntry.Action.JOB_CANCELLED,
)


def record(
    action: AuditEntry.Action,
    *,
    actor: AbstractBaseUser | None,
    source: AuditEntry.Source,
    request_sent: dict | None = None,
    outcome: AuditEntry.Outcome = AuditEntry.Outcome.SUCCEEDED,
    project: Project | None = None,
    environment: Environment | None = None,
    job: BulkJob | None = None,
    user_id: str = "",
    state_before: dict | None = None,
    restored_from: AuditEntry | None = None,
    write_mode: WriteMode = WriteMode.READ_FIRST,
) -> AuditEntry:
    """Write one audit row. A PENDING row (a write about to be sent) is completed later by its
    writer; any other outcome is complete now.

    The project defaults to the environment's. A project or environment not saved (any more) is
    named but not linked, so a row written after a delete keeps the name.
    """
    if project is None and environment is not None:
        project = environment.project
    return AuditEntry.objects.create(
        **AuditEntry.actor_fields(actor),
        source=source,
        job=job,
        project=project if project is not None and project.pk else None,
        project_name=project.name if project is not None else "",
        environment=environment if environment is not None and environment.pk else None,
        environment_label=environment.label if environment is not None else "",
        user_id=user_id,
        action=action,
        outcome=outcome,
        completed_at=None if outcome == AuditEntry.Outcome.PENDING else timezone.now(),
        state_before=state_before,
        request_sent=request_sent,
        restored_from=restored_from,
        write_mode=write_mode,
    )


def record_job_control(
    job: BulkJob, action: AuditEntry.Action, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry:
    """Who paused, resumed or cancelled a bulk job, and from where (one of JOB_CONTROL_ACTIONS)."""
    return record(
        action,
        actor=actor,
        source=source,
        environment=job.environment,
        job=job,
        request_sent={"job": job.pk},
    )


def session_history(environment: Environment, user_id: str, shown: int) -> list[AuditEntry]:
    """The newest `shown` rows of one conversation, newest first (the model's order): what every
    read of the inspector shows. With a query written once: the ORM's form of this simple query
    cost twice its run to build on every read."""
    return list(AuditEntry.objects.raw(_session_history_sql(), [environment.pk, user_id, shown]))


@functools.cache
def _session_history_sql() -> str:
    # The order is Meta.ordering's, which the index on (environment, user_id, -created_at) answers.
    return (
        f"SELECT {sql.columns(AuditEntry)} FROM {sql.table(AuditEntry)}"  # noqa: S608
        f" WHERE {sql.matching(AuditEntry, 'environment', 'user_id')}"
        f" ORDER BY {sql.column(AuditEntry, 'created_at')} DESC,"
        f" {sql.column(AuditEntry, 'id')} DESC LIMIT %s"
    )
