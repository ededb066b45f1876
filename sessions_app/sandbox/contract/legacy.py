"""The legacy Dialog Manager surface (`/state/user/{userID}`): the reference scenario of
voiceflow-api.md §7.2, line by line, then the facts of §7.1 and §9 that a client depends on.

No check runs a conversation turn: on a real project a turn runs the project's own agent, with
whatever its integrations do.
"""

import secrets

from .expect import (
    INTEGER,
    STRING,
    Containing,
    Digits,
    Exactly,
    Expect,
    IsoTime,
    Partial,
    describe,
)
from .probe import Probe, TargetUnreachable
from .recorder import Recorder
from .report import Claim

BODY_LIMIT_BYTES = 1024 * 1024  # gr-src BODY_PARSER_SIZE_LIMIT '1mb' (§1.A)
USER_ID_MAX_LENGTH = 128  # docs-new (§1.A)

OSS = "open-source runtime"
# Seen on a real runtime: the recorded answers of tests/fixtures/observed.json.
OBSERVED = "observed.json: open-source runtime"
# What only the hosted service does: the open-source runtime in its local mode checks no key and
# ignores unknown versionIDs (observed.json's README), so no real runtime here has confirmed it.
HOSTED_KEYS = "hosted docs; local runtime checks no key"
HOSTED_VERSIONS = "hosted docs; local runtime answers 200"
AUTH_KEY_REQUIRED = {
    "code": 401,
    "status": "Unauthorized",
    "dateTime": IsoTime(),
    "timestamp": INTEGER,
    "data": "Auth Key Required",
}
SYNTAX_ERROR = {"name": "SyntaxError", "message": STRING, "requestID": STRING}
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": Digits(),
    "X-RateLimit-Remaining": Digits(),
    "X-RateLimit-Reset": IsoTime(),
}
FRAME = {
    "diagramID": "6650c0ffee00000000c0de01",
    "nodeID": "6650c0ffee00000000c0de02",
    "name": "Contract check",
    "storage": {},
    "variables": {"frame_variable": 1},
    "commands": [],
    "contract_check_extra": "frames may carry other keys",
}

ANY_STRING_ID = Claim("§7.1 item 5", "confirmed", "docs-new: any string")
# A proxy in front of the runtime may decode `%2F` or `%25` before routing.
ENCODING_SENSITIVE_ID = Claim("§7.1 item 5", "confirmed", OBSERVED)
ODD_USER_IDS = (
    ("space", "space and+plus@example.com", ANY_STRING_ID),
    ("unicode", "unicode-名前-🍕", ANY_STRING_ID),
    ("query-and-hash", "query?and#hash", ANY_STRING_ID),
    ("slash", "slash/inside", ENCODING_SENSITIVE_ID),
    ("percent", "literal%20percent", ENCODING_SENSITIVE_ID),
)

PUT_REFUSALS = (
    (
        "missing-stack",
        {"storage": {}, "variables": {}},
        "data should have required property 'stack'",
    ),
    (
        "missing-storage",
        {"stack": []},
        "data should have required property 'storage', "
        "data should have required property 'variables'",
    ),
    (
        "turn",
        {"stack": [], "storage": {}, "variables": {}, "turn": {}},
        "data should NOT have additional properties",
    ),
    ("not-an-object", [], "data should be object"),
    (
        "null-node",
        {
            "stack": [{"diagramID": FRAME["diagramID"], "nodeID": None}],
            "storage": {},
            "variables": {},
        },
        "data.stack[0].nodeID should be string",
    ),
)


def run_legacy_checks(probe: Probe, record: Recorder) -> None:
    reference_scenario(probe, record)
    user_ids(probe, record)
    writes(probe, record)
    bodies(probe, record)
    keys_and_versions(probe, record)
    headers_and_routes(probe, record)


def reference_scenario(probe: Probe, record: Recorder) -> None:
    """§7.2, line by line."""
    user = probe.user("scenario")
    answer = probe.state("GET", user)
    if answer.error is not None:
        raise TargetUnreachable(answer.error)
    record.check(
        "scenario.get-unknown",
        "GET of an unknown user answers 200 {}",
        Claim("§7.2, §7.1 item 6", "confirmed", "gr-src"),
        (answer, Expect(200, {})),
    )
    answer = probe.state("PATCH", user, variables=True, body={"a": 1, "o": {"x": 1}})
    record.check(
        "scenario.patch-creates",
        'PATCH variables of an unknown user creates and answers {"variables": …} (upsert)',
        Claim("§7.2, §7.1 item 9", "confirmed", "gr-src"),
        (answer, Expect(200, {"variables": {"a": 1, "o": {"x": 1}}})),
    )
    answer = probe.state("PATCH", user, variables=True, body={"o": {"y": 2}})
    record.check(
        "scenario.patch-shallow",
        "A second PATCH replaces the nested object o and keeps a (shallow merge)",
        Claim("§7.2, §7.1 item 9", "confirmed", "gr-src"),
        (answer, Expect(200, {"variables": {"a": 1, "o": {"y": 2}}})),
    )
    replacement = {"stack": [], "storage": {}, "variables": {"b": 2}}
    answer = probe.state("PUT", user, body=replacement)
    record.check(
        "scenario.put-echoes",
        "PUT answers the body it stored",
        Claim("§7.2, §7.1 item 7", "confirmed", "gr-src"),
        (answer, Expect(200, replacement)),
    )
    answer = probe.state("GET", user)
    record.check(
        "scenario.put-replaces",
        "A GET after PUT reads exactly the PUT body: a and o are gone (full replace)",
        Claim("§7.2, §7.1 item 7", "confirmed", "gr-src"),
        (answer, Expect(200, replacement)),
    )
    answer = probe.state("PUT", user, body={"stack": [{}], "storage": {}, "variables": {}})
    record.check(
        "scenario.put-frame-without-diagramid",
        "PUT with a frame without diagramID is refused with 400",
        Claim("§7.2, §1.A, §7.1 item 2", "confirmed", "gr-src, bu-src"),
        (answer, Expect(400)),
    )
    record.check(
        "scenario.put-frame-without-diagramid-body",
        "… in the validation envelope, naming diagramID",
        Claim("§7.2, §7.1 item 2", "confirmed", OBSERVED),
        (answer, Expect(400, {"errors": {"": {"message": Containing("diagramID")}}})),
    )
    answer = probe.state("PUT", user, body={"stack": []})
    record.check(
        "scenario.put-incomplete",
        "PUT without storage and variables is refused with 400",
        Claim("§7.2, §1.A", "confirmed", "gr-src"),
        (answer, Expect(400)),
    )
    answer = probe.state("DELETE", user)
    record.check(
        "scenario.delete",
        "DELETE answers 200 with an empty body",
        Claim("§7.2, §7.1 item 8", "confirmed", "gr-src"),
        (answer, Expect(200, empty_body=True)),
    )
    answer = probe.state("DELETE", user)
    record.check(
        "scenario.delete-again",
        "DELETE of a deleted user answers 200 with an empty body (idempotent)",
        Claim("§7.2, §7.1 item 8", "confirmed", "gr-src commit 956c667a"),
        (answer, Expect(200, empty_body=True)),
    )
    answer = probe.state("GET", user)
    record.check(
        "scenario.get-deleted",
        "GET of a deleted user answers 200 {}",
        Claim("§7.2, §7.1 item 8", "confirmed", "gr-src"),
        (answer, Expect(200, {})),
    )
    answer = probe.state("GET", user, headers={"Authorization": None})
    record.check(
        "scenario.no-key",
        "GET without Authorization is refused with 401",
        Claim("§7.2, §7.1 item 1", "hosted-only", HOSTED_KEYS),
        (answer, Expect(401)),
    )
    record.check(
        "scenario.no-key-body",
        '… with data "Auth Key Required" in the {code, status, dateTime, timestamp, data} envelope',
        Claim("§7.2, §7.1 items 1-2", "hosted-only", HOSTED_KEYS),
        (answer, Expect(401, AUTH_KEY_REQUIRED)),
    )
    too_long = probe.user("x" * (USER_ID_MAX_LENGTH + 1 - len(probe.prefix)))
    answer = probe.state("GET", too_long)
    record.check(
        "scenario.userid-129",
        "GET of a 129-character userID answers 200 {} (no length check below 16 KiB)",
        Claim("§7.2, §9", "inferred", "observed.json; hosted docs: at most 128"),
        (answer, Expect(200, {})),
    )


def user_ids(probe: Probe, record: Recorder) -> None:
    longest = probe.user("x" * (USER_ID_MAX_LENGTH - len(probe.prefix)))
    written = probe.state("PATCH", longest, variables=True, body={"longest": True})
    read = probe.state("GET", longest)
    record.check(
        "userid.128",
        "A userID of exactly 128 characters is written and read back",
        Claim("§1.A", "confirmed", "docs-new"),
        (written, Expect(200)),
        (read, Expect(200, {"variables": {"longest": True}})),
    )
    for slug, name, claim in ODD_USER_IDS:
        user = probe.user(name)
        written = probe.state("PATCH", user, variables=True, body={"odd": user})
        read = probe.state("GET", user)
        record.check(
            f"userid.{slug}",
            f"The userID '…{name}' is written and read back through its percent-encoded path",
            claim,
            (written, Expect(200)),
            (read, Expect(200, {"variables": {"odd": user}})),
        )
    decoded_twice = probe.user("literal percent")
    answer = probe.state("GET", decoded_twice)
    record.check(
        "userid.percent-decoded-once",
        "… and is decoded once only: '…literal percent' has no state",
        ENCODING_SENSITIVE_ID,
        (answer, Expect(200, {})),
    )
    if answer.json != {}:
        # A state there was written by this run, under its userID decoded twice: delete it too.
        probe.remember_write(decoded_twice)


def writes(probe: Probe, record: Recorder) -> None:
    user = probe.user("writes")
    state = {
        "stack": [FRAME],
        "storage": {"locale": "en-US"},
        "variables": {"kept": "as is", "nested": {"x": 1}, "cleared": "soon"},
    }
    answer = probe.state("PUT", user, body=state)
    record.check(
        "put.frame-keys",
        "PUT of a frame with keys beyond diagramID and nodeID answers the body",
        Claim("§1.A, §7.1 item 7", "confirmed", "gr-src"),
        (answer, Expect(200, state)),
    )
    merged = {**state, "variables": {"kept": "as is", "nested": {"y": 2}, "cleared": None}}
    patched = probe.state("PATCH", user, variables=True, body={"nested": {"y": 2}, "cleared": None})
    read = probe.state("GET", user)
    record.check(
        "patch.only-global-variables",
        "PATCH stores null and changes only the global variables (stack, storage, frames stay)",
        Claim("§7.1 item 9", "confirmed", "gr-src"),
        (patched, Expect(200, merged)),
        (read, Expect(200, merged)),
    )
    patched = probe.state("PATCH", user, variables=True, body={})
    read = probe.state("GET", user)
    record.check(
        "patch.empty",
        "PATCH with {} is accepted and changes nothing",
        Claim("§7.1 item 9", "confirmed", "gr-src"),
        (patched, Expect(200, merged)),
        (read, Expect(200, merged)),
    )
    for slug, body, message in PUT_REFUSALS:
        answer = probe.state("PUT", user, body=body)
        record.check(
            f"put.message-{slug}",
            f"PUT {describe(body)} is refused: {message}",
            Claim("§9", "confirmed", OBSERVED),
            (answer, Expect(400, {"errors": {"": {"message": message}}})),
        )


def bodies(probe: Probe, record: Recorder) -> None:
    user = probe.user("bodies")
    known = {"variables": {"known": 1}}
    setup = probe.state("PATCH", user, variables=True, body=known["variables"])
    malformed = probe.state(
        "PATCH", user, variables=True, raw_body=b'{"a":', content_type="application/json"
    )
    record.check(
        "body.malformed-json",
        "Malformed JSON is refused with 400 in the SyntaxError envelope",
        Claim("§9, §7.1 item 13", "confirmed", OBSERVED),
        (malformed, Expect(400, SYNTAX_ERROR)),
    )
    string = probe.state(
        "PATCH", user, variables=True, raw_body=b'"launch"', content_type="application/json"
    )
    record.check(
        "body.top-level-string",
        "A top-level JSON string is refused the same way",
        Claim("§9", "confirmed", OBSERVED),
        (string, Expect(400, SYNTAX_ERROR)),
    )
    ignored = probe.state("PATCH", user, variables=True, raw_body=b'{"ignored": true}')
    read = probe.state("GET", user)
    record.check(
        "body.without-content-type",
        "A body sent without Content-Type: application/json is ignored",
        Claim("§9", "confirmed", OBSERVED),
        (setup, Expect(200, known)),
        (ignored, Expect(200, known)),
        (read, Expect(200, known)),
    )
    too_large = probe.state(
        "PATCH", probe.user("large-body"), variables=True, body={"pad": "x" * BODY_LIMIT_BYTES}
    )
    record.check(
        "body.over-1mb",
        "A JSON body over 1 MB is refused with 413 PayloadTooLargeError",
        Claim("§9, §7.1 item 13", "confirmed", OBSERVED),
        (too_large, Expect(413, Partial({"name": "PayloadTooLargeError"}))),
    )


def keys_and_versions(probe: Probe, record: Recorder) -> None:
    user = probe.user("keys")
    unknown_key = f"VF.DM.{secrets.token_hex(12)}.{secrets.token_hex(16)}"
    answer = probe.state("GET", user, headers={"Authorization": unknown_key})
    record.check(
        "auth.unknown-key",
        "A well-formed key Voiceflow does not know is refused with 401",
        Claim("§9, §7.1 item 1", "hosted-only", HOSTED_KEYS),
        (answer, Expect(401)),
    )
    unknown_version = secrets.token_hex(12)
    answer = probe.state("GET", user, headers={"versionID": unknown_version})
    record.check(
        "version.unknown-id",
        "A versionID the project does not have is refused with 400",
        Claim("§7.1 item 1", "hosted-only", HOSTED_VERSIONS),
        (answer, Expect(400)),
    )
    record.check(
        "version.unknown-id-body",
        "… in the verror envelope naming the version",
        Claim("§7.1 items 1-2", "hosted-only", HOSTED_VERSIONS),
        (
            answer,
            Expect(
                400,
                {
                    "name": "verror",
                    "message": f"Could not resolve project with version ID {unknown_version}",
                    "requestID": STRING,
                },
            ),
        ),
    )


def headers_and_routes(probe: Probe, record: Recorder) -> None:
    user = probe.user("headers")
    answer = probe.state("GET", user)
    record.check(
        "headers.rate-limit",
        "A /state answer carries X-RateLimit-Limit, -Remaining and -Reset (ISO time)",
        Claim("§9, §5", "confirmed", OBSERVED),
        (answer, Expect(200, headers=RATE_LIMIT_HEADERS)),
    )
    shouted = {name.upper(): value for name, value in probe.legacy_headers().items()}
    answer = probe.state("GET", user, headers=shouted)
    record.check(
        "headers.case-insensitive",
        "Header names are case-insensitive (AUTHORIZATION, VERSIONID, PROJECTID)",
        Claim("§1.A", "confirmed", "gr-src"),
        (answer, Expect(200, {})),
    )
    origin = "https://contract-check.example"
    answer = probe.state("GET", user, headers={"Origin": origin})
    record.check(
        "headers.cors",
        "The request's Origin is reflected in Access-Control-Allow-Origin",
        Claim("§7.1 item 14", "confirmed", "gr-src"),
        (answer, Expect(200, headers={"Access-Control-Allow-Origin": Exactly(origin)})),
    )
    answer = probe.unknown_route()
    record.check(
        "routes.unknown",
        "An unknown route answers 404 with an HTML page",
        Claim("§9", "confirmed", OBSERVED),
        (answer, Expect(404, content_type="text/html")),
    )
    answer = probe.wrong_method(user)
    record.check(
        "routes.wrong-method",
        "A wrong method (GET on the interact route) answers 404 with an HTML page",
        Claim("§9", "confirmed", OBSERVED),
        (answer, Expect(404, content_type="text/html")),
    )
