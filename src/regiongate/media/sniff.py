"""Identify media by its magic bytes. Content-Type headers and data: URL media types are never trusted.

Only formats the backends can decode are recognized; everything else (SVG, HTML, archives, AVIF/HEIC, which share
MP4's ``ftyp`` box) is refused rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from regiongate.topology.records import Modality


class MediaKind(StrEnum):
    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"
    GIF = "image/gif"
    WAV = "audio/wav"
    MP3 = "audio/mpeg"
    FLAC = "audio/flac"
    OGG = "audio/ogg"  # Ogg may also hold video (Theora); backends treat it as audio
    M4A = "audio/mp4"
    MP4 = "video/mp4"  # also QuickTime .mov, which uses the same box structure
    WEBM = "video/webm"  # any EBML/Matroska file

    @property
    def modality(self) -> Modality:
        return Modality(self.value.split("/", 1)[0])


@dataclass(frozen=True, slots=True)
class Media:
    """Media bytes and what they are. ``url`` is the final URL after redirects, ``None`` for data: URLs."""

    data: bytes
    kind: MediaKind
    url: str | None = None


# Image-only brands of the ISO base media file format (HEIF, AVIF): not video, and not supported.
_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B "})

_PREFIXES: tuple[tuple[bytes, MediaKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", MediaKind.PNG),
    (b"\xff\xd8\xff", MediaKind.JPEG),
    (b"GIF87a", MediaKind.GIF),
    (b"GIF89a", MediaKind.GIF),
    (b"fLaC", MediaKind.FLAC),
    (b"OggS", MediaKind.OGG),
    (b"ID3", MediaKind.MP3),
    (b"\x1a\x45\xdf\xa3", MediaKind.WEBM),
)


def sniff(data: bytes) -> MediaKind | None:
    """The kind of ``data`` from its first bytes, or ``None`` if it is not a supported format."""
    for prefix, kind in _PREFIXES:
        if data.startswith(prefix):
            return kind
    return _sniff_riff(data) or _sniff_iso_bmff(data) or _sniff_mpeg_audio(data)


def _sniff_riff(data: bytes) -> MediaKind | None:
    if len(data) < 12 or data[:4] != b"RIFF":
        return None
    return {b"WEBP": MediaKind.WEBP, b"WAVE": MediaKind.WAV}.get(data[8:12])


def _sniff_iso_bmff(data: bytes) -> MediaKind | None:
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    if brand in _IMAGE_BRANDS:
        return None
    return MediaKind.M4A if brand in _AUDIO_BRANDS else MediaKind.MP4


def _sniff_mpeg_audio(data: bytes) -> MediaKind | None:
    """An MPEG audio frame header without ID3 tag: 11 sync bits, then fields that must not hold reserved values.

    The field checks keep this from matching arbitrary 0xFF-led data and AAC ADTS (layer bits 00).
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return None
    version = (data[1] >> 3) & 0b11
    layer = (data[1] >> 1) & 0b11
    bitrate = data[2] >> 4
    sample_rate = (data[2] >> 2) & 0b11
    if version == 0b01 or layer == 0b00 or bitrate == 0b1111 or sample_rate == 0b11:
        return None
    return MediaKind.MP3
