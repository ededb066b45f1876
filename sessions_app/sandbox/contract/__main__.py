"""`python -m sessions_app.sandbox.contract`: check a Voiceflow runtime against the contract."""

import argparse
import json
import sys

from .probe import Target, TargetUnreachable
from .runner import run_contract_check

EPILOG = """\
Safe to run against a real project: every userID it reads or writes is made up for the run
(contract-check-<random>-…), so it never lists, reads or changes anyone else's state. It never
sends a conversation turn (that would run the project's agent and its integrations). At the end
it deletes every userID it wrote (with the realtime DELETE too for those written through the
realtime API) and checks that each reads as unknown. It sends about 90 requests, one of them
with a body just over 1 MB.

Exit codes: 0 every check the contract calls confirmed passed (facts it calls inferred,
unverified or hosted-only may differ: they are reported, not failed); 1 a confirmed check
failed; 2 bad arguments, or the target did not answer (nothing was written).

Example, Voiceflow's cloud:
  python -m sessions_app.sandbox.contract --target https://general-runtime.voiceflow.com \\
      --api-key VF.DM.… --project-id 66… \\
      --realtime-url https://realtime-api.voiceflow.com --token vfp_… --alias main
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sessions_app.sandbox.contract",
        description=(
            "Check a Voiceflow runtime (Voiceflow's cloud or the sandbox) against the contract\n"
            "the sandbox follows: the reference scenario, status codes, error envelopes, merge\n"
            "and delete semantics, userIDs, headers and bodies. Each check names its contract\n"
            "section and tag (docs/sandbox.md)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", required=True, help="the runtime's base URL")
    parser.add_argument("--api-key", required=True, help="the project's VF.DM… key")
    parser.add_argument("--project-id", required=True, help="the project's ID")
    parser.add_argument(
        "--version", default="development", help="the versionID header (default: development)"
    )
    parser.add_argument(
        "--realtime-url", help="the realtime API's base URL; with --token, runs its checks too"
    )
    parser.add_argument("--token", help="a personal access token (vfp_…) for the realtime API")
    parser.add_argument("--alias", default="main", help="the realtime environment alias (main)")
    parser.add_argument(
        "--realtime-version",
        default="draft",
        choices=("draft", "published"),
        help="the realtime version (default: draft)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--verbose", action="store_true", help="show expected and observed for passing checks too"
    )
    args = parser.parse_args(argv)
    if (args.realtime_url is None) != (args.token is None):
        parser.error("--realtime-url and --token go together")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    target = Target(
        url=args.target.rstrip("/"),
        api_key=args.api_key,
        project_id=args.project_id,
        version=args.version,
        realtime_url=args.realtime_url.rstrip("/") if args.realtime_url else None,
        token=args.token,
        alias=args.alias,
        realtime_version=args.realtime_version,
    )
    try:
        report = run_contract_check(target)
    except TargetUnreachable as unreachable:
        print(f"{target.url} did not answer: {unreachable}. Nothing was written.", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.to_text(verbose=args.verbose))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
