"""Spoken output in OpenAI's shape, whatever form the backend answered in.

OpenAI (and DashScope's compatible mode) put audio in the answering choice: ``message.audio`` = ``{id, data,
expires_at, transcript}`` (``data`` base64 audio in the requested format), streamed as ``delta.audio`` pieces. Those
are relayed untouched. vLLM-Omni (Qwen3-Omni's thinker/talker pipeline) answers a text+audio request with the text
and the audio as *separate choices*, the second holding ``message.audio`` with ``data`` a base64 WAV and an empty
``transcript`` (vllm-omni ``entrypoints/openai/serving_chat.py``, its example client reads every choice), and
streams the audio as a chunk marked ``"modality": "audio"`` whose ``delta.content`` is the base64 WAV. Both are
rewritten here: the audio joins the text choice of the same index (else the next text choice without audio) with
the text as its transcript, and audio chunks become ``delta.audio`` = ``{id, data}``.

Only requests that asked for audio output come here; everything else is relayed byte for byte.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

_EXPIRY = 24 * 3600  # vLLM-Omni's own expires_at, used when a backend gives none


def audio_id() -> str:
    return "audio_" + secrets.token_hex(12)


def _audio(choice: Any) -> dict[str, Any] | None:
    message = choice.get("message") if isinstance(choice, dict) else None
    audio = message.get("audio") if isinstance(message, dict) else None
    return audio if isinstance(audio, dict) else None


def _separate_audio(choice: Any) -> bool:
    """An audio-only choice: ``message.audio`` and no text."""
    return _audio(choice) is not None and not choice["message"].get("content")


def merge_audio_choices(body: bytes) -> bytes:
    """A whole reply with separate audio choices merged into the text choices; other replies unchanged."""
    if b'"audio"' not in body:
        return body
    reply = msgspec.json.decode(body)
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, dict) for c in choices):
        return body
    audio = [c for c in choices if _separate_audio(c)]
    text = [c for c in choices if not _separate_audio(c)]
    if not audio or not text:
        return body
    kept: list[dict[str, Any]] = list(text)
    for choice in audio:
        target = _target(text, choice.get("index"))
        if target is None:
            kept.append(choice)
            continue
        message = target.setdefault("message", {})
        message["audio"] = _complete(choice["message"]["audio"], message.get("content"))
    _reindex(kept)
    reply["choices"] = kept
    return msgspec.json.encode(reply)


def _target(text: list[dict[str, Any]], index: object) -> dict[str, Any] | None:
    """The text choice the audio belongs to: the one with its index, else the first without audio yet."""
    free = [c for c in text if isinstance(c.get("message"), dict) and _audio(c) is None]
    same = [c for c in free if c.get("index") == index]
    found = same or free
    return found[0] if found else None


def _complete(audio: dict[str, Any], transcript: object) -> dict[str, Any]:
    """OpenAI's four fields, the backend's values first."""
    return {
        **audio,
        "id": audio.get("id") or audio_id(),
        "data": audio.get("data") or "",
        "expires_at": audio.get("expires_at") or int(time.time()) + _EXPIRY,
        "transcript": audio.get("transcript") or (transcript if isinstance(transcript, str) else ""),
    }


def _reindex(choices: list[dict[str, Any]]) -> None:
    """Indexes unique (vLLM-Omni gives its audio choice the text's index): duplicates move past the largest."""
    seen: set[object] = set()
    top = max((c["index"] for c in choices if isinstance(c.get("index"), int)), default=-1)
    for choice in choices:
        if choice.get("index") in seen or not isinstance(choice.get("index"), int):
            top += 1
            choice["index"] = top
        seen.add(choice["index"])


class AudioDeltas:
    """Rewrites vLLM-Omni's audio chunks of one stream into ``delta.audio``; everything else passes untouched."""

    __slots__ = ("_id",)

    def __init__(self) -> None:
        self._id = audio_id()

    def __call__(self, events: bytes) -> bytes:
        if b'"modality"' not in events:
            return events
        out = []
        for event in events.split(b"\n\n"):
            out.append(b"\n".join(self._line(line) for line in event.split(b"\n")))
        return b"\n\n".join(out)

    def _line(self, line: bytes) -> bytes:
        if not line.startswith(b"data:") or b'"modality"' not in line:
            return line
        chunk = msgspec.json.decode(line[5:])  # the relay checked it is JSON
        if not isinstance(chunk, dict) or chunk.get("modality") != "audio":
            return line
        del chunk["modality"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                data = delta.pop("content")
                if data:
                    delta["audio"] = {"id": self._id, "data": data}
        return b"data: " + msgspec.json.encode(chunk)
