"""Images through the pipeline: every format passes and is normalized (checked by decoding the output); every
bad form is a 400 invalid_media naming its part."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from regiongate.errors import InvalidMedia
from regiongate.media.limits import MediaLimits, configure_pillow
from regiongate.media.profiles import PASSTHROUGH, QWEN_OMNI
from regiongate.media.rejection import MediaRefused
from tests.media import corpus
from tests.media.media_helpers import data_url, decode_image, image_part, prepare, text, unwrap_data_url, user

FORMATS = ["PNG", "JPEG", "WEBP", "GIF"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_qwen_omni_resizes_every_format_to_the_28_grid(fmt: str) -> None:
    source = corpus.image_bytes(fmt, 333, 251)
    prepared = await prepare([user(text(), image_part(data_url(source, "image/whatever"), detail="high"))])
    part = prepared.messages[0]["content"][1]
    assert part["type"] == "image_url"
    assert part["image_url"]["detail"] == "high"
    image = decode_image(unwrap_data_url(part["image_url"]["url"]))
    assert image.size == (336, 252)  # round(333/28)=12, round(251/28)=9
    assert image.width % 28 == 0
    assert image.height % 28 == 0
    assert image.mode == "RGB"
    assert 4 * 784 <= image.width * image.height <= 16384 * 784
    assert image.format == ("PNG" if fmt in ("PNG", "GIF") else "JPEG")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_passthrough_keeps_the_validated_bytes(fmt: str) -> None:
    source = corpus.image_bytes(fmt)
    prepared = await prepare([user(image_part(data_url(source)))], profile=PASSTHROUGH)
    url = prepared.messages[0]["content"][0]["image_url"]["url"]
    assert unwrap_data_url(url) == source
    assert url.startswith(f"data:image/{fmt.lower()};base64,")


async def test_large_photo_is_scaled_under_max_pixels() -> None:
    source = corpus.image_bytes("JPEG", 4200, 3150)  # 13.2 MP: over Qwen's 12.85 MP
    prepared = await prepare([user(image_part(data_url(source)))])
    image = decode_image(unwrap_data_url(prepared.messages[0]["content"][0]["image_url"]["url"]))
    assert image.width % 28 == 0
    assert image.height % 28 == 0
    assert image.width * image.height <= 16384 * 784
    assert abs(image.width / image.height - 4 / 3) < 0.02


async def test_tiny_image_is_scaled_up_to_min_pixels() -> None:
    prepared = await prepare([user(image_part(data_url(corpus.image_bytes("PNG", 10, 10))))])
    image = decode_image(unwrap_data_url(prepared.messages[0]["content"][0]["image_url"]["url"]))
    assert image.size == (56, 56)


async def test_transparency_is_composited_on_white() -> None:
    prepared = await prepare([user(image_part(data_url(corpus.rgba_png())))])
    image = decode_image(unwrap_data_url(prepared.messages[0]["content"][0]["image_url"]["url"]))
    assert image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 255, 255)


async def test_animated_gif_sends_its_first_frame() -> None:
    prepared = await prepare([user(image_part(data_url(corpus.animated_gif())))])
    image = decode_image(unwrap_data_url(prepared.messages[0]["content"][0]["image_url"]["url"]))
    assert image.size == (56, 56)
    assert getattr(image, "n_frames", 1) == 1


async def test_exif_metadata_is_dropped_by_normalization() -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret location"  # ImageDescription
    buffer = io.BytesIO()
    corpus.pattern(64, 64).save(buffer, "JPEG", exif=exif)
    prepared = await prepare([user(image_part(data_url(buffer.getvalue())))])
    out = unwrap_data_url(prepared.messages[0]["content"][0]["image_url"]["url"])
    assert b"secret location" in buffer.getvalue()
    assert b"secret location" not in out


BAD = {
    "truncated_png": (corpus.truncated(corpus.image_bytes("PNG")), "corrupt_image"),
    "truncated_jpeg": (corpus.truncated(corpus.image_bytes("JPEG"), 0.3), "corrupt_image"),
    "truncated_webp": (corpus.truncated(corpus.image_bytes("WEBP")), "corrupt_image"),
    "wrong_magic": (corpus.wrong_magic(corpus.image_bytes("PNG")), "unrecognized_media"),
    "zero_size": (b"", "unrecognized_media"),
    "png_bomb": (corpus.png_bomb(), "too_many_pixels"),
    "jpeg_65000": (corpus.jpeg_declaring(65000, 65000), "too_many_pixels"),
    "html_as_png": (b"<html><script>alert(1)</script></html>", "unrecognized_media"),
    "audio_in_image_part": (corpus.audio_bytes("WAV", 0.1), "wrong_modality"),
    "png_magic_then_garbage": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "corrupt_image"),
}


@pytest.mark.parametrize("name", sorted(BAD))
async def test_bad_images_are_refused_naming_the_part(name: str) -> None:
    data, reason = BAD[name]
    messages = [user(text("hi")), user(text(), text(), image_part(data_url(data, "image/png")))]
    with pytest.raises(InvalidMedia) as caught:
        await prepare(messages)
    assert caught.value.param == "messages[1].content[2]"
    assert caught.value.status == 400
    assert caught.value.code == "invalid_media"
    assert getattr(caught.value, "reason", None) == reason


async def test_pixel_limit_is_configurable() -> None:
    source = data_url(corpus.image_bytes("PNG", 200, 100))
    await prepare([user(image_part(source))], limits=MediaLimits(max_image_pixels=20_000))
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(image_part(source))], limits=MediaLimits(max_image_pixels=19_999))
    assert caught.value.reason == "too_many_pixels"


def test_pillow_bomb_limit_is_lowered_and_its_warning_is_an_error() -> None:
    limits = MediaLimits(max_image_pixels=10_000)
    configure_pillow(limits)
    try:
        assert Image.MAX_IMAGE_PIXELS == 10_000
        # Between the limit and twice it Pillow only warns: configured, that warning is raised.
        with pytest.raises(Image.DecompressionBombWarning):
            Image.open(io.BytesIO(corpus.image_bytes("PNG", 150, 100)))
    finally:
        configure_pillow(MediaLimits())
    assert MediaLimits().max_image_pixels == Image.MAX_IMAGE_PIXELS


async def test_extreme_aspect_ratio_is_refused_by_qwen_profile() -> None:
    source = data_url(corpus.image_bytes("PNG", 2010, 10))
    with pytest.raises(MediaRefused) as caught:
        await prepare([user(image_part(source))], profile=QWEN_OMNI)
    assert caught.value.reason == "aspect_ratio"
    await prepare([user(image_part(source))], profile=PASSTHROUGH)  # validate-only has no grid to fit
