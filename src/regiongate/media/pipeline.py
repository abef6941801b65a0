"""Prepare a request's media for one backend: find every part, get its bytes, validate and normalize it in the
media pool, and rewrite the parts in the backend's wire dialect.

Cheap refusals come first and cost no decoding: part count, dialect rules, inline sizes. Parts are then fetched
and processed concurrently, at most ``pool.workers`` at a time per request so that one request cannot fill the
shared queue by itself. The event loop only fetches and counts: every step proportional to a part's size (base64
both ways, decoding, the digest) runs in the pool. When several parts fail, the error names the earliest one,
whichever failed first.

The decision record gets one HMAC-SHA256 digest per normalized part, keyed with a secret salt (the gateway gives
the tenant's own, as for every tag in the log): enough to prove later which media a backend was sent, without the
record holding (or a reader recovering) the media.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from regiongate.errors import ApiError, UnsupportedModality
from regiongate.media.dialects import WireDialect, mixed_modality_index
from regiongate.media.fetch import SafeFetcher
from regiongate.media.limits import MediaLimits
from regiongate.media.parts import FetchFn, MediaRef, fetch_source, find_media
from regiongate.media.pool import MediaPool
from regiongate.media.profiles import MediaProfile
from regiongate.media.rejection import MediaRefused, MediaRejected, refused
from regiongate.media.worker import MediaJob, PreparedPart, run_job
from regiongate.topology.records import Modality


@dataclass(frozen=True, slots=True)
class PartDigest:
    param: str
    modality: str
    digest: str  # hex HMAC-SHA256(salt, the normalized part's bytes, framed)


@dataclass(frozen=True, slots=True)
class PreparedMedia:
    messages: list[dict[str, Any]]
    digests: tuple[PartDigest, ...]
    received_bytes: int  # media bytes received from the client or fetched, before normalization


async def prepare_messages(
    messages: list[dict[str, Any]],
    *,
    limits: MediaLimits,
    profile: MediaProfile,
    dialect: WireDialect,
    fetch: FetchFn | None,
    pool: MediaPool,
    salt: bytes,
) -> PreparedMedia:
    """Messages ready for the backend (the input is not modified). Raises ``InvalidMedia`` naming the part, or the
    pool's 503s (:class:`~regiongate.media.pool.MediaBusy`) when the gateway is saturated."""
    if not salt:
        raise ValueError("prepare_messages needs a salt")
    refs = find_media(messages)
    if not refs:
        return PreparedMedia(messages, (), 0)
    inline = _check_request(refs, limits, profile, dialect)
    context = _Context(
        limits, profile, dialect, salt, fetch, pool, asyncio.Semaphore(pool.workers), _Budget(limits, inline)
    )
    results = await _all_or_earliest_error([_prepare_one(ref, context) for ref in refs])
    pairs = list(zip(refs, results, strict=True))
    rendered = {(ref.message, ref.part): result.parts for ref, result in pairs}
    digests = tuple(PartDigest(ref.param, ref.modality.value, result.digest) for ref, result in pairs)
    return PreparedMedia(_rewrite(messages, rendered), digests, sum(result.received_bytes for result in results))


def fetch_with(fetcher: SafeFetcher) -> FetchFn:
    """Adapt the SSRF-safe fetcher to ``prepare_messages``' ``fetch(url, param)``. Give it
    ``FetchLimits(max_bytes=limits.max_part_bytes)`` so it stops reading where the pipeline would refuse."""

    async def fetch(url: str, param: str) -> bytes:
        return (await fetcher.fetch(url, param=param)).data

    return fetch


def _check_request(refs: Sequence[MediaRef], limits: MediaLimits, profile: MediaProfile, dialect: WireDialect) -> int:
    """Refusals that need no bytes. Returns the inline media's total size."""
    if len(refs) > limits.max_parts:
        raise MediaRefused(
            "too_many_parts",
            f"a request may carry at most {limits.max_parts} media parts",
            param=refs[limits.max_parts].param,
        )
    if not dialect.takes_video_files and not profile.normalizes:
        video = next((ref for ref in refs if ref.modality is Modality.VIDEO), None)
        if video is not None:
            raise UnsupportedModality("the model's backend does not accept video", param=video.param)
    if dialect.one_modality_per_message:
        _check_one_modality(refs)
    inline = 0
    for ref in refs:
        inline += ref.inline_bytes()
        if inline > limits.max_request_bytes:
            raise _request_too_large(limits, ref.param)
    return inline


def _check_one_modality(refs: Sequence[MediaRef]) -> None:
    by_message: dict[int, list[MediaRef]] = {}
    for ref in refs:
        by_message.setdefault(ref.message, []).append(ref)
    for message_refs in by_message.values():
        index = mixed_modality_index([ref.modality for ref in message_refs])
        if index is not None:
            raise MediaRefused(
                "mixed_modalities",
                "the model's backend accepts one kind of media (image, audio or "
                "video) per message; send each kind in its own message",
                param=message_refs[index].param,
            )


class _Budget:
    """Bytes per request: inline parts were all counted before any work; fetched ones are added as they arrive."""

    def __init__(self, limits: MediaLimits, inline: int) -> None:
        self.limits, self.used = limits, inline

    def take(self, size: int, ref: MediaRef) -> None:
        self.used += size
        if self.used > self.limits.max_request_bytes:
            raise _request_too_large(self.limits, ref.param)


def _request_too_large(limits: MediaLimits, param: str) -> MediaRefused:
    return MediaRefused(
        "request_too_large", f"a request's media may total at most {limits.max_request_bytes} bytes", param=param
    )


@dataclass(frozen=True, slots=True)
class _Context:
    limits: MediaLimits
    profile: MediaProfile
    dialect: WireDialect
    salt: bytes
    fetch: FetchFn | None
    pool: MediaPool
    gate: asyncio.Semaphore
    budget: _Budget


async def _prepare_one(ref: MediaRef, context: _Context) -> PreparedPart:
    limits = context.limits
    async with context.gate:
        source = await fetch_source(ref, max_bytes=limits.max_part_bytes, fetch=context.fetch)
        if isinstance(source, bytes):
            context.budget.take(len(source), ref)
        job = MediaJob(
            source,
            ref.modality,
            limits,
            context.profile,
            context.dialect,
            context.salt,
            bare_base64=ref.bare_base64,
            detail=ref.detail,
        )
        try:
            # The worker enforces max_part_seconds between frames; this outer bound (queue wait included) only
            # frees the request if a decoder were ever stuck inside one call.
            async with asyncio.timeout(limits.max_part_seconds * 3):
                return await context.pool.run(run_job, job)
        except MediaRejected as rejection:
            raise refused(rejection, ref.param) from None
        except TimeoutError:
            raise MediaRefused("too_slow", "the media took too long to process", param=ref.param) from None


async def _all_or_earliest_error(jobs: list[Any]) -> list[PreparedPart]:
    """All results, or the error of the lowest-numbered failing part: on a failure, later parts are cancelled and
    earlier ones are let finish (one of them may fail too, and it is the one to name)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except ApiError:
        first = min(i for i, task in enumerate(tasks) if task.done() and not task.cancelled() and task.exception())
        await _cancel(tasks[first + 1 :])
        await asyncio.gather(*tasks[:first], return_exceptions=True)
        raise _earliest(tasks) from None
    except BaseException:  # a bug or our own cancellation: leave no part running
        await _cancel(tasks)
        raise


async def _cancel(tasks: Sequence[asyncio.Future[PreparedPart]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _earliest(tasks: Sequence[asyncio.Future[PreparedPart]]) -> BaseException:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            return task.exception()  # type: ignore[return-value]
    raise AssertionError("unreachable: gather failed but no task did")


def _rewrite(
    messages: list[dict[str, Any]], rendered: dict[tuple[int, int], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    touched = {message for message, _ in rendered}
    result = []
    for i, message in enumerate(messages):
        if i not in touched:
            result.append(message)
            continue
        content: list[Any] = []
        for j, part in enumerate(message["content"]):
            content.extend(rendered.get((i, j), [part]))
        result.append({**message, "content": content})
    return result
