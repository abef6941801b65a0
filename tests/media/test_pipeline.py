"""prepare_messages end to end: part discovery, limits, byte sources (data URLs, bare base64, injected fetch and
the SSRF-safe fetcher), dialect rules, error params, digests, and that the input is left alone."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest

from regiongate.errors import InvalidMedia
from regiongate.media.dialects import WireDialect
from regiongate.media.errors import FetchFailed
from regiongate.media.limits import MediaLimits
from regiongate.media.pipeline import fetch_with
from regiongate.media.profiles import PASSTHROUGH
from regiongate.media.rejection import MediaRefused
from tests.media import corpus
from tests.media.conftest import MediaServer
from tests.media.media_helpers import (
    SALT,
    audio_url_part,
    data_url,
    image_part,
    input_audio,
    prepare,
    text,
    unwrap_data_url,
    user,
    video_part,
)

PNG = corpus.image_bytes("PNG", 56, 56)
JPEG = corpus.image_bytes("JPEG", 64, 64)


async def test_text_only_requests_are_untouched() -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "be brief"}, user(text())]
    prepared = await prepare(messages)
    assert prepared.messages == messages
    assert prepared.digests == ()
    assert prepared.received_bytes == 0


async def test_input_is_not_modified_and_untouched_messages_are_shared() -> None:
    messages = [{"role": "system", "content": "be brief"}, user(text(), image_part(data_url(PNG)))]
    before = copy.deepcopy(messages)
    prepared = await prepare(messages)
    assert messages == before
    assert prepared.messages[0] is messages[0]
    assert prepared.messages[1] is not messages[1]
    assert prepared.messages[1]["role"] == "user"
    assert prepared.messages[1]["content"][0] == text()


async def test_digests_are_salted_hmacs_of_what_the_backend_gets() -> None:
    prepared = await prepare([user(image_part(data_url(PNG))), user(text(), input_audio(corpus.audio_bytes("WAV")))])
    assert [(d.param, d.modality) for d in prepared.digests] == [
        ("messages[0].content[0]", "image"),
        ("messages[1].content[1]", "audio"),
    ]
    sent = unwrap_data_url(prepared.messages[0]["content"][0]["image_url"]["url"])
    framed = b"image/png\0" + len(sent).to_bytes(8, "big") + sent
    assert prepared.digests[0].digest == hmac.new(SALT, framed, hashlib.sha256).hexdigest()
    assert prepared.digests[0].digest != hashlib.sha256(sent).hexdigest()  # unsalted would be guessable
    assert prepared.received_bytes == len(PNG) + len(corpus.audio_bytes("WAV"))


async def test_too_many_parts_names_the_first_part_over() -> None:
    messages = [user(*[image_part(data_url(PNG)) for _ in range(3)]), user(image_part(data_url(PNG)))]
    await prepare(messages, limits=MediaLimits(max_parts=4))
    with pytest.raises(MediaRefused) as caught:
        await prepare(messages, limits=MediaLimits(max_parts=3))
    assert (caught.value.reason, caught.value.param) == ("too_many_parts", "messages[1].content[0]")


async def test_part_and_request_byte_caps() -> None:
    big = corpus.image_bytes("PNG", 100, 100)  # ~30 kB
    limits = MediaLimits(max_part_bytes=len(big) - 1, max_request_bytes=10 * len(big))
    with pytest.raises(InvalidMedia) as caught:
        await prepare([user(text(), image_part(data_url(big)))], limits=limits)
    assert (getattr(caught.value, "reason", None), caught.value.param) == ("too_large", "messages[0].content[1]")
    limits = MediaLimits(max_part_bytes=len(big), max_request_bytes=2 * len(big) + 10)
    with pytest.raises(MediaRefused) as refused:
        await prepare([user(*[image_part(data_url(big)) for _ in range(3)])], limits=limits)
    assert (refused.value.reason, refused.value.param) == ("request_too_large", "messages[0].content[2]")


async def test_fetched_bytes_count_toward_the_request_cap() -> None:
    async def fetch(url: str, param: str) -> bytes:
        return JPEG

    limits = MediaLimits(max_part_bytes=len(JPEG), max_request_bytes=len(JPEG) + 10)
    with pytest.raises(MediaRefused) as caught:
        await prepare(
            [user(image_part("https://a.example/1.jpg"), image_part("https://a.example/2.jpg"))],
            limits=limits,
            fetch=fetch,
        )
    assert (caught.value.reason, caught.value.param) == ("request_too_large", "messages[0].content[1]")


async def test_injected_fetch_gets_url_and_param_and_its_bytes_are_checked() -> None:
    calls: list[tuple[str, str]] = []

    async def fetch(url: str, param: str) -> bytes:
        calls.append((url, param))
        return {"1": JPEG, "2": b"x" * 100, "3": PNG}[url[-1]]

    prepared = await prepare([user(text(), image_part("https://a.example/1"))], fetch=fetch)
    assert calls == [("https://a.example/1", "messages[0].content[1]")]
    assert prepared.messages[0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    with pytest.raises(InvalidMedia) as caught:  # the plug-in returned more than the cap: still refused
        await prepare([user(image_part("https://a.example/2"))], fetch=fetch, limits=MediaLimits(max_part_bytes=99))
    assert getattr(caught.value, "reason", None) == "too_large"
    with pytest.raises(InvalidMedia) as caught:  # a PNG fetched for an audio part
        await prepare([user(audio_url_part("https://a.example/3"))], fetch=fetch)
    assert getattr(caught.value, "reason", None) == "wrong_modality"


async def test_fetch_errors_carry_the_param() -> None:
    async def fetch(url: str, param: str) -> bytes:
        raise FetchFailed("connection", detail=url)

    with pytest.raises(FetchFailed) as caught:
        await prepare([user(text(), video_part("https://a.example/v.mp4"))], fetch=fetch)
    assert caught.value.param == "messages[0].content[1]"


@pytest.mark.parametrize(
    ("url", "reason"),
    [("https://a.example/x.png", "disabled"), ("ftp://a.example/x.png", "scheme"), ("file:///etc/passwd", "scheme")],
)
async def test_urls_without_a_fetcher_or_with_other_schemes(url: str, reason: str) -> None:
    with pytest.raises(InvalidMedia) as caught:
        await prepare([user(image_part(url))])
    assert (getattr(caught.value, "reason", None), caught.value.param) == (reason, "messages[0].content[0]")


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ({"type": "image_url", "image_url": "https://a.example/x.png"}, "malformed_part"),
        ({"type": "input_audio", "input_audio": {"format": "wav"}}, "malformed_part"),
        ({"type": "image", "image": "https://a.example/x.png"}, "unsupported_part"),
        ({"type": "file", "file": {"file_data": "..."}}, "unsupported_part"),
        ("just a string", "unsupported_part"),
    ],
)
async def test_malformed_and_unknown_parts_fail_closed(part: Any, reason: str) -> None:
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(text(), part)])
    assert (caught.value.reason, caught.value.param) == (reason, "messages[0].content[1]")


async def test_dashscope_refuses_two_modalities_in_one_message_before_any_work() -> None:
    async def fetch(url: str, param: str) -> bytes:
        raise AssertionError("nothing may be fetched for a request refused by shape")

    mixed = [user(image_part("https://a.example/1.png"), text(), audio_url_part("https://a.example/2.wav"))]
    with pytest.raises(MediaRefused) as caught:
        await prepare(mixed, dialect=WireDialect.DASHSCOPE, fetch=fetch)
    assert (caught.value.reason, caught.value.param) == ("mixed_modalities", "messages[0].content[2]")
    apart = [user(image_part(data_url(PNG)), image_part(data_url(PNG))), user(input_audio(corpus.audio_bytes("WAV")))]
    prepared = await prepare(apart, dialect=WireDialect.DASHSCOPE)
    assert prepared.messages[1]["content"][0]["input_audio"]["data"].startswith("data:;base64,")
    await prepare(
        mixed[:1],
        dialect=WireDialect.VLLM,
        fetch=lambda u, p: _bytes(PNG if u.endswith("png") else corpus.audio_bytes("WAV")),
    )


async def _bytes(data: bytes) -> bytes:
    return data


async def test_the_earliest_failing_part_is_named_whichever_fails_first() -> None:
    slow_bad = corpus.truncated(corpus.image_bytes("PNG", 1500, 1500), 0.9)  # fails only after decoding most of it
    messages = [user(image_part(data_url(slow_bad)), image_part(data_url(b"")))]  # the second fails at once
    with pytest.raises(MediaRefused) as caught:
        await prepare(messages, profile=PASSTHROUGH)
    assert caught.value.param == "messages[0].content[0]"


async def test_safe_fetcher_plugs_in(media_server: MediaServer) -> None:
    fetch = fetch_with(media_server.fetcher())
    # The server's "PNG" is a bare signature over zeros: fetched through the SSRF checks, then refused by Pillow.
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(text(), image_part(media_server.url("/png")))], fetch=fetch)
    assert (caught.value.reason, caught.value.param) == ("corrupt_image", "messages[0].content[1]")
    with pytest.raises(InvalidMedia) as refused:  # an IP literal of a non-public address: the fetcher's refusal
        await prepare([user(image_part(f"http://127.0.0.1:{media_server.port}/png"))], fetch=fetch)
    assert refused.value.param == "messages[0].content[0]"
    assert not isinstance(refused.value, MediaRefused)
