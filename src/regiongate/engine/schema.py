"""The OpenAI wire format as the engine speaks it: request types (msgspec, unknown fields ignored as OpenAI's own
servers do) and the shapes of its answers: completions, stream chunks, usage, model lists and errors."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

import msgspec

from regiongate.engine.model import Finish, Sampling

DEFAULT_TEMPERATURE = 0.2  # when a request names none (llama-cpp-python's default; OpenAI's 1.0 is rough on a 135M)
MAX_STOP_SEQUENCES = 16


class ContentPart(msgspec.Struct, kw_only=True):
    type: str
    text: str | None = None


class Message(msgspec.Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class ChatRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    presence_penalty: Annotated[float, msgspec.Meta(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, msgspec.Meta(ge=-2, le=2)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=MAX_STOP_SEQUENCES)] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=1)] = 1

    def sampling(self) -> Sampling:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return Sampling(
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=DEFAULT_TEMPERATURE if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            stop=stop,
            seed=self.seed,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
        )

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class EmbeddingsRequest(msgspec.Struct, kw_only=True):
    model: str
    input: str | Annotated[list[str], msgspec.Meta(min_length=1, max_length=2048)]
    encoding_format: Literal["float", "base64"] = "float"


class RequestError(ValueError):
    """A request the engine refuses as the client's fault: 400 with ``param`` naming the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


_chat_decoder = msgspec.json.Decoder(ChatRequest)
_embeddings_decoder = msgspec.json.Decoder(EmbeddingsRequest)


def decode_chat(raw: bytes) -> ChatRequest:
    try:
        return _chat_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise RequestError(str(exc), _param(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None


def decode_embeddings(raw: bytes) -> EmbeddingsRequest:
    try:
        return _embeddings_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise RequestError(str(exc), _param(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None


def _param(message: str) -> str | None:
    """``messages[0].role`` from msgspec's "... - at `$.messages[0].role`"."""
    _, sep, where = message.rpartition("at `$")
    return where.rstrip("`").lstrip(".") or None if sep else None


def plain_messages(messages: list[Message]) -> list[dict[str, str]]:
    """Messages as the chat template wants them: text content only (``developer`` is a system message)."""
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        content = message.content
        if isinstance(content, list):
            for j, part in enumerate(content):
                if part.type != "text" or part.text is None:
                    raise RequestError(
                        f"this engine reads text only, not content parts of type {part.type!r}",
                        f"messages[{i}].content[{j}].type",
                    )
            content = "\n".join(p.text or "" for p in content)
        role = "system" if message.role == "developer" else message.role
        out.append({"role": role, "content": content or ""})
    return out


# -- answers ----------------------------------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(finish: Finish) -> dict[str, int]:
    total = finish.prompt_tokens + finish.completion_tokens
    return {"prompt_tokens": finish.prompt_tokens, "completion_tokens": finish.completion_tokens, "total_tokens": total}


def completion(cid: str, model: str, text: str, finish: Finish) -> bytes:
    return msgspec.json.encode(
        {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": finish.reason,
                }
            ],
            "usage": usage(finish),
        }
    )


class ChunkWriter:
    """Server-sent events of one streamed answer: ``data: {chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``."""

    def __init__(self, cid: str, model: str, include_usage: bool) -> None:
        self._head: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time())}
        self._head["model"] = model
        self._include_usage = include_usage

    def _event(self, choices: list[dict[str, Any]], usage_: dict[str, int] | None = None) -> bytes:
        body = {**self._head, "choices": choices}
        if self._include_usage:
            body["usage"] = usage_
        return b"data: " + msgspec.json.encode(body) + b"\n\n"

    def delta(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        return self._event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def end(self, finish: Finish) -> bytes:
        last = self.delta({}, finish.reason)
        if self._include_usage:
            last += self._event([], usage(finish))
        return last + b"data: [DONE]\n\n"


def error_body(status: int, message: str, *, code: str | None = None, param: str | None = None) -> bytes:
    kind = "server_error" if status >= 500 else "rate_limit_error" if status == 429 else "invalid_request_error"
    return msgspec.json.encode({"error": {"message": message, "type": kind, "param": param, "code": code}})


def error_event(status: int, message: str, code: str) -> bytes:
    return b"data: " + error_body(status, message, code=code) + b"\n\n"


def model_list(names: list[str], owner: str) -> bytes:
    created = int(time.time())
    data = [{"id": n, "object": "model", "created": created, "owned_by": owner} for n in names]
    return msgspec.json.encode({"object": "list", "data": data})
