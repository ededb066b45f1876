"""Turns answers and the contract's expectations into named outcomes."""

from .expect import Answer, Expect
from .report import Claim, Outcome


class Recorder:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def check(self, check_id: str, title: str, claim: Claim, *steps: tuple[Answer, Expect]) -> None:
        """One named fact, judged on one answer or on a sequence of them (all must hold)."""
        passed = all(expect.holds_for(answer) for answer, expect in steps)
        if len(steps) == 1:
            answer, expect = steps[0]
            expected, observed = expect.describe(), expect.observe(answer)
        else:
            expected = "; ".join(
                f"{answer.request} → {expect.describe()}" for answer, expect in steps
            )
            observed = "; ".join(
                f"{answer.request} → {expect.observe(answer)}" for answer, expect in steps
            )
        self.outcomes.append(Outcome(check_id, title, claim, passed, expected, observed))
