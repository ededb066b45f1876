"""Typed failures of Voiceflow calls, each with a message a person can act on.

`permanent` tells the bulk engine's retry loop whether trying again can help; `code` is the
machine-readable name the REST API returns.
"""


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
    code = "upstream_rate_limited"
    permanent = False


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
