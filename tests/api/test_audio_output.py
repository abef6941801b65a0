"""Spoken output: only backends whose model outputs audio are candidates (the compliant set is only narrowed), and
vLLM-Omni's separate audio choice and audio chunks reach the client in OpenAI's shape."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import soundfile  # type: ignore[import-untyped]

from regiongate.backends.fake import Behaviour, FakeBackend
from tests.api.conftest import World, open_world
from tests.api.media_world import ask, error_of, send
from tests.media import corpus

SPEAK = {"modalities": ["text", "audio"], "audio": {"voice": "Cherry", "format": "wav"}}
WAV = corpus.audio_bytes("WAV", seconds=0.25, rate=24_000, channels=1)
SPOKEN = base64.b64encode(WAV).decode()


class OmniFake(FakeBackend):
    """Answers as vLLM-Omni serves Qwen3-Omni: the text and the audio as two choices of the same index, and in a
    stream the audio as a chunk marked ``"modality": "audio"`` whose ``delta.content`` is the base64 WAV."""

    def _chat(self, head: dict[str, Any], body: dict[str, Any]) -> bytes | list[bytes]:
        out = super()._chat(head, body)
        if isinstance(out, bytes):
            reply = msgspec.json.decode(out)
            audio = {"id": "audio-1234", "data": SPOKEN, "expires_at": 1_900_000_000, "transcript": ""}
            message = {"role": "assistant", "content": None, "audio": audio}
            reply["choices"].append({"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"})
            return msgspec.json.encode(reply)
        chunk = msgspec.json.decode(out[1][len(b"data: ") :])
        chunk["choices"][0]["delta"] = {"role": "assistant", "content": SPOKEN}
        spoken = b"data: " + msgspec.json.encode({**chunk, "modality": "audio"}) + b"\n\n"
        return [*out[:-1], spoken, out[-1]]


class OpenAIShapedFake(FakeBackend):
    """Already answers in OpenAI's shape: ``message.audio`` in the one choice."""

    def _chat(self, head: dict[str, Any], body: dict[str, Any]) -> bytes | list[bytes]:
        out = super()._chat(head, body)
        assert isinstance(out, bytes)
        reply = msgspec.json.decode(out)
        audio = {"id": "audio_abc", "data": SPOKEN, "expires_at": 1_900_000_000, "transcript": "hi"}
        reply["choices"][0]["message"].update(content=None, audio=audio)
        return msgspec.json.encode(reply)


@pytest.fixture
async def omni_world(tmp_path: Path) -> AsyncIterator[World]:
    # de-bank's compliant backends: fra-3-h200 (outputs text and audio; here vLLM-Omni) and par-1-cpu (text only).
    w = await open_world(tmp_path, fakes={"fra-3-h200": OmniFake(name="fra-3-h200")})
    try:
        yield w
    finally:
        await w.close()


async def test_no_compliant_backend_speaking_is_400_naming_the_compliant_ones(world: World) -> None:
    await world.start_gateway("gw-par")
    status, payload, _ = await send(world, "gw-par", ask(**SPEAK))
    assert status == 400, payload
    error = error_of(payload)
    assert (error["code"], error["param"]) == ("unsupported_modality", "modalities")
    assert "audio output" in error["message"]
    assert "par-1-cpu" in error["message"]
    assert sum(world.requests_by_backend().values()) == 0


async def test_unknown_output_modality_is_400_with_param(world: World) -> None:
    await world.start_gateway("gw-par")
    status, payload, _ = await send(world, "gw-par", ask(modalities=["text", "smell"]))
    assert status == 400, payload
    assert error_of(payload)["param"] == "modalities[1]"


async def test_audio_requests_go_only_to_backends_that_speak_and_never_wider(omni_world: World) -> None:
    await omni_world.start_gateway("gw-fra3")
    for _ in range(6):
        status, payload, headers = await send(omni_world, "gw-fra3", ask(**SPEAK))
        assert status == 200, payload
        assert headers["X-Regiongate-Backend"] == "fra-3-h200"
    omni_world.fakes["fra-3-h200"].behaviour = Behaviour(mode="fail", status=500)
    status, payload, _ = await send(omni_world, "gw-fra3", ask(**SPEAK))
    assert status == 503, payload  # par-1-cpu is compliant but does not speak: not a fallback
    assert omni_world.fakes["par-1-cpu"].requests == 0
    status, payload, headers = await send(omni_world, "gw-fra3", ask())  # text only: par-1-cpu is fine
    assert status == 200
    assert headers["X-Regiongate-Backend"] == "par-1-cpu"


async def test_vllm_omni_second_choice_becomes_message_audio(omni_world: World) -> None:
    await omni_world.start_gateway("gw-fra3")
    status, payload, _ = await send(omni_world, "gw-fra3", ask(**SPEAK))
    assert status == 200, payload
    (choice,) = payload["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    message = choice["message"]
    assert message["content"] == "[fra-3-h200] what is this?"
    audio = message["audio"]
    assert set(audio) == {"id", "data", "transcript", "expires_at"}
    assert (audio["id"], audio["expires_at"], audio["transcript"]) == ("audio-1234", 1_900_000_000, message["content"])
    info = soundfile.info(io.BytesIO(base64.b64decode(audio["data"], validate=True)))
    assert (info.format, info.samplerate, info.channels) == ("WAV", 24_000, 1)
    assert omni_world.fakes["fra-3-h200"].last_body["modalities"] == ["text", "audio"]  # forwarded as asked
    assert omni_world.sinks["gw-fra3"].records[-1].output_tag is not None


async def test_vllm_omni_streamed_audio_is_relayed_as_delta_audio(omni_world: World) -> None:
    await omni_world.start_gateway("gw-fra3")
    status, text, _ = await send(omni_world, "gw-fra3", ask(stream=True, **SPEAK))
    assert status == 200, text
    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert text.rstrip().endswith("data: [DONE]")
    assert all("modality" not in chunk for chunk in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    spoken = [d["audio"] for d in deltas if "audio" in d]
    assert len(spoken) == 1
    assert spoken[0]["id"].startswith("audio_")
    assert base64.b64decode(spoken[0]["data"]) == WAV
    said = "".join(d.get("content") or "" for d in deltas)
    assert said == "[fra-3-h200] what is this?"  # the text stays text; the audio is no longer content


async def test_a_reply_to_a_request_not_asking_for_audio_is_relayed_as_received(omni_world: World) -> None:
    await omni_world.start_gateway("gw-fra3")
    omni_world.fakes["par-1-cpu"].behaviour = Behaviour(mode="fail", status=500)  # so fra-3-h200 answers
    status, payload, headers = await send(omni_world, "gw-fra3", ask())
    assert status == 200
    assert headers["X-Regiongate-Backend"] == "fra-3-h200"
    assert len(payload["choices"]) == 2  # nothing is parsed or rewritten on the plain path


async def test_openai_shaped_audio_is_relayed_untouched(tmp_path: Path) -> None:
    world = await open_world(tmp_path, fakes={"fra-3-h200": OpenAIShapedFake(name="fra-3-h200")})
    try:
        await world.start_gateway("gw-fra3")
        status, payload, _ = await send(world, "gw-fra3", ask(**SPEAK))
        assert status == 200, payload
        (choice,) = payload["choices"]
        assert choice["message"]["audio"] == {
            "id": "audio_abc", "data": SPOKEN, "expires_at": 1_900_000_000, "transcript": "hi"
        }  # fmt: skip
    finally:
        await world.close()
