"""Magic-byte sniffing and data: URLs."""

from __future__ import annotations

import base64

import pytest

from regiongate.media.addresses import AddressPolicy
from regiongate.media.data_url import decode_data_url
from regiongate.media.errors import FetchRefused, FetchTooLarge, UnrecognizedMedia
from regiongate.media.fetch import FetchLimits, SafeFetcher
from regiongate.media.sniff import MediaKind, sniff
from regiongate.topology.records import Modality
from tests.media.conftest import PNG


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", MediaKind.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", MediaKind.JPEG),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", MediaKind.WEBP),
        (b"GIF89a\x01\x00\x01\x00", MediaKind.GIF),
        (b"GIF87a\x01\x00\x01\x00", MediaKind.GIF),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", MediaKind.WAV),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", MediaKind.MP3),
        (b"\xff\xfb\x90\x64\x00\x00", MediaKind.MP3),  # MPEG-1 layer III frame, no tag
        (b"\xff\xf3\x64\xc4\x00\x00", MediaKind.MP3),  # MPEG-2 layer III
        (b"fLaC\x00\x00\x00\x22", MediaKind.FLAC),
        (b"OggS\x00\x02\x00\x00", MediaKind.OGG),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", MediaKind.MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", MediaKind.MP4),  # QuickTime .mov
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", MediaKind.M4A),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", MediaKind.WEBM),
    ],
)
def test_recognized_formats(head: bytes, kind: MediaKind) -> None:
    assert sniff(head + b"\x00" * 16) is kind


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'>",
        b"<!DOCTYPE html><html>",
        b"PK\x03\x04",  # zip
        b"\x1f\x8b\x08\x00",  # gzip
        b"%PDF-1.7",
        b"RIFF\x24\x00\x00\x00AVI LIST",
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00",  # AVIF image in an ISO BMFF box
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
        b"\xff\xf1\x50\x80\x00\x1f",  # AAC ADTS: sync bits, but layer 00
        b"\xff\xff\xff\xff",  # sync bits with reserved fields
        b"\xff\xfb\xf0\x00",  # bitrate index 1111 (bad)
        b"\xff\xd8",  # truncated JPEG
    ],
)
def test_unrecognized_bytes(head: bytes) -> None:
    assert sniff(head) is None


def test_modalities() -> None:
    assert MediaKind.PNG.modality is Modality.IMAGE
    assert MediaKind.FLAC.modality is Modality.AUDIO
    assert MediaKind.WEBM.modality is Modality.VIDEO


def _data(payload: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(payload).decode()}"


def test_data_url_trusts_bytes_not_the_declared_type() -> None:
    media = decode_data_url(_data(PNG, "audio/wav"), max_bytes=1024)
    assert (media.kind, media.data, media.url) == (MediaKind.PNG, PNG, None)
    assert decode_data_url(_data(PNG, ""), max_bytes=1024).kind is MediaKind.PNG
    with pytest.raises(UnrecognizedMedia):
        decode_data_url(_data(b"<svg onload=alert(1)>"), max_bytes=1024)


def test_data_url_size_cap_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    exact = PNG + b"\x00" * (300 - len(PNG))
    assert len(decode_data_url(_data(exact), max_bytes=300).data) == 300
    with pytest.raises(FetchTooLarge):
        decode_data_url(_data(exact + b"\x00"), max_bytes=300)  # within the encoded bound, over the decoded one

    def no_decode(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("decoded an oversized payload")

    oversized = _data(exact + b"\x00" * 4)
    monkeypatch.setattr(base64, "b64decode", no_decode)
    with pytest.raises(FetchTooLarge):
        decode_data_url(oversized, max_bytes=300)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("data:image/png,%89PNG", "data_url_not_base64"),
        ("data:image/png;base64", "malformed_data_url"),
        ("data:image/png;base64,iVBO!!!", "malformed_data_url"),
        ("data:image/png;base64,iVBORw0KGgo", "malformed_data_url"),  # bad padding
        ("data:image/png;base64,iVBO Rw0K", "malformed_data_url"),
        ("data:image/png;base64,iVBO%2BRw0", "malformed_data_url"),
    ],
)
def test_malformed_data_urls(url: str, reason: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        decode_data_url(url, max_bytes=1024)
    assert caught.value.reason == reason


async def test_fetcher_decodes_data_urls_even_when_fetching_is_disabled() -> None:
    fetcher = SafeFetcher(AddressPolicy(enabled=False), FetchLimits(max_bytes=1024))
    assert (await fetcher.fetch(_data(PNG), expect=Modality.IMAGE)).kind is MediaKind.PNG
    with pytest.raises(UnrecognizedMedia) as caught:
        await fetcher.fetch(_data(PNG), param="messages[1].content[0]", expect=Modality.VIDEO)
    assert caught.value.param == "messages[1].content[0]"
