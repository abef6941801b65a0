"""One request's bookkeeping: its id, what was decided, and the decision record written when it ends.

Every request that reaches a handler produces exactly one record, answered or refused, whatever raised. Each
backend tried is first announced to the sink (``decide``: the verifiable log's decision leaf); the handler awaits
the last of those (``logged``) before the first byte of the answer leaves the gateway.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import msgspec

from regiongate.api.schema import AudioUrlPart, ChatRequest, ImageUrlPart, InputAudioPart, Part, VideoUrlPart
from regiongate.errors import ApiError
from regiongate.ledger.decisions import DONE, DecisionRecord
from regiongate.topology.records import Backend, Modality, Tenant

if TYPE_CHECKING:
    from regiongate.api.runtime import Plan, Runtime


class _Ids:
    """Request ids: 48 bits of Unix milliseconds, then 80 random bits (UUIDv7's layout, without its version bits).
    Time first, so that the log's receipt index grows at its right edge (:func:`regiongate.ledger.store.request_key`).
    The random bits are read from the OS in blocks (one getrandom call per 1,024 requests rather than one per
    request, which showed in profiles of the hot path)."""

    _SIZE, _BLOCK = 10, 10 * 1024

    def __init__(self) -> None:
        self._pool, self._at = b"", 0

    def new(self, now: float) -> str:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(self._BLOCK), 0
        start, self._at = self._at, self._at + self._SIZE
        return f"req_{int(now * 1000):012x}{self._pool[start : self._at].hex()}"


new_request_id = _Ids().new


def _media_ref(part: Part) -> str | None:
    if isinstance(part, ImageUrlPart):
        return part.image_url.url
    if isinstance(part, AudioUrlPart):
        return part.audio_url.url
    if isinstance(part, VideoUrlPart):
        return part.video_url.url
    if isinstance(part, InputAudioPart):
        return part.input_audio.data
    return None


class RequestContext:
    __slots__ = (
        "_decided",
        "_decision",
        "_output",
        "_tag",
        "attempts",
        "backend",
        "media",
        "media_digests",
        "modalities",
        "model",
        "plan",
        "reason",
        "request_id",
        "runtime",
        "started_at",
        "status",
        "tenant",
        "usage",
    )

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.started_at = time.time()
        self.request_id = new_request_id(self.started_at)
        self.tenant: Tenant | None = None
        self.model: str | None = None
        self.modalities: frozenset[Modality] = frozenset()
        self.backend: Backend | None = None
        self.attempts: list[str] = []
        self.status = 0
        self.reason: str | None = None
        self.media: tuple[str, ...] = ()  # media references of the input, tagged under the tenant's salt
        # The media as the backend being tried was sent it: one HMAC(tenant salt, normalized part) per part.
        self.media_digests: tuple[str, ...] = ()
        self.usage: tuple[int, int] | None = None  # prompt, completion tokens as the backend reported them
        self._decided: Awaitable[object] = DONE
        self._decision: DecisionRecord | None = None  # the last decision announced to the sink
        self.plan: Plan | None = None  # the candidates, once decided
        self._output: hmac.HMAC | None = None
        self._tag: tuple[Tenant | None, str] | None = None

    def refused(self, exc: ApiError) -> None:
        """The request ends with this error: note why, and give the error response the request's headers."""
        self.status, self.reason = exc.status, exc.code or exc.type
        exc.headers.setdefault("X-Regiongate-Request-Id", self.request_id)
        exc.headers.setdefault("X-Regiongate-Gateway", self.runtime.gateway.id)
        if self.tenant is not None and self.runtime.receipts:
            exc.headers.setdefault("X-Regiongate-Receipt", self.request_id)

    def crashed(self) -> None:
        self.status = self.status or 500
        self.reason = self.reason or "internal_error"

    def finish(self) -> None:
        """The one record of the request, whatever happened: called exactly once, when it ends."""
        self.runtime.record(self._final())

    def routed_to(self, backend: Backend) -> None:
        self.backend = backend

    def deciding(self, backend_id: str) -> None:
        """A backend was chosen: the sink logs it now (before forwarding), the answer waits for it in ``logged``."""
        self.attempts.append(backend_id)
        self._decision = self._deciding_record(backend_id)
        self._decided = self.runtime.sink.decide(self._decision)

    async def logged(self) -> None:
        """Wait for the decision that routed the answer to be stored (group commit: usually already done)."""
        await self._decided

    def note_input(self, chat: ChatRequest) -> None:
        """Tag each media reference (URL or inline data): the log proves which media went, never what it held."""
        tagger = self.runtime.recording.tagger(self.tenant)
        refs = [_media_ref(p) for m in chat.messages if isinstance(m.content, list) for p in m.content]
        self.media = tuple(tagger.tag("media", ref) for ref in refs if ref is not None)

    def sent(self, data: bytes) -> None:
        """Body bytes as they go to the client: their tag is the outcome's output digest."""
        if self._output is None:
            self._output = self.runtime.recording.output_hasher(self.tenant)
        self._output.update(data)

    def failed(self, reason: str) -> None:
        self.reason = reason

    def headers(self) -> dict[str, str]:
        runtime = self.runtime
        headers = runtime.recording.response_headers(self.backend)
        headers["X-Regiongate-Request-Id"] = self.request_id
        if self.tenant is not None and runtime.receipts:
            headers["X-Regiongate-Receipt"] = self.request_id
        return headers

    def _request_tag(self) -> str:
        # Once per request, though every decision and the outcome carry it (the tenant is known by then: the
        # first decision is made after authentication, and a refusal before it has no tenant and no salt to vary).
        if self._tag is None or self._tag[0] is not self.tenant:
            self._tag = (self.tenant, self.runtime.recording.tagger(self.tenant).tag("request", self.request_id))
        return self._tag[1]

    def _deciding_record(self, backend_id: str) -> DecisionRecord:
        if self.plan is None:  # not through the planned path (tests driving a context by hand)
            return self.decision(self.runtime.backend(backend_id))
        return self._stamped(self.plan.decisions[backend_id], final=False)  # the plan's record for this backend

    def _final(self) -> DecisionRecord:
        last = self._decision
        if last is None or self.backend is None or last.backend != self.backend.id:
            return self.decision()
        return self._stamped(last, final=True)  # answered by the backend last decided on: nothing to look up again

    def decision(self, attempted: Backend | None = None) -> DecisionRecord:
        """The record as it stands: the final one, or (``attempted``) the decision to try that backend."""
        runtime = self.runtime
        policy = runtime.policy_hash(self.tenant)
        template = runtime.recording.template(
            self.tenant, self.model, self.modalities, attempted or self.backend, policy
        )
        return self._stamped(template, final=attempted is None)

    def _stamped(self, template: DecisionRecord, *, final: bool) -> DecisionRecord:
        """``template`` (a tenant's record for one backend, or for none) with what is this request's own."""
        return msgspec.structs.replace(
            template,
            request_id=self.request_id,
            status=self.status,
            attempts=tuple(self.attempts),
            reason=self.reason,
            started_at=self.started_at,
            ended_at=time.time(),
            request_tag=self._request_tag(),
            media_tags=self.media,
            media_digests=self.media_digests,
            prompt_tokens=self.usage[0] if self.usage else None,
            completion_tokens=self.usage[1] if self.usage else None,
            output_tag=self._output.hexdigest() if self._output is not None and final else None,
        )
