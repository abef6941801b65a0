"""Inline ``data:`` media URLs (RFC 2397), base64 only. The declared media type is ignored: the bytes decide."""

from __future__ import annotations

import base64
import binascii

from regiongate.media.errors import FetchRefused, FetchTooLarge, UnrecognizedMedia
from regiongate.media.sniff import Media, sniff
from regiongate.topology.records import Modality


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def decode_data_url(url: str, *, max_bytes: int, expect: Modality | None = None) -> Media:
    """Decode a base64 ``data:`` URL of at most ``max_bytes`` decoded bytes and identify its media kind."""
    if not is_data_url(url):
        raise FetchRefused("malformed_data_url")
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise FetchRefused("malformed_data_url")
    if header.rsplit(";", 1)[-1].strip().lower() != "base64":
        raise FetchRefused("data_url_not_base64")
    # Checked on the encoded length so an oversized payload is refused before any decoding work or allocation.
    if len(payload) > 4 * ((max_bytes + 2) // 3):
        raise FetchTooLarge(detail=f"{len(payload)} base64 characters")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise FetchRefused("malformed_data_url") from None
    if len(data) > max_bytes:  # the encoded bound allows up to 2 bytes more
        raise FetchTooLarge(detail=f"{len(data)} bytes")
    return identify(data, url=None, expect=expect)


def identify(data: bytes, *, url: str | None, expect: Modality | None) -> Media:
    """Wrap ``data`` as :class:`Media`, refusing unknown formats and, if ``expect`` is given, other modalities."""
    kind = sniff(data)
    if kind is None:
        raise UnrecognizedMedia("unrecognized_media", detail=data[:16].hex())
    if expect is not None and kind.modality is not expect:
        raise UnrecognizedMedia("wrong_modality", detail=f"expected {expect.value}, got {kind.value}")
    return Media(data, kind, url)
