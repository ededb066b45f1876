from sessions_app import bulk
from sessions_app.management.cli import NOT_FOUND, Error, OpsCommand
from sessions_app.models import AuditEntry, BulkJob

CONTROLS = {
    "pause": (bulk.pause_job, "Paused: items in hand finish, no other starts."),
    "resume": (bulk.resume_job, "Resumed."),
    "cancel": (bulk.cancel_job, "Cancelled: items not started are skipped."),
}


class Command(OpsCommand):
    help = "Pause, resume or cancel a bulk job, as its page does. Audited with source cli."
    permission = "run_bulk_jobs"
    takes_environment = False

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("control", choices=list(CONTROLS))
        parser.add_argument("job", type=int, help="The job's number.")

    def handle(self, *args, as_user, control, job, **options):
        actor = self.actor(as_user)
        found = BulkJob.objects.filter(pk=job).first()
        if found is None:
            raise Error(f"No bulk job #{job}.", code="not_found", returncode=NOT_FOUND)
        act, done = CONTROLS[control]
        act(found, actor, source=AuditEntry.Source.CLI)
        self.emit({"job": found.pk, "status": found.status}, text=f"Job #{found.pk}: {done}")
