"""Bulk jobs: input validation, the Celery engine, progress and results.

The functions pages, the REST API and commands call are re-exported here (docs/bulk-jobs.md).
"""

from .checking import (
    Format,
    InputRefused,
    checking_progress,
    create_job_from_text,
    create_job_from_upload,
    format_for,
)
from .jobs import (
    JobStateError,
    cancel_job,
    create_campaign_end_job,
    create_job,
    create_job_from_segment,
    create_undo_job,
    discard_draft,
    pause_job,
    resume_job,
    retry_failed,
    start_job,
    store_items,
)
from .progress import estimated_duration_s, job_progress
from .results import iter_results_csv, write_results_csv

# The check of a stored input, as a worker runs it (called directly, it runs here).
from .tasks import validate_upload

__all__ = [
    "Format",
    "InputRefused",
    "JobStateError",
    "cancel_job",
    "checking_progress",
    "create_campaign_end_job",
    "create_job",
    "create_job_from_segment",
    "create_job_from_text",
    "create_job_from_upload",
    "create_undo_job",
    "discard_draft",
    "estimated_duration_s",
    "format_for",
    "iter_results_csv",
    "job_progress",
    "pause_job",
    "resume_job",
    "retry_failed",
    "start_job",
    "store_items",
    "validate_upload",
    "write_results_csv",
]
