"""Rendering normalized media in each backend's wire dialect: pure functions, no decoding."""

from __future__ import annotations

import base64

import pytest

from regiongate.media.dialects import WireDialect, mixed_modality_index, render_part
from regiongate.media.normalized import Blob, NormalizedAudio, NormalizedImage, NormalizedVideo
from regiongate.topology.records import Modality

IMAGE = NormalizedImage(Blob(b"png-bytes", "image/png"), 56, 56)
WAV = NormalizedAudio(Blob(b"wav-bytes", "audio/wav"), "wav", 1.0, 16_000, 1)
FILE = NormalizedVideo(2.0, 160, 120, video=Blob(b"mp4-bytes", "video/mp4"))
FRAMES = NormalizedVideo(2.0, 56, 56, frames=(b"f1", b"f2", b"f3", b"f4"), fps=2.0, audio=WAV)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_image_in_every_dialect() -> None:
    url = "data:image/png;base64," + _b64(b"png-bytes")
    assert render_part(IMAGE, WireDialect.OPENAI, detail="low") == [
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}}
    ]
    assert render_part(IMAGE, WireDialect.VLLM) == [{"type": "image_url", "image_url": {"url": url}}]
    # DashScope documents no detail field: it is dropped rather than risk a rejected request.
    assert render_part(IMAGE, WireDialect.DASHSCOPE, detail="low") == [{"type": "image_url", "image_url": {"url": url}}]


def test_audio_in_every_dialect() -> None:
    assert render_part(WAV, WireDialect.OPENAI) == [
        {"type": "input_audio", "input_audio": {"data": _b64(b"wav-bytes"), "format": "wav"}}
    ]
    assert render_part(WAV, WireDialect.VLLM) == [
        {"type": "audio_url", "audio_url": {"url": "data:audio/wav;base64," + _b64(b"wav-bytes")}}
    ]
    assert render_part(WAV, WireDialect.DASHSCOPE) == [
        {"type": "input_audio", "input_audio": {"data": "data:;base64," + _b64(b"wav-bytes"), "format": "wav"}}
    ]


def test_video_file() -> None:
    assert render_part(FILE, WireDialect.VLLM) == [
        {"type": "video_url", "video_url": {"url": "data:video/mp4;base64," + _b64(b"mp4-bytes")}}
    ]
    assert render_part(FILE, WireDialect.DASHSCOPE) == [
        {"type": "video_url", "video_url": {"url": "data:;base64," + _b64(b"mp4-bytes")}}
    ]
    with pytest.raises(ValueError, match="no video part"):
        render_part(FILE, WireDialect.OPENAI)


def test_sampled_frames() -> None:
    frames = [_b64(frame) for frame in FRAMES.frames]
    vllm = render_part(FRAMES, WireDialect.VLLM)
    assert vllm[0] == {"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + ",".join(frames)}}
    assert vllm[1]["type"] == "audio_url"
    openai = render_part(FRAMES, WireDialect.OPENAI)
    assert [part["type"] for part in openai] == ["image_url"] * 4 + ["input_audio"]
    assert openai[2]["image_url"]["url"] == "data:image/jpeg;base64," + frames[2]
    # DashScope: a frame-list video part, and never a second modality in the same message.
    assert render_part(FRAMES, WireDialect.DASHSCOPE) == [
        {"type": "video", "video": ["data:image/jpeg;base64," + frame for frame in frames]}
    ]


def test_dialect_traits() -> None:
    assert WireDialect.OPENAI.audio_formats == WireDialect.DASHSCOPE.audio_formats == frozenset({"wav", "mp3"})
    assert WireDialect.VLLM.audio_formats is None
    assert not WireDialect.OPENAI.takes_video_files
    assert WireDialect.VLLM.takes_video_files
    assert WireDialect.DASHSCOPE.one_modality_per_message
    assert not WireDialect.VLLM.one_modality_per_message
    assert not WireDialect.DASHSCOPE.splits_video_audio
    assert WireDialect.OPENAI.splits_video_audio
    assert WireDialect("dashscope") is WireDialect.DASHSCOPE


def test_mixed_modality_index() -> None:
    assert mixed_modality_index([Modality.IMAGE, Modality.IMAGE]) is None
    assert mixed_modality_index([Modality.IMAGE, Modality.IMAGE, Modality.AUDIO, Modality.IMAGE]) == 2
    assert mixed_modality_index([]) is None


def test_digest_framing_covers_every_blob() -> None:
    blobs = list(FRAMES.blobs())
    assert [blob.mime for blob in blobs] == ["image/jpeg"] * 4 + ["audio/wav"]
    assert list(FILE.blobs()) == [Blob(b"mp4-bytes", "video/mp4")]
