import time

from sessions_app import bulk, segments
from sessions_app.management.cli import (
    BAD_INPUT,
    JOB_INCOMPLETE,
    Error,
    OpsCommand,
    parse_json_object,
)
from sessions_app.models import Segment


class Command(OpsCommand):
    help = (
        "Count a segment (a saved filter over the known-sessions index) and run a job over its "
        "members: reset, set variables (one set for all) or remove variables. Each member's live "
        "state is checked against the segment again before its write; one that moved since the "
        "index was read is skipped and reported. Without --run, only the count and a sample."
    )
    permission = "run_bulk_jobs"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("segment", help="The segment's id or name (in the environment).")
        parser.add_argument(
            "--kind", choices=["reset", "preload", "remove_variables"], default="reset"
        )
        parser.add_argument("--variables", help="For preload: the JSON object every member gets.")
        parser.add_argument(
            "--remove", default="", help="For remove_variables: names, comma-separated."
        )
        parser.add_argument(
            "--refresh", action="store_true", help="Read the members from Voiceflow first."
        )
        parser.add_argument("--run", action="store_true", help="Create and start the job.")
        parser.add_argument("--confirm-production", action="store_true")
        parser.add_argument("--follow", action="store_true", help="Show progress until done.")
        parser.add_argument("--interval", type=float, default=2.0)

    def handle(
        self,
        *args,
        environment,
        as_user,
        segment,
        kind,
        variables,
        remove,
        refresh,
        run,
        confirm_production,
        follow,
        interval,
        **options,
    ):
        actor = self.actor(as_user)
        target = self.environment(environment)
        found = Segment.objects.filter(environment=target)
        chosen = (found.filter(pk=int(segment)) if segment.isdigit() else found.none()).first()
        chosen = chosen or found.filter(name=segment).first()
        if chosen is None:
            raise Error(
                f"No segment {segment!r} in {target}.", code="not_found", returncode=BAD_INPUT
            )
        if refresh:
            report = segments.refresh_segment(chosen)
            if report.stopped_by:
                raise Error(
                    f"The refresh stopped: {report.stopped_by}",
                    code="upstream",
                    returncode=BAD_INPUT,
                )
        preview = segments.preview(target, chosen.conditions)
        summary = {
            "segment": chosen.pk,
            "count": preview.count,
            "sample": [row.user_id for row in preview.sample],
            # A flow or block named by name, with the IDs it resolved to.
            "conditions": [condition.as_dict() for condition in preview.conditions],
        }
        counted = f"{preview.count} indexed sessions match {chosen.name!r}."
        if not run:
            self.emit(summary, text=counted + " Add --run to create and start the job.")
            return
        if target.is_production and not confirm_production:
            raise Error(
                f"{target} is a production environment: add --confirm-production.",
                code="validation",
                returncode=BAD_INPUT,
            )
        try:
            job = bulk.create_job_from_segment(
                chosen,
                actor,
                kind=kind,
                variables=parse_json_object(variables, "--variables") if variables else None,
                variable_names=remove.split(","),
            )
        except ValueError as error:
            raise Error(str(error), code="validation", returncode=BAD_INPUT) from None
        if job.total_items == 0:
            bulk.discard_draft(job)
            self.emit({**summary, "job": None}, text=counted + " Nothing to do.")
            return
        bulk.start_job(job, actor, confirmed_production=confirm_production)
        if not follow:
            self.emit(
                {**summary, "job": job.pk, "status": job.status},
                text=f"{counted} Job #{job.pk} queued.",
            )
            return
        while True:
            job.refresh_from_db()
            progress = bulk.job_progress(job)
            if progress["is_finished"]:
                break
            time.sleep(interval)
        moved = job.items.filter(status="skipped").count()
        self.emit(
            {**summary, "job": job.pk, **progress},
            text=f"Job #{job.pk} {progress['status']}: {progress['done']} done, "
            f"{progress['failed']} failed, {moved} skipped (moved since the index was read, or "
            "nothing to do).",
        )
        if progress["failed"]:
            raise Error(
                f"Job #{job.pk}: {progress['failed']} failed.",
                code="job_incomplete",
                returncode=JOB_INCOMPLETE,
                details=progress,
            )
