"""The realtime conversation-state API (voiceflow-api.md §1.C, §7.3 item 17), run when a
personal access token is given. Like the legacy checks, it never sends a conversation turn."""

import secrets

from .expect import ANYTHING, STRING, Expect, ListWith, Partial
from .probe import Probe
from .recorder import Recorder
from .report import Claim

DOCS_RT = Claim("§7.3 item 17, §1.C", "confirmed", "docs-rt")


def run_realtime_checks(probe: Probe, record: Recorder) -> None:
    refusals(probe, record)
    state_round_trip(probe, record)
    environments(probe, record)


def refusals(probe: Probe, record: Recorder) -> None:
    user = probe.user("realtime")
    answer = probe.realtime("GET", user, send_token=False)
    record.check(
        "realtime.no-token",
        "A realtime call without a bearer token is refused with 401",
        DOCS_RT,
        (answer, Expect(401)),
    )
    answer = probe.realtime("GET", user, token=f"vfp_{secrets.token_hex(16)}")
    record.check(
        "realtime.wrong-token",
        "A realtime call with a wrong token is refused with 401",
        DOCS_RT,
        (answer, Expect(401)),
    )
    answer = probe.realtime("GET", user, query={"projectID": None})
    record.check(
        "realtime.no-project-id",
        "A realtime call without the projectID query is refused with 400",
        Claim("§1.C", "inferred"),
        (answer, Expect(400)),
    )
    answer = probe.realtime("GET", user, query={"environmentAlias": probe.user("environment")})
    record.check(
        "realtime.unknown-alias",
        "An unknown environmentAlias is refused with 400 invalid environment tag",
        Claim("§7.3 item 17, §4", "confirmed", "docs-rt"),
        (answer, Expect(400, body_containing="invalid environment tag")),
    )
    record.check(
        "realtime.error-envelope",
        "… in the {message, error, statusCode} envelope",
        Claim("§7.1 item 2", "inferred"),
        (answer, Expect(400, {"message": ANYTHING, "error": STRING, "statusCode": 400})),
    )
    answer = probe.realtime("GET", user, query={"version": "contract-check"})
    record.check(
        "realtime.bad-version",
        "A version other than draft or published is refused with 400",
        DOCS_RT,
        (answer, Expect(400)),
    )


def state_round_trip(probe: Probe, record: Recorder) -> None:
    user = probe.user("realtime")
    state = {"stack": [], "storage": {}, "variables": {"a": 1, "o": {"x": 1}}}
    answer = probe.realtime("PATCH", user, body=state)
    record.check(
        "realtime.replace",
        "PATCH of a whole state answers 200 {message}",
        DOCS_RT,
        (answer, Expect(200, {"message": STRING})),
    )
    answer = probe.realtime("GET", user)
    record.check(
        "realtime.get-wrapped",
        "GET answers the state wrapped in {state}",
        DOCS_RT,
        (answer, Expect(200, {"state": state})),
    )
    answer = probe.realtime(
        "PATCH", user, variables=True, body={"variables": {"b": 2, "o": {"y": 2}}}
    )
    record.check(
        "realtime.variables",
        "PATCH variables with the {variables} wrapper answers 200 {message}",
        DOCS_RT,
        (answer, Expect(200, {"message": STRING})),
    )
    read = probe.realtime("GET", user)
    record.check(
        "realtime.variables-merged",
        "… and merges: a is kept, b is added",
        DOCS_RT,
        (read, Expect(200, {"state": Partial({"variables": Partial({"a": 1, "b": 2})})})),
    )
    record.check(
        "realtime.variables-shallow",
        "… shallowly: the nested object o is replaced",
        Claim("§1.C, §7.1 item 9", "inferred"),
        (read, Expect(200, {"state": Partial({"variables": Partial({"o": {"y": 2}})})})),
    )
    merged = {"stack": [], "storage": {}, "variables": {"a": 1, "b": 2, "o": {"y": 2}}}
    answer = probe.state("GET", user)
    record.check(
        "realtime.same-state-as-legacy",
        "The legacy GET reads the state the realtime API wrote (one state per project and user)",
        Claim("§4", "inferred"),
        (answer, Expect(200, merged)),
    )
    answer = probe.realtime("PATCH", user, variables=True, body={"c": 3})
    record.check(
        "realtime.variables-without-wrapper",
        "PATCH variables without the {variables} wrapper is refused with 400",
        DOCS_RT,
        (answer, Expect(400)),
    )
    answer = probe.realtime(
        "PATCH", user, variables=True, body={"variables": {"c": 3}, "contract_check": True}
    )
    record.check(
        "realtime.variables-extra-key",
        "PATCH variables with a key beside variables is refused with 400",
        DOCS_RT,
        (answer, Expect(400)),
    )
    answer = probe.realtime("PATCH", user, body={"stack": [], "storage": {}})
    record.check(
        "realtime.replace-incomplete",
        "PATCH of a state without variables is refused with 400",
        DOCS_RT,
        (answer, Expect(400)),
    )
    answer = probe.realtime("DELETE", user)
    record.check(
        "realtime.delete",
        "DELETE answers 200 {message}",
        DOCS_RT,
        (answer, Expect(200, {"message": STRING})),
    )
    answer = probe.realtime("GET", user)
    record.check(
        "realtime.get-unknown",
        "GET of a deleted user answers 404",
        Claim("§7.3 item 17", "unverified"),
        (answer, Expect(404)),
    )


def environments(probe: Probe, record: Recorder) -> None:
    answer = probe.realtime("GET")
    record.check(
        "realtime.environments",
        "GET /v1/stable/environment answers 200",
        Claim("§1.C", "confirmed", "docs-rt"),
        (answer, Expect(200)),
    )
    record.check(
        "realtime.environments-listed",
        f"… with {probe.target.alias!r} in {{environments: [...]}}",
        Claim("§1.C, §4", "inferred"),
        (answer, Expect(200, {"environments": ListWith(Partial({"alias": probe.target.alias}))})),
    )
