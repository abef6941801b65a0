"""What a request costs each proxy in CPU instructions, counted by callgrind: a figure the machine's noise cannot move.

``bench/overhead.py`` times the proxies, and on a shared 2-core machine the same command gives ratios 20 % apart
from one run to the next. Instructions per request, counted by ``valgrind --tool=callgrind`` over every thread of
the proxy's process, repeat to within a percent. That makes them the figure to compare changes by, and the bound
they put on throughput is exact: a proxy that executes 1.4 times the instructions of another cannot reach more than
1 / 1.4 of its throughput on one core, unless its instructions are cheaper ones.

Measured, each under callgrind on CPU 1 with the fake upstream on CPU 0 (not under valgrind):
  (b) ``bench/passthrough.py``, the bare aiohttp pass-through;
  (c) ``regiongate serve`` on the topology of ``bench/topology_gen.py`` with its decision log written in-process
      (the default), and with ``--with`` variants: ``memory`` (decisions kept in memory, no log: the gateway's own
      cost alone) and ``writer`` (the log written by a ``regiongate ledger serve`` process on CPU 0).
Each is warmed up, its counters zeroed, then sent ``--requests`` requests by 16 concurrent clients (as the saturation
runs of ``overhead.py``) before its counters are dumped.

What it does not count: time in the kernel (socket calls, the log's fsync), waits, and the cost of cache misses.
Under valgrind a proxy runs about 50 times slower, so the log's group commits hold fewer requests than at full speed
and its share is somewhat overstated.

    .venv/bin/python bench/instructions.py                      # about 3 minutes
    .venv/bin/python bench/instructions.py --with memory,writer # about 6 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import uvloop

import topology_gen
from overhead import BIN, HERE, KINDS, Service, _answered, body_for, cpus, free_port, start, start_writer

CLIENTS = 16
STARTUP = 300.0  # seconds: a gateway starts in about a second, and 50 times slower under valgrind
_TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


async def _send(url: str, kind: str, headers: dict[str, str], count: int) -> int:
    """``count`` requests from 16 concurrent clients; the number answered well."""
    body, left, answered = body_for(kind), count, 0
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS), timeout=timeout) as session:

        async def client() -> None:
            nonlocal left, answered
            while left > 0:
                left -= 1
                ok = await _answered(session, url, body, headers)
                answered += ok  # after the await: `answered += await ...` would read it before, losing counts

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return answered


def _control(pid: int, action: str) -> None:
    subprocess.run(["callgrind_control", action, str(pid)], check=True, capture_output=True, timeout=120)


def _instructions(out_dir: Path, pid: int) -> int:
    """Instructions of every dump of ``pid`` taken since the counters were zeroed (one file per dump)."""
    total = 0
    for path in out_dir.glob(f"callgrind.{pid}*"):
        found = _TOTALS.search(path.read_bytes())
        total += int(found[1]) if found else 0
    return total


def measure(service: Service, out_dir: Path, headers: dict[str, str], requests: int) -> dict[str, float]:
    """Instructions per request of ``service`` (running under callgrind), per kind of request."""
    per_request: dict[str, float] = {}
    for kind in KINDS:
        url = service.url
        uvloop.run(_send(url, kind, headers, max(32, requests // 10)))  # warm: pools, caches, first batches
        for old in out_dir.glob(f"callgrind.{service.proc.pid}*"):
            old.unlink()
        _control(service.proc.pid, "-z")
        answered = uvloop.run(_send(url, kind, headers, requests))
        _control(service.proc.pid, "-d")
        if answered != requests:
            raise RuntimeError(f"{service.name}: {requests - answered} of {requests} {kind} requests failed")
        per_request[kind] = _instructions(out_dir, service.proc.pid) / answered
    return per_request


def _under_callgrind(out_dir: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/callgrind.%p", "--"]


def run(variants: Sequence[str], requests: int) -> dict[str, dict[str, float]]:
    near, far = cpus()
    key = topology_gen.api_key(topology_gen.BENCH_TENANT)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="regiongate-instructions-") as tmp:
        work = Path(tmp)
        fake = [sys.executable, "-m", "regiongate.backends.fake", "--port", str(up := free_port()), "--name", "up"]
        upstream = start("upstream", fake, f"http://127.0.0.1:{up}/v1", near, work)
        services = [upstream]
        try:
            port = free_port()
            bare = [sys.executable, str(HERE / "passthrough.py"), "--port", str(port), "--upstream", upstream.url[:-3]]
            cases: list[tuple[str, list[str], dict[str, str], str | None]] = [("(b) bare pass-through", bare, {}, None)]
            for way in ("in-process", *variants):
                port = free_port()
                config = work / f"topology-{way}.yaml"
                config.write_text(topology_gen.render([upstream.url], port))
                serve = [str(BIN / "regiongate"), "serve", "--config", str(config)]
                serve += ["--gateway", topology_gen.BENCH_GATEWAY, "--host", "127.0.0.1", "--port", str(port)]
                env = {"REGIONGATE_DECISIONS": "memory"} if way == "memory" else {}
                cases.append((f"(c) regiongate, log {way}", [sys.executable, *serve], env, way))
            for name, cmd, env, variant in cases:
                writer = None
                if variant == "writer":
                    config = Path(cmd[cmd.index("--config") + 1])
                    socket_path = work / "data" / "log.sock"
                    writer = start_writer(socket_path, config, near, work)
                    env = {"REGIONGATE_LEDGER_SOCKET": str(socket_path)}
                    services.append(writer)
                url = f"http://127.0.0.1:{cmd[cmd.index('--port') + 1]}/v1"
                callgrind = [*_under_callgrind(work), *cmd]
                service = start(name, callgrind, url, far, work, headers, env_extra=env, wait=STARTUP)
                services.append(service)
                print(f"{name}: {requests} requests of each kind under callgrind ...", flush=True)
                results[name] = measure(service, work, headers, requests)
                service.stop()
                if writer is not None:
                    writer.stop()
        finally:
            for service in services:
                service.stop()
    return results


def report(results: dict[str, dict[str, float]]) -> None:
    base = results["(b) bare pass-through"]
    print(f"\n{'path':<34}" + "".join(f"{kind + ' instr/req':>28}{'÷ (b)':>8}" for kind in KINDS))
    for name, counts in results.items():
        print(f"{name:<34}" + "".join(f"{counts[k]:>28,.0f}{counts[k] / base[k]:>8.2f}" for k in KINDS))
    print("\nbound on regiongate ÷ bare pass-through throughput, one core each (non-streaming / streaming):")
    for name, counts in results.items():
        if name.startswith("(c)"):
            bounds = " / ".join(f"{base[k] / counts[k]:.2f}" for k in KINDS)
            print(f"  {name[4:]}: {bounds}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests of each kind counted per path")
    parser.add_argument("--with", dest="variants", default="", help="memory,writer: more ways to run (c)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if unknown := set(variants) - {"memory", "writer"}:
        parser.error(f"unknown --with {', '.join(sorted(unknown))}")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is missing: apt-get install -y valgrind", file=sys.stderr)
        return 2
    print(f"instructions per request under callgrind, {CLIENTS} concurrent clients, proxy on CPU {sorted(cpus()[1])}")
    report(run(variants, args.requests))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same hash order in every run: fewer stray differences
    sys.exit(main())
