import sys
import time

from sessions_app import bulk
from sessions_app.management.cli import (
    BAD_INPUT,
    JOB_INCOMPLETE,
    Error,
    OpsCommand,
    parse_json_object,
)
from sessions_app.models import BulkJob

PROBLEMS_SHOWN = 20


class Command(OpsCommand):
    help = (
        "Start a bulk job from a file (CSV, JSON Lines, or a list of userIDs) and, with --follow, "
        "show its progress until it is done. The rows are validated first; a file with problems "
        "runs only with --skip-bad-rows."
    )
    permission = "run_bulk_jobs"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("file", help="The input file, or - for stdin.")
        parser.add_argument("--kind", choices=["preload", "reset"], default="preload")
        parser.add_argument(
            "--format",
            choices=["csv", "jsonl", "list"],
            help="Default: jsonl for .jsonl/.ndjson, list for resets and .txt, else csv.",
        )
        parser.add_argument(
            "--variables", help="For a preload of a list of userIDs: the JSON object each gets."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and report; create and send nothing."
        )
        parser.add_argument("--skip-bad-rows", action="store_true", help="Run the valid rows only.")
        parser.add_argument("--confirm-production", action="store_true")
        parser.add_argument("--follow", action="store_true", help="Show progress until done.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between updates.")

    def handle(
        self,
        *args,
        environment,
        as_user,
        file,
        kind,
        format,
        variables,
        dry_run,
        skip_bad_rows,
        confirm_production,
        follow,
        interval,
        **options,
    ):
        actor = self.actor(as_user)
        target = self.environment(environment)
        source_format = format or bulk.format_for(file, kind)
        merge = parse_json_object(variables, "--variables") if variables else None
        job = self._create(target, actor, kind, source_format, file, merge)
        report = job.validation_report
        summary = {
            "job": job.pk,
            "valid_rows": report["valid_rows"],
            "bad_rows": report["bad_rows"],
            "problems": report["problems"][:PROBLEMS_SHOWN],
        }
        bad = report["fatal"] or job.total_items == 0 or (report["bad_rows"] and not skip_bad_rows)
        if dry_run or bad:
            bulk.discard_draft(job)
        if bad:
            raise Error(
                _report_text(report)
                + ("" if report["fatal"] else "\nFix the file, or add --skip-bad-rows."),
                code="validation",
                returncode=BAD_INPUT,
                details=summary,
            )
        if dry_run:
            self.emit(
                {**summary, "dry_run": True, "job": None},
                text=f"Dry run, nothing created or sent.\n{_report_text(report)}",
            )
            return
        if target.is_production and not confirm_production:
            bulk.discard_draft(job)
            raise Error(
                f"{target} is a production environment: add --confirm-production.",
                code="validation",
                returncode=BAD_INPUT,
            )
        bulk.start_job(
            job, actor, confirmed_production=confirm_production, skip_bad_rows=skip_bad_rows
        )
        if not follow:
            self.emit(
                {**summary, "status": job.status},
                text=f"Job #{job.pk} queued: {job.total_items} rows. Follow it with --follow "
                "or on the job page.",
            )
            return
        progress = self._follow(job, interval)
        if progress["failed"] or progress["skipped"]:
            raise Error(
                f"Job #{job.pk} {progress['status']}: {progress['failed']} failed, "
                f"{progress['skipped']} skipped. Download the results for the reasons.",
                code="job_incomplete",
                returncode=JOB_INCOMPLETE,
                details=progress,
            )

    def _create(self, target, actor, kind, source_format, file, merge) -> BulkJob:
        if file == "-":
            return self._create_from(
                target, actor, kind, source_format, sys.stdin.buffer, "stdin", merge
            )
        try:
            with open(file, "rb") as binary:
                return self._create_from(target, actor, kind, source_format, binary, file, merge)
        except OSError as error:
            raise Error(
                f"Cannot read {file}: {error.strerror}.", code="validation", returncode=BAD_INPUT
            ) from None

    def _create_from(self, target, actor, kind, source_format, binary, name, merge) -> BulkJob:
        try:
            return bulk.create_job(
                target,
                actor,
                kind=kind,
                source_format=source_format,
                binary=binary,
                source_name=name,
                variables=merge,
                check_here=True,
            )
        except bulk.InputRefused as refusal:
            raise Error(
                str(refusal),
                code="validation",
                returncode=BAD_INPUT,
                details={"problems": refusal.problems[:PROBLEMS_SHOWN]},
            ) from None
        except ValueError as error:
            raise Error(str(error), code="validation", returncode=BAD_INPUT) from None

    def _follow(self, job: BulkJob, interval: float) -> dict:
        while True:
            job.refresh_from_db()
            progress = bulk.job_progress(job)
            self.emit(progress, text=_progress_text(progress))
            if progress["is_finished"]:
                return progress
            time.sleep(interval)


def _report_text(report: dict) -> str:
    lines = [f"{report['valid_rows']} valid rows, {report['bad_rows']} rows with problems."]
    for problem in report["problems"][:PROBLEMS_SHOWN]:
        where = f"line {problem['line']}" if problem.get("line") else "file"
        column = f", {problem['column']}" if problem.get("column") else ""
        lines.append(f"  {where}{column}: {problem['message']}")
    if report["problem_count"] > PROBLEMS_SHOWN:
        lines.append(f"  … and {report['problem_count'] - PROBLEMS_SHOWN} more.")
    return "\n".join(lines)


def _progress_text(progress: dict) -> str:
    rate = f", {progress['rate_per_minute']}/min" if progress["rate_per_minute"] else ""
    eta = f", about {progress['eta_seconds']} s left" if progress["eta_seconds"] is not None else ""
    return (
        f"{progress['status_label']}: {progress['percent']}% · {progress['done']} done, "
        f"{progress['failed']} failed, {progress['skipped']} skipped, {progress['remaining']} to go"
        f"{rate}{eta}"
    )
