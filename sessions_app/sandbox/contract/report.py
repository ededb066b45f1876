"""What a contract check reports: each fact checked, what the contract says about it, and the
verdict; the exit code follows the facts the contract calls confirmed."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# confirmed: a source, or a real runtime's recorded answer, shows it; hosted-only: only the hosted
# service is documented to do it (a local runtime does not), so a target may differ.
Tag = Literal["confirmed", "inferred", "unverified", "hosted-only"]
PASS = "pass"  # noqa: S105 - a verdict, not a password
FAIL = "fail"
DIFFERS = "differs (unverified in contract)"
DIFFERS_HOSTED = "differs (hosted-only in contract)"


@dataclass(frozen=True)
class Claim:
    """Where the contract states a fact and how sure it is (voiceflow-api.md's tags)."""

    section: str
    tag: Tag
    source: str = ""

    def label(self) -> str:
        tag = f"{self.tag}: {self.source}" if self.source else self.tag
        return f"{self.section} [{tag}]"


@dataclass(frozen=True)
class Outcome:
    check_id: str
    title: str
    claim: Claim
    passed: bool
    expected: str
    observed: str

    @property
    def verdict(self) -> str:
        """A confirmed fact that does not hold is a failure; an inferred or unverified one is a
        difference worth knowing, not an error of the target."""
        if self.passed:
            return PASS
        if self.claim.tag == "hosted-only":
            return DIFFERS_HOSTED
        return FAIL if self.claim.tag == "confirmed" else DIFFERS

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "title": self.title,
            "section": self.claim.section,
            "tag": self.claim.tag,
            "source": self.claim.source,
            "verdict": self.verdict,
            "passed": self.passed,
            "expected": self.expected,
            "observed": self.observed,
        }


@dataclass
class Cleanup:
    user_ids: list[str] = field(default_factory=list)
    # userID -> what the target answered to its DELETE, for the ones it did not delete.
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    target: str
    realtime_target: str | None
    project_id: str
    version: str
    user_id_prefix: str
    outcomes: list[Outcome] = field(default_factory=list)
    cleanup: Cleanup = field(default_factory=Cleanup)

    def count(self, verdict: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.verdict == verdict)

    @property
    def exit_code(self) -> int:
        return 1 if self.count(FAIL) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "realtime_target": self.realtime_target,
            "project_id": self.project_id,
            "version": self.version,
            "user_id_prefix": self.user_id_prefix,
            "checks": [outcome.to_json() for outcome in self.outcomes],
            "cleanup": asdict(self.cleanup),
            "summary": {
                "pass": self.count(PASS),
                "fail": self.count(FAIL),
                "differs": self.count(DIFFERS),
                "differs_hosted_only": self.count(DIFFERS_HOSTED),
            },
            "exit_code": self.exit_code,
        }

    def to_text(self, *, verbose: bool = False) -> str:
        lines = [
            f"Contract check of {self.target} (project {self.project_id}, versionID "
            f"{self.version})" + (f" and {self.realtime_target}" if self.realtime_target else ""),
            f"userIDs used: {self.user_id_prefix}…",
            "",
        ]
        width = max((len(outcome.check_id) for outcome in self.outcomes), default=0)
        for outcome in self.outcomes:
            mark = {PASS: "pass", FAIL: "FAIL", DIFFERS: "DIFFERS", DIFFERS_HOSTED: "HOSTED"}[
                outcome.verdict
            ]
            lines.append(
                f"{mark:8} {outcome.check_id:{width}}  {outcome.title}  {outcome.claim.label()}"
            )
            if verbose or outcome.verdict != PASS:
                lines.append(f"{'':8} {'':{width}}  expected: {outcome.expected}")
                lines.append(f"{'':8} {'':{width}}  observed: {outcome.observed}")
        lines.append("")
        deleted = len(self.cleanup.user_ids) - len(self.cleanup.failed)
        lines.append(
            f"Cleanup: deleted {deleted} of the {len(self.cleanup.user_ids)} userIDs written."
        )
        for user_id, observed in self.cleanup.failed.items():
            lines.append(f"  not deleted: {user_id!r}: {observed}")
        lines.append(
            f"{self.count(PASS)} passed, {self.count(FAIL)} failed (confirmed in the contract), "
            f"{self.count(DIFFERS)} differ (inferred or unverified in the contract), "
            f"{self.count(DIFFERS_HOSTED)} differ where only the hosted service is documented. "
            f"Exit code {self.exit_code}."
        )
        return "\n".join(lines)
