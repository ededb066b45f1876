"""What Voiceflow accepts as a userID, and how one travels in a URL path."""

from urllib.parse import quote

from ..models import USER_ID_MAX_LENGTH
from .errors import InvalidUserID


def validate_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise InvalidUserID("A userID is required.")
    if len(user_id) > USER_ID_MAX_LENGTH:
        raise InvalidUserID(
            f"A userID has at most {USER_ID_MAX_LENGTH} characters; this one has {len(user_id)}."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id):
        raise InvalidUserID("A userID cannot contain control characters (line breaks, tabs…).")
    return user_id


def user_path(user_id: str) -> str:
    """The userID as one path segment: `/`, `?`, `#`, `%`, spaces and unicode all encoded."""
    segment = quote(validate_user_id(user_id), safe="")
    # URL normalisation (RFC 3986 §5.2.4, applied by httpx) would resolve a bare "." or ".."
    # segment against the path and address another resource; encoded, it stays a userID.
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return segment
