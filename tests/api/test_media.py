"""Real media of every supported format through a real gateway: the backend receives it validated, normalized for
its media profile and written in its wire dialect (checked by decoding what it received), and the decision log
holds a salted digest of each part as sent, never its bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from typing import Any

import msgspec
import pytest
import soundfile  # type: ignore[import-untyped]
from PIL import Image

from regiongate.backends.fake import Behaviour
from regiongate.ledger.leaves import encode_leaf, tenant_salt
from regiongate.ledger.sink import decision_leaf
from regiongate.settings import MediaSettings
from tests.api.conftest import World
from tests.api.media_world import (
    THREADS,
    ask,
    audio_url,
    data_url,
    image,
    input_audio,
    received,
    send,
    unwrap,
    video,
)
from tests.media import corpus

IMAGES = ["PNG", "JPEG", "WEBP", "GIF"]
AUDIO = ["WAV", "FLAC", "OGG", "OPUS", "MP3", "M4A"]
VIDEOS = ["MP4", "MOV", "WEBM"]
FRAMES = "data:video/jpeg;base64,"


def picture(data: bytes) -> Image.Image:
    opened = Image.open(io.BytesIO(data))
    opened.load()
    return opened


def sound(data: bytes) -> Any:
    return soundfile.info(io.BytesIO(data))


@pytest.mark.parametrize("fmt", IMAGES)
async def test_images_reach_a_vllm_qwen_omni_backend_on_the_28_pixel_grid(media_world: World, fmt: str) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    status, payload, _ = await send(media_world, "gw-gru", ask(image(data_url(corpus.image_bytes(fmt, 300, 200)))))
    assert status == 200, payload
    text, part = received(media_world, "gw-gru")
    assert text == {"type": "text", "text": "what is this?"}
    sent = picture(unwrap(part["image_url"]["url"], "data:image/"))
    assert sent.width % 28 == 0
    assert sent.height % 28 == 0
    assert (sent.width, sent.height) == (308, 196)  # Qwen's smart_resize of 300x200
    assert sent.format == ("PNG" if fmt in ("PNG", "GIF") else "JPEG")  # lossless stays lossless


@pytest.mark.parametrize("fmt", AUDIO)
@pytest.mark.parametrize("as_input_audio", [True, False], ids=["input_audio", "audio_url"])
async def test_audio_reaches_a_vllm_qwen_omni_backend_as_16khz_mono(
    media_world: World, fmt: str, as_input_audio: bool
) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    clip = corpus.audio_bytes(fmt, seconds=1.0)
    part = input_audio(clip, "wav") if as_input_audio else audio_url(data_url(clip))  # declared formats are ignored
    status, payload, _ = await send(media_world, "gw-gru", ask(part))
    assert status == 200, payload
    _, sent = received(media_world, "gw-gru")
    assert sent["type"] == "audio_url"
    info = sound(unwrap(sent["audio_url"]["url"], "data:audio/wav;base64,"))
    assert (info.samplerate, info.channels, info.format) == (16_000, 1, "WAV")
    assert info.duration == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("fmt", VIDEOS)
async def test_video_reaches_a_vllm_backend_as_sampled_frames_and_its_audio(media_world: World, fmt: str) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    clip = corpus.cached_video(fmt, seconds=2.0, fps=10)
    status, payload, _ = await send(media_world, "gw-gru", ask(video(data_url(clip))))
    assert status == 200, payload
    _, frames, track = received(media_world, "gw-gru")
    url = frames["video_url"]["url"]
    assert url.startswith(FRAMES)
    pictures = [picture(base64.b64decode(f, validate=True)) for f in url[len(FRAMES) :].split(",")]
    assert len(pictures) == 4  # 2 s at Qwen's 2 fps
    assert [corpus.frame_index(p) for p in pictures] == [0, 6, 13, 19]  # evenly spaced, first and last
    assert all(p.width % 28 == 0 and p.height % 28 == 0 for p in pictures)
    info = sound(unwrap(track["audio_url"]["url"], "data:audio/wav;base64,"))  # use_audio_in_video: split off
    assert (info.samplerate, info.channels) == (16_000, 1)


async def test_dashscope_qwen3_omni_backend_gets_its_own_forms(media_world: World) -> None:
    await media_world.start_gateway("gw-hgh", media=THREADS)
    for part, check in (
        (image(data_url(corpus.image_bytes("JPEG", 300, 200))), _dashscope_image),
        (input_audio(corpus.audio_bytes("MP3")), _dashscope_audio),
        (video(data_url(corpus.cached_video("MP4"))), _dashscope_video),
    ):
        status, payload, _ = await send(media_world, "gw-hgh", ask(part))
        assert status == 200, payload
        check(received(media_world, "gw-hgh")[1])


def _dashscope_image(part: dict[str, Any]) -> None:
    sent = picture(unwrap(part["image_url"]["url"], "data:image/jpeg;base64,"))
    assert (sent.width, sent.height) == (288, 192)  # the 32-pixel grid of Qwen3-Omni


def _dashscope_audio(part: dict[str, Any]) -> None:
    assert part["input_audio"]["format"] == "wav"
    info = sound(unwrap(part["input_audio"]["data"], "data:;base64,"))
    assert (info.samplerate, info.channels) == (16_000, 1)


def _dashscope_video(part: dict[str, Any]) -> None:
    assert part["type"] == "video"
    frames = [picture(unwrap(url, "data:image/jpeg;base64,")) for url in part["video"]]
    assert len(frames) == 4
    assert all(f.width % 32 == 0 and f.height % 32 == 0 for f in frames)


async def test_openai_passthrough_backend_gets_the_bytes_sent_or_wav_where_openai_has_no_format(
    media_world: World,
) -> None:
    await media_world.start_gateway("gw-par", media=THREADS)
    jpeg, mp3, flac = corpus.image_bytes("JPEG", 300, 200), corpus.audio_bytes("MP3"), corpus.audio_bytes("FLAC")
    status, payload, _ = await send(media_world, "gw-par", ask(image(data_url(jpeg)), input_audio(mp3, "mp3")))
    assert status == 200, payload
    _, sent_image, sent_mp3 = received(media_world, "gw-par")
    assert unwrap(sent_image["image_url"]["url"]) == jpeg
    assert sent_mp3 == input_audio(mp3, "mp3")
    status, payload, _ = await send(media_world, "gw-par", ask(audio_url(data_url(flac))))
    assert status == 200, payload
    _, converted = received(media_world, "gw-par")
    assert converted["type"] == "input_audio"
    assert converted["input_audio"]["format"] == "wav"
    info = sound(base64.b64decode(converted["input_audio"]["data"], validate=True))
    assert (info.samplerate, info.channels, info.format) == (corpus.RATE, 2, "WAV")


async def test_the_log_gets_a_salted_digest_of_each_part_as_sent_never_its_bytes(media_world: World) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    png, wav = corpus.image_bytes("PNG", 300, 200), corpus.audio_bytes("WAV")
    status, payload, _ = await send(media_world, "gw-gru", ask(image(data_url(png)), input_audio(wav)))
    assert status == 200, payload
    _, sent_image, sent_audio = received(media_world, "gw-gru")
    salt = tenant_salt(b"test-salt", "br-fintech")
    expected = (
        _digest(salt, "image/png", unwrap(sent_image["image_url"]["url"])),
        _digest(salt, "audio/wav", unwrap(sent_audio["audio_url"]["url"])),
    )
    sink = media_world.sinks["gw-gru"]
    (decision,), (record,) = sink.decisions, sink.records
    assert decision.media_digests == record.media_digests == expected
    leaf = encode_leaf(decision_leaf(decision, decision.started_at))
    assert msgspec.json.decode(leaf)["media_digests"] == list(expected)
    everything = leaf + msgspec.json.encode(record)
    for raw in (png, wav, unwrap(sent_image["image_url"]["url"])):
        assert base64.b64encode(raw)[:64] not in everything
        assert raw[:64] not in everything


def _digest(salt: bytes, mime: str, data: bytes) -> str:
    framed = mime.encode() + b"\0" + len(data).to_bytes(8, "big") + data
    return hmac.new(salt, framed, hashlib.sha256).hexdigest()


async def test_text_only_requests_skip_the_media_step(media_world: World) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    body = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "hello"}], "vendor_field": [1]}
    status, payload, _ = await send(media_world, "gw-gru", body)
    assert status == 200, payload
    assert media_world.fakes["gru-1-ppu"].last_body == {**body, "model": "Qwen/Qwen3-Omni-30B-A3B-Instruct"}
    assert media_world.sinks["gw-gru"].records[0].media_digests == ()
    assert media_world.runtimes["gw-gru"].media.pool.in_flight == 0


async def test_a_retry_on_a_backend_of_another_dialect_is_prepared_for_it(media_world: World) -> None:
    # de-bank: fra-3-h200 (qwen-omni, vLLM) is tried first (capacity 12 against 1); it fails, par-1-cpu
    # (passthrough, OpenAI) answers and must get the media in its own form, prepared once for each.
    await media_world.start_gateway("gw-fra3", media=THREADS)
    runtime = media_world.runtimes["gw-fra3"]
    calls: list[tuple[str, str]] = []
    prepare = runtime.media.prepare

    async def counting(messages: list[dict[str, Any]], key: tuple[str, str], salt: bytes) -> Any:
        calls.append(key)
        return await prepare(messages, key, salt)

    runtime.media.prepare = counting  # type: ignore[method-assign]
    media_world.fakes["fra-3-h200"].behaviour = Behaviour(mode="fail", status=500)
    jpeg = corpus.image_bytes("JPEG", 300, 200)
    status, payload, headers = await send(media_world, "gw-fra3", ask(image(data_url(jpeg))))
    assert status == 200, payload
    assert headers["X-Regiongate-Backend"] == "par-1-cpu"
    assert calls == [("qwen-omni", "vllm"), ("passthrough", "openai")]
    vllm_part = media_world.fakes["fra-3-h200"].last_body["messages"][0]["content"][1]
    assert picture(unwrap(vllm_part["image_url"]["url"])).size == (308, 196)
    openai_part = media_world.fakes["par-1-cpu"].last_body["messages"][0]["content"][1]
    assert unwrap(openai_part["image_url"]["url"]) == jpeg
    digests = [d.media_digests for d in media_world.sinks["gw-fra3"].decisions]
    assert len(digests) == 2
    assert digests[0] != digests[1]


async def test_worker_processes_prepare_media_through_the_gateway(media_world: World) -> None:
    await media_world.start_gateway("gw-gru", media=MediaSettings(workers=1, queue=4))
    assert media_world.runtimes["gw-gru"].media.pool.processes
    status, payload, _ = await send(media_world, "gw-gru", ask(image(data_url(corpus.image_bytes("JPEG", 300, 200)))))
    assert status == 200, payload
    _, part = received(media_world, "gw-gru")
    assert picture(unwrap(part["image_url"]["url"])).size == (308, 196)
