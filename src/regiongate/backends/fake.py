"""A fake OpenAI-compatible backend shaped like vLLM's server, for tests, the demo and the benchmarks.

``POST /v1/chat/completions`` (plain or SSE, ``stream_options.include_usage``, ``max_tokens``), ``POST /v1/embeddings``
(deterministic unit vectors, float or base64), ``GET /v1/models``, ``GET /health``. A reply echoes the last user text
after the backend's name (``"[fra-1] hello"``); a token is a word. Steered in process (``fake.behaviour = ...``) or
over HTTP: ``POST /_fake/behaviour`` (a :class:`Behaviour` as JSON), ``GET /_fake/stats``, ``POST /_fake/reset``.
Run one as a process with ``python -m regiongate.backends.fake --port P --name N``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import math
import re
import signal
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import msgspec
import uvloop
from aiohttp import web
from multidict import CIMultiDict

Mode = Literal["normal", "slow", "fail", "drop", "drop_mid_stream", "garbage", "hang"]
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class Behaviour(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Modes: ``normal``; ``slow`` (normal, by name: the delays apply in every mode); ``fail`` (``status``, OpenAI error
    body); ``drop`` (close the connection before any header); ``drop_mid_stream`` (after ``after_chunks`` SSE events, or
    halfway through a plain body); ``garbage`` (200, non-JSON or malformed SSE); ``hang`` (until the client goes)."""

    mode: Mode = "normal"
    delay: _Seconds = 0.0  # before the headers
    chunk_delay: _Seconds = 0.0  # between two SSE events
    status: Annotated[int, msgspec.Meta(ge=400, le=599)] = 500  # fail
    message: str | None = None  # fail: the error message
    retry_after: Annotated[int, msgspec.Meta(ge=0)] | None = None  # fail: a Retry-After header
    after_chunks: Annotated[int, msgspec.Meta(ge=0)] = 1  # drop_mid_stream
    times: Annotated[int, msgspec.Meta(ge=1)] | None = None  # for this many POSTs (GETs see it uncounted)


NORMAL = Behaviour()
_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded", 503: "service_unavailable"}
_WORD = re.compile(r"\S+\s*")
_JSON = "application/json"
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_DONE = b"data: [DONE]\n\n"
_GARBAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
_BAD_SSE = b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [{"delta": \n\n'
_encode = msgspec.json.encode


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    kind = "server_error" if status >= 500 else "requests" if status == 429 else "invalid_request_error"
    body = _encode({"error": {"message": message, "type": kind, "param": None, "code": _CODES.get(status)}})
    return web.Response(status=status, body=body, content_type=_JSON, headers=headers)


class _Reject(Exception):
    """A request the fake refuses, as vLLM would: ``args`` are (status, message)."""


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else ""


def _vector(text: str, dims: int, fmt: str) -> list[float] | str:
    raw = struct.unpack(f"<{dims}H", hashlib.shake_256(text.encode()).digest(2 * dims))
    values = [v / 32767.5 - 1.0 for v in raw]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    unit = [v / norm for v in values]
    return base64.b64encode(struct.pack(f"<{dims}f", *unit)).decode() if fmt == "base64" else unit


class FakeBackend:
    """``requests``/``probes`` count POSTs/GETs; empty ``models`` serves any name; ``api_key``, if set, is required."""

    def __init__(
        self, name: str, behaviour: Behaviour = NORMAL, *, models: Sequence[str] = (), api_key: str | None = None
    ) -> None:
        self.name, self.api_key, self.models = name, api_key, tuple(models)
        self.url, self.port = "", 0
        self.reset()
        self._behaviour, self._uses = behaviour, 0
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        self._behaviour, self._uses = value, 0

    def reset(self) -> None:
        """Zero the counters and forget the last request (the behaviour stays)."""
        self.requests = self.probes = 0
        self.last_path: str | None = None
        self.last_body: Any = None  # the decoded JSON body; None if there was none or it was not JSON
        self.last_headers: Mapping[str, str] = CIMultiDict()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) and return the base URL, ending in ``/v1``."""
        app = web.Application(client_max_size=64 * 2**20)
        app.add_routes([web.post(path, self._handle) for path in ("/v1/chat/completions", "/v1/embeddings")])
        app.add_routes([web.get(path, self._handle) for path in ("/v1/models", "/health")])
        app.router.add_get("/_fake/{what:stats|behaviour}", self._control)
        app.router.add_post("/_fake/{what:behaviour|reset}", self._control)
        self._stopping.clear()
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}/v1"
        return self.url

    async def stop(self) -> None:
        """Close every connection (hanging and slow requests included) and stop listening."""
        self._stopping.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _control(self, request: web.Request) -> web.Response:
        if request.match_info["what"] == "reset":
            self.reset()
        elif request.method == "POST":
            try:
                self.behaviour = msgspec.json.decode(await request.read(), type=Behaviour)
            except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
                return _error(400, str(exc))
        counts = {"name": self.name, "requests": self.requests, "probes": self.probes, "behaviour": self._behaviour}
        last = {"last_path": self.last_path, "last_body": self.last_body, "last_headers": {**self.last_headers}}
        return web.Response(body=_encode({**counts, **last}), content_type=_JSON)

    def _take(self, post: bool) -> Behaviour:
        b, self._uses = self._behaviour, self._uses + post
        if b.times is not None and self._uses >= b.times:
            self._behaviour, self._uses = NORMAL, 0
        return b

    async def _pause(self, seconds: float) -> bool:
        """Sleep, waking early if the fake stops; True if it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    @staticmethod
    def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return response or web.Response()  # aiohttp then finds the transport closed and lets go quietly

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        if request.method == "POST":
            self.requests += 1
            with contextlib.suppress(msgspec.DecodeError):
                body = msgspec.json.decode(await request.read())
        else:
            self.probes += 1
        self.last_path, self.last_body, self.last_headers = request.path, body, request.headers
        b = self._take(request.method == "POST")
        if b.mode == "hang":
            await self._stopping.wait()  # the client leaving cancels this handler
        if b.mode in ("drop", "hang") or (b.delay and await self._pause(b.delay)):
            return self._drop(request)
        if b.mode == "fail":
            headers = {"Retry-After": str(b.retry_after)} if b.retry_after is not None else None
            return _error(b.status, b.message or f"{self.name}: simulated failure", headers)
        try:
            if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise _Reject(401, "Incorrect API key provided.")
            out = self._answer(request.path, body)
        except _Reject as exc:
            return _error(*exc.args)
        return await self._deliver(request, b, out)

    def _answer(self, path: str, body: Any) -> bytes | list[bytes]:
        if path == "/health":
            return _encode({"status": "ok", "name": self.name})
        if path == "/v1/models":
            owned = {"object": "model", "created": 0, "owned_by": "vllm", "parent": None, "max_model_len": 32768}
            return _encode({"object": "list", "data": [{"id": m, "root": m, **owned} for m in self.models or ["fake"]]})
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str):
            raise _Reject(400, "The body must be a JSON object with a 'model'.")
        if self.models and model not in self.models:
            raise _Reject(404, f"The model `{model}` does not exist.")
        head = {"created": int(time.time()), "model": model}
        return self._embeddings(head, body) if path == "/v1/embeddings" else self._chat(head, body)

    def _embeddings(self, head: dict[str, Any], body: dict[str, Any]) -> bytes:
        given = body.get("input")
        one = isinstance(given, str) or (isinstance(given, list) and given and all(isinstance(t, int) for t in given))
        items = [given] if one else given
        if not isinstance(items, list) or not items or not all(isinstance(i, str | list) for i in items):
            raise _Reject(400, "'input' must be a string, a list of strings or token lists.")
        texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in items]
        dims, fmt = body.get("dimensions") or 16, body.get("encoding_format") or "float"
        if not isinstance(dims, int) or not 1 <= dims <= 4096 or fmt not in ("float", "base64"):
            raise _Reject(400, "'dimensions' must be 1..4096 and 'encoding_format' float or base64.")
        data = [{"index": i, "object": "embedding", "embedding": _vector(t, dims, fmt)} for i, t in enumerate(texts)]
        tokens = sum(len(_WORD.findall(t)) or 1 for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return _encode({"id": f"embd-{uuid.uuid4().hex}", "object": "list", **head, "data": data, "usage": usage})

    def _chat(self, head: dict[str, Any], body: dict[str, Any]) -> bytes | list[bytes]:
        messages = body.get("messages")
        valid = isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages)
        if not valid or not messages:
            raise _Reject(400, "'messages' must be a non-empty list of {role, content} objects.")
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise _Reject(400, "'max_tokens' must be a positive integer.")
        texts = [_text(m.get("content")) for m in messages]
        said = next((t for m, t in zip(messages[::-1], texts[::-1], strict=True) if m["role"] == "user"), "")
        words, finish = _WORD.findall(f"[{self.name}] {said or 'hello'}"), "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        prompt = sum(len(_WORD.findall(t)) for t in texts)
        usage = {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", **head}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words), "tool_calls": []}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish, "stop_reason": None}
            return _encode({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        head = {**head, "object": "chat.completion.chunk"}
        tail = {"usage": None} if with_usage else {}

        def event(delta: dict[str, str], reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            return b"data: " + _encode({**head, "choices": [choice], **tail}) + b"\n\n"

        events = [event({"role": "assistant", "content": ""})]
        events += [event({"content": w}, finish if i == len(words) - 1 else None) for i, w in enumerate(words)]
        if with_usage:
            events.append(b"data: " + _encode({**head, "choices": [], "usage": usage}) + b"\n\n")
        return [*events, _DONE]

    async def _deliver(self, request: web.Request, b: Behaviour, out: bytes | list[bytes]) -> web.StreamResponse:
        if isinstance(out, bytes):
            if b.mode != "drop_mid_stream":
                return web.Response(body=_GARBAGE if b.mode == "garbage" else out, content_type=_JSON)
            response = web.StreamResponse(headers={"Content-Type": _JSON, "Content-Length": str(len(out))})
            await response.prepare(request)
            await response.write(out[: len(out) // 2])
            return self._drop(request, response)
        response = web.StreamResponse(headers=_SSE)
        await response.prepare(request)
        events = [_BAD_SSE, _DONE] if b.mode == "garbage" else out
        cut = min(b.after_chunks, len(events) - 1) if b.mode == "drop_mid_stream" else -1
        for i, data in enumerate(events):
            if i == cut or (i and b.chunk_delay and await self._pause(b.chunk_delay)):
                return self._drop(request, response)
            await response.write(data)
        await response.write_eof()
        return response


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m regiongate.backends.fake", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (the URL is printed)")
    parser.add_argument("--name", default="fake")
    parser.add_argument("--model", action="append", help="serve only these model names (repeatable)")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--behaviour", help='initial behaviour as JSON, e.g. \'{"mode": "slow", "delay": 0.5}\'')
    args = parser.parse_args(argv)
    behaviour = msgspec.json.decode(args.behaviour, type=Behaviour) if args.behaviour else NORMAL

    async def run() -> None:
        fake = FakeBackend(args.name, behaviour, models=args.model or (), api_key=args.api_key)
        print(f"fake backend {args.name} listening on {await fake.start(args.host, args.port)}", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await fake.stop()

    uvloop.run(run())


if __name__ == "__main__":
    main()
