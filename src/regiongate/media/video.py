"""Video: MP4/MOV (ISO BMFF) and WebM/Matroska through PyAV.

Three passes over the in-memory file, cheapest first, each able to refuse before the next costs anything:

1. headers: frame size, declared duration, frame rate and frame count;
2. demux: packets are counted and their timestamps read without decoding, giving the real frame count and
   duration (a header can declare 2 s over an hour of packets, or days over 2 s);
3. decode: only now are frames decoded, and for the ``qwen-omni`` profile only up to the last sampled one. Frames
   are counted and sized again as they come, since a stream may change resolution midway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import av
from av.container import InputContainer
from PIL import Image

from regiongate.media.audio import check_seconds, check_stream, decode_to_wav
from regiongate.media.containers import AV_ERRORS, container_seconds, describe, open_container, single_threaded
from regiongate.media.image import encode
from regiongate.media.limits import MediaLimits
from regiongate.media.normalized import Blob, NormalizedAudio, NormalizedVideo
from regiongate.media.profiles import MediaProfile, sample_indices, smart_nframes, smart_resize, video_frame_bounds
from regiongate.media.rejection import Deadline, MediaRejected
from regiongate.media.sniff import MediaKind

_MIME = {MediaKind.MP4: "video/mp4", MediaKind.WEBM: "video/webm"}
T = TypeVar("T")
_SLACK_SECONDS = 1.0  # timestamps of the last packets may run a little past a declared duration


@dataclass(frozen=True, slots=True)
class _Scan:
    frames: int
    seconds: float
    width: int
    height: int


def normalize_video(
    data: bytes, kind: MediaKind, limits: MediaLimits, profile: MediaProfile, *, split_audio: bool
) -> NormalizedVideo:
    """Validate a video under ``limits``; for a normalizing profile, sample it to JPEG frames (and a 16 kHz mono WAV
    of its audio track if ``split_audio``), else pass the validated file on."""
    deadline = Deadline(limits.max_part_seconds)
    with open_container(data, kind) as container:
        scan = _guarded(lambda: _scan(container, limits, deadline))
    if not profile.normalizes:
        with open_container(data, kind) as container:
            _guarded(lambda: _decode_all(container, limits, deadline))
        return NormalizedVideo(scan.seconds, scan.width, scan.height, video=Blob(data, _MIME[kind]))
    count = _frame_count(scan, limits, profile)
    with open_container(data, kind) as container:
        frames, (height, width) = _guarded(lambda: _sample(container, scan, count, profile, limits, deadline))
    audio = _audio_track(data, kind, limits, profile, deadline) if split_audio else None
    return NormalizedVideo(scan.seconds, width, height, frames=frames, fps=count / scan.seconds, audio=audio)


def _guarded(work: Callable[[], T]) -> T:
    try:
        return work()
    except AV_ERRORS as error:
        raise MediaRejected("corrupt_media", f"the video could not be decoded ({describe(error)})") from None


def _video_stream(container: InputContainer, limits: MediaLimits) -> av.VideoStream:
    if not container.streams.video:
        raise MediaRejected("no_video_stream", "the file has no video stream")
    stream = container.streams.video[0]
    single_threaded(stream)
    _check_frame_size(stream.codec_context.width, stream.codec_context.height, limits)
    return stream


def _check_frame_size(width: int, height: int, limits: MediaLimits) -> None:
    if width < 1 or height < 1:
        raise MediaRejected("corrupt_media", "the video has no frame size")
    if width * height > limits.max_video_frame_pixels:
        raise MediaRejected(
            "too_many_pixels", f"the video's frames have more than {limits.max_video_frame_pixels} pixels"
        )


def _scan(container: InputContainer, limits: MediaLimits, deadline: Deadline) -> _Scan:
    stream = _video_stream(container, limits)
    declared = container_seconds(container, stream)
    if declared is not None:
        check_seconds(declared, limits.max_video_seconds, "video")
    rate = stream.average_rate or stream.guessed_rate
    if rate is not None and float(rate) > limits.max_video_fps:
        raise MediaRejected("video_fps", f"the video's frame rate is above {limits.max_video_fps:g} fps")
    _check_frame_count(stream.frames, limits)
    frames, seconds = _count_packets(container, stream, limits, deadline)
    if seconds <= 0:  # timestamps said nothing: fall back on the declared duration or rate
        seconds = declared or (frames / float(rate) if rate else 0.0)
    if seconds <= 0:
        raise MediaRejected("corrupt_media", "the video's duration cannot be determined")
    return _Scan(frames, seconds, stream.codec_context.width, stream.codec_context.height)


def _check_frame_count(frames: int, limits: MediaLimits) -> None:
    if frames > limits.max_video_frames:
        raise MediaRejected("too_many_frames", f"the video has more than {limits.max_video_frames} frames")


def _count_packets(
    container: InputContainer, stream: av.VideoStream, limits: MediaLimits, deadline: Deadline
) -> tuple[int, float]:
    """Frame count and the span of presentation time, from packets alone. One packet is one frame for every
    codec of these containers."""
    count, start, end = 0, float("inf"), float("-inf")
    base = stream.time_base
    for packet in container.demux(stream):
        deadline.check()
        when = packet.pts if packet.pts is not None else packet.dts
        if packet.size == 0 or when is None or base is None:
            continue  # the demuxer's end-of-stream flush packet, or one with no timing
        count += 1
        _check_frame_count(count, limits)
        start = min(start, float(when * base))
        end = max(end, float((when + (packet.duration or 0)) * base))
        check_seconds(end - start, limits.max_video_seconds + _SLACK_SECONDS, "video")
    if count == 0:
        raise MediaRejected("empty_video", "the video has no frames")
    return count, max(end - start, 0.0)


def _decode_all(container: InputContainer, limits: MediaLimits, deadline: Deadline) -> None:
    """Decode every frame and keep none: proves a passed-through file decodes, under the frame and size caps."""
    stream = _video_stream(container, limits)
    for index, frame in enumerate(container.decode(stream)):
        deadline.check()
        _check_frame_count(index + 1, limits)
        _check_frame_size(frame.width, frame.height, limits)


def _frame_count(scan: _Scan, limits: MediaLimits, profile: MediaProfile) -> int:
    try:
        return smart_nframes(
            scan.frames,
            scan.frames / scan.seconds,
            fps=min(profile.video_fps, limits.max_sample_fps),
            min_frames=profile.video_min_frames,
            max_frames=min(profile.video_max_frames, limits.max_output_frames),
            frame_factor=profile.frame_factor,
        )
    except ValueError:
        raise MediaRejected("video_too_short", f"the video needs at least {profile.frame_factor} frames") from None


def _sample(
    container: InputContainer, scan: _Scan, count: int, profile: MediaProfile, limits: MediaLimits, deadline: Deadline
) -> tuple[tuple[bytes, ...], tuple[int, int]]:
    """JPEGs of the ``count`` evenly spaced frames, all resized to one ``(height, width)`` on Qwen's grid."""
    wanted = set(sample_indices(scan.frames, count))
    size = _frame_size(scan, count, profile)
    stream = _video_stream(container, limits)
    frames: list[bytes] = []
    for index, frame in enumerate(container.decode(stream)):
        deadline.check()
        _check_frame_count(index + 1, limits)
        _check_frame_size(frame.width, frame.height, limits)
        if index in wanted:
            frames.append(_jpeg(frame, size))
            if len(frames) == count:
                break  # nothing after the last sampled frame is needed
    if not frames:
        raise MediaRejected("empty_video", "no frame of the video could be decoded")
    # A decoder may yield fewer frames than there were packets; repeat the last, as qwen-vl-utils pads frame lists.
    frames.extend([frames[-1]] * (count - len(frames)))
    return tuple(frames), size


def _frame_size(scan: _Scan, count: int, profile: MediaProfile) -> tuple[int, int]:
    min_pixels, max_pixels = video_frame_bounds(count, profile)
    try:
        return smart_resize(
            scan.height,
            scan.width,
            factor=profile.factor,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            max_ratio=profile.max_ratio,
        )
    except ValueError:
        raise MediaRejected("aspect_ratio", f"the video's aspect ratio is above {profile.max_ratio:g}:1") from None


def _jpeg(frame: av.VideoFrame, size: tuple[int, int]) -> bytes:
    height, width = size
    # One swscale call converts to RGB and resizes (bicubic, as upstream's resize); the frame's own pixels are
    # never held as a full-size RGB copy.
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC")
    return encode(Image.fromarray(rgb.to_ndarray(), "RGB"), lossless=False).data


def _audio_track(
    data: bytes, kind: MediaKind, limits: MediaLimits, profile: MediaProfile, deadline: Deadline
) -> NormalizedAudio | None:
    with open_container(data, kind) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        check_stream(container, stream, limits, limits.max_video_seconds)
        return decode_to_wav(
            container,
            stream,
            limits,
            deadline,
            rate=profile.audio_rate,
            mono=True,
            max_seconds=limits.max_video_seconds,
        )
