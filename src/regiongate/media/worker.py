"""The unit of work the media pool runs: one content part in, the backend's content parts (and a digest) out.

Everything proportional to the media's size happens here, off the event loop: base64 decoding, sniffing,
validation, normalization, base64 encoding for the wire, and the HMAC. Jobs and results are plain frozen values so
they pickle for a process pool, and the only exception that leaves is :class:`MediaRejected`, which pickles too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regiongate.media.audio import normalize_audio
from regiongate.media.dialects import WireDialect, render_part
from regiongate.media.errors import FetchError
from regiongate.media.image import normalize_image
from regiongate.media.limits import MediaLimits
from regiongate.media.normalized import NormalizedPart, part_digest
from regiongate.media.parts import decode_source
from regiongate.media.profiles import MediaProfile
from regiongate.media.rejection import MediaRejected
from regiongate.media.sniff import MediaKind
from regiongate.media.video import normalize_video
from regiongate.topology.records import Modality


@dataclass(frozen=True, slots=True)
class MediaJob:
    source: bytes | str  # fetched bytes, or a data: URL / bare base64 as the client sent it
    expect: Modality
    limits: MediaLimits
    profile: MediaProfile
    dialect: WireDialect
    salt: bytes
    bare_base64: bool = False
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedPart:
    parts: list[dict[str, Any]]  # the content parts to send in place of the client's one
    digest: str  # HMAC-SHA256 of the normalized media under the salt given
    received_bytes: int


def run_job(job: MediaJob) -> PreparedPart:
    """Decode, validate, normalize and render one part. Raises :class:`MediaRejected` only."""
    try:
        media = decode_source(
            job.source, bare_base64=job.bare_base64, expect=job.expect, max_bytes=job.limits.max_part_bytes
        )
    except FetchError as error:  # the data URL helpers' errors carry a reason too; keep it
        raise MediaRejected(error.reason, error.message) from None
    normalized = normalize_media(media.data, media.kind, job.limits, job.profile, job.dialect)
    return PreparedPart(
        render_part(normalized, job.dialect, detail=job.detail), part_digest(job.salt, normalized), len(media.data)
    )


def normalize_media(
    data: bytes, kind: MediaKind, limits: MediaLimits, profile: MediaProfile, dialect: WireDialect = WireDialect.VLLM
) -> NormalizedPart:
    """Validate and normalize media already identified as ``kind``, for a backend speaking ``dialect``."""
    modality = kind.modality
    if modality is Modality.IMAGE:
        return normalize_image(data, kind, limits, profile)
    if modality is Modality.AUDIO:
        return normalize_audio(data, kind, limits, profile, carry=dialect.audio_formats)
    split = profile.split_video_audio and dialect.splits_video_audio
    return normalize_video(data, kind, limits, profile, split_audio=split)
