"""Wire dialects: how a backend wants media content parts written. Pure functions of normalized media.

* ``openai``: images as ``image_url`` data URLs (``detail`` kept); audio as ``input_audio`` ``{data: <base64>,
  format: wav|mp3}``; no video part exists, so a video goes as its sampled frames (``image_url`` parts, in order)
  followed by its audio track.
* ``vllm``: ``image_url``, ``audio_url`` and ``video_url`` with data URLs; sampled frames as one
  ``data:video/jpeg;base64,<frame>,<frame>,…`` URL, vLLM's frame-sequence form (vllm/multimodal/media/video.py,
  ``VideoMediaIO.load_base64``), which it reads as frames at 2 fps. vLLM caps such sequences at its ``num_frames``
  media-io setting in recent versions: serve with ``--media-io-kwargs '{"video": {"num_frames": -1}}'``.
* ``dashscope`` (Alibaba Model Studio's OpenAI-compatible mode): audio and video files as ``data:;base64,`` URLs
  (``input_audio`` / ``video_url``), images as ``data:image/…;base64,``, sampled frames as a ``video`` part listing
  image data URLs. Qwen-Omni there takes text plus ONE other modality per message: a message mixing image, audio
  and video is refused (400, naming the first part of a second modality) rather than split, because splitting one
  user turn into several changes what the model is asked. For the same reason a video's audio track is never split
  off for DashScope: frame-list videos there carry no sound (use ``passthrough`` to keep it).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from regiongate.media.normalized import Blob, NormalizedAudio, NormalizedImage, NormalizedPart, NormalizedVideo
from regiongate.topology.records import Modality

Part = dict[str, Any]


class WireDialect(StrEnum):
    OPENAI = "openai"
    VLLM = "vllm"
    DASHSCOPE = "dashscope"

    @property
    def audio_formats(self) -> frozenset[str] | None:
        """Audio formats a passed-through ``input_audio``/``audio_url`` may have; ``None``: any we accept."""
        return None if self is WireDialect.VLLM else frozenset({"wav", "mp3"})

    @property
    def takes_video_files(self) -> bool:
        return self is not WireDialect.OPENAI

    @property
    def splits_video_audio(self) -> bool:
        return self is not WireDialect.DASHSCOPE

    @property
    def one_modality_per_message(self) -> bool:
        return self is WireDialect.DASHSCOPE


def render_part(part: NormalizedPart, dialect: WireDialect, *, detail: str | None = None) -> list[Part]:
    """The content parts ``dialect`` expects for one normalized media part (a video may become several)."""
    if isinstance(part, NormalizedImage):
        return [_image(part.image, dialect, detail)]
    if isinstance(part, NormalizedAudio):
        return [_audio(part, dialect)]
    return _video(part, dialect)


def mixed_modality_index(modalities: Sequence[Modality]) -> int | None:
    """Index of the first media part whose modality differs from the message's first one, if any."""
    for index, modality in enumerate(modalities):
        if modality is not modalities[0]:
            return index
    return None


def data_url(blob: Blob, *, typed: bool = True) -> str:
    mime = blob.mime if typed else ""
    return f"data:{mime};base64,{base64.b64encode(blob.data).decode('ascii')}"


def _image(blob: Blob, dialect: WireDialect, detail: str | None) -> Part:
    image_url: dict[str, str] = {"url": data_url(blob)}
    if detail is not None and dialect is not WireDialect.DASHSCOPE:
        image_url["detail"] = detail
    return {"type": "image_url", "image_url": image_url}


def _audio(audio: NormalizedAudio, dialect: WireDialect) -> Part:
    if dialect is WireDialect.VLLM:
        return {"type": "audio_url", "audio_url": {"url": data_url(audio.audio)}}
    if dialect is WireDialect.DASHSCOPE:
        url = data_url(audio.audio, typed=False)
        return {"type": "input_audio", "input_audio": {"data": url, "format": audio.format}}
    payload = base64.b64encode(audio.audio.data).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": payload, "format": audio.format}}


def _video(video: NormalizedVideo, dialect: WireDialect) -> list[Part]:
    if video.video is not None:
        if not dialect.takes_video_files:
            raise ValueError("the openai dialect has no video part; use a profile that samples frames")
        url = data_url(video.video, typed=dialect is not WireDialect.DASHSCOPE)
        return [{"type": "video_url", "video_url": {"url": url}}]
    parts = _frames(video.frames, dialect)
    if video.audio is not None and dialect.splits_video_audio:
        parts.append(_audio(video.audio, dialect))
    return parts


def _frames(frames: Sequence[bytes], dialect: WireDialect) -> list[Part]:
    encoded = [base64.b64encode(frame).decode("ascii") for frame in frames]
    if dialect is WireDialect.VLLM:
        return [{"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + ",".join(encoded)}}]
    urls = ["data:image/jpeg;base64," + frame for frame in encoded]
    if dialect is WireDialect.DASHSCOPE:
        return [{"type": "video", "video": urls}]
    return [{"type": "image_url", "image_url": {"url": url}} for url in urls]
