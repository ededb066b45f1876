"""A contract check of a Voiceflow runtime: the real one, or the sandbox that doubles it.

`python -m sessions_app.sandbox.contract --target URL --api-key KEY --project-id ID` runs the
reference scenario and the observed facts of the contract (voiceflow-api.md §7.2, §7.3, §9)
against the target, using only userIDs it creates, and reports each fact with its contract tag
(docs/sandbox.md, "Checking the sandbox against the real runtime"). Unlike the sandbox itself, it
needs httpx.
"""

from .probe import Target, TargetUnreachable
from .report import Claim, Outcome, Report
from .runner import run_contract_check

__all__ = ["Claim", "Outcome", "Report", "Target", "TargetUnreachable", "run_contract_check"]
