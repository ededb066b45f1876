from django.conf import settings
from django.db import models
from django.utils import timezone

from .encryption import EncryptedTextField, hint

# The longest userID the product handles, in UTF-8 bytes (so in characters too): every write is
# audited, and PostgreSQL's btree indexes on (environment, user_id…) take at most 2,704 bytes a
# row. The runtime itself keeps longer ones than the 128 characters its hosted docs name
# (voiceflow/userids.py).
USER_ID_MAX_LENGTH = 2_600
# Project's encrypted fields: loaded only where a request to Voiceflow needs them.
SECRET_FIELDS = ("api_key", "access_token")


class Project(models.Model):
    class StateApi(models.TextChoices):
        LEGACY = "legacy", "Dialog Manager state API (/state/user/…, project key)"
        REALTIME = "realtime", "Realtime state API (/v1/stable/conversation-state/…, access token)"

    name = models.CharField(max_length=120, unique=True)
    voiceflow_project_id = models.CharField("Voiceflow project ID", max_length=64)
    runtime_url = models.URLField(
        "runtime base URL", default=settings.VOICEFLOW_DEFAULT_RUNTIME_URL, max_length=300
    )
    realtime_url = models.URLField(
        "Realtime API base URL", default="https://realtime-api.voiceflow.com", max_length=300
    )
    analytics_url = models.URLField(
        "Analytics API base URL", default="https://analytics-api.voiceflow.com", max_length=300
    )
    state_api = models.CharField(max_length=16, choices=StateApi, default=StateApi.LEGACY)
    api_key = EncryptedTextField("Dialog Manager API key")
    api_key_hint = models.CharField(max_length=32, editable=False, default="")
    access_token = EncryptedTextField("personal access token", blank=True, default="")
    access_token_hint = models.CharField(max_length=32, editable=False, default="")
    budget_per_minute = models.PositiveIntegerField(
        "request budget per minute",
        default=500,
        help_text="Requests per minute this dashboard may send for the project, shared by every "
        "page, API call and worker. 500 is the open-source runtime's limit per key.",
    )
    discovery_enabled = models.BooleanField(
        "import userIDs from transcripts periodically",
        default=False,
        help_text="Every few minutes, userIDs of recent conversations are imported into the "
        "known-sessions index of each environment, and their states are read.",
    )
    is_sandbox = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("inspect_session", "Inspect conversation sessions"),
            ("edit_variables", "Edit session variables"),
            ("replace_state", "Replace or restore a whole session state"),
            ("reset_session", "Reset (delete) sessions"),
            ("run_bulk_jobs", "Run bulk preloads and resets"),
            ("interact_session", "Send actions to a conversation"),
            ("view_audit", "Read the audit trail"),
            ("manage_projects", "Manage projects and credentials"),
            ("see_personal_data", "See masked personal-data variables"),
            ("manage_team", "Manage accounts and their roles"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # A secret left deferred (pages load projects without them) keeps its stored value and
        # hint; it may not even decrypt any more, and replacing it must still be possible.
        deferred = self.get_deferred_fields()
        if "api_key" not in deferred:
            self.api_key_hint = hint(self.api_key)
        if "access_token" not in deferred:
            self.access_token_hint = hint(self.access_token)
        super().save(*args, **kwargs)


class Environment(models.Model):
    class Badge(models.TextChoices):
        GREEN = "green", "Green"
        BLUE = "blue", "Blue"
        AMBER = "amber", "Amber"
        RED = "red", "Red"
        GREY = "grey", "Grey"

    class RealtimeVersion(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    label = models.CharField(max_length=60)
    version_id = models.CharField(
        "versionID",
        max_length=64,
        default="development",
        help_text="Legacy API: development, staging, production or a literal version ID.",
    )
    alias = models.CharField(
        "environment alias", max_length=64, default="main", help_text="Newer APIs, e.g. main."
    )
    realtime_version = models.CharField(
        max_length=16, choices=RealtimeVersion, default=RealtimeVersion.DRAFT
    )
    badge = models.CharField(max_length=8, choices=Badge, default=Badge.BLUE)
    is_production = models.BooleanField(
        default=False, help_text="Destructive actions here ask for an explicit confirmation."
    )

    class Meta:
        ordering = ["project__name", "label"]
        constraints = [
            models.UniqueConstraint(fields=["project", "label"], name="unique_environment_label"),
        ]

    def __str__(self) -> str:
        return f"{self.project.name} · {self.label}"


class KnownSession(models.Model):
    """Every userID the dashboard has seen in an environment; the state API cannot list users."""

    class Origin(models.TextChoices):
        INSPECTED = "inspected", "Inspected"
        WRITTEN = "written", "Written"
        IMPORTED = "imported", "Imported from transcripts"

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="known_sessions"
    )
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    origin = models.CharField(max_length=16, choices=Origin, default=Origin.INSPECTED)
    has_state = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    variables_snapshot = models.JSONField(default=dict, blank=True)
    # "name=value" lines of the snapshot, lower-cased: searchable the same way on every database.
    search_text = models.TextField(blank=True, default="")
    stack_depth = models.PositiveIntegerField(default=0)
    current_flow = models.CharField(max_length=200, blank=True, default="")
    # Where the conversation stands, as its top flow frame names it (segments match on these).
    current_diagram_id = models.CharField(max_length=64, blank=True, default="")
    current_node_id = models.CharField(max_length=64, blank=True, default="")
    # The variables by dotted path ("profile.tier"), scalar leaves only, bounded
    # (segments/conditions.py): what segment conditions query. On PostgreSQL both JSON fields
    # have a GIN index (migration 0016; SQLite has no such index, so it is not in Meta).
    variables_index = models.JSONField(default=dict, blank=True)
    # The numeric leaves of variables_index alone, so "greater than" compares numbers only.
    variables_numbers = models.JSONField(default=dict, blank=True)
    # Imported from transcripts, state not read yet: the snapshot and "where" mean nothing yet.
    state_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "user_id"], name="unique_known_session"),
        ]
        indexes = [
            models.Index(fields=["environment", "-last_seen_at"]),
            models.Index(fields=["environment", "-last_activity_at"]),
            models.Index(
                fields=["environment", "current_diagram_id", "current_node_id"],
                name="known_session_position",
            ),
            # userID prefixes (LIKE 'abc%') on PostgreSQL, whatever the database's collation.
            models.Index(
                fields=["environment", "user_id"],
                name="known_session_user_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.user_id


class BulkJob(models.Model):
    class Kind(models.TextChoices):
        PRELOAD = "preload", "Preload variables"
        RESET = "reset", "Reset sessions"
        UNDO = "undo", "Undo a job"
        REMOVE_VARIABLES = "remove_variables", "Remove variables"
        CAMPAIGN_END = "campaign_end", "End a campaign"

    class Status(models.TextChoices):
        DRAFT = "draft", "Validated, waiting for a decision"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        COMPLETED = "completed", "Completed"

    kind = models.CharField(max_length=16, choices=Kind)
    status = models.CharField(max_length=16, choices=Status, default=Status.DRAFT)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    source_name = models.CharField(max_length=255, blank=True, default="")
    undo_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="undo_jobs"
    )
    source_format = models.CharField(max_length=16, blank=True, default="")
    validation_report = models.JSONField(default=dict, blank=True)
    total_items = models.PositiveIntegerField(default=0)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Why the engine stopped the job on its own (e.g. Voiceflow refused the credentials).
    stop_reason = models.TextField(blank=True, default="")
    # Last sign of life of a task working on the job; the sweep re-enqueues work when it is old.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A job built from a segment: its conditions as they were, re-checked on each live state.
    segment = models.ForeignKey(
        "Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    segment_conditions = models.JSONField(null=True, blank=True)
    # For a "remove variables" job: the names every member loses.
    variable_names = models.JSONField(default=list, blank=True)
    schedule = models.ForeignKey(
        "Schedule", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # A preload that is a campaign: at this moment its values are taken off again.
    campaign_ends_at = models.DateTimeField(null=True, blank=True)
    campaign_end_job = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="campaign_of"
    )
    # Who hears of the job's end: addresses (comma-separated) and a Slack-compatible webhook.
    notify_emails = models.CharField(max_length=500, blank=True, default="")
    notify_webhook_url = models.URLField(max_length=500, blank=True, default="")
    # Events already announced ("finished", "failed", "stalled"): each is sent once.
    notified = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class BulkItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "In progress"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    line_number = models.PositiveIntegerField()
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    variables = models.JSONField(null=True, blank=True)
    state_to_restore = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    audit_entry = models.ForeignKey(
        "AuditEntry", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # For an undo item: the audited write whose state before it puts back.
    restores_entry = models.ForeignKey(
        "AuditEntry", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["line_number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "user_id"], name="unique_job_user"),
        ]
        indexes = [
            # Claiming takes the next pending items of a job in file order.
            models.Index(fields=["job", "status", "line_number"]),
            models.Index(fields=["status", "lease_until"]),
            models.Index(fields=["job", "finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in job {self.job_id} ({self.get_status_display()})"


class AuditEntry(models.Model):
    """One write to a conversation (or an administrative change), recorded before it is sent."""

    class Action(models.TextChoices):
        SET_VARIABLES = "set_variables", "Set variables"
        REMOVE_VARIABLES = "remove_variables", "Remove variables"
        REPLACE_STATE = "replace_state", "Replace state"
        RESET = "reset", "Reset session"
        RESTORE = "restore", "Restore state"
        INTERACT = "interact", "Send an action"
        PROJECT_CREATED = "project_created", "Project created"
        PROJECT_CHANGED = "project_changed", "Project changed"
        PROJECT_DELETED = "project_deleted", "Project deleted"
        CREDENTIALS_CHANGED = "credentials_changed", "Credentials changed"
        KEYS_ROTATED = "keys_rotated", "Encryption keys rotated"
        ROLE_CHANGED = "role_changed", "Role changed"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CONFLICT = "conflict", "Refused: the conversation moved"

    class Source(models.TextChoices):
        PAGE = "page", "Page"
        API = "api", "API"
        BULK = "bulk", "Bulk job"
        CLI = "cli", "Command line"
        ADMIN = "admin", "Django admin"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    source = models.CharField(max_length=8, choices=Source)
    job = models.ForeignKey(
        BulkJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    # The names are kept beside the links so the trail survives a deleted project or environment.
    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, related_name="+")
    project_name = models.CharField(max_length=120, blank=True, default="")
    environment = models.ForeignKey(
        Environment, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    environment_label = models.CharField(max_length=60, blank=True, default="")
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, blank=True, default="")
    action = models.CharField(max_length=32, choices=Action)
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.PENDING)
    state_before = models.JSONField(null=True, blank=True)
    state_after = models.JSONField(null=True, blank=True)
    request_sent = models.JSONField(null=True, blank=True)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    restored_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="restorations"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["environment", "user_id", "-created_at"]),
            models.Index(fields=["action", "outcome"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.user_id} ({self.get_outcome_display()})"

    @staticmethod
    def actor_fields(actor) -> dict:
        """Who acted: the account while it exists, and its name for as long as the row lives.
        Nobody (a command, a worker) when there is no signed-in account."""
        signed_in = actor is not None and actor.is_authenticated
        return {
            "actor": actor if signed_in else None,
            "actor_name": actor.get_username() if signed_in else "",
        }


class RequestBudget(models.Model):
    """The shared request pacing state of one project, for every worker and web process.

    `next_slot_at` is the earliest Unix time the next request may be sent (a GCRA "theoretical
    arrival time"); `paused_until` is set when Voiceflow answers 429 with Retry-After.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="budget")
    next_slot_at = models.FloatField(default=0.0)
    paused_until = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"Request budget of project {self.project_id}"


class OperatorPreference(models.Model):
    """What a signed-in operator last worked on, so pages open where they left off."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_preference"
    )
    environment = models.ForeignKey(
        Environment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"Preferences of user {self.user_id}"


class Segment(models.Model):
    """A saved question over the known-sessions index (segments/conditions.py)."""

    name = models.CharField(max_length=120)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="segments")
    conditions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The last time its candidates' states were read from Voiceflow on request.
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["environment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="unique_segment_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Schedule(models.Model):
    """A job that starts at a time or repeats; each run is a job of its own (`BulkJob.schedule`).

    The timing lives in django-celery-beat's PeriodicTask, which the database scheduler reads.
    """

    name = models.CharField(max_length=120)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="schedules")
    kind = models.CharField(max_length=16, choices=BulkJob.Kind)
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="schedules"
    )
    # A job to run again (its valid rows), for schedules not built on a segment.
    template_job = models.ForeignKey(
        BulkJob, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    variables = models.JSONField(null=True, blank=True)
    variable_names = models.JSONField(default=list, blank=True)
    run_at = models.DateTimeField(null=True, blank=True)
    cron = models.CharField("repeat (cron rule)", max_length=120, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC")
    confirmed_production = models.BooleanField(default=False)
    paused = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    notify_emails = models.CharField(max_length=500, blank=True, default="")
    notify_webhook_url = models.URLField(max_length=500, blank=True, default="")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Why the last run did not start a job (e.g. the owner lost the right to run jobs).
    last_refusal = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
