"""What regiongate costs on the data path, against the fake upstream alone and a bare aiohttp pass-through.

One run measures, for non-streaming and streaming chat completions:
  (a) the fake upstream directly, (b) ``bench/passthrough.py`` in front of it, (c) ``regiongate serve`` in front of it
  with the topology of ``bench/topology_gen.py`` (60 backends in 27 datacenters, 23 tenants, every backend URL
  pointing at the one upstream), each
  - at saturation: wrk, 16 connections (or a Python closed-loop generator if wrk cannot be had: then said so);
  - at fixed rates, open loop: a Python generator whose sends are timed by a thread sleeping to each scheduled instant,
    latency counted from the scheduled instant (no coordinated omission). "Added" latency is a proxy's percentile
    minus the upstream's own at the same rate in the same run.
and prints requests/s, p50/p99, the ratio regiongate ÷ bare pass-through, and the targets: throughput ≥ 70 % of the
pass-through's, added latency at 200 req/s ≤ 1 ms p50 and ≤ 3 ms p99.

Placement on a 2-core machine (``os.sched_setaffinity``, inherited by each child): the proxy under test alone on
CPU 1, the upstream on CPU 0; the load generator on CPU 0 beside the upstream when a proxy is measured, on CPU 1 when
the upstream is measured alone (so that it never shares a core with the process it talks to, and (a) shows what the
upstream itself can do). Each run prints the CPU share every process used, to show which one was the bottleneck.

The region's log: by default the gateway process writes it itself, on its own core (the single-process deployment).
``--ledger writer`` measures the deployment of a region with several gateway processes instead: a log writer
process (``regiongate ledger serve``) on CPU 0, beside the upstream, as a database server would be, the gateway
sending it its leaves over a Unix socket; its CPU share is printed too.

    .venv/bin/python bench/overhead.py            # about 8 minutes
    .venv/bin/python bench/overhead.py --quick    # about 1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

import topology_gen

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CONNECTIONS = 16
TARGET_RATIO = 0.70
TARGET_P50_MS, TARGET_P99_MS, TARGET_RATE = 1.0, 3.0, 200.0
PROMPT = "Summarise in one sentence why a sovereign AI gateway must fail closed."
PATHS = {"a": "(a) upstream direct", "b": "(b) bare pass-through", "c": "(c) regiongate"}
KINDS = ("non-streaming", "streaming")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only: never an HTTP proxy


# --- processes -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpus() -> tuple[set[int], set[int]]:
    """(CPUs for the upstream and the generator, CPUs for the proxy under test)."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return set(mine), set(mine)
    return {mine[0]}, {mine[1]}


@contextmanager
def pinned(cpu_set: set[int]) -> Iterator[None]:
    """Run the block (and any child it starts, which inherits the mask) on ``cpu_set``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu_set)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Service:
    name: str
    url: str  # base URL, ending in /v1
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(
    name: str,
    cmd: Sequence[str],
    url: str,
    cpu_set: set[int],
    workdir: Path,
    probe_headers: dict[str, str] | None = None,
    env_extra: dict[str, str] | None = None,
    wait: float = 30.0,
) -> Service:
    log = workdir / f"{name}.log"
    env = {**os.environ, "REGIONGATE_DATA_DIR": str(workdir / "data"), **(env_extra or {})}
    with pinned(cpu_set), log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    service = Service(name, url, proc, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}:\n{service.tail()}")
        request = urllib.request.Request(url + "/models", headers=probe_headers or {})
        try:
            with _OPENER.open(request, timeout=2):
                return service
        except urllib.error.HTTPError:
            return service  # it answers HTTP: up
        except OSError:
            time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"{name} did not answer within {wait:.0f} s:\n{service.tail()}")


def start_writer(socket_path: Path, config: Path, cpu_set: set[int], workdir: Path) -> Service:
    """The region's log writer, up once its socket exists."""
    cmd = [str(BIN / "regiongate"), "ledger", "serve", "--region", topology_gen.BENCH_REGION]
    cmd += ["--socket", str(socket_path), "--config", str(config)]
    log = workdir / "log-writer.log"
    env = {**os.environ, "REGIONGATE_DATA_DIR": str(workdir / "data")}
    with pinned(cpu_set), log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    service = Service("log-writer", str(socket_path), proc, log)
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"the log writer did not come up:\n{service.tail()}")
        time.sleep(0.1)
    return service


def regiongate_serve_available() -> tuple[bool, str]:
    exe = BIN / "regiongate"
    if not exe.exists():
        return False, f"{exe} does not exist"
    try:
        done = subprocess.run([str(exe), "serve", "--help"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    text = (done.stdout + done.stderr).decode(errors="replace")
    if done.returncode != 0 or "--config" not in text:
        return False, "`regiongate serve --help` failed: " + (text.strip().splitlines() or ["no output"])[-1]
    return True, ""


# --- what is measured ------------------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50: float  # milliseconds
    p99: float
    errors: int
    count: int
    lag_p99: float = math.nan  # open loop only: how late the generator sent, ms (its own precision)
    cpu: dict[str, float] = field(default_factory=dict)  # saturation only: CPU share per process, 1.0 = one core


@dataclass
class Report:
    saturation: dict[tuple[str, str], Result] = field(default_factory=dict)
    fixed: dict[tuple[float, str, str], Result] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    targets: dict[str, Service] = field(default_factory=dict)  # (a), (b), (c) as they run
    writer: Service | None = None  # the region's log writer process (``--ledger writer``)


def body_for(kind: str) -> bytes:
    body: dict[str, object] = {"model": topology_gen.MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    if kind == "streaming":
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return json.dumps(body).encode()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def check_answer(url: str, kind: str, headers: dict[str, str]) -> None:
    """One request checked before measuring: a proxy that answered fast but wrong would measure well."""
    request = urllib.request.Request(url + "/chat/completions", data=body_for(kind), headers=headers)
    with _OPENER.open(request, timeout=10) as response:
        text = response.read().decode()
    if "[upstream]" not in text or (kind == "streaming" and not text.rstrip().endswith("data: [DONE]")):
        raise RuntimeError(f"unexpected answer from {url}: {text[:300]}")


_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(wrk: str, url: str, kind: str, headers: dict[str, str], seconds: float, cpu_set: set[int]) -> Result:
    script = Path(tempfile.gettempdir()) / f"regiongate-bench-{os.getpid()}-{kind}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body_for(kind).decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    with pinned(cpu_set):
        done = subprocess.run([*cmd, "-s", str(script), url + "/chat/completions"], capture_output=True, check=False)
    script.unlink()
    out = done.stdout.decode()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if done.returncode != 0 or rps is None or count is None:
        raise RuntimeError(f"wrk failed: {out} {done.stderr.decode()}")
    latency = {q: float(v) * _UNIT_MS[unit] for q, v, unit in _WRK_LATENCY.findall(out)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(map(int, socket_errors.groups())) if socket_errors else 0
    return Result(float(rps.group(1)), latency.get("50", math.nan), latency.get("99", math.nan), errors, int(count[1]))


async def _answered(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> bool:
    """One chat completion, read to the end: whether it was a 200."""
    try:
        async with session.post(url + "/chat/completions", data=body, headers=headers) as response:
            await response.read()
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _closed_loop(url: str, kind: str, headers: dict[str, str], seconds: float) -> Result:
    """Fallback when wrk is missing: 16 Python workers, back to back. Slower than wrk: may be the bottleneck."""
    latencies: list[float] = []
    errors = 0
    body = body_for(kind)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < end:
                if await _answered(session, url, body, headers):
                    latencies.append(time.perf_counter() - now)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    ms = [x * 1e3 for x in latencies]
    return Result(len(ms) / elapsed, percentile(ms, 0.5), percentile(ms, 0.99), errors, len(ms))


def _tick(fire: Callable[[float], None], start: float, interval: float, n: int, done: Callable[[], None]) -> None:
    """The send clock: sleeps to each scheduled instant (ns timer, not the event loop's ms one) and fires it."""
    for i in range(n):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        fire(target)
    done()


async def open_loop(url: str, kind: str, headers: dict[str, str], rate: float, seconds: float) -> Result:
    loop = asyncio.get_running_loop()
    body, n = body_for(kind), max(1, round(rate * seconds))
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()
    finished = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one(target: float) -> None:
            nonlocal errors
            lags.append(time.perf_counter() - target)
            if await _answered(session, url, body, headers):
                latencies.append(time.perf_counter() - target)
            else:
                errors += 1

        def fire(target: float) -> None:
            task = loop.create_task(one(target))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        def fire_threadsafe(target: float) -> None:
            loop.call_soon_threadsafe(fire, target)

        def finished_threadsafe() -> None:
            loop.call_soon_threadsafe(finished.set)  # queued after every fire()

        start = time.perf_counter() + 0.02
        ticker = threading.Thread(target=_tick, args=(fire_threadsafe, start, 1 / rate, n, finished_threadsafe))
        ticker.start()
        await finished.wait()
        while tasks:
            await asyncio.gather(*list(tasks))
        elapsed = time.perf_counter() - start
        ticker.join()
    latencies.sort()
    lags.sort()
    ms = [x * 1e3 for x in latencies]
    return Result(
        len(ms) / elapsed, percentile(ms, 0.5), percentile(ms, 0.99), errors, len(ms), percentile(lags, 0.99) * 1e3
    )


# --- the run ---------------------------------------------------------------------------------------------------------


def ensure_wrk(may_install: bool) -> tuple[str | None, str]:
    found = shutil.which("wrk")
    if found:
        return found, "wrk"
    if may_install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk ...", flush=True)
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        for step in (install, ["apt-get", "update", "-q"], install):
            with suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(step, capture_output=True, timeout=300, check=False)
            if found := shutil.which("wrk"):
                return found, "wrk (installed now)"
    return None, "a Python closed-loop generator (wrk missing: it may be the bottleneck, so ratios are conservative)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Bench:
    targets: dict[str, Service]
    headers: dict[str, str]
    near: set[int]
    far: set[int]
    wrk: str | None
    generator: str  # what generates the saturating load, said in the output
    report: Report

    @property
    def upstream(self) -> Service:
        return self.targets["a"]

    def saturate(self, path: str, kind: str, seconds: float, warm: float) -> Result:
        """One saturation run, with the CPU share each party used (100 % = one core)."""
        service = self.targets[path]
        where = self.far if path == "a" else self.near  # the generator: on the core no proxy uses
        with pinned(where):
            self._saturate(service.url, kind, warm, where)
            writer = self.report.writer if path == "c" else None
            up0, proxy0, gen0 = cpu_seconds(self.upstream.proc.pid), cpu_seconds(service.proc.pid), self._gen_cpu()
            writer0 = cpu_seconds(writer.proc.pid) if writer is not None else math.nan
            started = time.perf_counter()
            result = self._saturate(service.url, kind, seconds, where)
            elapsed = time.perf_counter() - started
            result.cpu = {
                "upstream": (cpu_seconds(self.upstream.proc.pid) - up0) / elapsed,
                "proxy": (cpu_seconds(service.proc.pid) - proxy0) / elapsed if path != "a" else math.nan,
                "generator": (self._gen_cpu() - gen0) / elapsed,
                "writer": (cpu_seconds(writer.proc.pid) - writer0) / elapsed if writer is not None else math.nan,
            }
        return result

    def _gen_cpu(self) -> float:
        return children_cpu_seconds() if self.wrk is not None else time.process_time()

    def _saturate(self, url: str, kind: str, seconds: float, where: set[int]) -> Result:
        if self.wrk is not None:
            return run_wrk(self.wrk, url, kind, self.headers, seconds, where)
        return uvloop.run(_closed_loop(url, kind, self.headers, seconds))

    def fixed(self, path: str, kind: str, rate: float, seconds: float, warm: float) -> Result:
        url = self.targets[path].url
        with pinned(self.far if path == "a" else self.near):  # never beside the process it talks to
            uvloop.run(open_loop(url, kind, self.headers, rate, warm))
            return uvloop.run(open_loop(url, kind, self.headers, rate, seconds))


def bring_up(
    workdir: Path,
    cpu: tuple[set[int], set[int]],
    headers: dict[str, str],
    gateway: bool,
    report: Report,
    ledger: str = "in-process",
) -> dict[str, Service]:
    """Start (a) the upstream, (b) the pass-through and, if it can be had, (c) the gateway; into ``report.targets``
    as they come up, so that whatever started is stopped whatever happens next."""
    near, far = cpu
    targets = report.targets
    up_port, pt_port, gw_port = free_port(), free_port(), free_port()
    fake = [sys.executable, "-m", "regiongate.backends.fake", "--port", str(up_port), "--name", "upstream"]
    targets["a"] = start("upstream", fake, f"http://127.0.0.1:{up_port}/v1", near, workdir)
    bare = [sys.executable, str(HERE / "passthrough.py"), "--port", str(pt_port), "--upstream", targets["a"].url[:-3]]
    targets["b"] = start("passthrough", bare, f"http://127.0.0.1:{pt_port}/v1", far, workdir)
    available, why = regiongate_serve_available()
    if not gateway:
        report.notes.append("(c) skipped: --skip-gateway")
    elif not available:
        report.notes.append(f"(c) skipped: `regiongate serve` is not there yet ({why})")
    else:
        config = workdir / "topology.yaml"
        config.write_text(topology_gen.render([targets["a"].url], gw_port))
        serve = [str(BIN / "regiongate"), "serve", "--config", str(config), "--gateway", topology_gen.BENCH_GATEWAY]
        serve += ["--host", "127.0.0.1", "--port", str(gw_port)]
        env: dict[str, str] = {}
        try:
            if ledger == "memory":
                env["REGIONGATE_DECISIONS"] = "memory"
            if ledger == "writer":
                socket_path = workdir / "data" / f"{topology_gen.BENCH_REGION}.sock"
                report.writer = start_writer(socket_path, config, near, workdir)
                env["REGIONGATE_LEDGER_SOCKET"] = str(socket_path)
            gw_url = f"http://127.0.0.1:{gw_port}/v1"
            targets["c"] = start("regiongate", serve, gw_url, far, workdir, headers, env_extra=env)
        except RuntimeError as exc:
            report.notes.append(f"(c) skipped: `regiongate serve` did not come up: {exc}")
    for path, service in list(targets.items()):
        for kind in KINDS:
            try:
                check_answer(service.url, kind, headers)
            except (OSError, RuntimeError) as exc:
                if path != "c":
                    raise
                report.notes.append(f"(c) not measured: wrong {kind} answer: {exc}")
                targets.pop(path).stop()
                break
    return targets


def measure(bench: Bench, rates: Sequence[float], repeat: int, seconds: tuple[float, float, float]) -> None:
    sat_seconds, rate_seconds, warm = seconds
    report, targets = bench.report, bench.targets
    print(
        f"saturation: {bench.generator}, {CONNECTIONS} connections, best of {repeat} x {sat_seconds:g} s, each "
        f"after {warm:g} s of warm-up",
        flush=True,
    )
    for kind in KINDS:
        for _ in range(repeat):
            for path in targets:
                result = bench.saturate(path, kind, sat_seconds, warm)
                best = report.saturation.get((path, kind))
                if best is None or result.rps > best.rps:
                    report.saturation[path, kind] = result
                print(f"  {PATHS[path]:<22} {kind:<13} {result.rps:9.1f} req/s", flush=True)
    print(
        f"fixed rates: Python open loop, lowest p99 of {repeat} x {rate_seconds:g} s, each after {warm:g} s of warm-up"
    )
    sys.setswitchinterval(1e-4)  # the send-clock thread must get the GIL back at once
    for rate in rates:
        for kind in KINDS:
            for _ in range(repeat):
                for path in targets:
                    result = bench.fixed(path, kind, rate, rate_seconds, warm)
                    best = report.fixed.get((rate, kind, path))
                    if best is None or result.p99 < best.p99:
                        report.fixed[rate, kind, path] = result
                    what = f"{rate:g} req/s {PATHS[path]:<22} {kind:<13}"
                    print(f"  {what} p50 {result.p50:6.2f} ms  p99 {result.p99:6.2f} ms", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, about a minute in all")
    parser.add_argument("--rates", help="fixed rates in req/s, comma-separated (default 200,500; --quick: 200)")
    parser.add_argument("--repeat", type=int, help="runs per case, the best kept (default 2; --quick: 1)")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--skip-gateway", action="store_true", help="measure (a) and (b) only")
    parser.add_argument(
        "--ledger",
        choices=("writer", "in-process", "memory"),
        default="in-process",
        help="where (c) writes the region's log: the gateway process itself (default, the single-process "
        "deployment), or a log writer process on the upstream's CPU (a region with several gateway processes); "
        "memory: no log at all (not a deployment: what the gateway costs without its log)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="e.g. -10: run every bench process at that niceness "
        "(root only), so that other work on a shared machine disturbs the figures less",
    )
    args = parser.parse_args(argv)
    seconds = (3.0, 4.0, 1.0) if args.quick else (10.0, 10.0, 2.0)  # saturation, fixed rate, warm-up
    rates = [float(r) for r in (args.rates or ("200" if args.quick else "200,500")).split(",")]
    repeat = args.repeat or (1 if args.quick else 2)
    wrk, generator = ensure_wrk(not args.no_install)
    near, far = cpus()
    report = Report()
    if (load := os.getloadavg()[0]) > 0.5:
        report.notes.append(f"load average {load:.2f} at the start: other processes shared these CPUs (noisy figures)")
    if wrk is None:
        report.notes.append(f"saturation measured with {generator}")
    if args.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every process started from here
            report.notes.append(f"every bench process ran at niceness {args.nice}")
        except PermissionError:
            report.notes.append(f"--nice {args.nice} refused (not root): ran at the default niceness")
    key = topology_gen.api_key(topology_gen.BENCH_TENANT)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    print(
        f"regiongate overhead benchmark{' (quick)' if args.quick else ''}, {os.cpu_count()} CPUs: upstream fake on "
        f"CPU {sorted(near)}, proxy under test alone on CPU {sorted(far)}, load generator on CPU {sorted(near)} "
        f"(CPU {sorted(far)} when the upstream is measured alone), pinned with os.sched_setaffinity; (c)'s log: "
        + (
            f"a log writer process on CPU {sorted(near)}"
            if args.ledger == "writer"
            else "none (decisions kept in memory)"
            if args.ledger == "memory"
            else "written by the gateway process itself"
        ),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="regiongate-bench-") as tmp:
        try:
            targets = bring_up(Path(tmp), (near, far), headers, not args.skip_gateway, report, args.ledger)
            if "c" in targets:
                world = topology_gen.generate([targets["a"].url], 0)
                sizes = ", ".join(
                    f"{len(world[k])} {k}" for k in ("backends", "datacenters", "organisations", "tenants")
                )
                print(
                    f"(c) topology: {sizes}; tenant {topology_gen.BENCH_TENANT} via gateway "
                    f"{topology_gen.BENCH_GATEWAY}; every backend URL is the one upstream"
                )
            measure(Bench(targets, headers, near, far, wrk, generator, report), rates, repeat, seconds)
        except RuntimeError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        finally:
            for service in reversed(report.targets.values()):
                service.stop()
            if report.writer is not None:
                report.writer.stop()
    print_report(report, rates, list(report.targets))
    return 0


def fmt(value: float, digits: int = 2) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def print_report(report: Report, rates: Sequence[float], paths: Sequence[str]) -> None:
    print("\n== saturation (CPU: share of one core used by each process during the run) ==")
    rows = []
    for kind in KINDS:
        for path in paths:
            r = report.saturation[path, kind]
            who = ("proxy", "upstream", "generator", "writer")
            cpu = [fmt(100 * r.cpu.get(w, math.nan), 0) for w in who]
            rows.append([PATHS[path], kind, fmt(r.rps, 1), fmt(r.p50), fmt(r.p99), str(r.errors), *cpu])
    header = ["path", "kind", "req/s", "p50 ms", "p99 ms", "errors", "proxy CPU%", "upstream CPU%", "gen CPU%"]
    print_table([*header, "log writer CPU%"], rows)
    verdicts: list[str] = []
    for kind in KINDS:
        bare = report.saturation["b", kind].rps
        line = f"{kind}: bare pass-through ÷ upstream direct = {bare / report.saturation['a', kind].rps:.2f}"
        if "c" in paths:
            ratio = report.saturation["c", kind].rps / bare
            line += f"; regiongate ÷ bare pass-through = {ratio:.2f}"
            verdicts.append(
                f"throughput, {kind}: regiongate ÷ bare pass-through {ratio:.2f} "
                f"(target ≥ {TARGET_RATIO:.2f}): {verdict(ratio >= TARGET_RATIO)}"
            )
        print(line)
    for rate in rates:
        print(f"\n== fixed rate {rate:g} req/s (open loop; latency from the scheduled send; added = minus (a)'s) ==")
        rows = []
        for kind in KINDS:
            direct = report.fixed[rate, kind, "a"]
            for path in paths:
                r = report.fixed[rate, kind, path]
                added50, added99 = (r.p50 - direct.p50, r.p99 - direct.p99) if path != "a" else (math.nan, math.nan)
                numbers = [r.rps, r.p50, r.p99, added50, added99]
                rows.append(
                    [
                        PATHS[path],
                        kind,
                        *(fmt(x, 1 if i == 0 else 2) for i, x in enumerate(numbers)),
                        str(r.errors),
                        fmt(r.lag_p99),
                    ]
                )
                if path == "c" and rate == TARGET_RATE:
                    ok = added50 <= TARGET_P50_MS and added99 <= TARGET_P99_MS
                    verdicts.append(
                        f"added latency at {rate:g} req/s, {kind}: p50 {added50:+.2f} ms, p99 "
                        f"{added99:+.2f} ms (targets ≤ {TARGET_P50_MS:g} and ≤ {TARGET_P99_MS:g} ms): "
                        f"{verdict(ok)}"
                    )
        header = ["path", "kind", "req/s", "p50 ms", "p99 ms", "added p50", "added p99", "errors", "send lag p99"]
        print_table(header, rows)
    for (path, kind), r in report.saturation.items():
        if path != "a" and r.cpu.get("proxy", 1.0) < 0.85:
            report.notes.append(
                f"{PATHS[path]}, {kind}, saturation: the proxy used {100 * r.cpu['proxy']:.0f} % of its "
                "core, so something else (other load on the machine?) limited the rate"
            )
    for (rate, kind, path), r in report.fixed.items():
        if r.lag_p99 > 1.0:
            report.notes.append(
                f"{rate:g} req/s {PATHS[path]}, {kind}: the generator sent late (p99 {r.lag_p99:.1f} "
                "ms; counted in the latency)"
            )
    if report.notes:
        print("\nnotes:")
        print("\n".join(f"  - {note}" for note in report.notes))
    if verdicts:
        print("\ntargets:")
        print("\n".join(f"  - {line}" for line in verdicts))


if __name__ == "__main__":
    sys.exit(main())
