"""The one place where errors become HTTP responses, always in the OpenAI error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from regiongate.errors import ApiError, MethodNotAllowed, NotFound, PayloadTooLarge

log = logging.getLogger("regiongate.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


_encoder = msgspec.json.Encoder()


def error_bytes(error: ApiError) -> bytes:
    return _encoder.encode(ErrorEnvelope(ErrorBody(error.message, error.type, error.param, error.code)))


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    merged = {**(headers or {}), **error.headers}
    return web.Response(status=error.status, body=error_bytes(error), content_type="application/json", headers=merged)


def _from_http_exception(exc: web.HTTPException) -> ApiError:
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("The request body is too large.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(f"Method {exc.method} is not allowed here.")
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("Unknown path. regiongate serves /v1/chat/completions, /v1/embeddings and /v1/models.")
    error = ApiError(exc.reason)
    error.status = exc.status
    error.type = "invalid_request_error" if exc.status < 500 else "server_error"
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(exc))
    except Exception:  # last line of defence: a client never sees a traceback, only an OpenAI-shaped error
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ApiError("The gateway failed to handle the request."))
