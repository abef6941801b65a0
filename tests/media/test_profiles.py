"""The qwen-omni profile's pure rules: smart_resize, smart_nframes, frame sampling, per-frame pixel bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regiongate.media.profiles import (
    PASSTHROUGH,
    QWEN3_OMNI,
    QWEN_OMNI,
    MediaProfile,
    ProfileName,
    profile_named,
    sample_indices,
    smart_nframes,
    smart_resize,
    video_frame_bounds,
)

MIN, MAX = 4 * 28 * 28, 16384 * 28 * 28


def _resize(height: int, width: int, factor: int = 28, low: int = MIN, high: int = MAX) -> tuple[int, int]:
    return smart_resize(height, width, factor=factor, min_pixels=low, max_pixels=high)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((240, 320), (252, 308)),  # rounded to the nearest multiple, no scaling needed
        ((28, 28), (56, 56)),  # below min_pixels (4 patches): scaled up, ceil
        ((1, 1), (56, 56)),
        ((3000, 4000), (2996, 4004)),  # 12 MP is within 16384 patches (12.85 MP): only rounded, half to even
        ((6000, 8000), (3080, 4116)),  # 48 MP: scaled by 1/sqrt(48e6/max), floored to stay under max
        ((10, 1999), (28, 1988)),  # thin: rows round to 0, kept at one factor (upstream stretches it)
        ((85, 16815), (84, 16800)),  # rounding gives 84×16828, past 200:1; trimmed so a backend accepts it
    ],
)
def test_smart_resize_examples(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert _resize(*size) == expected


def test_smart_resize_floor_guard_and_max_win_for_tight_bounds() -> None:
    # 30×5999 at max 100 tokens: beta = 1.515, rows floor to 0 patches and are kept at one (transformers' guard);
    # the columns then floor to 141 patches, 28×3948 > max, so they are trimmed to 2800: max wins.
    assert _resize(30, 5999, high=100 * 784) == (28, 2800)


def test_smart_resize_refuses_extreme_aspect_ratio_like_upstream() -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        _resize(10, 2001)
    with pytest.raises(ValueError, match="no pixels"):
        _resize(0, 10)


_sides = st.integers(min_value=1, max_value=20_000)


@settings(max_examples=400, deadline=None)
@given(height=_sides, width=_sides)
def test_smart_resize_default_bounds(height: int, width: int) -> None:
    """Multiples of 28 within Qwen's default bounds, aspect ratio kept up to the grid's rounding, and a fixed point
    (a backend's own smart_resize leaves our output alone)."""
    if max(height, width) / min(height, width) > 200:
        return
    h, w = _resize(height, width)
    assert h % 28 == 0
    assert w % 28 == 0
    assert h >= 28
    assert w >= 28
    assert MIN <= h * w <= MAX
    assert max(h, w) / min(h, w) <= 200
    assert _resize(h, w) == (h, w)
    scale = math.sqrt(h * w / (height * width))
    if min(height, width) * scale >= 10 * 28:  # far from the grid's resolution, rounding costs little
        assert abs(math.log((w / h) / (width / height))) <= math.log(1.25)


@settings(max_examples=300, deadline=None)
@given(
    height=_sides,
    width=_sides,
    factor=st.sampled_from([14, 28, 32]),
    low_tokens=st.integers(min_value=1, max_value=256),
    extra_tokens=st.integers(min_value=0, max_value=16384),
)
def test_smart_resize_any_bounds_never_exceeds_max(
    height: int, width: int, factor: int, low_tokens: int, extra_tokens: int
) -> None:
    """Max is a hard bound whatever the configured bounds (it protects memory and the token budget)."""
    if max(height, width) / min(height, width) > 200:
        return
    low, high = low_tokens * factor**2, (low_tokens + extra_tokens) * factor**2
    h, w = _resize(height, width, factor, low, high)
    assert h % factor == 0
    assert w % factor == 0
    assert h >= factor
    assert w >= factor
    assert h * w <= high


@pytest.mark.parametrize(
    ("total", "fps", "expected"),
    [
        (300, 30.0, 20),  # 10 s at 2 fps
        (30, 10.0, 6),  # 3 s
        (20, 10.0, 4),  # 2 s would give 4
        (10, 10.0, 4),  # 1 s gives 2, raised to the 4-frame minimum
        (3, 30.0, 2),  # fewer frames than the minimum: all it has, floored to even
        (100_000, 30.0, 768),  # ~55 min: capped at 768
        (45, 10.0, 8),  # 4.5 s -> 9 -> floored to even
    ],
)
def test_smart_nframes_examples(total: int, fps: float, expected: int) -> None:
    assert smart_nframes(total, fps) == expected


def test_smart_nframes_refuses_a_single_frame() -> None:
    with pytest.raises(ValueError, match="too short"):
        smart_nframes(1, 30.0)


@settings(max_examples=400, deadline=None)
@given(total=st.integers(min_value=2, max_value=200_000), video_fps=st.floats(min_value=0.5, max_value=120))
def test_smart_nframes_properties(total: int, video_fps: float) -> None:
    count = smart_nframes(total, video_fps)
    assert count % 2 == 0
    assert 2 <= count <= min(total, 768)
    if total >= 4:
        assert count >= 4
    wanted = total / video_fps * 2
    if 4 <= wanted <= min(total, 768):
        assert wanted - 2 < count <= wanted  # 2 fps, floored to even


@settings(max_examples=200, deadline=None)
@given(total=st.integers(min_value=2, max_value=100_000), data=st.data())
def test_sample_indices_are_distinct_sorted_and_span_the_video(total: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=2, max_value=min(total, 768)))
    indices = sample_indices(total, count)
    assert len(indices) == count == len(set(indices))
    assert indices == sorted(indices)
    assert indices[0] == 0
    assert indices[-1] == total - 1


def test_video_frame_bounds_share_the_total_budget() -> None:
    low, high = video_frame_bounds(4, QWEN_OMNI)
    assert (low, high) == (128 * 784, 768 * 784)  # few frames: each gets the per-frame max
    low, high = video_frame_bounds(768, QWEN_OMNI)
    assert high == int(128000 * 784 * 0.9 / 768 * 2)  # many frames: the clip's total is shared
    assert video_frame_bounds(100_000, QWEN_OMNI)[1] == int(128 * 784 * 1.05)  # never below just above the min


def test_profiles() -> None:
    assert not PASSTHROUGH.normalizes
    assert QWEN_OMNI.normalizes
    assert QWEN_OMNI.factor == 28
    assert QWEN_OMNI.image_max_pixels == 16384 * 28 * 28
    assert QWEN3_OMNI.factor == 32
    assert QWEN3_OMNI.image_min_pixels == 4 * 32 * 32
    assert profile_named("qwen-omni", split_video_audio=False).split_video_audio is False
    assert profile_named("passthrough").name is ProfileName.PASSTHROUGH
    with pytest.raises(ValueError, match="unknown media profile"):
        profile_named("qwen-vl-9")
    with pytest.raises(ValueError, match="image_min_pixels"):
        MediaProfile(ProfileName.QWEN_OMNI, image_min_pixels=10)
    with pytest.raises(ValueError, match="min_frames"):
        MediaProfile(ProfileName.QWEN_OMNI, video_min_frames=1000)
