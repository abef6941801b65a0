"""Test media, generated on the spot: no downloads, no binary fixtures in the repository.

Images come from Pillow, WAV/FLAC/OGG from soundfile (libsndfile), MP3 and the videos from PyAV's bundled FFmpeg
encoders (libmp3lame, aac, libopus, libx264, mpeg4, libvpx). The bad forms are made from good ones by cutting or
patching exactly the header fields a hostile client would lie in, so each one tests one refusal.
"""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from functools import cache

import av
import numpy as np
import numpy.typing as npt
import soundfile  # type: ignore[import-untyped]
from PIL import Image

RATE = 44_100
_MARK_BITS, _MARK_STRIPES = 6, 12  # frame index bits, as stripes 1/12 of the width wide


# --- images -------------------------------------------------------------------------------------------------------


def pattern(width: int, height: int, *, seed: int = 0) -> Image.Image:
    """A deterministic RGB picture with gradients and noise, so JPEG/WebP sizes are realistic, not tiny. Built in
    uint8 (wrapping mod 256 is the point) so a 13 MP picture takes a fraction of a second."""
    rng = np.random.default_rng(seed)
    columns = (np.arange(width) * 255 // max(width, 1)).astype(np.uint8)
    rows = (np.arange(height) * 255 // max(height, 1)).astype(np.uint8)
    base = np.empty((height, width, 3), np.uint8)
    base[..., 0] = columns[None, :]
    base[..., 1] = rows[:, None]
    base[..., 2] = columns[None, :] + rows[:, None]
    base += rng.integers(0, 48, size=base.shape, dtype=np.uint8)
    return Image.fromarray(base, "RGB")


def image_bytes(fmt: str, width: int = 320, height: int = 240, **save: object) -> bytes:
    picture = pattern(width, height)
    if fmt == "GIF":
        picture = picture.convert("P")
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **save)
    return buffer.getvalue()


def rgba_png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (255, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def animated_gif(frames: int = 3, size: int = 32) -> bytes:
    pictures = [Image.new("P", (size, size), color) for color in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "GIF", save_all=True, append_images=pictures[1:], duration=100)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width × height`` over a few hundred bytes of zlib: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)  # four rows' worth; the rest would inflate from nothing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 header is patched to declare ``width × height``."""
    data = bytearray(image_bytes("JPEG", 64, 48))
    sof = data.find(b"\xff\xc0")
    assert sof > 0, "Pillow wrote no baseline SOF0"
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def wrong_magic(data: bytes) -> bytes:
    return b"\x00" + data[1:]


# --- audio --------------------------------------------------------------------------------------------------------


def tone(seconds: float, rate: int = RATE, channels: int = 2) -> npt.NDArray[np.float32]:
    """A 440 Hz sine (left) and 660 Hz (right) at -6 dBFS, shaped ``(samples, channels)``."""
    t = np.arange(int(seconds * rate)) / rate
    columns = [0.5 * np.sin(2 * np.pi * (440 + 220 * c) * t) for c in range(channels)]
    return np.stack(columns, axis=-1).astype(np.float32)


def audio_bytes(fmt: str, seconds: float = 1.0, rate: int = RATE, channels: int = 2) -> bytes:
    """WAV, FLAC, OGG (Vorbis) or OPUS (Ogg Opus) via soundfile; MP3 (libmp3lame) and M4A (AAC in FFmpeg's
    ``ipod`` muxer, brand ``M4A``) via PyAV."""
    if fmt == "MP3":
        return _encode_audio("mp3", "libmp3lame", seconds, rate, channels)
    if fmt == "M4A":
        return _encode_audio("ipod", "aac", seconds, rate, channels)
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "OPUS": "OPUS"}[fmt]
    if fmt == "OPUS":
        rate = 48_000  # Opus only runs at 8/12/16/24/48 kHz
    buffer = io.BytesIO()
    container = "OGG" if fmt == "OPUS" else fmt
    soundfile.write(buffer, tone(seconds, rate, channels), rate, subtype=subtype, format=container)
    return buffer.getvalue()


def mp3_understating(seconds: float, frames: int = 20) -> bytes:
    """An MP3 whose LAME "Info" header claims ``frames`` MPEG frames (~0.5 s) over ``seconds`` of audio."""
    data = bytearray(audio_bytes("MP3", seconds))
    at = data.find(b"Info")
    assert at > 0, "no LAME Info header"
    assert struct.unpack_from(">I", data, at + 4)[0] & 1, "no frame count in the Info header"
    struct.pack_into(">I", data, at + 8, frames)
    return bytes(data)


def _encode_audio(container: str, codec: str, seconds: float, rate: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="stereo" if channels == 2 else "mono")
        assert isinstance(stream, av.AudioStream)
        _write_audio(output, stream, seconds, rate, channels)
    return buffer.getvalue()


def audio_only_webm(seconds: float = 0.5) -> bytes:
    """A WebM holding only Opus audio: it sniffs as video (EBML magic) but has no video stream."""
    return _encode_audio("webm", "libopus", seconds, 48_000, 2)


def _write_audio(
    output: av.container.OutputContainer, stream: av.AudioStream, seconds: float, rate: int, channels: int
) -> None:
    samples = tone(seconds, rate, channels)
    frame_size = stream.codec_context.frame_size or 1024
    for start in range(0, len(samples), frame_size):
        block = np.ascontiguousarray(samples[start : start + frame_size].T)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=stream.layout.name)
        frame.sample_rate, frame.pts = rate, start
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


# --- video --------------------------------------------------------------------------------------------------------

_VIDEO = {  # container format, video codec, audio codec (None: no audio)
    "MP4": ("mp4", "libx264", "aac"),
    "MOV": ("mov", "mpeg4", "aac"),
    "WEBM": ("webm", "libvpx", "libopus"),
}


def video_bytes(
    fmt: str = "MP4",
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    *,
    audio: bool = True,
) -> bytes:
    """A moving-gradient clip whose frames carry their index in binary (see :func:`frame_index`), so tests can tell
    which frames were sampled."""
    container, vcodec, acodec = _VIDEO[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        video = output.add_stream(vcodec, rate=fps)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio_stream = output.add_stream(acodec, rate=48_000, layout="stereo") if audio else None
        assert audio_stream is None or isinstance(audio_stream, av.AudioStream)
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(_video_frame(index, size), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if audio_stream is not None:
            _write_audio(output, audio_stream, seconds, 48_000, 2)
    return buffer.getvalue()


def _video_frame(index: int, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([(x + index * 4) % 256, (y + index * 2) % 256, np.full_like(x, 128)], axis=-1)
    for bit in range(_MARK_BITS):  # black/white stripes across the top half survive any codec and rescaling
        columns = slice(bit * width // _MARK_STRIPES, (bit + 1) * width // _MARK_STRIPES)
        frame[: height // 2, columns] = 255 if index >> bit & 1 else 0
    return frame.astype(np.uint8)


def frame_index(picture: Image.Image) -> int:
    """The index :func:`video_bytes` marked a frame with (modulo 64), read back from a decoded, resized frame."""
    grey = np.asarray(picture.convert("L"))
    height, width = grey.shape
    levels = [grey[height // 4, (2 * bit + 1) * width // (2 * _MARK_STRIPES)] for bit in range(_MARK_BITS)]
    return sum(1 << bit for bit, level in enumerate(levels) if level > 128)


def with_huge_duration(mp4: bytes) -> bytes:
    """Patch an MP4 to declare days of video: the movie/track/media header durations and, since FFmpeg derives a
    stream's duration from its sample table, every ``stts`` entry's sample delta."""
    data = bytearray(mp4)
    # Offsets from the box type: version+flags (4), creation (4), modification (4), then timescale or track id.
    for box, offset in ((b"mvhd", 20), (b"tkhd", 24), (b"mdhd", 20)):
        for at in _boxes(data, box):
            if data[at + 4] == 0:  # version 0 boxes only: 32-bit fields
                struct.pack_into(">I", data, at + offset, 0xFFFF_FFF0)
    for at in _boxes(data, b"stts"):
        (entries,) = struct.unpack_from(">I", data, at + 8)
        for entry in range(entries):
            struct.pack_into(">I", data, at + 16 + 8 * entry, 0x7FFF_FFFF)
    for at in _boxes(data, b"elst"):  # the edit list would otherwise clip the presentation back to its 2 s
        if data[at + 4] == 0:
            struct.pack_into(">I", data, at + 12, 0xFFFF_FFF0)
    return bytes(data)


def _boxes(data: bytearray, box: bytes) -> list[int]:
    found, start = [], 0
    while (at := data.find(box, start)) >= 0:
        found.append(at)
        start = at + 4
    return found


def with_huge_mdat(mp4: bytes) -> bytes:
    """Patch the ``mdat`` box to declare a ~4 GiB payload over the few kB really there (patched in place, so every
    sample offset stays valid)."""
    data = bytearray(mp4)
    at = data.find(b"mdat") - 4
    assert at >= 0
    struct.pack_into(">I", data, at, 0xFFFF_FFF0)
    return bytes(data)


@cache
def cached_video(
    fmt: str = "MP4", seconds: float = 2.0, fps: int = 10, width: int = 160, height: int = 120, audio: bool = True
) -> bytes:
    """Video generation is the slowest part of the corpus: tests share each clip."""
    return video_bytes(fmt, seconds, fps, (width, height), audio=audio)
