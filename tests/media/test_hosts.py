"""URL host parsing: every legacy IPv4 spelling lands on the same address; names a resolver would read as numbers
never come out as names."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from regiongate.media.hosts import HostReason, HostRefused, parse_host

PROPS = settings(deadline=None, max_examples=400)


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("00", "0.0.0.0"),
        ("4294967295", "255.255.255.255"),
        ("１２７．０．０．１", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[::1]", "::1"),
        ("::1", "::1"),  # yarl hands hosts over without brackets
        ("[64:ff9b::10.0.0.1]", "64:ff9b::a00:1"),
    ],
)
def test_ip_forms(raw: str, address: str) -> None:
    assert parse_host(raw).address == ip_address(address)
    assert parse_host(raw).hostname is None


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("cdn.example", "cdn.example"),
        ("CDN.Example.", "cdn.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("0x7f.example", "0x7f.example"),  # only the last label decides, as in the WHATWG parser
        ("1-2-3-4.nip.example", "1-2-3-4.nip.example"),
    ],
)
def test_names(raw: str, name: str) -> None:
    assert parse_host(raw).hostname == name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("localhost", HostReason.SPECIAL_NAME),
        ("localhost.", HostReason.SPECIAL_NAME),
        ("LOCALHOST", HostReason.SPECIAL_NAME),
        ("api.localhost", HostReason.SPECIAL_NAME),
        ("nas.local", HostReason.SPECIAL_NAME),
        ("metadata.google.internal", HostReason.SPECIAL_NAME),
        ("router.home.arpa", HostReason.SPECIAL_NAME),
        ("intranet", HostReason.SINGLE_LABEL),
        ("", HostReason.MALFORMED),
        (".", HostReason.MALFORMED),
        ("localhost..", HostReason.MALFORMED),
        ("a..b", HostReason.MALFORMED),
        ("example.123", HostReason.MALFORMED),
        ("example.0x1", HostReason.MALFORMED),
        ("1.2.3.4.5", HostReason.MALFORMED),
        ("256.0.0.1", HostReason.MALFORMED),
        ("1.2.3.256", HostReason.MALFORMED),
        ("1.2.65536", HostReason.MALFORMED),
        ("4294967296", HostReason.MALFORMED),
        ("08.0.0.1", HostReason.MALFORMED),
        ("0x1g.0.0.1", HostReason.MALFORMED),
        ("1.2.3.+4", HostReason.MALFORMED),
        ("1_0.0.0.1", HostReason.MALFORMED),
        ("-cdn.example", HostReason.MALFORMED),
        ("cdn-.example", HostReason.MALFORMED),
        ("under_score.example", HostReason.MALFORMED),
        ("a" * 64 + ".example", HostReason.MALFORMED),
        ("ex%41mple.com", HostReason.MALFORMED),
        ("[fe80::1%eth0]", HostReason.MALFORMED),
        ("[fe80::1%25eth0]", HostReason.MALFORMED),
        ("[::1", HostReason.MALFORMED),
        ("[127.0.0.1]", HostReason.MALFORMED),
        ("::ffff:1.2.3", HostReason.MALFORMED),
        ("💩.example", HostReason.MALFORMED),  # not valid IDNA 2008
    ],
)
def test_refused(raw: str, reason: HostReason) -> None:
    with pytest.raises(HostRefused) as caught:
        parse_host(raw)
    assert caught.value.reason is reason


def _radix(part: int, style: int) -> str:
    return (str(part), f"0{part:o}", f"0x{part:x}", f"0X{part:X}")[style]


@st.composite
def legacy_ipv4(draw: st.DrawFn) -> tuple[IPv4Address, str]:
    """An address and one of its inet_aton spellings: 1 to 4 parts, each in decimal, octal or hex."""
    value = draw(st.integers(0, 2**32 - 1))
    address = IPv4Address(value)
    parts = draw(st.integers(1, 4))
    octets = [(value >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    numbers = [*octets, value & (0xFFFFFFFF >> (8 * (parts - 1)))]
    text = ".".join(_radix(n, draw(st.integers(0, 3))) for n in numbers)
    return address, text + draw(st.sampled_from(("", ".")))


@PROPS
@given(legacy_ipv4())
@example((IPv4Address("127.0.0.1"), "0x7f.1"))
def test_every_legacy_ipv4_spelling_is_the_same_address(case: tuple[IPv4Address, str]) -> None:
    address, text = case
    assert parse_host(text).address == address
    assert socket.inet_aton(text.removesuffix(".")) == address.packed  # what the OS resolver would have read


@PROPS
@given(st.ip_addresses(v=6))
def test_ipv6_literals_round_trip(address: IPv6Address) -> None:
    assert parse_host(f"[{address}]").address == address
    assert parse_host(f"[{address.exploded.upper()}]").address == address


@PROPS
@given(st.text(alphabet="0123456789abcdefxX.-_[]:%", max_size=24) | st.text(max_size=24))
@example("0x7f.1")
@example("1.0x")
def test_a_name_is_never_something_the_os_would_read_as_an_address(raw: str) -> None:
    try:
        parsed = parse_host(raw)
    except HostRefused:
        return
    if parsed.hostname is None:
        return
    with pytest.raises(OSError, match="illegal IP address"):
        socket.inet_aton(parsed.hostname)
    with pytest.raises(ValueError, match="does not appear to be"):
        ip_address(parsed.hostname)
    assert "." in parsed.hostname
    assert parsed.hostname == parsed.hostname.lower()
