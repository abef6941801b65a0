"""``regiongate demo`` end to end, run as a user runs it: a subprocess on the topology's real loopback ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GATEWAY_PORTS = tuple(range(8080, 8085))
BACKEND_PORTS = tuple(range(18001, 18009))
DEMO_PORTS = GATEWAY_PORTS + BACKEND_PORTS
RUN_TIMEOUT = 120.0  # seconds; the tour itself takes a few
DEMO = [sys.executable, "-W", "error", "-m", "regiongate.cli", "demo"]
STEPS = (
    "1. Every tenant asks a compliant gateway, plain and streamed",
    "2. A tenant calls a gateway its policy refuses, then follows the error",
    "3. Why places are refused: the failed predicates",
    "4. Failover: a compliant backend dies mid-traffic",
    "5. Fail-closed: every compliant backend of a tenant is down",
    "6. Summary from the decision records",
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


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "150", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def free_ports() -> Iterator[None]:
    held = _held_ports()
    if held:
        pytest.fail(f"demo ports already in use before the test (another demo running?): {held}")
    yield
    assert _held_ports() == [], "a port of the demo is still held after it ended"


@pytest.fixture(scope="module")
def once() -> subprocess.CompletedProcess[str]:
    held = _held_ports()
    if held:
        pytest.fail(f"demo ports already in use before the test (another demo running?): {held}")
    return subprocess.run(
        [*DEMO, "--once"], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=_env(), check=False
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
    assert "killing fra-3-h200" in out
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


def test_ctrl_c_stops_the_running_world(free_ports: None, tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    with log.open("w") as out:
        proc = subprocess.Popen(DEMO, stdout=out, stderr=subprocess.STDOUT, text=True, env=_env())
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


def test_a_busy_port_fails_cleanly(free_ports: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", GATEWAY_PORTS[0]))
        squatter.listen()
        run = subprocess.run(
            [*DEMO, "--once"], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=_env(), check=False
        )
        assert run.returncode == 1
        assert "cannot start the demo world" in run.stdout
        assert "Traceback" not in run.stderr, run.stderr
        assert [p for p in BACKEND_PORTS if _listening(p)] == []
