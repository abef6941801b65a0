"""Finding the media parts of OpenAI ``messages`` (as received, plain dicts) and getting their bytes.

Parts: ``image_url`` (``{url, detail}``), ``input_audio`` (``{data, format}``: OpenAI's bare base64, or a data:/http(s)
URL as DashScope allows), and the vLLM/DashScope extensions ``audio_url`` and ``video_url``. Any other non-text part
type is refused: media the gateway does not understand must not reach a backend unvalidated. The declared
``format`` and data-URL media types are ignored; magic bytes decide (:mod:`regiongate.media.sniff`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from regiongate.media.data_url import decode_data_url, identify, is_data_url
from regiongate.media.errors import FetchError, FetchRefused, FetchTooLarge
from regiongate.media.rejection import MediaRefused
from regiongate.media.sniff import Media
from regiongate.topology.records import Modality

FetchFn = Callable[[str, str], Awaitable[bytes]]
"""``fetch(url, param)``: the bytes at an http(s) URL (the SSRF-safe fetcher plugs in here)."""

_URL_PARTS = {"image_url": Modality.IMAGE, "audio_url": Modality.AUDIO, "video_url": Modality.VIDEO}
_TEXT_PARTS = frozenset({"text", "refusal"})


@dataclass(frozen=True, slots=True)
class MediaRef:
    message: int
    part: int
    modality: Modality
    source: str  # a data:/http(s) URL, or bare base64 for OpenAI's input_audio
    bare_base64: bool = False
    detail: str | None = None

    @property
    def param(self) -> str:
        return f"messages[{self.message}].content[{self.part}]"

    @property
    def inline(self) -> bool:
        return self.bare_base64 or is_data_url(self.source)

    def inline_bytes(self) -> int:
        """Decoded size of inline media, known without decoding it (exact for valid base64); 0 if fetched."""
        if not self.inline:
            return 0
        # Arithmetic on the string, no slicing of the payload: this runs on the event loop.
        size = len(self.source) - (0 if self.bare_base64 else self.source.find(",") + 1)
        tail = self.source[-2:]
        return size * 3 // 4 - (len(tail) - len(tail.rstrip("=")))


def find_media(messages: Sequence[Any]) -> list[MediaRef]:
    """Every media part of ``messages``, in order. Raises :class:`MediaRefused` for a malformed or unknown part."""
    refs = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            ref = _media_ref(i, j, part)
            if ref is not None:
                refs.append(ref)
    return refs


def _media_ref(i: int, j: int, part: Any) -> MediaRef | None:
    param = f"messages[{i}].content[{j}]"
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        return None
    if kind in _URL_PARTS:
        body = part.get(kind)
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str):
            raise MediaRefused("malformed_part", f"a {kind} part needs a {kind}.url string", param=param)
        detail = body.get("detail") if isinstance(body, dict) else None
        return MediaRef(i, j, _URL_PARTS[kind], url, detail=detail if isinstance(detail, str) else None)
    if kind == "input_audio":
        body = part.get("input_audio")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, str):
            raise MediaRefused("malformed_part", "an input_audio part needs an input_audio.data string", param=param)
        bare = not (is_data_url(data) or data[:8].lower().startswith(("http://", "https://")))
        return MediaRef(i, j, Modality.AUDIO, data, bare_base64=bare)
    raise MediaRefused("unsupported_part", f"content parts of type {kind!r} are not supported", param=param)


async def fetch_source(ref: MediaRef, *, max_bytes: int, fetch: FetchFn | None) -> bytes | str:
    """What the worker will decode: fetched bytes for an http(s) URL, else the inline text itself, untouched (a
    20 MB base64 decode takes ~90 ms: too long for the event loop, so it happens in the pool)."""
    try:
        return ref.source if ref.inline else await _fetch(ref, max_bytes, fetch)
    except FetchError as error:
        error.param = error.param or ref.param
        raise


async def _fetch(ref: MediaRef, max_bytes: int, fetch: FetchFn | None) -> bytes:
    if not ref.source[:8].lower().startswith(("http://", "https://")):
        raise FetchRefused("scheme")
    if fetch is None:
        raise FetchRefused("disabled")
    data = await fetch(ref.source, ref.param)
    if len(data) > max_bytes:  # the fetcher should have stopped already; never trust a plug-in with the cap
        raise FetchTooLarge(detail=f"{len(data)} bytes")
    return data


def decode_source(source: bytes | str, *, bare_base64: bool, expect: Modality, max_bytes: int) -> Media:
    """The media in ``source``, identified by its magic bytes and checked against ``expect`` and ``max_bytes``.
    Runs in a worker; raises the fetcher's :class:`FetchError` family."""
    if isinstance(source, bytes):
        data = source
    elif bare_base64:
        data = _bare_base64(source, max_bytes)
    else:
        return decode_data_url(source, max_bytes=max_bytes, expect=expect)
    return identify(data, url=None, expect=expect)


def _bare_base64(payload: str, max_bytes: int) -> bytes:
    # The same order as data_url: refuse by encoded length before decoding allocates anything.
    if len(payload) > 4 * ((max_bytes + 2) // 3):
        raise FetchTooLarge(detail=f"{len(payload)} base64 characters")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise FetchRefused("malformed_data_url", "input_audio.data is not valid base64") from None
    if len(data) > max_bytes:
        raise FetchTooLarge(detail=f"{len(data)} bytes")
    return data
