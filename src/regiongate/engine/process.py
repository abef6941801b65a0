"""``regiongate engine``: one embedded engine as its own process, so that a backend can be killed and restarted on its
own. Loads the model first (``--concurrency`` instances), then listens; ``GET /health`` answering means ready.
SIGINT/SIGTERM stop it gracefully; with ``--exit-with-parent`` it also stops when the process that started it dies
(the demo's engines can never outlive the demo, whatever kills it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from regiongate.engine.embeddings import EmbeddingsUnavailable, MiniLM
from regiongate.engine.model import (
    DEFAULT_MODEL_NAME,
    LlamaChatModel,
    ModelNotFound,
    default_model_path,
    default_threads,
)
from regiongate.engine.options import EngineOptions
from regiongate.engine.server import Engine, build_engine_app

log = logging.getLogger("regiongate.engine")
PARENT_POLL = 0.5  # seconds between two looks at whether the parent is still there


def model_name(path: Path) -> str:
    """The name a model is served under by default: the file's stem, or the well-known name of the default."""
    try:
        if path == default_model_path():
            return DEFAULT_MODEL_NAME
    except ModelNotFound:
        pass
    return path.name.removesuffix(".gguf")


def load_engine(options: EngineOptions) -> Engine:
    """Load everything the engine serves (raises ModelNotFound, EmbeddingsUnavailable, ValueError)."""
    if options.concurrency < 1 or options.queue < 0:
        raise ValueError("--concurrency must be at least 1 and --queue at least 0")
    path = options.model or default_model_path()
    threads = options.threads or max(1, default_threads() // options.concurrency)
    models = [LlamaChatModel(path, context=options.ctx, threads=threads) for _ in range(options.concurrency)]
    embedder = MiniLM(threads) if options.embeddings else None
    served = options.served_model_names or (model_name(path),)
    return Engine(
        options.name,
        models,
        served,
        model_path=path,
        queue_limit=options.queue,
        queue_timeout=options.queue_timeout,
        embedder=embedder,
    )


async def serve_engine(engine: Engine, host: str, port: int, *, exit_with_parent: bool = False) -> None:
    """Serve until SIGINT/SIGTERM (or the parent's death); raises OSError if the address is taken."""
    runner = web.AppRunner(
        build_engine_app(engine), access_log=None, handle_signals=False, handler_cancellation=True, shutdown_timeout=1.0
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(stop)) if exit_with_parent else None
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("engine %s serving %s on http://%s:%d/v1", engine.name, ", ".join(engine.served), host, port)
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        engine.close_generations()
        await runner.cleanup()
        await asyncio.to_thread(engine.close)


async def _watch_parent(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells a process that its parent died
        await asyncio.sleep(PARENT_POLL)
    log.warning("the parent process %d is gone: stopping", parent)
    stop.set()


def run_engine(options: EngineOptions) -> int:
    try:
        engine = load_engine(options)
    except (ModelNotFound, EmbeddingsUnavailable, ValueError) as exc:
        print(f"regiongate engine: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:  # not built for every platform; asyncio's own loop is correct, only slower
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve_engine(engine, options.host, options.port, exit_with_parent=options.exit_with_parent))
    except OSError as exc:
        print(f"regiongate engine: cannot listen on {options.host}:{options.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
