"""Check a media URL (and each redirect target) against the policy, before and after resolving its host.

Pure apart from yarl. URLs are split by yarl, the parser aiohttp itself uses, so the host we check is the host the
client library would connect to; the URL actually requested is then rebuilt from the checked parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from regiongate.media.addresses import AddressPolicy, IPAddress, classify
from regiongate.media.errors import FetchRefused
from regiongate.media.hosts import HostRefused, ParsedHost, parse_host

_SCHEMES = frozenset({"http", "https"})
# WHATWG parsers silently strip tabs and newlines and treat "\" as "/"; refusing them removes the disagreement.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed every check that does not need DNS."""

    url: URL  # what is requested: canonical host, no userinfo, no fragment
    host: ParsedHost
    port: int

    @property
    def is_https(self) -> bool:
        return self.url.scheme == "https"


def check_url(raw: str, policy: AddressPolicy, *, previous: Target | None = None) -> Target:
    """Refuse ``raw`` unless its form, scheme and host are acceptable. ``previous`` is the redirecting hop."""
    if not policy.enabled:
        raise FetchRefused("disabled")
    url = _split(raw)
    if url.scheme not in _SCHEMES:
        raise FetchRefused("scheme", detail=url.scheme)
    if previous is not None and previous.is_https and url.scheme != "https":
        raise FetchRefused("scheme_downgrade")
    host = _host(url)
    port = url.port
    if port is None or port == 0:
        raise FetchRefused("malformed_url", detail="port")
    if not policy.host_allowed(host.text):
        raise FetchRefused("not_allowlisted", detail=host.text)
    return Target(url.with_host(host.text).with_fragment(None), host, port)


def _split(raw: str) -> URL:
    if _UNSAFE_CHARS.search(raw):
        raise FetchRefused("malformed_url", detail="control character, space or backslash")
    authority = _AUTHORITY.match(raw)
    # Any "@" in the authority is refused, even an empty userinfo: "http://a@b@c/" is read differently by
    # different parsers, and credentials have no place in a media URL.
    if authority is not None and "@" in authority.group(1):
        raise FetchRefused("userinfo")
    try:
        url = URL(raw)
        url.port  # noqa: B018 - yarl parses the port lazily; force its ValueError here
    except ValueError:
        raise FetchRefused("malformed_url") from None
    if url.raw_user is not None or url.raw_password is not None:
        raise FetchRefused("userinfo")
    return url


def _host(url: URL) -> ParsedHost:
    if not url.raw_host:
        raise FetchRefused("malformed_host")
    try:
        return parse_host(url.raw_host)
    except HostRefused as refused:
        raise FetchRefused(refused.reason.value, detail=refused.host) from None


def check_addresses(target: Target, addresses: Iterable[IPAddress], policy: AddressPolicy) -> tuple[IPAddress, ...]:
    """Refuse unless *every* address is public or permitted; return them, deduplicated, in order.

    One bad address is enough: the client library could pick any of them, and an attacker controls the order.
    """
    checked = tuple(dict.fromkeys(addresses))
    for address in checked:
        verdict = classify(address)
        if not verdict.is_public and not policy.permitted(address, target.host.hostname, target.port):
            assert verdict.reason is not None
            raise FetchRefused(verdict.reason.value, detail=f"{target.host.text}: {verdict.describe()}")
    return checked
