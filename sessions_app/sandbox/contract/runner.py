"""One run of the contract check: the legacy checks, the realtime ones when a token is given, and
the cleanup of every userID the run wrote, whatever happened before."""

from .expect import Expect
from .legacy import run_legacy_checks
from .probe import Probe, Target
from .realtime import run_realtime_checks
from .recorder import Recorder
from .report import Claim, Cleanup, Outcome, Report


def run_contract_check(target: Target) -> Report:
    """Raises TargetUnreachable, having written nothing, if the first request gets no answer."""
    probe = Probe(target)
    record = Recorder()
    report = Report(
        target=target.url,
        realtime_target=target.realtime_url,
        project_id=target.project_id,
        version=target.version,
        user_id_prefix=probe.prefix,
    )
    try:
        run_legacy_checks(probe, record)
        if target.realtime_url is not None:
            run_realtime_checks(probe, record)
    finally:
        report.cleanup = clean_up(probe, record)
        report.outcomes = record.outcomes
        probe.close()
    return report


def clean_up(probe: Probe, record: Recorder) -> Cleanup:
    """Delete every userID the run wrote (through both APIs where it used both), then check
    that each reads as unknown."""
    cleanup = Cleanup(user_ids=list(probe.written))
    if not probe.written:
        return cleanup
    deleted = Expect(200)
    for user_id in probe.written:
        if user_id in probe.written_through_realtime:
            probe.realtime("DELETE", user_id)
        answer = probe.state("DELETE", user_id)
        if not deleted.holds_for(answer):
            cleanup.failed[user_id] = deleted.observe(answer)
    unknown = Expect(200, {})
    left = {}
    for user_id in probe.written:
        answer = probe.state("GET", user_id)
        if not unknown.holds_for(answer):
            left[user_id] = unknown.observe(answer)
    record.outcomes.append(
        Outcome(
            "cleanup.gone",
            f"After the cleanup, each of the {len(probe.written)} userIDs written reads 200 {{}}",
            Claim("§7.1 item 8", "confirmed", "gr-src"),
            passed=not left,
            expected="GET /state/user/{userID} → 200 {} for each",
            observed="; ".join(f"{user_id!r} → {seen}" for user_id, seen in left.items())
            or "200 {} for each",
        )
    )
    return cleanup
