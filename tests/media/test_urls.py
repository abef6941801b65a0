"""The usual SSRF URL forms, each refused for the right reason and before any lookup or connection."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from regiongate.media.addresses import AddressPolicy
from regiongate.media.errors import FetchRefused
from regiongate.media.fetch import SafeFetcher
from regiongate.media.urls import check_url
from tests.media.conftest import FakeResolver


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a refused URL reached the connector")

    monkeypatch.setattr(aiohttp.TCPConnector, "_wrap_create_connection", fail)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # decimal
        ("http://017700000001/", "loopback"),  # octal, one part
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://0x7f.0.0.1/", "loopback"),  # hex
        ("http://0x7f000001/", "loopback"),
        ("http://0x7F.0X0.0x0.0x1/", "loopback"),
        ("http://127.1/", "loopback"),  # short form
        ("http://127.0.1/", "loopback"),
        ("http://127.0.0.1./", "loopback"),
        ("http://１２７。０。０。１/", "loopback"),  # fullwidth digits and ideographic full stops, mapped by IDNA
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[0:0:0:0:0:ffff:127.0.0.1]/", "loopback"),
        ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
        ("http://0/", "unspecified"),
        ("http://0.0.0.0:8080/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://10.0.0.1/", "private"),
        ("http://[64:ff9b::10.0.0.1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://[64:ff9b::a00:1]/", "private"),
        ("http://[2002:c0a8:101::1]/", "private"),  # 6to4 of 192.168.1.1
        ("http://[2002:c0a8:1fe::]/", "private"),  # 6to4 of 192.168.1.254
        ("http://192.168.0.1/", "private"),
        ("http://100.64.0.1/", "cgnat"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://0xa9fea9fe/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://168.63.129.16/", "metadata"),
        ("http://198.18.0.1/", "benchmarking"),
        ("http://192.0.2.1/", "documentation"),
        ("http://[fe80::1]/", "link_local"),
        ("http://[fec0::1]/", "site_local"),
        ("http://[fd12:3456::1]/", "ula"),
        ("http://239.255.255.250/", "multicast"),
        ("http://255.255.255.255/", "reserved"),
        ("http://localhost/", "special_name"),
        ("http://localhost./", "special_name"),
        ("http://LocalHost:8080/", "special_name"),
        ("http://foo.localhost/", "special_name"),
        ("http://printer.local/", "special_name"),
        ("http://metadata.google.internal/", "special_name"),
        ("http://intranet/", "single_label_name"),
        # Parser confusion: whatever the parser, the answer is a refusal.
        ("http://user@evil@127.0.0.1/", "userinfo"),
        ("http://evil.example@127.0.0.1/", "userinfo"),
        ("http://127.0.0.1:80@evil.example/", "userinfo"),
        ("http://@127.0.0.1/", "userinfo"),
        ("http://user:pass@cdn.example/", "userinfo"),
        ("http://127.0.0.1\\@evil.example/", "malformed_url"),
        ("http://evil.example\t@127.0.0.1/", "malformed_url"),
        ("http://evil.example /", "malformed_url"),
        ("http://[::1/", "malformed_url"),
        ("http://cdn.example:99999/", "malformed_url"),
        ("http://cdn.example:0/", "malformed_url"),
        ("http:///etc/passwd", "malformed_host"),
        ("http://example.123/", "malformed_host"),
        ("http://1.2.3.4.5/", "malformed_host"),
        ("http://09.0.0.1/", "malformed_host"),
        ("http://a..b.example/", "malformed_host"),
        ("http://ex%41mple.com/", "malformed_host"),
        ("http://[fe80::1%25eth0]/", "malformed_host"),
        ("http://under_score.example/", "malformed_host"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_SET", "scheme"),
        ("ftp://cdn.example/cat.png", "scheme"),
        ("dict://127.0.0.1:11211/", "scheme"),
        ("ldap://cdn.example/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("//cdn.example/cat.png", "scheme"),
        ("cat.png", "scheme"),
    ],
)
async def test_attack_urls_are_refused_before_lookup_or_connection(no_connect: None, url: str, reason: str) -> None:
    resolver = FakeResolver({})
    with pytest.raises(FetchRefused) as caught:
        await SafeFetcher(resolver=resolver).fetch(url)
    assert caught.value.reason == reason
    assert resolver.calls == []


def test_fragment_tricks_keep_the_host_the_client_library_sees() -> None:
    target = check_url("http://cdn.example#@127.0.0.1/", AddressPolicy())
    assert target.host.hostname == "cdn.example"
    assert str(target.url) == "http://cdn.example"


def test_requested_url_is_canonical() -> None:
    target = check_url("HTTP://CDN.Example.:8080/a%20b?q=1#frag", AddressPolicy())
    assert str(target.url) == "http://cdn.example:8080/a%20b?q=1"
    assert target.port == 8080
    idn = check_url("https://bücher.example/x", AddressPolicy())
    assert idn.host.hostname == "xn--bcher-kva.example"


def test_https_to_http_redirect_is_refused() -> None:
    first = check_url("https://cdn.example/a", AddressPolicy())
    with pytest.raises(FetchRefused) as caught:
        check_url("http://cdn.example/b", AddressPolicy(), previous=first)
    assert caught.value.reason == "scheme_downgrade"
    assert check_url("https://other.example/b", AddressPolicy(), previous=first).is_https


@pytest.mark.parametrize(
    ("allowed", "url", "ok"),
    [
        ({"cdn.example"}, "http://cdn.example/", True),
        ({"cdn.example"}, "http://CDN.example./", True),
        ({"cdn.example"}, "http://img.cdn.example/", False),
        ({".cdn.example"}, "http://img.cdn.example/", True),
        ({".cdn.example"}, "http://cdn.example/", False),
        ({".cdn.example"}, "http://evilcdn.example/", False),
        ({"cdn.example"}, "http://93.184.215.14/", False),
        ({"93.184.215.14"}, "http://93.184.215.14/", True),
        ({"93.184.215.14"}, "http://1572394766/", True),  # the same address, non-canonical form
    ],
)
def test_allow_list(allowed: set[str], url: str, ok: bool) -> None:
    policy = AddressPolicy(allowed_hosts=frozenset(allowed))
    if ok:
        check_url(url, policy)
    else:
        with pytest.raises(FetchRefused, match="allow-list"):
            check_url(url, policy)


def test_disabled_policy_refuses_even_harmless_urls() -> None:
    with pytest.raises(FetchRefused) as caught:
        check_url("https://cdn.example/cat.png", AddressPolicy(enabled=False))
    assert caught.value.reason == "disabled"
