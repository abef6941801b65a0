"""SafeFetcher against a real local server: positive path, redirects, caps, and the headers it sends."""

from __future__ import annotations

import time

import pytest

from regiongate.errors import InvalidMedia
from regiongate.media.errors import FetchFailed, FetchRefused, FetchTimeout, FetchTooLarge, UnrecognizedMedia
from regiongate.media.fetch import FetchLimits
from regiongate.media.sniff import MediaKind
from regiongate.topology.records import Modality
from tests.media.conftest import PNG, FakeResolver, MediaServer


async def test_fetches_the_permitted_server_and_trusts_bytes_not_content_type(media_server: MediaServer) -> None:
    media = await media_server.fetcher().fetch(media_server.url("/png"), expect=Modality.IMAGE)
    assert media.data == PNG
    assert media.kind is MediaKind.PNG
    assert media.url == media_server.url("/png")


async def test_sends_the_original_host_and_no_compression_or_proxy_headers(media_server: MediaServer) -> None:
    await media_server.fetcher().fetch(media_server.url("/png"))
    [seen] = media_server.requests
    assert seen.host == f"media.example:{media_server.port}"
    assert seen.headers["Accept-Encoding"] == "identity"
    assert "Cookie" not in seen.headers
    assert "Authorization" not in seen.headers


async def test_content_type_cannot_make_html_an_image(media_server: MediaServer) -> None:
    with pytest.raises(UnrecognizedMedia) as caught:
        await media_server.fetcher().fetch(media_server.url("/html-as-png"))
    assert caught.value.reason == "unrecognized_media"


async def test_wrong_modality_is_refused(media_server: MediaServer) -> None:
    with pytest.raises(UnrecognizedMedia) as caught:
        await media_server.fetcher().fetch(media_server.url("/png"), expect=Modality.AUDIO)
    assert caught.value.reason == "wrong_modality"


async def test_failures_are_invalid_media_naming_the_part(media_server: MediaServer) -> None:
    with pytest.raises(InvalidMedia) as caught:
        await media_server.fetcher().fetch("http://127.0.0.1/", param="messages[0].content[2]")
    error = caught.value
    assert (error.status, error.code, error.type) == (400, "invalid_media", "invalid_request_error")
    assert error.param == "messages[0].content[2]"
    assert "127.0.0.1" not in error.message  # the refusal does not echo internal addresses


def _redirect(media_server: MediaServer, to: str) -> str:
    return media_server.url(f"/redirect?to={to}")


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        # The permit is for the name media.example only: the same server by IP literal is refused.
        ("http://127.0.0.1:{port}/png", "loopback"),
        ("http://127.0.0.1:1/png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:127.0.0.1]:{port}/png", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://0x7f.1:{port}/png", "loopback"),
        ("//2130706433:{port}/png", "loopback"),
        ("http://localhost:{port}/png", "special_name"),
        ("http://localhost.:{port}/png", "special_name"),
        ("http://metadata.google.internal/", "special_name"),
        ("http://internal.example/", "private"),  # a name resolving to 10.0.0.5
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:{port}/_GET", "scheme"),
    ],
)
async def test_every_redirect_hop_is_rechecked(media_server: MediaServer, to: str, reason: str) -> None:
    resolver = FakeResolver({"media.example": [["127.0.0.1"]], "internal.example": [["10.0.0.5"]]})
    with pytest.raises(FetchRefused) as caught:
        await media_server.fetcher(resolver).fetch(_redirect(media_server, to.format(port=media_server.port)))
    assert caught.value.reason == reason
    assert [seen.path for seen in media_server.requests] == ["/redirect"]


async def test_redirect_to_the_permitted_name_on_another_port_is_refused(media_server: MediaServer) -> None:
    with pytest.raises(FetchRefused) as caught:
        await media_server.fetcher().fetch(_redirect(media_server, f"http://media.example:{media_server.port + 1}/"))
    assert caught.value.reason == "loopback"


async def test_permitted_redirect_is_followed_and_resolved_again(media_server: MediaServer) -> None:
    resolver = FakeResolver({"media.example": [["127.0.0.1"]]})
    media = await media_server.fetcher(resolver).fetch(_redirect(media_server, "/png"))
    assert media.url == media_server.url("/png")
    assert [seen.path for seen in media_server.requests] == ["/redirect", "/png"]
    assert len(resolver.calls) == 2  # one lookup per hop, each checked


async def test_redirect_that_sets_a_cookie_does_not_get_it_back(media_server: MediaServer) -> None:
    await media_server.fetcher().fetch(media_server.url("/set-cookie"))
    assert [seen.path for seen in media_server.requests] == ["/set-cookie", "/png"]
    assert "Cookie" not in media_server.requests[1].headers


async def test_redirect_loop_stops_at_the_bound(media_server: MediaServer) -> None:
    fetcher = media_server.fetcher(limits=FetchLimits(max_redirects=3, timeout=5))
    with pytest.raises(FetchFailed) as caught:
        await fetcher.fetch(media_server.url("/loop"))
    assert caught.value.reason == "too_many_redirects"
    assert len(media_server.requests) == 4


async def test_redirect_chain_within_the_bound_succeeds(media_server: MediaServer) -> None:
    fetcher = media_server.fetcher(limits=FetchLimits(max_redirects=3, timeout=5))
    assert (await fetcher.fetch(media_server.url("/chain/3"))).kind is MediaKind.PNG
    with pytest.raises(FetchFailed):
        await fetcher.fetch(media_server.url("/chain/4"))


async def test_streamed_body_over_the_cap_is_cut_off(media_server: MediaServer) -> None:
    fetcher = media_server.fetcher(limits=FetchLimits(max_bytes=4096, timeout=5))
    assert len((await fetcher.fetch(media_server.url("/stream/4096"))).data) == 4096
    with pytest.raises(FetchTooLarge):
        await fetcher.fetch(media_server.url("/stream/10000000"))


async def test_content_length_over_the_cap_is_refused_before_reading(media_server: MediaServer) -> None:
    fetcher = media_server.fetcher(limits=FetchLimits(max_bytes=4096, timeout=5))
    with pytest.raises(FetchTooLarge) as caught:
        await fetcher.fetch(media_server.url("/declared/8192"))
    assert "Content-Length" in caught.value.detail


async def test_slow_server_hits_the_total_time_cap(media_server: MediaServer) -> None:
    fetcher = media_server.fetcher(limits=FetchLimits(timeout=0.5))
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        await fetcher.fetch(media_server.url("/slow"))
    assert time.monotonic() - started < 2


async def test_compressed_responses_are_refused(media_server: MediaServer) -> None:
    with pytest.raises(FetchFailed) as caught:
        await media_server.fetcher().fetch(media_server.url("/gzip"))
    assert caught.value.reason == "content_encoding"


async def test_http_errors_fail(media_server: MediaServer) -> None:
    with pytest.raises(FetchFailed) as caught:
        await media_server.fetcher().fetch(media_server.url("/missing"))
    assert caught.value.reason == "http_status"


async def test_allow_list_admits_only_listed_hosts_on_every_hop(media_server: MediaServer) -> None:
    fetcher = media_server.fetcher(allowed_hosts=frozenset({"media.example"}))
    assert (await fetcher.fetch(media_server.url("/png"))).kind is MediaKind.PNG
    with pytest.raises(FetchRefused) as caught:
        await fetcher.fetch(_redirect(media_server, "http://cdn.example/x.png"))
    assert caught.value.reason == "not_allowlisted"
    suffix = media_server.fetcher(allowed_hosts=frozenset({".example"}))
    assert (await suffix.fetch(media_server.url("/png"))).kind is MediaKind.PNG


async def test_disabled_switch_refuses_every_url_before_any_lookup(media_server: MediaServer) -> None:
    resolver = FakeResolver({"media.example": [["127.0.0.1"]]})
    fetcher = media_server.fetcher(resolver, enabled=False)
    with pytest.raises(FetchRefused) as caught:
        await fetcher.fetch(media_server.url("/png"))
    assert caught.value.reason == "disabled"
    assert resolver.calls == []
    assert media_server.requests == []
