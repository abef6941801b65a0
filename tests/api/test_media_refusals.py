"""Bad media, SSRF, switched-off fetching, saturation and missing capabilities: a clear 4xx/503 naming the part or
the modality, and the payload never reaches a backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_network

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from regiongate.media.addresses import AddressPolicy, NetworkPermit
from regiongate.media.fetch import FetchLimits, SafeFetcher
from regiongate.media.limits import MediaLimits
from regiongate.settings import MediaSettings
from tests.api.conftest import World
from tests.api.media_world import (
    THREADS,
    ask,
    audio_url,
    data_url,
    error_of,
    image,
    input_audio,
    received,
    send,
    video,
)
from tests.media import corpus
from tests.media.conftest import FakeResolver

GOOD = image(data_url(corpus.image_bytes("PNG", 64, 64)))  # content[1]: the bad part is always content[2]
BAD: dict[str, Callable[[], dict[str, object]]] = {
    "truncated JPEG": lambda: image(data_url(corpus.truncated(corpus.image_bytes("JPEG", 300, 200)))),
    "PNG without its magic": lambda: image(data_url(corpus.wrong_magic(corpus.image_bytes("PNG")))),
    "PNG bomb": lambda: image(data_url(corpus.png_bomb())),
    "JPEG declaring 65000x65000": lambda: image(data_url(corpus.jpeg_declaring(65000, 65000))),
    "HTML as an image": lambda: image(data_url(b"<html><script>alert(1)</script></html>", "image/png")),
    "audio bytes in an image part": lambda: image(data_url(corpus.audio_bytes("WAV"))),
    "not base64": lambda: image("data:image/png;base64,@@@@"),
    "empty data URL": lambda: image("data:image/png;base64,"),
    "truncated FLAC": lambda: input_audio(corpus.truncated(corpus.audio_bytes("FLAC"), 0.05)),
    "truncated Ogg": lambda: audio_url(data_url(corpus.truncated(corpus.audio_bytes("OGG"), 0.1))),
    "FLAC without its magic": lambda: input_audio(corpus.wrong_magic(corpus.audio_bytes("FLAC"))),
    "an image as audio": lambda: audio_url(data_url(corpus.image_bytes("PNG"))),
    "input_audio not base64": lambda: {"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}},
    "MP4 declaring days": lambda: video(data_url(corpus.with_huge_duration(corpus.cached_video("MP4")))),
    "MP4 whose mdat declares 4 GiB": lambda: video(data_url(corpus.with_huge_mdat(corpus.cached_video("MP4")))),
    "WebM with no video stream": lambda: video(data_url(corpus.audio_only_webm())),
    "truncated MP4": lambda: video(data_url(corpus.truncated(corpus.cached_video("MP4"), 0.3))),
    "ftp URL": lambda: image("ftp://example.org/cat.png"),
}
SSRF = [
    "http://127.0.0.1/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/admin",
    "http://10.0.0.1/internal.png",
    "http://localhost/cat.png",
    "http://user:pass@example.org/cat.png",
]


@pytest.mark.parametrize("make", BAD.values(), ids=BAD.keys())
async def test_bad_media_is_400_naming_the_part_and_never_forwarded(
    media_world: World, make: Callable[[], dict[str, object]]
) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    status, payload, _ = await send(media_world, "gw-gru", ask(GOOD, make()))
    assert status == 400, payload
    error = error_of(payload)
    assert (error["code"], error["type"]) == ("invalid_media", "invalid_request_error")
    assert error["param"] == "messages[0].content[2]"
    assert sum(media_world.requests_by_backend().values()) == 0
    (record,) = media_world.sinks["gw-gru"].records
    assert (record.status, record.reason, record.backend, record.media_digests) == (400, "invalid_media", None, ())


async def test_limits_are_the_gateways(media_world: World) -> None:
    limits = MediaLimits(max_parts=2, max_part_bytes=50_000, max_request_bytes=60_000)
    await media_world.start_gateway("gw-gru", media=MediaSettings(limits=limits, processes=False))
    small = image(data_url(corpus.image_bytes("PNG", 32, 32)))
    for parts, param in (
        ((small, small, small), "messages[0].content[3]"),  # a third part
        ((image(data_url(corpus.image_bytes("PNG", 600, 600))),), "messages[0].content[1]"),  # over 50 kB
    ):
        status, payload, _ = await send(media_world, "gw-gru", ask(*parts))
        assert status == 400, payload
        assert (error_of(payload)["code"], error_of(payload)["param"]) == ("invalid_media", param)
    assert sum(media_world.requests_by_backend().values()) == 0


@pytest.mark.parametrize("url", SSRF)
async def test_ssrf_urls_are_refused_before_any_connection(media_world: World, url: str) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS)
    status, payload, _ = await send(media_world, "gw-gru", ask(image(url)))
    assert status == 400, payload
    assert (error_of(payload)["code"], error_of(payload)["param"]) == ("invalid_media", "messages[0].content[1]")
    assert "127.0.0.1" not in error_of(payload)["message"] or "127.0.0.1" in url  # no resolved address leaks
    assert sum(media_world.requests_by_backend().values()) == 0


@pytest.fixture
async def media_host() -> AsyncIterator[TestServer]:
    """A media host on loopback: ``/cat.jpg`` a real JPEG, ``/redirect`` to the cloud metadata address."""

    async def cat(_: web.Request) -> web.Response:
        return web.Response(body=corpus.image_bytes("JPEG", 300, 200), content_type="image/jpeg")

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/iam/security-credentials/")

    app = web.Application()
    app.router.add_get("/cat.jpg", cat)
    app.router.add_get("/redirect", redirect)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def _fetcher(server: TestServer) -> SafeFetcher:
    """May reach the loopback server only as ``media.example:<its port>`` (a permit tied to name and port)."""
    permit = NetworkPermit(ip_network("127.0.0.1/32"), hostname="media.example", port=server.port)
    resolver = FakeResolver({"media.example": [["127.0.0.1"]]})
    return SafeFetcher(AddressPolicy(permits=(permit,)), FetchLimits(timeout=5), resolver=resolver)


async def test_fetched_media_is_prepared_and_a_redirect_to_metadata_is_refused(
    media_world: World, media_host: TestServer
) -> None:
    await media_world.start_gateway("gw-gru", media=THREADS, fetcher=_fetcher(media_host))
    base = f"http://media.example:{media_host.port}"
    status, payload, _ = await send(media_world, "gw-gru", ask(image(base + "/cat.jpg")))
    assert status == 200, payload
    assert received(media_world, "gw-gru")[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    media_world.fakes["gru-1-ppu"].reset()
    for url in (base + "/redirect", f"http://127.0.0.1:{media_host.port}/cat.jpg"):  # the permit needs the name
        status, payload, _ = await send(media_world, "gw-gru", ask(image(url)))
        assert status == 400, payload
        assert (error_of(payload)["code"], error_of(payload)["param"]) == ("invalid_media", "messages[0].content[1]")
    assert media_world.fakes["gru-1-ppu"].requests == 0


async def test_fetching_switched_off_refuses_every_url_but_not_inline_media(
    media_world: World, media_host: TestServer
) -> None:
    media = MediaSettings(fetch=False, processes=False)
    await media_world.start_gateway("gw-gru", media=media, fetcher=_fetcher(media_host))
    status, payload, _ = await send(
        media_world, "gw-gru", ask(image(f"http://media.example:{media_host.port}/cat.jpg"))
    )
    assert status == 400, payload
    assert error_of(payload)["param"] == "messages[0].content[1]"
    assert "disabled" in error_of(payload)["message"]
    assert media_world.fakes["gru-1-ppu"].requests == 0
    status, payload, _ = await send(media_world, "gw-gru", ask(GOOD))
    assert status == 200, payload


async def test_the_allow_list_refuses_other_hosts_before_resolving_them(media_world: World) -> None:
    media = MediaSettings(allow_hosts=frozenset({"cdn.example.org"}), processes=False)
    await media_world.start_gateway("gw-gru", media=media)
    assert media_world.runtimes["gw-gru"].media.fetcher.policy.allowed_hosts == {"cdn.example.org"}
    status, payload, _ = await send(media_world, "gw-gru", ask(image("https://elsewhere.example.org/cat.png")))
    assert status == 400, payload
    assert "allow-list" in error_of(payload)["message"]


async def test_a_saturated_media_pool_is_503_with_retry_after(media_world: World) -> None:
    await media_world.start_gateway("gw-gru", media=MediaSettings(workers=1, queue=0, processes=False))
    pool = media_world.runtimes["gw-gru"].media.pool
    busy = asyncio.ensure_future(pool.run(time.sleep, 0.5))  # the only worker, no queue
    await asyncio.sleep(0)
    status, payload, headers = await send(media_world, "gw-gru", ask(GOOD))
    assert status == 503, payload
    assert error_of(payload)["code"] == "media_busy"
    assert headers["Retry-After"] == "1"
    assert media_world.fakes["gru-1-ppu"].requests == 0
    await busy
    status, payload, _ = await send(media_world, "gw-gru", ask(GOOD))
    assert status == 200, payload


async def test_video_to_a_tenant_whose_compliant_backends_lack_it_names_them(media_world: World) -> None:
    await media_world.start_gateway("gw-par", media=THREADS)
    status, payload, _ = await send(media_world, "gw-par", ask(video(data_url(corpus.cached_video("MP4")))))
    assert status == 400, payload
    error = error_of(payload)
    assert error["code"] == "unsupported_modality"
    assert "Compliant backends lacking video: par-1-cpu." in error["message"]
    assert sum(media_world.requests_by_backend().values()) == 0


async def test_video_goes_only_to_backends_that_can_be_sent_it(world: World) -> None:
    # The plain example: de-bank's compliant backends are fra-3-h200 (takes video, but passthrough in OpenAI's
    # dialect has no way to send it) and par-1-cpu (no video): refused, naming the one that cannot be sent it.
    await world.start_gateway("gw-fra3", media=THREADS)
    status, payload, _ = await send(world, "gw-fra3", ask(video(data_url(corpus.cached_video("MP4")))))
    assert status == 400, payload
    error = error_of(payload)
    assert (error["code"], error["param"]) == ("unsupported_modality", "messages")
    assert "cannot be sent video" in error["message"]
    assert "fra-3-h200" in error["message"]
    assert sum(world.requests_by_backend().values()) == 0
