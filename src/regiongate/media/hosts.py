"""Parse a URL host the way resolvers would, refusing anything ambiguous.

Pure: no I/O. The danger is a host that *we* read as a name but the OS resolver reads as a number
(``0x7f.1``, ``2130706433``, ``127.1``, fullwidth digits): ``inet_aton`` accepts all of these. So, following the
WHATWG URL standard, any host whose last label looks numeric is parsed as IPv4 in all legacy forms, and if that
fails it is refused, never handed to a resolver. Names must be plain LDH after IDNA mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import AddressValueError, IPv4Address, IPv6Address

import idna

from regiongate.media.addresses import IPAddress


class HostReason(StrEnum):
    MALFORMED = "malformed_host"
    SPECIAL_NAME = "special_name"  # localhost, *.local, *.internal...: names that never mean a public host
    SINGLE_LABEL = "single_label_name"  # would be completed by the resolver's search list, i.e. internally


class HostRefused(ValueError):
    def __init__(self, reason: HostReason, host: str) -> None:
        super().__init__(f"{reason.value}: {host!r}")
        self.reason = reason
        self.host = host


@dataclass(frozen=True, slots=True)
class ParsedHost:
    """Exactly one of ``hostname`` (ASCII, lower case, no trailing dot) and ``address`` is set."""

    hostname: str | None = None
    address: IPAddress | None = None

    @property
    def text(self) -> str:
        """Canonical text: the name, or the compressed address without brackets."""
        if self.hostname is not None:
            return self.hostname
        return str(self.address)


# Special-use names (RFC 6761, RFC 8375, ICANN's .internal) that only ever resolve inside a network.
SPECIAL_SUFFIXES: tuple[str, ...] = ("localhost", "local", "internal", "localdomain", "home.arpa", "invalid")

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DECIMAL = re.compile(r"[0-9]+")
_OCTAL = re.compile(r"0[0-7]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")


def parse_host(raw: str) -> ParsedHost:
    """Parse ``raw`` as written in a URL (IPv6 in brackets; yarl's bracket-less form is accepted too)."""
    if raw.startswith("[") or ":" in raw:
        return ParsedHost(address=_parse_ipv6(raw))
    name = _to_ascii(raw)
    if _ends_in_number(name):
        return ParsedHost(address=_parse_ipv4(name, raw))
    return ParsedHost(hostname=_check_name(name, raw))


def _parse_ipv6(raw: str) -> IPv6Address:
    inner = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    # Zone identifiers (fe80::1%eth0) pick an interface: never meaningful for a public host.
    if "[" in inner or "]" in inner or "%" in inner:
        raise HostRefused(HostReason.MALFORMED, raw)
    try:
        return IPv6Address(inner)
    except AddressValueError:
        raise HostRefused(HostReason.MALFORMED, raw) from None


def _to_ascii(raw: str) -> str:
    if raw.isascii():
        return raw.lower()
    try:
        # UTS 46 mapping, as browsers and yarl do: fullwidth digits and ideographic full stops become ASCII here,
        # which is why the numeric check runs after this.
        return idna.encode(raw, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise HostRefused(HostReason.MALFORMED, raw) from None


def _ends_in_number(name: str) -> bool:
    labels = name.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    return bool(_DECIMAL.fullmatch(last) or _HEX.fullmatch(last))


def _parse_ipv4(name: str, raw: str) -> IPv4Address:
    """The WHATWG IPv4 parser: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last filling the rest."""
    parts = name.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise HostRefused(HostReason.MALFORMED, raw)
    numbers = [_parse_ipv4_number(part, raw) for part in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise HostRefused(HostReason.MALFORMED, raw)
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _parse_ipv4_number(part: str, raw: str) -> int:
    # Explicit patterns: int() would also accept "+1", " 1" and "1_0".
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if _OCTAL.fullmatch(part):
        return int(part, 8)
    if _DECIMAL.fullmatch(part) and not (len(part) > 1 and part.startswith("0")):
        return int(part)
    raise HostRefused(HostReason.MALFORMED, raw)


def _check_name(name: str, raw: str) -> str:
    name = name.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise HostRefused(HostReason.MALFORMED, raw)
    if any(name == s or name.endswith("." + s) for s in SPECIAL_SUFFIXES):
        raise HostRefused(HostReason.SPECIAL_NAME, raw)
    if len(labels) < 2:
        raise HostRefused(HostReason.SINGLE_LABEL, raw)
    return name
