"""The OpenAI-compatible endpoints: authenticate, admit, parse, plan, dispatch, relay, record.

Retries happen only before the first byte reaches the client: a streamed reply's first chunk is read inside the
attempt, so a backend that fails before producing anything is replaced by another candidate of the same set.
Each backend tried is logged as a decision before the payload goes to it, and no byte of the answer is written
before the decision that routed it is durable (``ctx.logged()``): the commit overlaps the backend's work.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from regiongate.api.context import RequestContext
from regiongate.api.errors import error_bytes, error_response
from regiongate.api.media import MediaBodies
from regiongate.api.outputs import AudioDeltas, merge_audio_choices
from regiongate.api.runtime import Plan, Runtime
from regiongate.api.schema import (
    ChatRequest,
    EmbeddingsRequest,
    chat_modalities,
    convert,
    decode_body,
    validate_chat,
)
from regiongate.api.sse import SseStream, Usage
from regiongate.backends.protocol import Endpoint, UpstreamReply
from regiongate.errors import ApiError, UpstreamError
from regiongate.routing.router import Lease
from regiongate.topology.records import Modality

RUNTIME = web.AppKey("runtime", Runtime)
_TEXT_ONLY = frozenset({Modality.TEXT})
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _Reply(msgspec.Struct):
    """Just enough of a completion to know the backend sent one (garbage is an upstream failure)."""

    object: str | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class _Whole:
    body: bytes
    usage: Usage | None


@dataclass(slots=True)
class _Streamed:
    reply: UpstreamReply
    events: SseStream
    first: bytes


class _Bodies:
    """The request as each candidate must receive it: only ``model`` differs (the backend's own name for it).
    Encoded on first use per name, so a request that succeeds at once is encoded once."""

    __slots__ = ("_body", "_encoded", "_plan")

    def __init__(self, body: dict[str, Any], plan: Plan) -> None:
        self._body, self._plan = body, plan
        self._encoded: dict[str, bytes] = {}

    def for_backend(self, backend_id: str) -> bytes:
        name = self._plan.served[backend_id].served_as
        found = self._encoded.get(name)
        if found is None:
            self._body["model"] = name
            found = self._encoded[name] = msgspec.json.encode(self._body)
        return found


async def _first_events(reply: UpstreamReply, backend_id: str) -> _Streamed:
    events = SseStream(aiter(reply.chunks()), backend_id)
    try:
        first = await events.next_events()
    except UpstreamError:
        reply.close()
        raise
    if first is None:
        raise UpstreamError(f"backend {backend_id} closed the stream before sending anything")
    return _Streamed(reply, events, first)


async def _whole_body(reply: UpstreamReply, backend_id: str) -> _Whole:
    data = await reply.read()
    try:
        parsed = msgspec.json.decode(data, type=_Reply)
    except msgspec.DecodeError:
        raise UpstreamError(f"backend {backend_id} sent a reply that is not a JSON object") from None
    return _Whole(data, parsed.usage)


def _usage(usage: Usage | None) -> tuple[int, int] | None:
    return (usage.prompt_tokens, usage.completion_tokens) if usage is not None else None


@dataclass(frozen=True, slots=True)
class _Chat:
    """What a chat request adds to the plain path: its media, and whether it asked for spoken output."""

    media: MediaBodies | None = None
    audio_out: bool = False


_PLAIN = _Chat()


async def _proxy(
    request: web.Request,
    runtime: Runtime,
    ctx: RequestContext,
    endpoint: Endpoint,
    body: dict[str, Any],
    plan: Plan,
    stream: bool,
    chat: _Chat = _PLAIN,
) -> web.StreamResponse:
    bodies, media = _Bodies(body, plan), chat.media

    async def attempt(lease: Lease) -> _Streamed | _Whole:
        backend_id = lease.slot.id
        if media is None:
            payload = bodies.for_backend(backend_id)
        else:  # checked and prepared for this backend's profile and dialect before anything is sent to it
            payload, ctx.media_digests = await media.for_backend(backend_id)
        ctx.deciding(backend_id)
        reply = await runtime.upstreams[backend_id].send(endpoint, payload)
        if stream:
            return await _first_events(reply, backend_id)
        return await _whole_body(reply, backend_id)

    lease, result = await runtime.router.dispatch(plan.slots, attempt)
    ctx.routed_to(runtime.backend(lease.slot.id))
    try:
        await ctx.logged()
    except BaseException:  # the log failed (503) or the client left: the backend did nothing wrong
        lease.released()
        if isinstance(result, _Streamed):
            result.reply.close()
        raise
    if isinstance(result, _Whole):
        lease.succeeded()
        ctx.status, ctx.usage = 200, _usage(result.usage)
        data = merge_audio_choices(result.body) if chat.audio_out else result.body
        ctx.sent(data)
        return web.Response(body=data, content_type="application/json", headers=ctx.headers())
    return await _relay(request, ctx, lease, result, AudioDeltas() if chat.audio_out else None)


async def _relay(
    request: web.Request,
    ctx: RequestContext,
    lease: Lease,
    streamed: _Streamed,
    rewrite: Callable[[bytes], bytes] | None,
) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={**_SSE_HEADERS, **ctx.headers()})
    ctx.status = 200
    try:
        await response.prepare(request)
        events: bytes | None = streamed.first
        while events is not None:
            if rewrite is not None:
                events = rewrite(events)
            ctx.sent(events)
            await response.write(events)
            events = await streamed.events.next_events()
    except UpstreamError as exc:
        # Bytes already reached the client, so no retry: end the stream with an error event it can parse.
        lease.failed()
        ctx.failed(exc.code or "upstream_error")
        event = b"data: " + error_bytes(exc) + b"\n\n"
        ctx.sent(event)
        await response.write(event)
    except BaseException:
        lease.released()  # the client went away (or we are shutting down): says nothing about the backend
        ctx.failed("client_disconnected")
        streamed.reply.close()
        raise
    else:
        lease.succeeded()
    finally:
        ctx.usage = _usage(streamed.events.usage)
    await response.write_eof()
    return response


Work = Callable[[web.Request, Runtime, RequestContext], Awaitable[web.StreamResponse]]


def _recorded(work: Work) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler whose request leaves exactly one decision record, answered or refused, whatever raised."""

    async def handler(request: web.Request) -> web.StreamResponse:
        runtime = request.app[RUNTIME]
        ctx = RequestContext(runtime)
        try:
            return await work(request, runtime, ctx)
        except ApiError as exc:
            ctx.refused(exc)
            return error_response(exc)
        except BaseException:
            ctx.crashed()
            raise
        finally:
            ctx.finish()

    return handler


async def _chat(request: web.Request, runtime: Runtime, ctx: RequestContext) -> web.StreamResponse:
    ctx.tenant = runtime.authenticate(request.headers.get("Authorization"))
    runtime.admit(ctx.tenant)
    body = decode_body(await request.read())
    chat = convert(body, ChatRequest)
    validate_chat(chat)
    ctx.note_input(chat)
    modalities = chat_modalities(chat)
    ctx.model, ctx.modalities = chat.model, modalities
    audio_out = chat.wants_audio
    plan = ctx.plan = runtime.plan(ctx.tenant, chat.model, modalities, audio_out=audio_out)
    media = None
    if modalities != _TEXT_ONLY:
        media = MediaBodies(runtime.media, body, plan, runtime.recording.tenant_salt(ctx.tenant))
    extras = _Chat(media, audio_out) if media is not None or audio_out else _PLAIN
    return await _proxy(request, runtime, ctx, Endpoint.CHAT, body, plan, chat.stream, extras)


async def _embeddings(request: web.Request, runtime: Runtime, ctx: RequestContext) -> web.StreamResponse:
    ctx.tenant = runtime.authenticate(request.headers.get("Authorization"))
    runtime.admit(ctx.tenant)
    body = decode_body(await request.read())
    parsed = convert(body, EmbeddingsRequest)
    ctx.model, ctx.modalities = parsed.model, _TEXT_ONLY
    plan = ctx.plan = runtime.plan(ctx.tenant, parsed.model, ctx.modalities)
    return await _proxy(request, runtime, ctx, Endpoint.EMBEDDINGS, body, plan, stream=False)


chat_completions = _recorded(_chat)
embeddings = _recorded(_embeddings)


class _ModelCard(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "regiongate"


class _ModelList(msgspec.Struct):
    data: list[_ModelCard]
    object: str = "list"


async def list_models(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    tenant = runtime.authenticate(request.headers.get("Authorization"))
    runtime.admit(tenant)
    cards = _ModelList([_ModelCard(name) for name in runtime.models_for(tenant)])
    return web.Response(body=msgspec.json.encode(cards), content_type="application/json")


async def healthz(request: web.Request) -> web.StreamResponse:
    """200 while this gateway can answer; 503 while its decision log cannot store leaves (every request would be
    refused), so that a load balancer sends tenants to another compliant gateway meanwhile."""
    runtime = request.app[RUNTIME]
    storing = runtime.ledger is None or runtime.ledger.available
    body = {"status": "ok" if storing else "unavailable", "gateway": runtime.gateway.id, "time": time.time()}
    if not storing:
        body["reason"] = "ledger_unavailable"
    return web.json_response(body, status=200 if storing else 503)
