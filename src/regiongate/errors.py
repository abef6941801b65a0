"""The one exception tree of regiongate.

Every error a client can see knows its HTTP status and its OpenAI error ``type`` and ``code``; the single place
that turns them into responses is :mod:`regiongate.api.errors`. Upstream failures are mapped to these classes by
exception type at the adapter edge (:mod:`regiongate.backends.openai`), never by message text.
"""

from __future__ import annotations

from collections.abc import Mapping


class RegiongateError(Exception):
    """Base of every error regiongate raises on purpose."""


class ConfigError(RegiongateError):
    """A topology or configuration file is invalid. ``path`` is the field path, e.g. ``datacenters.fra-1.city``."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class ApiError(RegiongateError):
    """An error answered to a client in the OpenAI error shape."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(ApiError):
    status = 400
    type = "invalid_request_error"


class InvalidJson(InvalidRequest):
    code = "invalid_json"


class UnsupportedModality(InvalidRequest):
    code = "unsupported_modality"


class InvalidMedia(InvalidRequest):
    code = "invalid_media"


class AuthenticationFailed(ApiError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(ApiError):
    status = 403
    type = "invalid_request_error"
    code = "policy_refused"


class NotFound(ApiError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(ApiError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class MisdirectedRequest(ApiError):
    """The tenant's policy refuses this gateway's own datacenter: the payload must not be processed here."""

    status = 421
    type = "invalid_request_error"
    code = "gateway_not_compliant"


class PayloadTooLarge(ApiError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(ApiError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class NoCompliantCapacity(ApiError):
    """Compliant backends exist but none can take the request now. Never answered by widening the set."""

    status = 503
    type = "server_error"
    code = "no_compliant_capacity"


class StateUnavailable(ApiError):
    """The state a region's gateway processes share (Redis) cannot be reached: nothing was sent; retry later."""

    status = 503
    type = "server_error"
    code = "state_unavailable"


class UpstreamError(ApiError):
    """A backend failed in a way that is not the client's fault."""

    status = 502
    type = "server_error"
    code = "upstream_error"


class UpstreamOverloaded(UpstreamError):
    """The backend said it is busy (429): try another candidate, but do not count it against its breaker."""

    status = 503
    code = "upstream_overloaded"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRejected(ApiError):
    """The backend refused the request as the client's fault (its own 4xx); relayed with the backend's status."""

    type = "invalid_request_error"
    code = "upstream_rejected"

    def __init__(self, message: str, *, status: int, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message, param=param, code=code)
        self.status = status
