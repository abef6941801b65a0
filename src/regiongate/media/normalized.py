"""What a worker hands back: validated, normalized media ready to be written in a backend's wire dialect.

These are plain frozen values (they cross process boundaries by pickling) holding only bytes and facts about them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    mime: str  # e.g. image/jpeg, audio/wav, video/mp4


@dataclass(frozen=True, slots=True)
class NormalizedImage:
    image: Blob
    width: int
    height: int

    def blobs(self) -> Iterator[Blob]:
        yield self.image


@dataclass(frozen=True, slots=True)
class NormalizedAudio:
    audio: Blob
    format: str  # the OpenAI ``input_audio.format`` name: wav, mp3, flac, ogg, m4a
    seconds: float
    rate: int
    channels: int

    def blobs(self) -> Iterator[Blob]:
        yield self.audio


@dataclass(frozen=True, slots=True)
class NormalizedVideo:
    """Either the validated original file (``video``) or sampled JPEG ``frames`` at ``fps``, with the audio track
    split off as ``audio`` when the profile asks for it."""

    seconds: float
    width: int  # of the frames sent on (the source's when passed through)
    height: int
    video: Blob | None = None
    frames: tuple[bytes, ...] = field(default=())
    fps: float = 0.0
    audio: NormalizedAudio | None = None

    def blobs(self) -> Iterator[Blob]:
        if self.video is not None:
            yield self.video
        for frame in self.frames:
            yield Blob(frame, "image/jpeg")
        if self.audio is not None:
            yield self.audio.audio


NormalizedPart = NormalizedImage | NormalizedAudio | NormalizedVideo


def part_digest(salt: bytes, part: NormalizedPart) -> str:
    """HMAC-SHA256 over every blob of the part, each framed by its type and length so no two parts collide. Keyed
    with a secret salt (the gateway uses the tenant's): a record can prove which media was sent without letting a
    reader test guesses."""
    mac = hmac.new(salt, digestmod=hashlib.sha256)
    for blob in part.blobs():
        mac.update(blob.mime.encode() + b"\0" + len(blob.data).to_bytes(8, "big"))
        mac.update(blob.data)
    return mac.hexdigest()
