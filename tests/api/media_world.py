"""The example world with media declarations, and helpers to send media through a real gateway.

Backends: ``gru-1-ppu`` (br-fintech's only compliant backend, gateway gw-gru) prepares media with the ``qwen-omni``
profile (28-pixel grid, 16 kHz mono) in vLLM's dialect; ``hgh-1-ascend`` (cn-app's only one, gw-hgh) with
``qwen3-omni`` (32-pixel grid) in DashScope's; ``par-1-cpu`` (eu-ministry's only one, gw-par) keeps the defaults,
``passthrough`` in OpenAI's dialect, and takes no video and outputs no audio.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import aiohttp
import msgspec

from regiongate.settings import MediaSettings
from tests.api.conftest import KEYS, World

THREADS = MediaSettings(processes=False, workers=2, queue=16)  # a thread pool: fast to start in tests
TENANT = {"gw-gru": "br-fintech", "gw-hgh": "cn-app", "gw-par": "eu-ministry", "gw-fra3": "de-bank"}
BACKEND = {"gw-gru": "gru-1-ppu", "gw-hgh": "hgh-1-ascend", "gw-par": "par-1-cpu"}
Part = dict[str, Any]


DECLARED = {
    "gru-1-ppu": ("qwen-omni", "vllm"),
    "hgh-1-ascend": ("qwen3-omni", "dashscope"),
    "fra-3-h200": ("qwen-omni", "vllm"),  # de-bank's other candidate, par-1-cpu, keeps passthrough/openai
}


def declare_media(text: str) -> str:
    for backend, (profile, dialect) in DECLARED.items():
        head = f"  {backend}:\n    datacenter: {backend.rsplit('-', 1)[0]}\n"
        assert head in text
        text = text.replace(head, f"{head}    media_profile: {profile}\n    dialect: {dialect}\n")
    return text


def data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image(url: str) -> Part:
    return {"type": "image_url", "image_url": {"url": url}}


def audio_url(url: str) -> Part:
    return {"type": "audio_url", "audio_url": {"url": url}}


def video(url: str) -> Part:
    return {"type": "video_url", "video_url": {"url": url}}


def input_audio(data: bytes, fmt: str = "wav") -> Part:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


def ask(*parts: Part, **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": "what is this?"}, *parts]
    return {"model": "qwen3-omni", "messages": [{"role": "user", "content": content}], **extra}


async def send(world: World, gateway: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    headers = {"Authorization": f"Bearer {KEYS[TENANT[gateway]]}", "Content-Type": "application/json"}
    data = io.BytesIO(msgspec.json.encode(body))  # aiohttp warns about large raw bodies
    async with (
        aiohttp.ClientSession() as http,
        http.post(world.gateways[gateway] + "/chat/completions", data=data, headers=headers) as r,
    ):
        raw = await r.read()
        payload = raw.decode() if body.get("stream") and r.status == 200 else await r.json(content_type=None)
        return r.status, payload, dict(r.headers)


def received(world: World, gateway: str) -> list[Part]:
    """The content parts of the last message the gateway's backend received."""
    body = world.fakes[BACKEND[gateway]].last_body
    assert isinstance(body, dict), "the backend received nothing"
    content: list[Part] = body["messages"][-1]["content"]
    return content


def unwrap(url: str, prefix: str = "data:") -> bytes:
    assert url.startswith(prefix), url[:40]
    header, _, payload = url.partition(",")
    assert header.endswith(";base64"), header
    return base64.b64decode(payload, validate=True)


def error_of(payload: Any) -> dict[str, Any]:
    assert set(payload) == {"error"}, payload
    error: dict[str, Any] = payload["error"]
    return error
