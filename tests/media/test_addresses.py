"""Address classification: examples for every reason, and properties over random addresses."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from regiongate.media.addresses import (
    STRICTER_THAN_STDLIB,
    AddressPolicy,
    Embedding,
    IPAddress,
    NetworkPermit,
    Reason,
    classify,
)

PROPS = settings(deadline=None, max_examples=400)

# Networks whose every address must be refused, with the reason.
NON_PUBLIC_V4 = {
    "0.0.0.0/8": Reason.UNSPECIFIED,
    "10.0.0.0/8": Reason.PRIVATE,
    "100.64.0.0/10": Reason.CGNAT,
    "127.0.0.0/8": Reason.LOOPBACK,
    "169.254.0.0/16": Reason.LINK_LOCAL,
    "172.16.0.0/12": Reason.PRIVATE,
    "192.168.0.0/16": Reason.PRIVATE,
    "198.18.0.0/15": Reason.BENCHMARKING,
    "192.0.2.0/24": Reason.DOCUMENTATION,
    "224.0.0.0/4": Reason.MULTICAST,
    "240.0.0.0/4": Reason.RESERVED,
}
non_public_v4 = st.sampled_from(sorted(NON_PUBLIC_V4)).flatmap(lambda net: st.ip_addresses(network=net))
network_and_address = st.sampled_from(sorted(NON_PUBLIC_V4)).flatmap(
    lambda net: st.tuples(st.just(net), st.ip_addresses(network=net))
)
public_v4 = st.ip_addresses(v=4).filter(lambda a: classify(a).is_public)
TEREDO_SERVER = 0x4136E378  # 65.54.227.120, public

# How each IPv6 wrapper carries an IPv4 address (as an int).
EMBED: dict[Embedding, Callable[[int], IPv6Address]] = {
    Embedding.MAPPED: lambda v4: IPv6Address(0xFFFF << 32 | v4),
    Embedding.TRANSLATED: lambda v4: IPv6Address(0xFFFF << 48 | v4),
    Embedding.COMPATIBLE: lambda v4: IPv6Address(v4),
    Embedding.NAT64: lambda v4: IPv6Address(0x64FF9B << 96 | v4),
    Embedding.NAT64_LOCAL: lambda v4: IPv6Address((0x64FF9B << 96 | 1 << 80) | v4),
    Embedding.SIX_TO_FOUR: lambda v4: IPv6Address(0x2002 << 112 | v4 << 80 | 1),
    Embedding.TEREDO: lambda v4: IPv6Address(0x20010000 << 96 | TEREDO_SERVER << 64 | (~v4 & 0xFFFFFFFF)),
}


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address: DNS64 in IPv6-only clouds
        ("127.0.0.1", Reason.LOOPBACK),
        ("::1", Reason.LOOPBACK),
        ("10.255.255.255", Reason.PRIVATE),
        ("172.31.0.1", Reason.PRIVATE),
        ("100.127.255.254", Reason.CGNAT),
        ("169.254.1.1", Reason.LINK_LOCAL),
        ("fe80::1", Reason.LINK_LOCAL),
        ("224.0.0.251", Reason.MULTICAST),
        ("ff02::fb", Reason.MULTICAST),
        ("240.0.0.1", Reason.RESERVED),
        ("255.255.255.255", Reason.RESERVED),
        ("192.0.0.9", Reason.RESERVED),
        ("192.88.99.1", Reason.RESERVED),
        ("100::1", Reason.RESERVED),
        ("2001:2::1", Reason.RESERVED),
        ("4000::1", Reason.RESERVED),
        ("5f00::1", Reason.RESERVED),
        ("0.0.0.0", Reason.UNSPECIFIED),
        ("::", Reason.UNSPECIFIED),
        ("169.254.169.254", Reason.METADATA),
        ("169.254.170.2", Reason.METADATA),
        ("fd00:ec2::254", Reason.METADATA),
        ("100.100.100.200", Reason.METADATA),
        ("168.63.129.16", Reason.METADATA),
        ("198.19.255.255", Reason.BENCHMARKING),
        ("203.0.113.7", Reason.DOCUMENTATION),
        ("2001:db8::1", Reason.DOCUMENTATION),
        ("3fff::1", Reason.DOCUMENTATION),
        ("fec0::1", Reason.SITE_LOCAL),
        ("fd00::1", Reason.ULA),
        ("fc00::1", Reason.ULA),
        ("::ffff:7f00:1", Reason.LOOPBACK),
        ("::ffff:808:808", Reason.IPV4_MAPPED),
        ("::808:808", Reason.IPV4_COMPATIBLE),
        ("64:ff9b::a00:1", Reason.PRIVATE),
        ("64:ff9b:1::808:808", Reason.NAT64),
        ("2002:c0a8:101::1", Reason.PRIVATE),
        ("2002:808:808::1", Reason.SIX_TO_FOUR),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reason.DOCUMENTATION),  # Teredo client 192.0.2.45
        ("2001:0:4136:e378:8000:63bf:f7f6:f7f6", Reason.TEREDO),  # Teredo client 8.9.8.9
    ],
)
def test_examples(address: str, reason: Reason | None) -> None:
    assert classify(ip_address(address)).reason is reason


def test_verdict_describes_the_embedding() -> None:
    verdict = classify(ip_address("64:ff9b::a9fe:a9fe"))
    assert (verdict.reason, verdict.via, verdict.embedded) == (
        Reason.METADATA,
        Embedding.NAT64,
        IPv4Address("169.254.169.254"),
    )
    assert verdict.describe() == "64:ff9b::a9fe:a9fe (nat64 of 169.254.169.254): metadata"


@PROPS
@given(st.ip_addresses(v=4) | st.ip_addresses(v=6))
@example(ip_address("224.0.0.1"))
@example(ip_address("::ffff:808:808"))
@example(ip_address("64:ff9b::a00:1"))
def test_never_more_permissive_than_the_standard_library(address: IPAddress) -> None:
    verdict = classify(address)
    if verdict.is_public:
        assert address.is_global, verdict.describe()
    elif address.is_global:
        # Stricter on purpose: each such network is listed and explained in addresses.py.
        assert any(address in net for net in STRICTER_THAN_STDLIB if net.version == address.version), address


@PROPS
@given(non_public_v4, st.sampled_from(sorted(EMBED)))
def test_every_v6_form_of_a_non_public_v4_address_is_refused(v4: IPv4Address, via: Embedding) -> None:
    expected = classify(v4).reason
    assert expected is not None
    verdict = classify(EMBED[via](int(v4)))
    assert not verdict.is_public
    if not (via is Embedding.COMPATIBLE and int(v4) < 2):  # ::0.0.0.0 is "::", ::0.0.0.1 is "::1"
        assert verdict.reason is expected
        assert verdict.embedded == v4


@PROPS
@given(public_v4, st.sampled_from(sorted(EMBED)))
def test_only_nat64_well_known_prefix_carries_a_public_v4_address(v4: IPv4Address, via: Embedding) -> None:
    verdict = classify(EMBED[via](int(v4)))
    assert verdict.is_public is (via is Embedding.NAT64)


@PROPS
@given(network_and_address)
def test_whole_networks_are_refused_with_their_reason(case: tuple[str, IPv4Address]) -> None:
    network, address = case
    verdict = classify(address)
    assert verdict.reason in (NON_PUBLIC_V4[network], Reason.METADATA)


def test_permit_can_be_bound_to_a_name_and_port() -> None:
    loopback = ip_address("127.0.0.1")
    permit = NetworkPermit(ip_network("127.0.0.1/32"), hostname="Media.Example.", port=8080)
    assert permit.permits(loopback, "media.example", 8080)
    assert not permit.permits(loopback, None, 8080)  # the same address as an IP literal
    assert not permit.permits(loopback, "media.example", 8081)
    assert not permit.permits(ip_address("127.0.0.2"), "media.example", 8080)
    policy = AddressPolicy(permits=(permit,))
    assert policy.permitted(loopback, "media.example", 8080)
    assert not AddressPolicy().permitted(loopback, "media.example", 8080)


def test_allow_list_entries_are_normalized() -> None:
    policy = AddressPolicy(allowed_hosts=frozenset({"CDN.Example.", ".Img.Example"}))
    assert policy.host_allowed("cdn.example")
    assert policy.host_allowed("a.img.example")
    assert not policy.host_allowed("img.example")
    assert AddressPolicy().host_allowed("anything.example")
