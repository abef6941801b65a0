"""The parts of OpenAI request bodies the gateway must understand, as msgspec types.

Bodies are decoded once into a plain dict (forwarded, with only ``model`` rewritten, so fields the gateway does not
know — tools, response_format, vendor extensions — reach the backend unchanged) and converted into these types to
check them. A conversion error carries the JSON path, which becomes the OpenAI ``param`` of the 400.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

import msgspec

from regiongate.errors import InvalidJson, InvalidRequest
from regiongate.topology.records import Modality


class TextPart(msgspec.Struct, tag="text", tag_field="type"):
    text: str


class UrlRef(msgspec.Struct):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlPart(msgspec.Struct, tag="image_url", tag_field="type"):
    image_url: UrlRef


class InputAudio(msgspec.Struct):
    data: str
    format: str


class InputAudioPart(msgspec.Struct, tag="input_audio", tag_field="type"):
    input_audio: InputAudio


class AudioUrlPart(msgspec.Struct, tag="audio_url", tag_field="type"):  # vLLM / DashScope extension
    audio_url: UrlRef


class VideoUrlPart(msgspec.Struct, tag="video_url", tag_field="type"):  # vLLM / DashScope extension
    video_url: UrlRef


class RefusalPart(msgspec.Struct, tag="refusal", tag_field="type"):  # appears in assistant history
    refusal: str


Part = TextPart | ImageUrlPart | InputAudioPart | AudioUrlPart | VideoUrlPart | RefusalPart

PART_MODALITY: dict[type[Part], Modality] = {
    TextPart: Modality.TEXT,
    RefusalPart: Modality.TEXT,
    ImageUrlPart: Modality.IMAGE,
    InputAudioPart: Modality.AUDIO,
    AudioUrlPart: Modality.AUDIO,
    VideoUrlPart: Modality.VIDEO,
}


class Message(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Part] | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class AudioOutput(msgspec.Struct):
    """OpenAI's ``audio`` request field: the voice and format of spoken output. Values are the backend's to judge
    (Qwen-Omni's voices are not OpenAI's); the gateway only routes on *whether* audio is asked for."""

    voice: str | dict[str, Any] | None = None
    format: str | None = None


class ChatRequest(msgspec.Struct):
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None
    modalities: list[Literal["text", "audio"]] | None = None  # output modalities
    audio: AudioOutput | None = None

    @property
    def wants_audio(self) -> bool:
        return self.modalities is not None and "audio" in self.modalities


class EmbeddingsRequest(msgspec.Struct):
    model: str
    input: str | list[str | int | list[int]]


T = TypeVar("T")

_PATH = re.compile(r"at `\$\.?(?P<path>[^`]*)`")


def _param(error: msgspec.ValidationError) -> str | None:
    found = _PATH.search(str(error))
    return found.group("path") or None if found else None


def decode_body(raw: bytes) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def convert(body: dict[str, Any], kind: type[T]) -> T:
    try:
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid request: {exc}", param=_param(exc)) from exc


def chat_modalities(request: ChatRequest) -> frozenset[Modality]:
    """The input modalities a chat request carries; text is always one (the reply is prompted by text)."""
    found = {Modality.TEXT}
    for message in request.messages:
        if isinstance(message.content, list):
            found.update(PART_MODALITY[type(part)] for part in message.content)
    return frozenset(found)


def validate_chat(request: ChatRequest) -> None:
    if not request.messages:
        raise InvalidRequest("`messages` must contain at least one message.", param="messages")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = getattr(request, name)
        if value is not None and value < 1:
            raise InvalidRequest(f"`{name}` must be at least 1.", param=name)
