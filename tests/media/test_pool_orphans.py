"""A gateway killed with SIGKILL (the OOM killer, a container runtime) takes its media processes with it: the fork
server, the resource tracker and every worker, even one stuck in C holding the GIL.

The gateway is tests/media/pool_child.py in a process of its own; its descendants are found through /proc."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from regiongate.media.lifeline import tie_to_parent

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

ROOT = Path(__file__).resolve().parents[2]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]  # the name, in parentheses, may hold anything
    return state, int(ppid)


def _descendants(root: int) -> set[int]:
    parents = {pid: stat[1] for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (stat := _stat(pid))}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"  # a zombie is dead, just not reaped (PID 1 may never reap it)


def _describe(pids: set[int]) -> list[str]:
    def cmdline(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            return "?"

    return [f"{pid}: {cmdline(pid)}" for pid in sorted(pids)]


def _kill_gateway_and_watch(*args: str) -> None:
    """Start the stand-in gateway, let it make its pool's processes, SIGKILL it, and require every descendant gone
    within 10 s."""
    gateway = subprocess.Popen(
        [sys.executable, "-m", "tests.media.pool_child", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])},
        stdout=subprocess.PIPE,
    )
    assert gateway.stdout is not None
    descendants: set[int] = set()
    try:
        readable, _, _ = select.select([gateway.stdout], [], [], 60)
        # Not read to EOF: the workers inherit this pipe, so EOF would itself wait for them.
        assert readable, "the stand-in gateway never got ready"
        assert gateway.stdout.readline() == b"ready\n"
        descendants = _descendants(gateway.pid)
        assert len(descendants) >= 3, _describe(descendants)  # the fork server, the resource tracker, a worker
        gateway.kill()
        gateway.wait()
        deadline = time.monotonic() + 10
        while (alive := {pid for pid in descendants if _alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive, f"outlived the gateway: {_describe(alive)}"
    finally:
        gateway.kill()
        gateway.wait()
        gateway.stdout.close()
        for pid in descendants:  # a failed run's leftovers, processes this test started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@linux_only
def test_idle_media_processes_die_with_a_killed_gateway() -> None:
    _kill_gateway_and_watch()


@linux_only
def test_a_worker_stuck_holding_the_gil_dies_with_a_killed_gateway(tmp_path: Path) -> None:
    _kill_gateway_and_watch(str(tmp_path / "stuck"))


def test_tying_outside_a_multiprocessing_child_does_nothing() -> None:
    threads = threading.active_count()
    tie_to_parent()  # the gateway itself, or a thread pool's caller: no parent to watch
    assert threading.active_count() == threads
