"""A real ``regiongate engine`` process (llama.cpp, the default SmolLM2-135M GGUF), started once for the module that
asks for it, on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVED = "smol"
READY_PATIENCE = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class EngineProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.root}/health", timeout=5.0) as response:
            body = json.loads(response.read())
        assert isinstance(body, dict)
        return body


def engine_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "regiongate.cli", "engine", "--port", str(port), *extra]


def start_engine(log: Path, *extra: str) -> EngineProcess:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            engine_command(port, *extra), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    engine = EngineProcess(process, port, log)
    deadline = time.monotonic() + READY_PATIENCE
    while time.monotonic() < deadline and process.poll() is None:
        try:
            engine.health()
        except OSError:  # not listening yet (urllib's errors are OSErrors)
            pass
        else:
            return engine
        time.sleep(0.1)
    stop_engine(engine)
    pytest.fail(f"the engine did not start: {log.read_text(errors='replace')[-2000:]}")


def stop_engine(engine: EngineProcess) -> None:
    if engine.process.poll() is None:
        os.killpg(engine.process.pid, signal.SIGTERM)
        try:
            engine.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(engine.process.pid, signal.SIGKILL)
            engine.process.wait()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """One model instance, a queue of one: the third concurrent request is refused."""
    log = tmp_path_factory.mktemp("engine") / "engine.log"
    limits = ["--concurrency", "1", "--queue", "1", "--queue-timeout", "20", "--threads", "1"]
    running = start_engine(log, "--served-model-name", SERVED, *limits)
    yield running
    stop_engine(running)
    assert running.process.returncode == 0, log.read_text(errors="replace")
