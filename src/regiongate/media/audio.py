"""Audio: WAV, MP3, FLAC, Ogg (Vorbis/Opus) and M4A.

The header is read first (soundfile's ``info`` for what libsndfile parses, PyAV's stream header otherwise) and the
declared duration, rate and channel count are refused before any sample is decoded. Decoding and resampling go
through PyAV (FFmpeg's decoders and libswresample), counting decoded samples against the cap as they come, since a
header can understate what follows it.
"""

from __future__ import annotations

import io
import wave

import av
import soundfile  # type: ignore[import-untyped]
from av.container import InputContainer

from regiongate.media.containers import AV_ERRORS, container_seconds, describe, open_container, single_threaded
from regiongate.media.limits import MediaLimits
from regiongate.media.normalized import Blob, NormalizedAudio
from regiongate.media.profiles import MediaProfile
from regiongate.media.rejection import Deadline, MediaRejected
from regiongate.media.sniff import MediaKind

FORMAT_NAMES = {
    MediaKind.WAV: "wav",
    MediaKind.MP3: "mp3",
    MediaKind.FLAC: "flac",
    MediaKind.OGG: "ogg",
    MediaKind.M4A: "m4a",
}
_SNDFILE_KINDS = frozenset({MediaKind.WAV, MediaKind.FLAC, MediaKind.OGG})
# Codec priming and padding make decoded audio run a little past the header's duration.
_SLACK_SECONDS = 1.0


def normalize_audio(
    data: bytes, kind: MediaKind, limits: MediaLimits, profile: MediaProfile, *, carry: frozenset[str] | None = None
) -> NormalizedAudio:
    """Validate audio under ``limits``. A normalizing profile gets 16-bit mono WAV at its rate; passthrough keeps
    the bytes unless the backend's dialect cannot ``carry`` the format (``None``: any), then it gets 16-bit WAV."""
    deadline = Deadline(limits.max_part_seconds)
    if kind in _SNDFILE_KINDS:
        _check_sndfile_header(data, limits)
    with open_container(data, kind) as container:
        stream = _audio_stream(container, limits)
        if profile.normalizes:
            return decode_to_wav(container, stream, limits, deadline, rate=profile.audio_rate, mono=True)
        if carry is not None and FORMAT_NAMES[kind] not in carry:
            return decode_to_wav(container, stream, limits, deadline, rate=None, mono=False)
        seconds = _validate(container, stream, limits, deadline)
        channels = stream.codec_context.channels
        return NormalizedAudio(Blob(data, kind.value), FORMAT_NAMES[kind], seconds, stream.rate, channels)


def _check_sndfile_header(data: bytes, limits: MediaLimits) -> None:
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, TypeError, ValueError) as error:  # LibsndfileError is a RuntimeError
        raise MediaRejected("corrupt_media", f"the audio could not be read ({describe(error)})") from None
    seconds = info.frames / max(info.samplerate, 1)
    _check_declared(info.samplerate, info.channels, seconds, limits, limits.max_audio_seconds)


def _audio_stream(container: InputContainer, limits: MediaLimits) -> av.AudioStream:
    if not container.streams.audio:
        raise MediaRejected("no_audio_stream", "the file has no audio stream")
    stream = container.streams.audio[0]
    check_stream(container, stream, limits, limits.max_audio_seconds)
    return stream


def check_stream(container: InputContainer, stream: av.AudioStream, limits: MediaLimits, max_seconds: float) -> None:
    """Refuse an audio stream by its header alone: rate, channels and declared duration."""
    single_threaded(stream)
    seconds = container_seconds(container, stream) or 0.0
    _check_declared(stream.rate, stream.codec_context.channels, seconds, limits, max_seconds)


def _check_declared(rate: int, channels: int, seconds: float, limits: MediaLimits, max_seconds: float) -> None:
    if not 0 < rate <= limits.max_audio_rate:
        raise MediaRejected("audio_rate", f"the audio's sample rate must be between 1 and {limits.max_audio_rate} Hz")
    if not 0 < channels <= limits.max_audio_channels:
        raise MediaRejected("audio_channels", f"the audio must have 1 to {limits.max_audio_channels} channels")
    check_seconds(seconds, max_seconds, "audio")


def check_seconds(seconds: float, cap: float, what: str) -> None:
    if seconds > cap:
        raise MediaRejected(f"{what}_too_long", f"the {what} is longer than {cap:g} seconds")


def _validate(container: InputContainer, stream: av.AudioStream, limits: MediaLimits, deadline: Deadline) -> float:
    """Decode everything, keep nothing: proves the file decodes, and measures its real length."""
    seconds = 0.0
    try:
        for frame in container.decode(stream):
            deadline.check()
            seconds += frame.samples / (frame.sample_rate or stream.rate)
            check_seconds(seconds, limits.max_audio_seconds + _SLACK_SECONDS, "audio")
    except AV_ERRORS as error:
        raise MediaRejected("corrupt_media", f"the audio could not be decoded ({describe(error)})") from None
    if seconds == 0:
        raise MediaRejected("empty_audio", "the audio has no samples")
    return seconds


def decode_to_wav(
    container: InputContainer,
    stream: av.AudioStream,
    limits: MediaLimits,
    deadline: Deadline,
    *,
    rate: int | None,
    mono: bool,
    max_seconds: float | None = None,
) -> NormalizedAudio:
    """Decode ``stream`` to 16-bit PCM WAV at ``rate`` (``None``: the source's), mono or at most stereo."""
    out_rate = rate or stream.rate
    channels = 1 if mono or stream.codec_context.channels == 1 else 2
    cap = max_seconds if max_seconds is not None else limits.max_audio_seconds
    pcm = _resampled_pcm(container, stream, deadline, out_rate, channels, cap)
    samples = len(pcm) // (2 * channels)
    if samples == 0:
        raise MediaRejected("empty_audio", "the audio has no samples")
    return NormalizedAudio(
        Blob(wav_bytes(pcm, out_rate, channels), "audio/wav"), "wav", samples / out_rate, out_rate, channels
    )


def _resampled_pcm(
    container: InputContainer, stream: av.AudioStream, deadline: Deadline, rate: int, channels: int, cap: float
) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono" if channels == 1 else "stereo", rate=rate)
    pcm = bytearray()
    limit = int((cap + _SLACK_SECONDS) * rate) * 2 * channels  # bytes of s16 PCM
    try:
        for frame in container.decode(stream):
            deadline.check()
            for out in resampler.resample(frame):
                pcm += out.to_ndarray().tobytes()
            if len(pcm) > limit:
                raise MediaRejected("audio_too_long", f"the audio is longer than {cap:g} seconds")
        for out in resampler.resample(None):
            pcm += out.to_ndarray().tobytes()
    except AV_ERRORS as error:
        raise MediaRejected("corrupt_media", f"the audio could not be decoded ({describe(error)})") from None
    return bytes(pcm)


def wav_bytes(pcm: bytes, rate: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()
