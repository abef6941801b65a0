"""Opening audio/video bytes with PyAV (FFmpeg) safely.

The demuxer is pinned to the format the magic bytes named: FFmpeg never probes on its own, so a file can never be
read as a playlist (HLS, concat) that would make FFmpeg open other URLs or local files. Input is an in-memory
buffer, QuickTime external data references stay disabled, and decoders run single-threaded because the media pool
already supplies the parallelism (and bounds it).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import av
from av.container import InputContainer

from regiongate.media.rejection import MediaRejected
from regiongate.media.sniff import MediaKind

_DEMUXERS = {
    MediaKind.WAV: "wav",
    MediaKind.MP3: "mp3",
    MediaKind.FLAC: "flac",
    MediaKind.OGG: "ogg",
    MediaKind.M4A: "mp4",  # FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2" demuxer answers to any of its names
    MediaKind.MP4: "mp4",
    MediaKind.WEBM: "webm",  # "matroska,webm"
}
_OPTIONS = {"enable_drefs": "0", "use_absolute_path": "0"}

# What PyAV raises on bad input: its FFmpegError family (several of which are also ValueError/OSError), plus
# errors from its own frame/array handling.
AV_ERRORS = (av.FFmpegError, ValueError, OSError, EOFError, IndexError, MemoryError)


@contextmanager
def open_container(data: bytes, kind: MediaKind) -> Iterator[InputContainer]:
    try:
        container = av.open(io.BytesIO(data), "r", format=_DEMUXERS[kind], options=_OPTIONS)
    except AV_ERRORS as error:
        what = kind.modality.value
        raise MediaRejected("corrupt_media", f"the {what} could not be read ({describe(error)})") from None
    try:
        yield container
    finally:
        container.close()


def single_threaded(stream: av.VideoStream | av.AudioStream) -> None:
    stream.codec_context.thread_count = 1


def container_seconds(container: InputContainer, stream: av.VideoStream | av.AudioStream) -> float | None:
    """The declared duration, from the stream if it says, else the container; ``None`` if neither does."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def describe(error: BaseException) -> str:
    """FFmpeg's error text without PyAV's ``[Errno …]`` prefix or file name (ours is always ``<none>``)."""
    if isinstance(error, av.FFmpegError) and error.strerror:
        return str(error.strerror)[:120]
    return (str(error).strip() or type(error).__name__)[:120]
