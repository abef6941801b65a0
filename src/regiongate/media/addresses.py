"""Which IP addresses a media fetch may connect to, and the operator's fetch policy.

Pure: no I/O. :func:`classify` says whether an address is public and, if not, why. It is deliberately stricter than
:attr:`ipaddress.IPv4Address.is_global` (whose answer also changes between Python releases); the stricter cases are
listed in ``STRICTER_THAN_STDLIB`` so tests can check that we never *allow* an address the standard library calls
non-global. IPv6 forms that embed an IPv4 address (mapped, compatible, translated, NAT64, 6to4, Teredo) are judged
by the embedded address, because that is where the packets end up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TypeVar

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
_T = TypeVar("_T")


class Reason(StrEnum):
    """Why an address is not public. Values are stable: they appear in error messages and logs."""

    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    CGNAT = "cgnat"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    UNSPECIFIED = "unspecified"
    METADATA = "metadata"
    BENCHMARKING = "benchmarking"
    DOCUMENTATION = "documentation"
    SITE_LOCAL = "site_local"
    ULA = "ula"
    # The embedded IPv4 address is public, but the wrapper itself is not globally routed or is deprecated.
    IPV4_MAPPED = "ipv4_mapped"
    IPV4_COMPATIBLE = "ipv4_compatible"
    SIX_TO_FOUR = "6to4"
    TEREDO = "teredo"
    NAT64 = "nat64"


class Embedding(StrEnum):
    """How an IPv6 address carries an IPv4 one."""

    MAPPED = "ipv4_mapped"  # ::ffff:a.b.c.d
    TRANSLATED = "ipv4_translated"  # ::ffff:0:a.b.c.d (SIIT, RFC 2765)
    COMPATIBLE = "ipv4_compatible"  # ::a.b.c.d (deprecated)
    NAT64 = "nat64"  # 64:ff9b::/96 well-known prefix (RFC 6052)
    NAT64_LOCAL = "nat64_local"  # 64:ff9b:1::/48 local-use prefix (RFC 8215)
    SIX_TO_FOUR = "6to4"  # 2002:AABB:CCDD::/48
    TEREDO = "teredo"  # 2001:0::/32, client address obfuscated in the low 32 bits


# Only the NAT64 well-known prefix is a normal way to reach a public IPv4 host (DNS64 in IPv6-only clouds). The
# other wrappers are refused even around a public address: none is needed for a media URL and several bypass
# filters on some stacks.
_EMBEDDING_REASON: dict[Embedding, Reason | None] = {
    Embedding.MAPPED: Reason.IPV4_MAPPED,
    Embedding.TRANSLATED: Reason.IPV4_MAPPED,
    Embedding.COMPATIBLE: Reason.IPV4_COMPATIBLE,
    Embedding.NAT64: None,
    Embedding.NAT64_LOCAL: Reason.NAT64,
    Embedding.SIX_TO_FOUR: Reason.SIX_TO_FOUR,
    Embedding.TEREDO: Reason.TEREDO,
}

# Cloud instance-metadata and host-agent endpoints. Most sit in ranges refused anyway; they are listed so the
# reason says "metadata" (the usual SSRF prize), and because Azure's wire server is a *public* address.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner, Oracle...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (public address, reachable only from inside Azure)
        "192.0.0.192",  # Oracle Cloud classic
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS time sync over IPv6
    )
)


def _table(*rows: tuple[str, _T]) -> tuple[tuple[IPNetwork, _T], ...]:
    return tuple((ip_network(net), what) for net, what in rows)


# First match wins, so narrower networks come before the ones containing them.
_V4_TABLE = _table(
    ("0.0.0.0/8", Reason.UNSPECIFIED),  # "this network"; 0.0.0.0 reaches localhost on Linux
    ("10.0.0.0/8", Reason.PRIVATE),
    ("100.64.0.0/10", Reason.CGNAT),
    ("127.0.0.0/8", Reason.LOOPBACK),
    ("169.254.0.0/16", Reason.LINK_LOCAL),
    ("172.16.0.0/12", Reason.PRIVATE),
    ("192.0.0.0/24", Reason.RESERVED),  # IETF protocol assignments, incl. DS-Lite and NAT64 discovery
    ("192.0.2.0/24", Reason.DOCUMENTATION),
    ("192.88.99.0/24", Reason.RESERVED),  # deprecated 6to4 relay anycast (RFC 7526)
    ("192.168.0.0/16", Reason.PRIVATE),
    ("198.18.0.0/15", Reason.BENCHMARKING),
    ("198.51.100.0/24", Reason.DOCUMENTATION),
    ("203.0.113.0/24", Reason.DOCUMENTATION),
    ("224.0.0.0/4", Reason.MULTICAST),
    ("240.0.0.0/4", Reason.RESERVED),  # incl. 255.255.255.255
)

_V6_TABLE: tuple[tuple[IPNetwork, Reason | Embedding], ...] = _table(
    ("::/128", Reason.UNSPECIFIED),
    ("::1/128", Reason.LOOPBACK),
    ("::ffff:0:0/96", Embedding.MAPPED),
    ("::ffff:0:0:0/96", Embedding.TRANSLATED),
    ("::/96", Embedding.COMPATIBLE),
    ("64:ff9b::/96", Embedding.NAT64),
    ("64:ff9b:1::/48", Embedding.NAT64_LOCAL),
    ("100::/64", Reason.RESERVED),  # discard-only
    ("2001::/32", Embedding.TEREDO),
    ("2001:db8::/32", Reason.DOCUMENTATION),
    ("2001::/23", Reason.RESERVED),  # IETF protocol assignments (ORCHID, AMT, benchmarking 2001:2::/48...)
    ("2002::/16", Embedding.SIX_TO_FOUR),
    ("3fff::/20", Reason.DOCUMENTATION),
    ("5f00::/16", Reason.RESERVED),  # SRv6 SIDs
    ("fc00::/7", Reason.ULA),
    ("fe80::/10", Reason.LINK_LOCAL),
    ("fec0::/10", Reason.SITE_LOCAL),
    ("ff00::/8", Reason.MULTICAST),
)

# Everything outside 2000::/3 (and not matched above) is unallocated by IANA.
_V6_GLOBAL_UNICAST = IPv6Network("2000::/3")

# Where classify() refuses although ipaddress.is_global (on some Python release) says global. Kept for the tests
# and for reviewers: every entry is a deliberate choice, explained in the tables above.
STRICTER_THAN_STDLIB: tuple[IPNetwork, ...] = (
    *(ip_network(a) for a in sorted(METADATA_ADDRESSES, key=lambda a: (a.version, a))),
    ip_network("192.0.0.0/24"),
    ip_network("192.88.99.0/24"),
    ip_network("224.0.0.0/4"),
    ip_network("::ffff:0:0/96"),
    ip_network("::ffff:0:0:0/96"),
    ip_network("::/96"),
    ip_network("64:ff9b::/96"),  # only where the embedded IPv4 address is not public
    ip_network("64:ff9b:1::/48"),
    ip_network("2001::/23"),
    ip_network("2002::/16"),
    ip_network("3fff::/20"),  # documentation since RFC 9637 (2024); older Pythons call it global
    ip_network("5f00::/16"),
    ip_network("ff00::/8"),
    # Outside 2000::/3: unallocated.
    ip_network("::/3"),
    ip_network("4000::/2"),
    ip_network("8000::/1"),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one address. ``reason is None`` means public."""

    address: IPAddress
    reason: Reason | None
    embedded: IPv4Address | None = None
    via: Embedding | None = None

    @property
    def is_public(self) -> bool:
        return self.reason is None

    def describe(self) -> str:
        """For logs and tests; never shown to clients, since it would reveal the gateway's view of DNS."""
        kind = "public" if self.reason is None else self.reason.value
        inner = f" ({self.via.value} of {self.embedded})" if self.embedded is not None and self.via else ""
        return f"{self.address}{inner}: {kind}"


def classify(address: IPAddress) -> Verdict:
    """Say whether ``address`` is a public unicast address a media fetch may connect to."""
    if isinstance(address, IPv4Address):
        return Verdict(address, _lookup_v4(address))
    if address in METADATA_ADDRESSES:
        return Verdict(address, Reason.METADATA)
    return _classify_v6(address)


def _lookup_v4(address: IPv4Address) -> Reason | None:
    if address in METADATA_ADDRESSES:
        return Reason.METADATA
    for network, what in _V4_TABLE:
        if address in network:
            return what
    return None


def _classify_v6(address: IPv6Address) -> Verdict:
    for network, what in _V6_TABLE:
        if address in network:
            if isinstance(what, Embedding):
                return _classify_embedded(address, what)
            return Verdict(address, what)
    if address not in _V6_GLOBAL_UNICAST:
        return Verdict(address, Reason.RESERVED)
    return Verdict(address, None)


def _classify_embedded(address: IPv6Address, via: Embedding) -> Verdict:
    for inner in embedded_ipv4(address, via):
        reason = _lookup_v4(inner)
        if reason is not None:
            return Verdict(address, reason, inner, via)
    # NAT64 of a public address is how IPv6-only clouds reach IPv4 hosts: allowed.
    return Verdict(address, _EMBEDDING_REASON[via], embedded_ipv4(address, via)[0], via)


def embedded_ipv4(address: IPv6Address, via: Embedding) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses ``address`` carries, the one packets are delivered to first."""
    if via is Embedding.SIX_TO_FOUR:
        return (IPv4Address((int(address) >> 80) & 0xFFFFFFFF),)
    if via is Embedding.TEREDO:
        server = IPv4Address((int(address) >> 64) & 0xFFFFFFFF)
        client = IPv4Address(~int(address) & 0xFFFFFFFF)
        return (client, server)
    # For the local-use NAT64 /48 this assumes the usual /96 layout; the whole /48 is refused anyway.
    return (IPv4Address(int(address) & 0xFFFFFFFF),)


@dataclass(frozen=True, slots=True)
class NetworkPermit:
    """Let a non-public network be fetched anyway, optionally only through one hostname and/or port.

    For operators with in-region media stores on private addresses, and for tests (which serve on 127.0.0.1). Tie
    a permit to a hostname and port whenever possible: a bare network permit also opens it to redirects and to IP
    literals in client URLs.
    """

    network: IPNetwork
    hostname: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        if self.hostname is not None:
            object.__setattr__(self, "hostname", _normalize_name(self.hostname))

    def permits(self, address: IPAddress, hostname: str | None, port: int) -> bool:
        return (
            address in self.network
            and (self.hostname is None or self.hostname == hostname)
            and (self.port is None or self.port == port)
        )


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """The operator's media-fetch policy.

    ``enabled=False`` forbids fetching URLs at all (inline ``data:`` URLs stay allowed: they are not fetched).
    ``allowed_hosts``, when non-empty, is the only set of hosts that may be fetched: an entry ``cdn.example.com``
    matches that name exactly, ``.example.com`` matches its subdomains (not ``example.com`` itself); IP literals
    match only their canonical text. Allow-listing never bypasses the address check: only ``permits`` do.
    """

    enabled: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    permits: tuple[NetworkPermit, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", frozenset(_normalize_name(h) for h in self.allowed_hosts))

    def host_allowed(self, host: str) -> bool:
        """``host`` is a normalized hostname or a canonical IP literal."""
        if not self.allowed_hosts or host in self.allowed_hosts:
            return True
        return any(entry.startswith(".") and host.endswith(entry) for entry in self.allowed_hosts)

    def permitted(self, address: IPAddress, hostname: str | None, port: int) -> bool:
        return any(p.permits(address, hostname, port) for p in self.permits)


def _normalize_name(name: str) -> str:
    # Same normalization as the URL host parser applies, so configured names compare equal to parsed ones.
    return name.strip().lower().removesuffix(".")
