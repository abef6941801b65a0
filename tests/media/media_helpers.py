"""Building requests around generated media, running them through the pipeline, and decoding what comes out."""

from __future__ import annotations

import base64
import io
from typing import Any

import soundfile  # type: ignore[import-untyped]
from PIL import Image

from regiongate.media.dialects import WireDialect
from regiongate.media.limits import MediaLimits
from regiongate.media.parts import FetchFn
from regiongate.media.pipeline import PreparedMedia, prepare_messages
from regiongate.media.pool import MediaPool
from regiongate.media.profiles import QWEN_OMNI, MediaProfile

SALT = b"test-salt-0123456789abcdef"
Part = dict[str, Any]


def data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(url: str, detail: str | None = None) -> Part:
    body: dict[str, str] = {"url": url}
    if detail is not None:
        body["detail"] = detail
    return {"type": "image_url", "image_url": body}


def audio_url_part(url: str) -> Part:
    return {"type": "audio_url", "audio_url": {"url": url}}


def video_part(url: str) -> Part:
    return {"type": "video_url", "video_url": {"url": url}}


def input_audio(data: bytes, fmt: str = "wav") -> Part:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


def text(words: str = "describe this") -> Part:
    return {"type": "text", "text": words}


def user(*parts: Part) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


async def prepare(
    messages: list[dict[str, Any]],
    *,
    limits: MediaLimits | None = None,
    profile: MediaProfile = QWEN_OMNI,
    dialect: WireDialect = WireDialect.VLLM,
    fetch: FetchFn | None = None,
    pool: MediaPool | None = None,
) -> PreparedMedia:
    """Run the pipeline, on a small thread pool unless one is given (process pools are tested on their own)."""
    own = pool is None
    pool = pool or MediaPool(2, 32, processes=False)
    try:
        return await prepare_messages(
            messages,
            limits=limits or MediaLimits(),
            profile=profile,
            dialect=dialect,
            fetch=fetch,
            pool=pool,
            salt=SALT,
        )
    finally:
        if own:
            pool.close()


def unwrap_data_url(url: str) -> bytes:
    assert url.startswith("data:"), url[:40]
    header, _, payload = url.partition(",")
    assert header.endswith(";base64")
    return base64.b64decode(payload, validate=True)


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def audio_info(data: bytes) -> Any:
    return soundfile.info(io.BytesIO(data))


def frames_of_vllm_video(url: str) -> list[Image.Image]:
    """vLLM's frame-sequence video URL: ``data:video/jpeg;base64,<frame>,<frame>,…``."""
    prefix = "data:video/jpeg;base64,"
    assert url.startswith(prefix), url[:40]
    return [decode_image(base64.b64decode(frame, validate=True)) for frame in url[len(prefix) :].split(",")]
