"""Audio through the pipeline: every format passes; qwen-omni output is 16 kHz mono 16-bit WAV (checked by decoding);
passthrough keeps bytes the dialect can carry; duration, rate and corruption are refused naming the part."""

from __future__ import annotations

import base64

import pytest

from regiongate.errors import InvalidMedia
from regiongate.media.dialects import WireDialect
from regiongate.media.limits import MediaLimits
from regiongate.media.profiles import PASSTHROUGH
from regiongate.media.rejection import MediaRefused
from tests.media import corpus
from tests.media.media_helpers import (
    audio_info,
    audio_url_part,
    data_url,
    input_audio,
    prepare,
    text,
    unwrap_data_url,
    user,
)

FORMATS = ["WAV", "MP3", "FLAC", "OGG", "OPUS", "M4A"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_qwen_omni_makes_16k_mono_pcm16_wav(fmt: str) -> None:
    source = corpus.audio_bytes(fmt, seconds=1.5)
    prepared = await prepare([user(text(), audio_url_part(data_url(source)))])
    part = prepared.messages[0]["content"][1]
    assert part["type"] == "audio_url"
    assert part["audio_url"]["url"].startswith("data:audio/wav;base64,")
    info = audio_info(unwrap_data_url(part["audio_url"]["url"]))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 16_000, 1)
    assert info.duration == pytest.approx(1.5, abs=0.05)


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
async def test_openai_input_audio_in_and_out(fmt: str) -> None:
    source = corpus.audio_bytes(fmt.upper())
    prepared = await prepare([user(input_audio(source, fmt))], profile=PASSTHROUGH, dialect=WireDialect.OPENAI)
    part = prepared.messages[0]["content"][0]
    assert part == {"type": "input_audio", "input_audio": {"data": base64.b64encode(source).decode(), "format": fmt}}


@pytest.mark.parametrize("fmt", ["FLAC", "OGG", "OPUS", "M4A"])
async def test_passthrough_transcodes_what_openai_cannot_carry(fmt: str) -> None:
    prepared = await prepare(
        [user(audio_url_part(data_url(corpus.audio_bytes(fmt))))], profile=PASSTHROUGH, dialect=WireDialect.OPENAI
    )
    body = prepared.messages[0]["content"][0]["input_audio"]
    assert body["format"] == "wav"
    info = audio_info(base64.b64decode(body["data"]))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 2)
    assert info.samplerate == (48_000 if fmt == "OPUS" else corpus.RATE)  # passthrough keeps the rate


@pytest.mark.parametrize("fmt", FORMATS)
async def test_passthrough_for_vllm_keeps_every_format(fmt: str) -> None:
    source = corpus.audio_bytes(fmt)
    prepared = await prepare([user(audio_url_part(data_url(source)))], profile=PASSTHROUGH)
    assert unwrap_data_url(prepared.messages[0]["content"][0]["audio_url"]["url"]) == source


async def test_input_audio_accepts_data_urls_and_trusts_bytes_over_format() -> None:
    mp3 = corpus.audio_bytes("MP3")
    part = {"type": "input_audio", "input_audio": {"data": data_url(mp3, "audio/wav"), "format": "wav"}}
    prepared = await prepare([user(part)], profile=PASSTHROUGH, dialect=WireDialect.OPENAI)
    assert prepared.messages[0]["content"][0]["input_audio"]["format"] == "mp3"  # the bytes said MP3


async def test_duration_cap_is_read_from_the_header_and_configurable() -> None:
    source = data_url(corpus.audio_bytes("WAV", seconds=3.0))
    await prepare([user(audio_url_part(source))], limits=MediaLimits(max_audio_seconds=3.0))
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(text(), audio_url_part(source))], limits=MediaLimits(max_audio_seconds=2.5))
    assert (caught.value.reason, caught.value.param) == ("audio_too_long", "messages[0].content[1]")


@pytest.mark.parametrize("fmt", ["MP3", "OGG", "OPUS"])
async def test_duration_cap_for_every_container(fmt: str) -> None:
    source = data_url(corpus.audio_bytes(fmt, seconds=4.0))
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(audio_url_part(source))], limits=MediaLimits(max_audio_seconds=2.0))
    assert caught.value.reason == "audio_too_long"


async def test_header_understating_the_length_is_caught_while_decoding() -> None:
    """The MP3's Info header claims 0.5 s over 6 s: the header check passes, decoding counts samples and stops at
    the cap (plus 1 s of codec slack)."""
    source = data_url(corpus.mp3_understating(seconds=6.0))
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(audio_url_part(source))], limits=MediaLimits(max_audio_seconds=2.0), profile=PASSTHROUGH)
    assert caught.value.reason == "audio_too_long"


async def test_sample_rate_and_channel_caps() -> None:
    source = data_url(corpus.audio_bytes("WAV", channels=2))
    with pytest.raises(MediaRefused, match="sample rate"):
        await prepare([user(audio_url_part(source))], limits=MediaLimits(max_audio_rate=22_050))
    with pytest.raises(MediaRefused, match="channels"):
        await prepare([user(audio_url_part(source))], limits=MediaLimits(max_audio_channels=1))


BAD = {
    "truncated_flac": (corpus.truncated(corpus.audio_bytes("FLAC"), 0.05), "corrupt_media"),
    "truncated_ogg": (corpus.truncated(corpus.audio_bytes("OGG"), 0.1), "corrupt_media"),
    "wav_header_only": (corpus.audio_bytes("WAV")[:44], "empty_audio"),
    "riff_wave_garbage": (b"RIFF\x24\x00\x00\x00WAVEjunk" + b"\x00" * 64, "corrupt_media"),
    "wrong_magic": (corpus.wrong_magic(corpus.audio_bytes("FLAC")), "unrecognized_media"),
    "zero_size": (b"", "unrecognized_media"),
    "image_in_audio_part": (corpus.image_bytes("PNG", 8, 8), "wrong_modality"),
    "video_in_audio_part": (corpus.cached_video("MP4"), "wrong_modality"),
}


@pytest.mark.parametrize("name", sorted(BAD))
async def test_bad_audio_is_refused_naming_the_part(name: str) -> None:
    data, reason = BAD[name]
    with pytest.raises(InvalidMedia) as caught:
        await prepare([user(text(), input_audio(data))])
    assert caught.value.param == "messages[0].content[1]"
    assert getattr(caught.value, "reason", None) == reason


async def test_malformed_bare_base64_is_refused() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "not base64 at all!", "format": "wav"}}
    with pytest.raises(InvalidMedia) as caught:
        await prepare([user(part)])
    assert caught.value.param == "messages[0].content[0]"
