"""Media profiles a backend declares, and the pure resizing/sampling rules of the ``qwen-omni`` profile.

The rules follow Qwen's own preprocessing so a backend's processor finds nothing left to do (our output is a fixed
point of its ``smart_resize``, and our frame count is what it would sample):

* ``smart_resize``, ``round/ceil/floor_by_factor``, ``smart_nframes`` and the constants: qwen-omni-utils,
  ``qwen-omni-utils/src/qwen_omni_utils/v2_5/vision_process.py`` in QwenLM/Qwen2.5-Omni (IMAGE_FACTOR 28,
  MIN_PIXELS 4*28*28, MAX_PIXELS 16384*28*28, MAX_RATIO 200, VIDEO_MIN_PIXELS 128*28*28, VIDEO_MAX_PIXELS
  768*28*28, VIDEO_TOTAL_PIXELS 128000*28*28*0.9, FPS 2, FRAME_FACTOR 2, FPS_MIN_FRAMES 4, FPS_MAX_FRAMES 768).
* Qwen3-VL's qwen-vl-utils (QwenLM/Qwen3-VL) states the same bounds as token counts times ``factor**2`` with
  ``factor = patch_size * 2``; Qwen3-Omni's vision encoder config has ``patch_size=16, spatial_merge_size=2`` in
  transformers, hence the ``qwen3-omni`` preset with factor 32.
* Audio at 16 kHz mono: ``librosa.load(..., sr=16000)`` in qwen-omni-utils' ``audio_process.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np


class ProfileName(StrEnum):
    PASSTHROUGH = "passthrough"  # validate only: the bytes go on as they came
    QWEN_OMNI = "qwen-omni"  # resize, resample and sample frames the way Qwen's processors expect


@dataclass(frozen=True, slots=True)
class MediaProfile:
    name: ProfileName = ProfileName.PASSTHROUGH
    factor: int = 28
    image_min_pixels: int = 4 * 28 * 28
    image_max_pixels: int = 16384 * 28 * 28
    max_ratio: float = 200.0
    video_fps: float = 2.0
    video_min_frames: int = 4
    video_max_frames: int = 768
    frame_factor: int = 2
    video_min_pixels: int = 128 * 28 * 28
    video_max_pixels: int = 768 * 28 * 28
    video_total_pixels: int = int(128000 * 28 * 28 * 0.9)
    audio_rate: int = 16_000
    split_video_audio: bool = True  # send a video's audio track as its own audio part (use_audio_in_video)

    def __post_init__(self) -> None:
        square = self.factor * self.factor
        if self.factor < 1 or self.frame_factor < 1:
            raise ValueError("MediaProfile factors must be positive")
        if not square <= self.image_min_pixels <= self.image_max_pixels:
            raise ValueError("MediaProfile needs factor² <= image_min_pixels <= image_max_pixels")
        if not square <= self.video_min_pixels <= self.video_max_pixels:
            raise ValueError("MediaProfile needs factor² <= video_min_pixels <= video_max_pixels")
        if self.video_fps <= 0 or not self.frame_factor <= self.video_min_frames <= self.video_max_frames:
            raise ValueError("MediaProfile needs video_fps > 0 and frame_factor <= min_frames <= max_frames")

    @property
    def normalizes(self) -> bool:
        return self.name is not ProfileName.PASSTHROUGH

    @classmethod
    def qwen_omni(cls, factor: int = 28, *, seq_len: int = 128_000, split_video_audio: bool = True) -> MediaProfile:
        """Qwen's bounds, given in tokens of ``factor × factor`` pixels as qwen-vl-utils does."""
        square = factor * factor
        return cls(
            ProfileName.QWEN_OMNI,
            factor=factor,
            image_min_pixels=4 * square,
            image_max_pixels=16384 * square,
            video_min_pixels=128 * square,
            video_max_pixels=768 * square,
            video_total_pixels=int(seq_len * square * 0.9),
            split_video_audio=split_video_audio,
        )


PASSTHROUGH = MediaProfile()
QWEN_OMNI = MediaProfile.qwen_omni(28)  # Qwen2.5-Omni / Qwen2.5-VL: 14-pixel patches merged 2×2
QWEN3_OMNI = MediaProfile.qwen_omni(32)  # Qwen3-Omni / Qwen3-VL: 16-pixel patches merged 2×2

PROFILES: dict[str, MediaProfile] = {
    "passthrough": PASSTHROUGH,
    "qwen-omni": QWEN_OMNI,
    "qwen2.5-omni": QWEN_OMNI,
    "qwen3-omni": QWEN3_OMNI,
}


def profile_named(name: str, **overrides: object) -> MediaProfile:
    """The profile a backend declares by name, with optional field overrides (e.g. ``split_video_audio=False``)."""
    try:
        base = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown media profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
    return replace(base, **overrides)  # type: ignore[arg-type]


def round_by_factor(number: float, factor: int) -> int:
    return round(number / factor) * factor  # Python's round: half to even, as upstream


def ceil_by_factor(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def smart_resize(
    height: int, width: int, *, factor: int, min_pixels: int, max_pixels: int, max_ratio: float = 200.0
) -> tuple[int, int]:
    """``(height, width)``, both multiples of ``factor``, with ``height * width <= max_pixels`` and (for sane bounds)
    ``>= min_pixels``, keeping the aspect ratio as closely as the grid allows. Raises ``ValueError`` past
    ``max_ratio``, as upstream does."""
    if height < 1 or width < 1:
        raise ValueError("image has no pixels")
    if max(height, width) / min(height, width) > max_ratio:
        raise ValueError(f"aspect ratio above {max_ratio:g}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        # max(factor, ...) as transformers' Qwen2-VL image processor does: a thin image must not floor to 0.
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return _within_ratio(*_within_max(h_bar, w_bar, factor, max_pixels), factor, max_ratio)


def _within_max(h_bar: int, w_bar: int, factor: int, max_pixels: int) -> tuple[int, int]:
    """Upstream can overshoot ``max_pixels`` only for tight bounds (the ``max(factor, …)`` guard, or ceil in the
    min branch). Max is the bound that protects memory and token budgets, so it wins: trim the longer side."""
    if h_bar * w_bar <= max_pixels:
        return h_bar, w_bar
    if h_bar >= w_bar:
        return max(factor, floor_by_factor(max_pixels // w_bar, factor)), w_bar
    return h_bar, max(factor, floor_by_factor(max_pixels // h_bar, factor))


def _within_ratio(h_bar: int, w_bar: int, factor: int, max_ratio: float) -> tuple[int, int]:
    """Rounding can carry a ratio just under ``max_ratio`` over it (85×16815 → 84×16828): the backend's own
    ``smart_resize`` would then refuse our output. Trim the longer side back under the ratio (fewer pixels, so
    still within max)."""
    if max(h_bar, w_bar) / min(h_bar, w_bar) <= max_ratio:
        return h_bar, w_bar
    if h_bar > w_bar:
        return floor_by_factor(w_bar * max_ratio, factor), w_bar
    return h_bar, floor_by_factor(h_bar * max_ratio, factor)


def smart_nframes(
    total_frames: int,
    video_fps: float,
    *,
    fps: float = 2.0,
    min_frames: int = 4,
    max_frames: int = 768,
    frame_factor: int = 2,
) -> int:
    """How many frames to sample from a video of ``total_frames`` at ``video_fps``: ``fps`` per second, within
    ``[min_frames, max_frames]`` and never more than the video has, floored to a multiple of ``frame_factor``.
    Raises ``ValueError`` for a video too short to give ``frame_factor`` frames, as upstream does."""
    low = ceil_by_factor(min_frames, frame_factor)
    high = floor_by_factor(min(max_frames, total_frames), frame_factor)
    wanted = total_frames / video_fps * fps
    count = floor_by_factor(min(max(wanted, low), high, total_frames), frame_factor)
    if not frame_factor <= count <= total_frames:
        raise ValueError(f"a video of {total_frames} frames is too short to sample")
    return count


def sample_indices(total_frames: int, count: int) -> list[int]:
    """Evenly spaced frame indices, first and last included: upstream's ``linspace(0, total-1, n).round()``."""
    return [int(i) for i in np.linspace(0, total_frames - 1, count).round()]


def video_frame_bounds(count: int, profile: MediaProfile) -> tuple[int, int]:
    """Per-frame ``(min_pixels, max_pixels)``: the whole clip shares ``video_total_pixels`` (two frames make one
    temporal patch), and a frame never drops below just above ``video_min_pixels``; as upstream ``fetch_video``."""
    share = profile.video_total_pixels / count * profile.frame_factor
    max_pixels = max(min(profile.video_max_pixels, share), int(profile.video_min_pixels * 1.05))
    return profile.video_min_pixels, int(max_pixels)
