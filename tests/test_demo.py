"""``regiongate demo`` end to end, run as a user runs it: a subprocess on the topology's real loopback ports, every
backend a real ``regiongate engine`` process (llama.cpp) — and none of them left behind, however the demo ends."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

GATEWAY_PORTS = tuple(range(8080, 8085))
BACKEND_PORTS = tuple(range(18001, 18009))
DEMO_PORTS = GATEWAY_PORTS + BACKEND_PORTS
RUN_TIMEOUT = 240.0  # seconds; with real engines the tour takes well under a minute
DEMO = [sys.executable, "-W", "error", "-m", "regiongate.cli", "demo"]
STEPS = (
    "1. Every tenant asks a compliant gateway, plain and streamed",
    "2. A tenant calls a gateway its policy refuses, then follows the error",
    "3. Why places are refused: the failed predicates",
    "4. Failover: a compliant backend dies mid-traffic",
    "5. Fail-closed: every compliant backend of a tenant is down",
    "6. A receipt: what the region's log proves about one answer",
    "7. Summary from the decision records",
)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _bindable(port: int) -> bool:
    """Whether a server could listen on the port now (SO_REUSEADDR, as servers bind: TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _held_ports() -> list[int]:
    return [p for p in DEMO_PORTS if _listening(p) or not _bindable(p)]


MARK = "REGIONGATE_TEST_DEMO_RUN"  # set in a demo's environment; every process it starts inherits it


def _env(mark: str = "") -> dict[str, str]:
    return {**os.environ, "COLUMNS": "150", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", MARK: mark}


def _processes_marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``MARK=mark``: the demo and everything it started (zombies, whose
    environment is gone, are not counted: they run nothing)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _wait_none_marked(mark: str, patience: float = 5.0, *, engines_only: bool = False) -> list[str]:
    """The command lines of the marked processes still alive after ``patience`` seconds (helpers such as a process
    pool's server may take a moment to notice their parent is gone)."""
    deadline = time.monotonic() + patience
    while True:
        left = [c for c in map(_cmdline, _processes_marked(mark)) if c and (not engines_only or _is_engine(c))]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _is_engine(cmdline: str) -> bool:
    return "regiongate.cli engine" in cmdline


@pytest.fixture
def free_ports() -> Iterator[None]:
    held = _held_ports()
    if held:
        pytest.fail(f"demo ports already in use before the test (another demo running?): {held}")
    yield
    assert _held_ports() == [], "a port of the demo is still held after it ended"


ONCE_MARK = uuid.uuid4().hex


@pytest.fixture(scope="module")
def once() -> subprocess.CompletedProcess[str]:
    held = _held_ports()
    if held:
        pytest.fail(f"demo ports already in use before the test (another demo running?): {held}")
    return subprocess.run(
        [*DEMO, "--once"], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=_env(ONCE_MARK), check=False
    )


def test_once_holds_every_expectation(once: subprocess.CompletedProcess[str]) -> None:
    out = once.stdout
    assert once.returncode == 0, out + once.stderr
    for step in STEPS:
        assert step in out
    assert re.findall(r"^\s*✗ .*", out, flags=re.M) == []
    held = re.findall(r"^  ✓ ", out, flags=re.M)
    assert f"✓ all {len(held)} expectations held" in out
    assert len(held) >= 20
    for tenant in ("eu-ministry", "de-bank", "eu-retailer", "br-fintech", "global-startup", "cn-app"):
        assert tenant in out
    assert "421 gateway_not_compliant" in out
    assert "✓ following the error, de-bank is answered at gw-fra3 by a compliant backend" in out
    assert "eu-ministry may use only par-1-cpu (Paris)" in out
    assert "not_exposed_to: alibaba-cloud-de exposed to CN_NIL_ART7 via alibaba-group" in out
    killed = re.search(r"killing (\S+) after \d+ answers", out)
    assert killed is not None
    assert killed.group(1) in ("ams-1-mi300", "fra-1-h20", "fra-1-ppu", "fra-2-h100", "fra-3-h200", "par-1-cpu")
    assert f"✓ {killed.group(1)} restarted and back in those gateways' rotation" in out
    assert "503 no_compliant_capacity" in out
    assert "✓ no other backend received any of br-fintech's requests" in out
    assert "out-of-policy routings, recomputed from the records against the matrix: 0" in out
    assert "every gateway and backend stopped" in out


def test_once_is_quiet_on_stderr(once: subprocess.CompletedProcess[str]) -> None:
    """No traceback, unclosed session or destroyed task: warnings are errors in this run (-W error)."""
    for bad in ("Traceback", "Unclosed", "Task was destroyed", "Error", "Warning"):
        assert bad not in once.stderr, once.stderr


def test_nothing_of_the_demo_survives_it(once: subprocess.CompletedProcess[str]) -> None:
    assert once.returncode == 0
    assert _held_ports() == []
    assert _wait_none_marked(ONCE_MARK) == [], "a process the demo started outlived it"


def test_the_backends_are_real_engines_giving_real_answers(once: subprocess.CompletedProcess[str]) -> None:
    out = once.stdout
    assert "8 backends (llama.cpp engine processes running SmolLM2-135M-Instruct)" in out
    assert "[par-1-cpu]" not in out  # the fake's echo ("[backend] prompt") is nowhere: real models answered
    followed = re.search(r"de-bank → gw-fra3 at \S+: 200, by fra-3-h200: “(.+?)”", out)
    assert followed is not None, out
    assert len(followed.group(1).split()) >= 2  # the first words of a real answer


def test_ctrl_c_stops_the_running_world(free_ports: None, tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    mark = uuid.uuid4().hex
    with log.open("w") as out:
        proc = subprocess.Popen(DEMO, stdout=out, stderr=subprocess.STDOUT, text=True, env=_env(mark))
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while "Ctrl-C stops" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "Ctrl-C stops" in log.read_text(), log.read_text()
            assert all(_listening(p) for p in DEMO_PORTS), "the world should keep running after the tour"
            assert "curl -i http://127.0.0.1:" in log.read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "every gateway and backend stopped" in log.read_text()
    assert _wait_none_marked(mark) == [], "a process the demo started outlived it"


def test_a_killed_demo_takes_its_engines_with_it(free_ports: None, tmp_path: Path) -> None:
    """SIGKILL leaves the demo no chance to clean up: its engines notice their parent is gone and stop."""
    log = tmp_path / "demo.out"
    mark = uuid.uuid4().hex
    with log.open("w") as out:
        proc = subprocess.Popen([*DEMO, "--once"], stdout=out, stderr=subprocess.STDOUT, text=True, env=_env(mark))
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while "1. Every tenant" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            engines = [c for c in map(_cmdline, _processes_marked(mark)) if _is_engine(c)]
            assert len(engines) == len(BACKEND_PORTS), log.read_text()
        finally:
            proc.kill()
            proc.wait()
    assert _wait_none_marked(mark, patience=10.0, engines_only=True) == [], "engines outlived the killed demo"
    assert [p for p in BACKEND_PORTS if _listening(p)] == []


def test_a_busy_port_fails_cleanly(free_ports: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", GATEWAY_PORTS[0]))
        squatter.listen()
        mark = uuid.uuid4().hex
        run = subprocess.run(
            [*DEMO, "--once"], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=_env(mark), check=False
        )
        assert run.returncode == 1
        assert "cannot start the demo world" in run.stdout
        assert "Traceback" not in run.stderr, run.stderr
        assert [p for p in BACKEND_PORTS if _listening(p)] == []
        assert _wait_none_marked(mark) == []
