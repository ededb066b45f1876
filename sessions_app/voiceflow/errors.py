"""Typed failures of Voiceflow calls, each with a message a person can act on.

`permanent` tells the bulk engine's retry loop whether trying again can help; `code` is the
machine-readable name the REST API returns.
"""

import math


class VoiceflowError(Exception):
    code = "upstream_error"
    permanent = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        upstream_message: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.upstream_message = upstream_message
        self.retry_after_s = retry_after_s


class InvalidUserID(VoiceflowError):
    code = "validation"
    permanent = True


class Unauthorized(VoiceflowError):
    code = "upstream_unauthorized"
    permanent = True


class UnknownEnvironment(VoiceflowError):
    code = "upstream_unknown_environment"
    permanent = True


class ValidationFailed(VoiceflowError):
    code = "upstream_validation"
    permanent = True


class RateLimited(VoiceflowError):
    """Too many requests, with the real wait in `retry_after_s`. `limited_by` names the cause:
    "voiceflow" (Voiceflow answered 429) or "budget" (this product's own pacing of the project's
    requests); `reason` is the message without the wait, for pages that count it down."""

    code = "upstream_rate_limited"
    permanent = False

    def __init__(self, reason: str, *, retry_after_s: float, limited_by: str, **kwargs) -> None:
        seconds = wait_seconds(retry_after_s)
        super().__init__(f"{reason}; retry in {seconds} s.", retry_after_s=seconds, **kwargs)
        self.reason = reason
        self.limited_by = limited_by


def wait_seconds(wait_s: float) -> int:
    """A wait as whole seconds for people: rounded up, never 0 (0 reads as "now" and is not)."""
    return max(math.ceil(wait_s), 1)


class UpstreamFailure(VoiceflowError):
    code = "upstream_error"
    permanent = False


class NoSessionApi(VoiceflowError):
    """The runtime has no v4 session API (older private clouds, the open-source runtime answer
    404 on `/v4/…`); the legacy interact still works there."""

    code = "upstream_error"
    permanent = True


class UpstreamTimeout(VoiceflowError):
    code = "upstream_timeout"
    permanent = False


class ProjectMisconfigured(VoiceflowError):
    """The stored project cannot be used as it is (a value no HTTP header can carry, an address
    the dashboard may not reach); fixing the project's settings is the only remedy."""

    code = "upstream_error"
    permanent = True
