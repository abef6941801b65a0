"""The demo's client: plain aiohttp, speaking the OpenAI chat API to the gateways as any SDK would."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from regiongate.topology.records import Tenant

MODEL = "qwen3-omni"
MAX_TOKENS = 24  # per answer: enough for the first words the tour shows, short enough to keep real engines quick
DEMO_KEY_PREFIX = "rg-demo-"


def demo_key(tenant: Tenant) -> str | None:
    """The tenant's demo API key (``rg-demo-<tenant id>``), if the topology lists its sha256; None otherwise."""
    key = DEMO_KEY_PREFIX + tenant.id
    return key if hashlib.sha256(key.encode()).digest() in tenant.key_hashes else None


@dataclass(slots=True)
class Reply:
    """What one chat request came back with."""

    status: int
    headers: dict[str, str]
    body: bytes = b""  # the exact body received (not kept for streams)
    text: str = ""  # the assistant's answer (streamed: the deltas joined)
    chunks: int = 0  # streamed: SSE data events before [DONE]
    done: bool = False  # streamed: the stream ended with data: [DONE]
    error: dict[str, Any] = field(default_factory=dict)  # the OpenAI error object, if any

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def backend(self) -> str | None:
        return self.headers.get("X-Regiongate-Backend")

    @property
    def gateway(self) -> str | None:
        return self.headers.get("X-Regiongate-Gateway")

    @property
    def code(self) -> str | None:
        code = self.error.get("code")
        return code if isinstance(code, str) else None

    def first_words(self, n: int = 6) -> str:
        words = self.text.split()
        return " ".join(words[:n]) + (" …" if len(words) > n else "")


class DemoClient:
    """One pooled session; counts the requests it sent to each base URL (to know how many records to expect)."""

    def __init__(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30.0), trust_env=False, raise_for_status=False
        )
        self.sent: Counter[str] = Counter()

    async def close(self) -> None:
        await self._session.close()

    async def chat(self, base_url: str, key: str, prompt: str, *, stream: bool = False) -> Reply:
        body: dict[str, Any] = {
            "model": MODEL,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
            "max_tokens": MAX_TOKENS,
        }
        headers = {"Authorization": f"Bearer {key}"}
        self.sent[base_url.rstrip("/")] += 1
        async with self._session.post(f"{base_url.rstrip('/')}/chat/completions", json=body, headers=headers) as resp:
            reply = Reply(resp.status, dict(resp.headers))
            if resp.content_type == "text/event-stream":
                await _read_stream(resp, reply)
            else:
                reply.body = await resp.read()
                _read_json(reply.body, reply)
        return reply

    async def get(self, url: str, key: str | None = None) -> Reply:
        """A plain GET (a receipt, the log's key), as ``key``'s tenant if given. Not counted in :attr:`sent`: it
        is not a request the gateways make a decision record of."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        async with self._session.get(url, headers=headers) as resp:
            reply = Reply(resp.status, dict(resp.headers), await resp.read())
        if resp.content_type == "application/json":
            _read_json(reply.body, reply)
        return reply


def _read_json(raw: bytes, reply: Reply) -> None:
    try:
        data = json.loads(raw)
    except ValueError:
        reply.error = {"message": f"not JSON: {raw[:80]!r}", "code": "not_json"}
        return
    if not isinstance(data, dict):
        reply.error = {"message": "not a JSON object", "code": "not_json"}
    elif isinstance(data.get("error"), dict):
        reply.error = data["error"]
    else:
        choices = data.get("choices") or [{}]
        reply.text = str(choices[0].get("message", {}).get("content") or "")


async def _read_stream(resp: aiohttp.ClientResponse, reply: Reply) -> None:
    parts: list[str] = []
    async for raw_line in resp.content:
        line = raw_line.decode().strip()
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            reply.done = True  # read on to the end of the body: closing early would cut the gateway's last write
            continue
        try:
            event = json.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            reply.error = {"message": f"malformed event: {data[:80]!r}", "code": "bad_event_stream"}
            break
        if isinstance(event.get("error"), dict):  # the gateway ends a failed stream with an error event
            reply.error = event["error"]
            continue
        reply.chunks += 1
        for choice in event.get("choices") or ():
            parts.append(str((choice.get("delta") or {}).get("content") or ""))
    reply.text = "".join(parts)
