"""Fill the database as a large installation's: many audit entries, many known sessions and a
large bulk job, so that anyone can measure the pages and the API at that size
(bench/db_scale.py, docs/benchmarks.md).

    manage.py seed_scale_data [--audit-entries 1000000] [--known-sessions 1000000]
        [--job-items 100000]

It adds a project "Scale data" (pointing at the local sandbox, which it never calls) with one
environment; running it again adds another. Never on a production database.
"""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from ...models import AuditEntry, BulkItem, BulkJob, Environment, KnownSession, Project

BATCH = 10_000
OPERATORS = 12


class Command(BaseCommand):
    help = "Seed audit entries, known sessions and a large bulk job to measure scale."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--audit-entries", type=int, default=1_000_000)
        parser.add_argument("--known-sessions", type=int, default=1_000_000)
        parser.add_argument("--job-items", type=int, default=100_000)

    def handle(self, *args, audit_entries: int, known_sessions: int, job_items: int, **options):
        if min(audit_entries, known_sessions, job_items) < 0:
            raise CommandError("The sizes must be 0 or more.")
        suffix = secrets.token_hex(3)
        project = Project.objects.create(
            name=f"Scale data {suffix}",
            voiceflow_project_id=secrets.token_hex(12),
            api_key=f"VF.DM.{secrets.token_hex(12)}.{secrets.token_hex(8)}",
            runtime_url="http://127.0.0.1:8200",
        )
        environment = Environment.objects.create(
            project=project, label="Development", version_id="development"
        )
        User = get_user_model()
        operators = [
            User.objects.get_or_create(username=f"scale-operator-{n}")[0] for n in range(OPERATORS)
        ]
        self._known_sessions(environment, known_sessions)
        job = self._job(environment, operators[0], job_items)
        self._audit(environment, operators, job, audit_entries)
        self.stdout.write(
            f"Seeded project {project.name!r} (environment {environment.pk}): "
            f"{known_sessions} known sessions, {audit_entries} audit entries, "
            f"job {job.pk} with {job_items} items."
        )

    def _batches(self, model, rows):
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                with transaction.atomic():
                    model.objects.bulk_create(batch)
                batch = []
        if batch:
            model.objects.bulk_create(batch)

    def _known_sessions(self, environment: Environment, count: int) -> None:
        now = timezone.now()
        plans = ["gold", "silver", "bronze", "trial"]
        self._batches(
            KnownSession,
            (
                KnownSession(
                    environment=environment,
                    user_id=f"Customer-{n:07d}",
                    origin=KnownSession.Origin.IMPORTED,
                    last_seen_at=now - timedelta(seconds=n),
                    last_activity_at=now - timedelta(seconds=n),
                    variables_snapshot={"plan": plans[n % 4], "order": f"ord-{n}"},
                    search_text=f"plan={plans[n % 4]}\norder=ord-{n}",
                    stack_depth=1,
                    current_flow="Main",
                )
                for n in range(count)
            ),
        )

    def _job(self, environment: Environment, operator, count: int) -> BulkJob:
        half = count // 2
        now = timezone.now()
        job = BulkJob.objects.create(
            kind=BulkJob.Kind.PRELOAD,
            status=BulkJob.Status.PAUSED,
            environment=environment,
            created_by=operator,
            started_by=operator,
            source_name="scale.csv",
            source_format="csv",
            validation_report={"valid_rows": count, "bad_rows": 0, "problems": []},
            total_items=count,
            succeeded_count=half,
            started_at=now - timedelta(hours=1),
        )
        self._batches(
            BulkItem,
            (
                BulkItem(
                    job=job,
                    line_number=n + 1,
                    user_id=f"Customer-{n:07d}",
                    variables={"campaign": "spring"},
                    status=BulkItem.Status.SUCCEEDED if n < half else BulkItem.Status.PENDING,
                    finished_at=now - timedelta(seconds=count - n) if n < half else None,
                    upstream_status=200 if n < half else None,
                )
                for n in range(count)
            ),
        )
        return job

    def _audit(self, environment: Environment, operators: list, job: BulkJob, count: int) -> None:
        now = timezone.now()
        actions = [
            AuditEntry.Action.SET_VARIABLES,
            AuditEntry.Action.RESET,
            AuditEntry.Action.REPLACE_STATE,
            AuditEntry.Action.INTERACT,
        ]
        outcomes = [AuditEntry.Outcome.SUCCEEDED] * 18 + [
            AuditEntry.Outcome.FAILED,
            AuditEntry.Outcome.CONFLICT,
        ]
        self._batches(
            AuditEntry,
            (
                AuditEntry(
                    created_at=now - timedelta(seconds=count - n),
                    completed_at=now - timedelta(seconds=count - n),
                    actor=operators[n % OPERATORS],
                    actor_name=operators[n % OPERATORS].username,
                    source=AuditEntry.Source.BULK if n % 3 == 0 else AuditEntry.Source.PAGE,
                    job=job if n % 3 == 0 else None,
                    project=environment.project,
                    project_name=environment.project.name,
                    environment=environment,
                    environment_label=environment.label,
                    user_id=f"Customer-{n % 1_000_000:07d}",
                    action=actions[n % 4],
                    outcome=outcomes[n % 20],
                    state_before={"variables": {"plan": "silver"}},
                    state_after={"variables": {"plan": "gold"}},
                    request_sent={"method": "PATCH", "path": "variables"},
                )
                for n in range(count)
            ),
        )
