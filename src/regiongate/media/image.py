"""Images: PNG, JPEG, WebP, GIF through Pillow, opened only as the format their magic bytes say.

Pillow's ``open`` is lazy: it parses the header and gives the size without decoding a pixel, so the pixel limit is
checked before any allocation proportional to it. Only the first frame of an animated GIF/WebP is decoded or sent
on: it is all an OpenAI-style backend uses.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from regiongate.media.limits import MediaLimits, configure_pillow
from regiongate.media.normalized import Blob, NormalizedImage
from regiongate.media.profiles import MediaProfile, smart_resize
from regiongate.media.rejection import MediaRejected
from regiongate.media.sniff import MediaKind

_PIL_FORMATS = {MediaKind.PNG: "PNG", MediaKind.JPEG: "JPEG", MediaKind.WEBP: "WEBP", MediaKind.GIF: "GIF"}
# What Pillow raises on bad or hostile input (it has no single base class). MemoryError too: a decoder that
# cannot allocate is refusing the file, not failing the gateway.
_PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
    MemoryError,
)
_LOSSLESS = frozenset({MediaKind.PNG, MediaKind.GIF})  # graphics and screenshots: JPEG would smear their text
_JPEG_QUALITY = 95


def normalize_image(data: bytes, kind: MediaKind, limits: MediaLimits, profile: MediaProfile) -> NormalizedImage:
    """Validate an image under ``limits`` and, for a normalizing profile, resize it to Qwen's grid."""
    configure_pillow(limits)
    try:
        with _open(data, kind, limits) as image:
            if not profile.normalizes:
                image.load()  # decode once to prove the file is whole; the original bytes go on
                return NormalizedImage(Blob(data, kind.value), image.width, image.height)
            return _resized(image, kind, profile)
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(limits) from None
    except _PILLOW_ERRORS as error:
        raise MediaRejected("corrupt_image", f"the image could not be decoded ({_describe(error)})") from None


def _open(data: bytes, kind: MediaKind, limits: MediaLimits) -> Image.Image:
    # formats=[...]: a polyglot file is read only as what its magic bytes said, never sniffed again by Pillow.
    image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])
    if image.width < 1 or image.height < 1:
        raise MediaRejected("empty_image", "the image has no pixels")
    if image.width * image.height > limits.max_image_pixels:
        raise _too_many_pixels(limits)
    return image


def _resized(image: Image.Image, kind: MediaKind, profile: MediaProfile) -> NormalizedImage:
    try:
        height, width = smart_resize(
            image.height,
            image.width,
            factor=profile.factor,
            min_pixels=profile.image_min_pixels,
            max_pixels=profile.image_max_pixels,
            max_ratio=profile.max_ratio,
        )
    except ValueError:
        raise MediaRejected("aspect_ratio", f"the image's aspect ratio is above {profile.max_ratio:g}:1") from None
    rgb = to_rgb(image)
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BICUBIC)
    return NormalizedImage(encode(rgb, lossless=kind in _LOSSLESS), width, height)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited onto white, as qwen-vl-utils' ``to_rgb`` does for RGBA (here also for
    palette and grey images with alpha, which a plain ``convert("RGB")`` would show in their hidden colour)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def encode(image: Image.Image, *, lossless: bool) -> Blob:
    """PNG for lossless sources, JPEG otherwise. Re-encoding also drops EXIF/GPS and other metadata."""
    buffer = io.BytesIO()
    if lossless:
        image.save(buffer, "PNG", compress_level=1)  # level 1: most of the size win at a fraction of the time
        return Blob(buffer.getvalue(), "image/png")
    image.save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return Blob(buffer.getvalue(), "image/jpeg")


def _too_many_pixels(limits: MediaLimits) -> MediaRejected:
    return MediaRejected("too_many_pixels", f"the image has more than {limits.max_image_pixels} pixels")


def _describe(error: BaseException) -> str:
    """A short, client-safe description: the library's message names no path or address here (we decode from
    memory), but it is cut short anyway."""
    text = str(error).strip() or type(error).__name__
    return text[:120]
