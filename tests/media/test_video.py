"""Video through the pipeline: MP4, MOV and WebM pass; qwen-omni output is decoded and checked (2 fps, 4–768 frames,
even counts, the right frames, sides on the 28 grid, 16 kHz mono audio track); every cap and bad form is refused."""

from __future__ import annotations

import time

import pytest

from regiongate.errors import InvalidMedia, UnsupportedModality
from regiongate.media.dialects import WireDialect
from regiongate.media.limits import MediaLimits
from regiongate.media.profiles import PASSTHROUGH, QWEN_OMNI, profile_named
from regiongate.media.rejection import MediaRefused, MediaRejected
from regiongate.media.sniff import MediaKind
from regiongate.media.worker import normalize_media
from tests.media import corpus
from tests.media.media_helpers import (
    audio_info,
    data_url,
    decode_image,
    frames_of_vllm_video,
    image_part,
    prepare,
    text,
    unwrap_data_url,
    user,
    video_part,
)

FORMATS = ["MP4", "MOV", "WEBM"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_qwen_omni_samples_2fps_frames_and_splits_the_audio(fmt: str) -> None:
    source = corpus.cached_video(fmt, seconds=3.0, fps=10)
    prepared = await prepare([user(text(), video_part(data_url(source, "video/mp4")))])
    content = prepared.messages[0]["content"]
    assert [part["type"] for part in content] == ["text", "video_url", "audio_url"]
    frames = frames_of_vllm_video(content[1]["video_url"]["url"])
    assert len(frames) == 6  # 3 s at 2 fps
    assert {frame.size for frame in frames} == {(392, 280)}  # 160×120 raised to >= 128 patches of 28×28
    # Each clip frame is marked with its index: the sampled ones must be round(linspace(0, 29, 6)).
    assert [corpus.frame_index(frame) for frame in frames] == [0, 6, 12, 17, 23, 29]
    track = audio_info(unwrap_data_url(content[2]["audio_url"]["url"]))
    assert (track.samplerate, track.channels, track.subtype) == (16_000, 1, "PCM_16")
    assert track.duration == pytest.approx(3.0, abs=0.1)


async def test_long_video_is_capped_at_768_even_frames() -> None:
    source = corpus.cached_video("MP4", seconds=400.0, fps=3, width=32, height=32, audio=False)
    limits = MediaLimits(max_video_seconds=600)
    prepared = await prepare([user(video_part(data_url(source)))], limits=limits)
    frames = frames_of_vllm_video(prepared.messages[0]["content"][0]["video_url"]["url"])
    assert len(frames) == 768  # 400 s at 2 fps would be 800
    width, height = frames[0].size
    assert width % 28 == 0
    assert height % 28 == 0
    assert 128 * 784 <= width * height <= 768 * 784


async def test_sample_rate_cap_is_a_limit() -> None:
    source = data_url(corpus.cached_video("MP4", seconds=10.0, fps=10, audio=False))
    prepared = await prepare([user(video_part(source))])
    assert len(frames_of_vllm_video(prepared.messages[0]["content"][0]["video_url"]["url"])) == 20
    prepared = await prepare([user(video_part(source))], limits=MediaLimits(max_sample_fps=1.0))
    assert len(frames_of_vllm_video(prepared.messages[0]["content"][0]["video_url"]["url"])) == 10


async def test_short_clip_gets_the_four_frame_minimum() -> None:
    source = data_url(corpus.cached_video("WEBM", seconds=1.0, fps=10, audio=False))
    prepared = await prepare([user(video_part(source))])
    assert len(frames_of_vllm_video(prepared.messages[0]["content"][0]["video_url"]["url"])) == 4


async def test_no_audio_track_or_not_wanted_gives_no_audio_part() -> None:
    silent = data_url(corpus.cached_video("MP4", audio=False))
    prepared = await prepare([user(video_part(silent))])
    assert [part["type"] for part in prepared.messages[0]["content"]] == ["video_url"]
    sound = data_url(corpus.cached_video("MP4"))
    prepared = await prepare([user(video_part(sound))], profile=profile_named("qwen-omni", split_video_audio=False))
    assert [part["type"] for part in prepared.messages[0]["content"]] == ["video_url"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_passthrough_validates_and_keeps_the_file(fmt: str) -> None:
    source = corpus.cached_video(fmt)
    prepared = await prepare([user(video_part(data_url(source)))], profile=PASSTHROUGH)
    url = prepared.messages[0]["content"][0]["video_url"]["url"]
    assert unwrap_data_url(url) == source
    assert url.startswith("data:video/webm;" if fmt == "WEBM" else "data:video/mp4;")


async def test_openai_dialect_gets_frames_as_images_then_the_audio() -> None:
    prepared = await prepare([user(video_part(data_url(corpus.cached_video("MP4"))))], dialect=WireDialect.OPENAI)
    content = prepared.messages[0]["content"]
    assert [part["type"] for part in content] == ["image_url"] * 4 + ["input_audio"]
    assert decode_image(unwrap_data_url(content[0]["image_url"]["url"])).size == (392, 280)
    assert content[-1]["input_audio"]["format"] == "wav"


async def test_openai_dialect_cannot_take_a_passed_through_video() -> None:
    with pytest.raises(UnsupportedModality) as caught:
        await prepare(
            [user(text(), video_part(data_url(corpus.cached_video("MP4"))))],
            profile=PASSTHROUGH,
            dialect=WireDialect.OPENAI,
        )
    assert caught.value.param == "messages[0].content[1]"


async def test_dashscope_gets_a_frame_list_and_no_split_audio() -> None:
    prepared = await prepare([user(video_part(data_url(corpus.cached_video("MP4"))))], dialect=WireDialect.DASHSCOPE)
    content = prepared.messages[0]["content"]
    assert [part["type"] for part in content] == ["video"]  # one modality per message: the track stays out
    assert len(content[0]["video"]) == 4
    assert all(url.startswith("data:image/jpeg;base64,") for url in content[0]["video"])


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (MediaLimits(max_video_seconds=1.5), "video_too_long"),
        (MediaLimits(max_video_frames=15), "too_many_frames"),
        (MediaLimits(max_video_fps=5), "video_fps"),
        (MediaLimits(max_video_frame_pixels=100 * 100), "too_many_pixels"),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
async def test_caps_are_configurable(fmt: str, limits: MediaLimits, reason: str) -> None:
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(text(), video_part(data_url(corpus.cached_video(fmt))))], limits=limits)
    assert (caught.value.reason, caught.value.param) == (reason, "messages[0].content[1]")


async def test_wall_clock_budget_per_part() -> None:
    source = data_url(corpus.cached_video("MP4"))
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(video_part(source))], limits=MediaLimits(max_part_seconds=1e-6))
    assert (caught.value.reason, caught.value.param) == ("too_slow", "messages[0].content[0]")


def test_worker_checks_its_budget_between_packets() -> None:
    """The same budget inside the worker, without the pipeline's outer timeout: checked between packets/frames."""
    with pytest.raises(MediaRejected) as caught:
        normalize_media(corpus.cached_video("MP4"), MediaKind.MP4, MediaLimits(max_part_seconds=1e-6), QWEN_OMNI)
    assert caught.value.reason == "too_slow"


async def test_huge_declared_duration_is_refused_from_the_header_at_once() -> None:
    source = data_url(corpus.with_huge_duration(corpus.cached_video("MP4")))
    started = time.monotonic()
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(video_part(source))])
    assert caught.value.reason == "video_too_long"
    assert time.monotonic() - started < 2


BAD = {
    "mdat_declaring_4_GiB": (corpus.with_huge_mdat(corpus.cached_video("MP4")), "corrupt_media"),
    "truncated_mp4": (corpus.truncated(corpus.cached_video("MP4"), 0.5), "corrupt_media"),
    "truncated_webm": (corpus.truncated(corpus.cached_video("WEBM"), 0.02), "empty_video"),  # no packet survives
    "wrong_magic": (corpus.wrong_magic(corpus.cached_video("WEBM")), "unrecognized_media"),
    "zero_size": (b"", "unrecognized_media"),
    "one_frame": (corpus.video_bytes("MP4", seconds=0.1, fps=10, audio=False), "video_too_short"),
    "audio_only_webm": (corpus.audio_only_webm(), "no_video_stream"),
    "image_in_video_part": (corpus.image_bytes("JPEG", 8, 8), "wrong_modality"),
}


@pytest.mark.parametrize("name", sorted(BAD))
async def test_bad_video_is_refused_naming_the_part(name: str) -> None:
    data, reason = BAD[name]
    with pytest.raises(InvalidMedia) as caught:
        await prepare([user(image_part(data_url(corpus.image_bytes("PNG", 16, 16))), video_part(data_url(data)))])
    assert caught.value.param == "messages[0].content[1]"
    assert getattr(caught.value, "reason", None) == reason
