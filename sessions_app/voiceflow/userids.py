"""What Voiceflow accepts as a userID, and how one travels in a URL path: one rule for pages,
the API, commands and bulk files.

The hosted API documents at most 128 characters (voiceflow-api.md §1.A), but the runtime has no
length check: it stores longer userIDs and refuses only a request whose first line and headers
pass Node's 16 KiB limit (`431`, recorded on the open-source runtime, §9). So one over 128
characters is used with a warning, and a userID is refused only when it cannot be sent
(percent-encoded, it would not fit in the request head) or cannot be recorded (every write is
audited, and the audit trail's index on PostgreSQL keeps at most USER_ID_MAX_LENGTH bytes).

Spaces are part of a userID, leading and trailing ones included. The runtime takes the userID from
the path, decoded once and never trimmed, and keys the session by exactly that text (§9: a state
written for `30d4f1 a+b@x.com` is read back under that userID; §1.A documents any string). So a
userID is used exactly as written everywhere (pages, the API, commands, bulk files); one that
begins or ends with a space is used with a warning, since it is often a slip of the paste.
"""

from urllib.parse import quote

from ..models import USER_ID_MAX_LENGTH
from .errors import InvalidUserID

HOSTED_DOCUMENTED_MAX = 128
REQUEST_HEAD_LIMIT_BYTES = 16 * 1024
# The userID's share of that limit; the rest is for the method, the rest of the path and its
# query (the realtime API's projectID, environmentAlias and version), the protocol and the
# headers (key, projectID, versionID, content type, user agent…).
USER_ID_PATH_MAX_BYTES = 14 * 1024


def validate_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise InvalidUserID("A userID is required.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id):
        raise InvalidUserID("A userID cannot contain control characters (line breaks, tabs…).")
    try:
        size = len(user_id.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise InvalidUserID("A userID must be valid Unicode text.") from error
    if size > USER_ID_MAX_LENGTH:
        raise InvalidUserID(
            f"This userID is too long for this dashboard: it takes {size:,} bytes, and the audit "
            f"trail keeps userIDs of at most {USER_ID_MAX_LENGTH:,} bytes (UTF-8), the most "
            "PostgreSQL's indexes take."
        )
    encoded = len(_segment(user_id))
    if encoded > USER_ID_PATH_MAX_BYTES:
        raise InvalidUserID(
            f"This userID is too long to send to Voiceflow: percent-encoded for the URL it "
            f"takes {encoded:,} bytes, and the runtime refuses a request whose first line and "
            f"headers pass {REQUEST_HEAD_LIMIT_BYTES // 1024} KiB (431)."
        )
    return user_id


def user_id_warning(user_id: str) -> str:
    """A warning about a userID that can be sent but that hosted Voiceflow may refuse; or ""."""
    if len(user_id) <= HOSTED_DOCUMENTED_MAX:
        return ""
    return (
        f"This userID has {len(user_id):,} characters, more than the {HOSTED_DOCUMENTED_MAX} "
        "Voiceflow's hosted API documents. The runtime stores such userIDs (private clouds, the "
        "open-source runtime); hosted Voiceflow may refuse them."
    )


def edge_space_warning(user_id: str) -> str:
    """A warning about a userID that begins or ends with a space (used as written); or ""."""
    if user_id == user_id.strip():
        return ""
    return "This userID begins or ends with a space; it is used exactly as written."


def _segment(user_id: str) -> str:
    segment = quote(user_id, safe="")
    # URL normalisation (RFC 3986 §5.2.4, applied by httpx) would resolve a bare "." or ".."
    # segment against the path and address another resource; encoded, it stays a userID.
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return segment


def user_path(user_id: str) -> str:
    """The userID as one path segment: `/`, `?`, `#`, `%`, spaces and unicode all encoded."""
    return _segment(validate_user_id(user_id))
