from django.conf import settings
from django.db import models
from django.utils import timezone

from .encryption import EncryptedTextField, hint
from .stored_json import OrderKeepingJSONEncoder, StoredJSONDecoder, StoredJSONEncoder

# The longest userID the product handles, in UTF-8 bytes (so in characters too): every write is
# audited, and PostgreSQL's btree indexes on (environment, user_id…) take at most 2,704 bytes a
# row. The runtime itself keeps longer ones than the 128 characters its hosted docs name
# (voiceflow/userids.py).
USER_ID_MAX_LENGTH = 2_600
# Every JSON column stores values as Voiceflow hands them over, NUL characters and all.
STORED_JSON = {"encoder": StoredJSONEncoder, "decoder": StoredJSONDecoder}
STATES_WRITTEN_BACK = {"encoder": OrderKeepingJSONEncoder, "decoder": StoredJSONDecoder}
# Project's encrypted fields: loaded only where a request to Voiceflow needs them.
SECRET_FIELDS = ("api_key", "access_token")
# What an operator sets on a project besides its secrets; hints, timestamps and the sandbox flag
# follow from these.
PROJECT_SETTINGS = (
    "name",
    "voiceflow_project_id",
    "runtime_url",
    "realtime_url",
    "analytics_url",
    "project_api_url",
    "state_api",
    "discovery_enabled",
    "budget_per_minute",
    "crm_link_template",
)


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
    project_api_url = models.URLField(
        "Project API base URL",
        default="https://api.voiceflow.com",
        max_length=300,
        help_text="Where the project file (flow and block names) is fetched: /v2/versions/…/export.",
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
    crm_link_template = models.CharField(
        "CRM link template",
        max_length=500,
        blank=True,
        default="",
        help_text="Turns a userID into the customer's page in your CRM, e.g. "
        "https://crm.example.com/customers?external_id={userID}. http or https only.",
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

    @property
    def choice_label(self) -> str:
        return environment_choice_label(self.label, self.is_production, self.project.name)


def environment_choice_label(label: str, is_production: bool, project_name: str) -> str:
    """How selectors name an environment: the environment first, so Production and Development
    differ at a glance however long the project's name ("Production · Demo Pizzeria & Bookings")."""
    marker = " (production)" if is_production and "prod" not in label.lower() else ""
    return f"{label}{marker} · {project_name}"


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
    variables_snapshot = models.JSONField(default=dict, blank=True, **STORED_JSON)
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
    variables_index = models.JSONField(default=dict, blank=True, **STORED_JSON)
    # The numeric leaves of variables_index alone, so "greater than" compares numbers only.
    variables_numbers = models.JSONField(default=dict, blank=True, **STORED_JSON)
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


class WriteMode(models.TextChoices):
    """Whether a write read the state first (kept for the audit trail and undo) or was sent alone."""

    READ_FIRST = "read_first", "State read first: undoable"
    SINGLE_REQUEST = "single_request", "One request per user: no undo"


class BulkJobQuerySet(models.QuerySet):
    """Every change of a job's status, one method a transition. Each is one conditional UPDATE
    that returns how many jobs it changed (0: the job was no longer in a state it applies to),
    so two operators, or an operator and a worker, never undo each other's change."""

    def finish_check(self, *, refused: bool) -> int:
        """The worker's check of the input is done: a draft, or refused when no row can run."""
        Status = BulkJob.Status
        return self.filter(status=Status.VALIDATING).update(
            status=Status.REFUSED if refused else Status.DRAFT, heartbeat_at=None
        )

    def start(self, started_by, write_mode: str) -> int:
        return self.filter(status=BulkJob.Status.DRAFT).update(
            status=BulkJob.Status.QUEUED,
            started_by=started_by
            if started_by is not None and started_by.is_authenticated
            else None,
            write_mode=write_mode,
        )

    def mark_running(self) -> int:
        """A worker task took the queued job."""
        return self.filter(status=BulkJob.Status.QUEUED).update(
            status=BulkJob.Status.RUNNING, heartbeat_at=timezone.now()
        )

    def pause(self, stop_reason: str | None = None) -> int:
        """Paused by an operator, or stopped by the engine with `stop_reason`."""
        fields = {} if stop_reason is None else {"stop_reason": stop_reason}
        return self.filter(status__in=[BulkJob.Status.QUEUED, BulkJob.Status.RUNNING]).update(
            status=BulkJob.Status.PAUSED, **fields
        )

    def resume(self) -> int:
        return self.filter(status=BulkJob.Status.PAUSED).update(
            status=BulkJob.Status.QUEUED, stop_reason=""
        )

    def cancel(self) -> int:
        Status = BulkJob.Status
        return self.filter(status__in=[Status.QUEUED, Status.RUNNING, Status.PAUSED]).update(
            status=Status.CANCELLED
        )

    def complete(self) -> int:
        """Every item of a queued or running job has ended."""
        return self.filter(status__in=[BulkJob.Status.QUEUED, BulkJob.Status.RUNNING]).update(
            status=BulkJob.Status.COMPLETED, finished_at=timezone.now()
        )

    def complete_empty(self, started_by=None) -> int:
        """A draft with nothing to do (a scheduled run or a campaign's end that matched no
        one) is on record as completed at once."""
        now = timezone.now()
        return self.filter(status=BulkJob.Status.DRAFT).update(
            status=BulkJob.Status.COMPLETED, started_by=started_by, started_at=now, finished_at=now
        )

    def reopen(self) -> int:
        """A completed job runs again (its failed items, retried)."""
        return self.filter(status=BulkJob.Status.COMPLETED).update(
            status=BulkJob.Status.QUEUED, finished_at=None
        )

    def end_cancelled(self) -> int:
        """A cancelled job whose last started item has ended gets its finish time."""
        return self.filter(status=BulkJob.Status.CANCELLED, finished_at__isnull=True).update(
            finished_at=timezone.now()
        )


class BulkJob(models.Model):
    class Kind(models.TextChoices):
        PRELOAD = "preload", "Preload variables"
        RESET = "reset", "Reset sessions"
        UNDO = "undo", "Undo a job"
        REMOVE_VARIABLES = "remove_variables", "Remove variables"
        CAMPAIGN_END = "campaign_end", "End a campaign"

    class Status(models.TextChoices):
        VALIDATING = "validating", "Checking the input"
        REFUSED = "refused", "Refused: no row of the input can run"
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
    validation_report = models.JSONField(default=dict, blank=True, **STORED_JSON)
    total_items = models.PositiveIntegerField(default=0)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The operator's choice when starting: read each state first (undoable), or one request per
    # user with no state before on record (no undo).
    write_mode = models.CharField(max_length=16, choices=WriteMode, default=WriteMode.READ_FIRST)
    # Why the engine stopped the job on its own (e.g. Voiceflow refused the credentials).
    stop_reason = models.TextField(blank=True, default="")
    # How many items ended each way, kept as they end, so progress never recounts the items.
    succeeded_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    # Last sign of life of a task working on the job; the sweep re-enqueues work when it is old.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A job built from a segment: its conditions as they were, re-checked on each live state.
    segment = models.ForeignKey(
        "Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    segment_conditions = models.JSONField(null=True, blank=True, **STORED_JSON)
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

    objects = BulkJobQuerySet.as_manager()

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
    variables = models.JSONField(null=True, blank=True, **STORED_JSON)
    state_to_restore = models.JSONField(null=True, blank=True, **STORED_JSON)
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


class BulkUploadChunk(models.Model):
    """A piece of an uploaded input, kept in the database until a worker has checked it: the
    web process stores the upload and answers at once, and any worker (on any machine) reads it
    back in order, a piece at a time."""

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="upload_chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="unique_upload_chunk"),
        ]

    def __str__(self) -> str:
        return f"Piece {self.index} of the input of job {self.job_id}"


class BulkRejectedRow(models.Model):
    """A row of a job's input refused when it was checked, kept with the job for good: shown on
    its page and written into its results file, so the file reconciles row by row with the
    upload. A row with several problems has one record each."""

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="rejected_rows")
    # None for a problem of the whole file (no such row runs, so only a refused draft has one).
    line = models.PositiveIntegerField(null=True, blank=True)
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH, blank=True, default="")
    column = models.CharField(max_length=300, blank=True, default="")
    value = models.TextField(blank=True, default="")
    reason = models.TextField()
    fatal = models.BooleanField(default=False)

    class Meta:
        ordering = ["line", "pk"]
        indexes = [models.Index(fields=["job", "line"]), models.Index(fields=["job", "user_id"])]

    def __str__(self) -> str:
        return f"Line {self.line} of job {self.job_id}: {self.reason}"


class WorkerHeartbeat(models.Model):
    """A Celery worker's sign of life, written by the worker itself every WORKER_HEARTBEAT_S
    (sessions_app/workers.py), so pages and /healthz see the workers whatever the broker."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=500, blank=True, default="")
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    # The tasks in hand at the last heartbeat: [{"task", "job_id", "since", "pid"}].
    active = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname


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
        PASSWORD_CHANGED = "password_changed", "Password changed"
        JOB_PAUSED = "job_paused", "Bulk job paused"
        JOB_RESUMED = "job_resumed", "Bulk job resumed"
        JOB_CANCELLED = "job_cancelled", "Bulk job cancelled"

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
    # Undo and restore write these back: their objects keep their keys' order on PostgreSQL too.
    state_before = models.JSONField(null=True, blank=True, **STATES_WRITTEN_BACK)
    state_after = models.JSONField(null=True, blank=True, **STATES_WRITTEN_BACK)
    request_sent = models.JSONField(null=True, blank=True, **STORED_JSON)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    restored_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="restorations"
    )
    write_mode = models.CharField(max_length=16, choices=WriteMode, default=WriteMode.READ_FIRST)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["environment", "user_id", "-created_at"]),
            models.Index(fields=["action", "outcome"]),
            # A bulk item's resumable attempt (engine.resumable_entry), whatever the job's size.
            models.Index(fields=["job", "user_id"]),
            # The audit list's filters, each answering its newest page from an index.
            models.Index(fields=["actor_name", "-created_at", "-id"], name="audit_by_actor_newest"),
            models.Index(fields=["user_id", "-created_at", "-id"], name="audit_by_user_newest"),
            models.Index(
                fields=["environment", "-created_at", "-id"], name="audit_by_environment_newest"
            ),
            models.Index(fields=["outcome", "-created_at", "-id"], name="audit_by_outcome_newest"),
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
    # The bulk lane's own next slot, spaced for the budget less BULK_BUDGET_RESERVE_PERCENT.
    bulk_next_slot_at = models.FloatField(default=0.0)

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


class SessionWriteLock(models.Model):
    """A write to one session (project and userID) in progress, on databases without advisory
    locks (SQLite). `expires_at` bounds how long a process that died holding it blocks others
    (`session_lock.py`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=USER_ID_MAX_LENGTH)
    holder = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user_id"], name="unique_session_write"),
        ]

    def __str__(self) -> str:
        return f"Write lock on {self.user_id} in project {self.project_id}"


class FlowMap(models.Model):
    """The flow and block names of one version of a project, read from its project file (.vf).

    `version_key` is what the map is looked up by: the versionID a state's base frame names, or
    the alias an environment uses (development, production), which Voiceflow resolves to the
    version in `version_id`. Pages only read these rows; a Celery task fills them.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Being fetched"
        READY = "ready", "Loaded"
        FAILED = "failed", "Could not be fetched"

    class Source(models.TextChoices):
        API = "api", "Project API"
        UPLOAD = "upload", "Uploaded .vf file"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flow_maps")
    version_key = models.CharField(max_length=64)
    version_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    source = models.CharField(max_length=8, choices=Source, default=Source.API)
    error = models.TextField(blank=True, default="")
    flows = models.JSONField(default=dict, blank=True, **STORED_JSON)
    flow_count = models.PositiveIntegerField(default=0)
    node_count = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField(default=timezone.now)
    loaded_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version_key"], name="unique_flow_map_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.version_key}"


class SeenState(models.Model):
    """A state an operator was shown, kept for the conflict page and watch mode (inspector/seen.py).

    Kept here, not in the login session: a session row rewritten with whole conversation states
    on every read was a write transaction per page (and states of up to 1 MB in a cookie-keyed
    row). Only a state not kept yet is written.
    """

    session_key = models.CharField(max_length=40)
    conversation = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    state = models.JSONField(**STORED_JSON)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_key", "conversation", "fingerprint"], name="unique_seen_state"
            ),
        ]
        indexes = [models.Index(fields=["session_key", "-seen_at"])]

    def __str__(self) -> str:
        return f"State {self.fingerprint} seen in {self.conversation}"


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
    variables = models.JSONField(null=True, blank=True, **STORED_JSON)
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
