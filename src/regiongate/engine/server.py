"""The embedded engine's HTTP face: the OpenAI-compatible API the gateway's ``openai`` adapter speaks to every engine.

``POST /v1/chat/completions`` (plain and SSE, ``stream_options.include_usage``), ``POST /v1/embeddings`` (with the
optional extra, else 501), ``GET /v1/models``, ``GET /health`` (JSON: readiness and counters). Generation runs on
the workers' threads, never on the event loop, so health checks and model lists answer while the model works. A
request whose client goes away stops its generation within a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
from aiohttp import web

from regiongate.engine.embeddings import EMBEDDINGS_MODEL, MISSING, MiniLM, embeddings_body
from regiongate.engine.model import ChatModel, Finish, PromptTooLong
from regiongate.engine.scheduler import Generation, ModelFailed, Overloaded, QueueFull, Scheduler, Worker
from regiongate.engine.schema import (
    ChatRequest,
    ChunkWriter,
    RequestError,
    completion,
    completion_id,
    decode_chat,
    decode_embeddings,
    error_body,
    error_event,
    model_list,
    plain_messages,
)

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Engine:
    """What one engine process holds: its workers (one model instance each), the queue in front of them, and the
    optional embeddings model."""

    def __init__(
        self,
        name: str,
        models: Sequence[ChatModel],
        served: Sequence[str],
        *,
        model_path: Path | None = None,
        queue_limit: int = 16,
        queue_timeout: float = 30.0,
        embedder: MiniLM | None = None,
    ) -> None:
        self.name = name
        self.served = tuple(dict.fromkeys(served))
        self.model_path = model_path
        self.workers = [Worker(i, m) for i, m in enumerate(models)]
        self.scheduler: Scheduler[Worker] = Scheduler(
            self.workers, queue_limit=queue_limit, queue_timeout=queue_timeout
        )
        self.embedder = embedder
        self._embed_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-embeddings")
        self.embed_slot: Scheduler[ThreadPoolExecutor] = Scheduler(
            [self._embed_thread], queue_limit=queue_limit, queue_timeout=queue_timeout
        )
        self.requests = 0  # inference requests received (chat and embeddings), whatever became of them
        self.live: set[Generation] = set()

    def close_generations(self) -> None:
        """Ask every running generation to stop (each notices within a token)."""
        for generation in self.live:
            generation.cancel()

    def close(self) -> None:
        """Stop every generation and wait for the worker threads."""
        self.close_generations()
        for worker in self.workers:
            worker.close()
        self._embed_thread.shutdown(wait=True, cancel_futures=True)

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "name": self.name,
            "model": self.model_path.name if self.model_path else None,
            "served_models": list(self.served),
            "embeddings": self.embedder is not None,
            "requests": self.requests,
            "busy": self.scheduler.busy,
            "waiting": self.scheduler.waiting,
            "capacity": self.scheduler.capacity,
            "refused": self.scheduler.refused,
        }


ENGINE = web.AppKey("engine", Engine)


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return _json(error_body(status, message, code=code, param=param), status, headers)


def _overloaded(exc: Overloaded) -> web.Response:
    code = "rate_limit_exceeded" if isinstance(exc, QueueFull) else "engine_overloaded"
    return _error(exc.status, str(exc), code=code, headers={"Retry-After": str(exc.retry_after)})


def _unknown_model(engine: Engine, model: str, names: Sequence[str]) -> web.Response:
    served = ", ".join(names) or "none"
    return _error(404, f"model {model!r} is not served by {engine.name} (it serves: {served})", code="model_not_found")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    engine.requests += 1
    try:
        req = decode_chat(await request.read())
        messages = plain_messages(req.messages)
    except RequestError as exc:
        return _error(400, str(exc), param=exc.param)
    if req.model not in engine.served:
        return _unknown_model(engine, req.model, engine.served)
    try:
        worker = await engine.scheduler.acquire()
    except Overloaded as exc:
        return _overloaded(exc)
    generation = worker.run(messages, req.sampling(), engine.scheduler.release)
    engine.live.add(generation)
    try:
        try:
            first = await generation.next()  # the prompt is read by now: its errors can still be a status
        except PromptTooLong as exc:
            return _error(400, str(exc), code="context_length_exceeded", param="messages")
        except ModelFailed as exc:  # say so as OpenAI would, never as a traceback
            return _error(500, f"the model failed: {exc}", code="engine_error")
        if req.stream:
            return await _stream(request, req, generation, first)
        return await _whole(req, generation, first)
    finally:
        generation.cancel()  # a no-op once it finished; otherwise the client left: stop within a token
        engine.live.discard(generation)


async def _whole(req: ChatRequest, generation: Generation, piece: str | Finish | None) -> web.StreamResponse:
    parts: list[str] = []
    try:
        while isinstance(piece, str):
            parts.append(piece)
            piece = await generation.next()
    except ModelFailed as exc:
        return _error(500, f"the model failed: {exc}", code="engine_error")
    if piece is None:
        return _error(503, "the engine is shutting down", code="engine_stopping", headers={"Retry-After": "1"})
    return _json(completion(completion_id(), req.model, "".join(parts), piece))


async def _stream(
    request: web.Request, req: ChatRequest, generation: Generation, piece: str | Finish | None
) -> web.StreamResponse:
    chunks = ChunkWriter(completion_id(), req.model, req.include_usage)
    response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    try:
        await response.prepare(request)
        await response.write(chunks.delta({"role": "assistant", "content": ""}))
        try:
            while isinstance(piece, str):
                await response.write(chunks.delta({"content": piece}))
                piece = await generation.next()
        except (ConnectionError, asyncio.CancelledError):
            raise
        except ModelFailed as exc:
            await response.write(error_event(500, f"the model failed: {exc}", "engine_error"))
        else:
            if isinstance(piece, Finish):
                await response.write(chunks.end(piece))
            else:
                await response.write(error_event(503, "the engine is shutting down", "engine_stopping"))
        await response.write_eof()
    except ConnectionError:  # the client went away mid-answer: the finally of the handler stops the generation
        pass
    return response


async def embeddings(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    engine.requests += 1
    if engine.embedder is None:
        return _error(501, MISSING, code="embeddings_unavailable")
    embedder = engine.embedder
    try:
        req = decode_embeddings(await request.read())
    except RequestError as exc:
        return _error(400, str(exc), param=exc.param)
    if req.model != EMBEDDINGS_MODEL and req.model not in engine.served:
        return _unknown_model(engine, req.model, [EMBEDDINGS_MODEL])
    texts = [req.input] if isinstance(req.input, str) else req.input
    try:
        thread = await engine.embed_slot.acquire()
    except Overloaded as exc:
        return _overloaded(exc)
    try:
        vectors, tokens = await asyncio.get_running_loop().run_in_executor(thread, embedder.embed, texts)
    finally:
        engine.embed_slot.release(thread)
    return _json(embeddings_body(req.model, vectors, tokens, req.encoding_format))


async def list_models(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    names = [*engine.served, *([EMBEDDINGS_MODEL] if engine.embedder is not None else [])]
    return _json(model_list(names, owner=engine.name))


async def health(request: web.Request) -> web.StreamResponse:
    return _json(msgspec.json.encode(request.app[ENGINE].health()))


def build_engine_app(engine: Engine) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[ENGINE] = engine
    app.add_routes(
        [
            web.post("/v1/chat/completions", chat_completions),
            web.post("/v1/embeddings", embeddings),
            web.get("/v1/models", list_models),
            web.get("/health", health),
        ]
    )
    return app
