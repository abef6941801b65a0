"""Per-gateway media limits, and the one place Pillow's process-wide safety settings are made from them.

Every limit is checked as early as the format allows: bytes before decoding anything, header-declared sizes and
durations before decoding pixels or samples, and decoded counts again while decoding, since headers can lie.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaLimits:
    max_part_bytes: int = 20 * _MIB
    max_request_bytes: int = 50 * _MIB
    max_parts: int = 16
    # Pillow's own default (~179 MP, and an error only at twice that) lets one PNG of a few kB claim gigabytes.
    max_image_pixels: int = 40_000_000
    max_audio_seconds: float = 600.0
    max_audio_channels: int = 8
    max_audio_rate: int = 192_000
    max_video_seconds: float = 300.0
    max_video_fps: float = 120.0  # declared source rate: caps how many frames "5 minutes" may mean
    max_video_frames: int = 18_000  # source frames demuxed/decoded: 5 min at 60 fps
    max_video_frame_pixels: int = 3840 * 2160
    max_sample_fps: float = 2.0  # frames per second of video that may be sent on to a backend
    max_output_frames: int = 768
    # Wall time one part may take in a worker. Checked between frames/packets, so a decoder is never interrupted
    # mid-call, but no file can keep a worker busy for long.
    max_part_seconds: float = 30.0

    def __post_init__(self) -> None:
        for field in fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"MediaLimits.{field.name} must be positive")
        if self.max_part_bytes > self.max_request_bytes:
            raise ValueError("MediaLimits.max_part_bytes must not exceed max_request_bytes")


# Ancillary PNG text (tEXt/zTXt/iTXt) may inflate to 64 MB by Pillow's default: far more than any caption needs.
_PNG_TEXT_MEMORY = 1 * _MIB
_configured_pixels: int | None = None


def configure_pillow(limits: MediaLimits) -> None:
    """Lower Pillow's decompression-bomb limit to ``max_image_pixels`` and make its warning an error.

    These are process-wide settings, so a process serves one set of limits (one gateway); the per-call pixel check
    in :mod:`regiongate.media.image` is the authority and this is the backstop. Idempotent and cheap.
    """
    global _configured_pixels
    if _configured_pixels == limits.max_image_pixels:
        return
    # Imported here so that the limits themselves (read by the gateway's settings) need no media libraries.
    from PIL import Image, PngImagePlugin

    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    # Pillow warns between the limit and twice it and raises only above: treat both as "too many pixels".
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    PngImagePlugin.MAX_TEXT_MEMORY = _PNG_TEXT_MEMORY
    _configured_pixels = limits.max_image_pixels
