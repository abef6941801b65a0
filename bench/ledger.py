"""The verifiable log, measured: sustained appends (SQLite, PostgreSQL); inclusion and consistency proofs at 10^6
leaves served from each store by the receipts' own code (``Ledger.proof``, ``Ledger.consistency``), and verified;
bytes stored per leaf and per request; the memory of the proofs' tile cache; the CPU a leaf costs in commits as
small as the gateway's, keyed by time-stamped request ids versus by their tags alone; and the gateway's added
latency with the log on versus off at a steady 200 req/s. The log's parts run on ``--loop`` (uvloop, as
``regiongate serve``), the gateway part on asyncio's loop. Appends are offered faster than any disk takes them,
encoded before the clock starts (encoding is the sink's work, not the log's); the clock stops when the appender has
committed them all.

    .venv/bin/python bench/ledger.py [--leaves 1000000] [--pg-leaves 1000000] [--appends 200000] [--rate 200]
                                     [--seconds 10] [--loop uvloop|asyncio] [--parts appends,proofs,gateway]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from regiongate.ledger.appender import Appender
from regiongate.ledger.leaves import DecisionLeaf, encode_leaf
from regiongate.ledger.log import Ledger
from regiongate.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from regiongate.ledger.note import generate_key, parse_signer_key
from regiongate.ledger.pg_store import PostgresStore
from regiongate.ledger.proof import verify_proof
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import Frontier, read_root, request_key

PG_DSN = os.environ.get("REGIONGATE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "src" / "regiongate" / "data" / "example-topology.yaml"
ORIGIN = "regiongate/bench"
SIGNER = parse_signer_key(generate_key(ORIGIN)[0])
Store = SqliteStore | PostgresStore


def _leaf(n: int) -> bytes:
    """A realistic decision leaf (about 600 bytes), distinct per n."""
    h = f"{n:064x}"
    return encode_leaf(DecisionLeaf(
        region="eu-central", gateway="gw-fra", tenant=h, request=h, decision="route", attempt=0,
        backend="fra-3-h200", datacenter="fra-3", country="DE", operators=("rhein-cloud", "vodafone-de"), policy=h,
        model="qwen3-omni", weights="sha256:" + h, modalities=("text",), media=(), reason=None, at_ms=n,
    ))  # fmt: skip


def _ms(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=100)
    return f"p50 {qs[49] * 1e3:.3f} ms, p99 {qs[98] * 1e3:.3f} ms"


# -- appends --------------------------------------------------------------------------------------------------------


async def sustained_appends(store: Store, count: int, label: str) -> float:
    await store.open()
    appender = Appender(store, await Frontier.load(store))
    leaves = [(_leaf(n), _key(n, stamped=True)) for n in range(count)]
    start = time.perf_counter()
    futures = []
    for n, (data, key) in enumerate(leaves):  # offered faster than any disk: what is measured is what the log sustains
        futures.append(appender.append(data, key))
        if n % 2000 == 1999:
            await asyncio.sleep(0)
    await appender.flush()
    rate = count / (time.perf_counter() - start)
    assert [f.result() for f in futures] == list(range(count))
    print(f"appends {label}: {rate:,.0f} leaves/s sustained ({count:,} leaves, {appender.committed.batches} commits)")
    await appender.close()
    await store.close()
    return rate


START_MS = 1_795_000_000_000
SMALL_BATCH = 16


def _key(n: int, *, stamped: bool) -> bytes:
    """Leaf n's lookup key as the gateway makes it: two leaves per request (decision, outcome), 2,000 requests a
    second, a random-looking request tag; ``stamped``: the id starts with its milliseconds (as api.context makes
    ids), else the id has no stamp and the key is the tag's prefix (as ids were before)."""
    request = n // 2
    tag = hashlib.sha256(request.to_bytes(8, "big")).hexdigest()
    return request_key(tag, f"req_{START_MS + request // 2:012x}{request:020x}" if stamped else "")


async def small_commits(store: Store, count: int, batch: int, *, stamped: bool, label: str) -> float:
    """``batch`` leaves per commit, as under a gateway's load (about 16 at 2,000 req/s here): what the writer
    spends per leaf (process CPU, the writer thread included), where each commit's dirty pages are written out."""
    await store.open()
    appender = Appender(store, await Frontier.load(store))
    leaves = [(_leaf(n), _key(n, stamped=stamped)) for n in range(count)]
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, count, batch):
        futures = [appender.append(data, key) for data, key in leaves[start : start + batch]]
        await futures[-1]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label}: {count / wall:,.0f} leaves/s, {cpu / count * 1e6:.1f} µs of CPU per leaf")
    await appender.close()
    await store.close()
    return cpu / count


# -- proofs ---------------------------------------------------------------------------------------------------------


async def _fill(store: Store, size: int) -> None:
    await store.open()
    appender = Appender(store, await Frontier.load(store), max_batch=50_000)
    for start in range(await store.size(), size, 50_000):
        await asyncio.gather(*(appender.append(_leaf(n), b"\0" * 16) for n in range(start, min(size, start + 50_000))))
    await appender.close()
    await store.close()


async def _timed(calls: list[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    """Seconds per call, each timed alone (awaiting it if it is a coroutine) so that the tail shows, and results."""
    out, results = [], []
    for call in calls:
        t0 = time.perf_counter()
        if asyncio.iscoroutine(result := call()):
            result = await result
        out.append(time.perf_counter() - t0)
        results.append(result)
    return out, results


async def proofs(make: Callable[[], Store], size: int, label: str, stored: Callable[[], Awaitable[int]]) -> None:
    """Proofs as a restarted gateway serves receipts: the store reopened (its cache loaded), a signed checkpoint,
    each proof timed on its first request (no warm-up), then checked against the signed root."""
    await _fill(make(), size)
    store = make()
    ledger = await Ledger.open(store, SIGNER, interval=3600)  # opens the store (loading its cache), signs `size`
    assert ledger.latest is not None
    signed, vkey, root = ledger.latest, SIGNER.verifier(), ledger.latest[0].root_hash
    rng = random.Random(1)
    ins, olds = rng.sample(range(size), 2000), rng.sample(range(1, size), 1000)
    gen, got = await _timed([partial(ledger.proof, i, signed) for i in ins])
    cgen, shown = await _timed([partial(ledger.consistency, m, size) for m in olds])
    proof, leaf = dict(zip(ins, got, strict=True)), {i: _leaf(i) for i in ins}
    hashed = {i: leaf_hash(leaf[i]) for i in ins}
    cons = {m: (c, await read_root(store, m)) for m, c in zip(olds, shown, strict=True)}
    path, ok = await _timed([partial(verify_inclusion, i, size, hashed[i], proof[i].hashes, root) for i in ins])
    full, _ = await _timed([partial(verify_proof, proof[i].encode(), leaf[i], vkey) for i in ins])  # raises if bad
    cver, cok = await _timed([partial(verify_consistency, m, size, *cons[m], root) for m in olds])
    assert all(ok + cok)
    print(f"proofs {label} at {size:,} leaves: inclusion {_ms(gen)} (verify path {_ms(path)}; tlog-proof with "
          f"signature {_ms(full)}); consistency {_ms(cgen)} (verify {_ms(cver)})")  # fmt: skip
    hashes = 2 * size * 32  # every perfect-subtree hash of the tree, as stored
    print(f"  cache ({label}): {len(store.cache)} tiles, {store.cache.nbytes / 1024:,.0f} KiB in memory "
          f"({store.cache.nbytes / hashes:.2%} of the {hashes / 2**20:,.0f} MiB of tree hashes stored)")  # fmt: skip
    await ledger.close()
    on_disk = await stored()
    print(f"  bytes stored ({label}, leaves of ~{len(_leaf(0))} B): {on_disk / size:,.0f} per leaf, "
          f"{2 * on_disk / size:,.0f} per request (a decision and an outcome leaf)")  # fmt: skip


# -- the gateway, on and off ----------------------------------------------------------------------------------------


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def _load(url: str, rate: float, seconds: float) -> list[float]:
    body = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": "Bearer rg-demo-eu-retailer"}
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            t0 = time.perf_counter()
            async with session.post(f"{url}/chat/completions", json=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - t0)

        tasks, start = [], time.perf_counter()
        for i in range(int(rate * seconds)):  # open loop: a request every 1/rate s whatever the answers do
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies[int(rate) :]  # the first second warms connections and caches


async def gateway_latency(rate: float, seconds: float, delay: float) -> None:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fake_port = _port()
        config = Path(tmp) / "topology.yaml"
        urls = re.compile(r"^    url: http://127\.0\.0\.1:\d+/v1", re.M)
        config.write_text(urls.sub(f"    url: http://127.0.0.1:{fake_port}/v1", EXAMPLE.read_text()))
        fake = await _spawn(["regiongate.backends.fake", "--port", str(fake_port), "--name", "fake"], os.environ)
        try:
            await _up(f"http://127.0.0.1:{fake_port}/health")
            async with aiohttp.ClientSession() as s:
                await s.post(f"http://127.0.0.1:{fake_port}/_fake/behaviour", json={"delay": delay})
            for mode in ("memory", "sqlite", "memory", "sqlite"):  # interleaved: drift hits both alike
                results.setdefault(mode, []).extend(await _one_gateway(Path(tmp), config, mode, rate, seconds / 2))
        finally:
            fake.send_signal(signal.SIGTERM)
            await fake.wait()
            size = _bytes_in(Path(tmp, "data"), "ledger-*")
    off, on = statistics.median(results["memory"]), statistics.median(results["sqlite"])
    print(f"gateway at {rate:.0f} req/s, upstream time to first byte {delay * 1e3:.0f} ms: "
          f"ledger off {_ms(results['memory'])}; ledger on {_ms(results['sqlite'])}; "
          f"added p50 {(on - off) * 1e3:+.3f} ms")  # fmt: skip
    requests = len(results["sqlite"]) + int(rate)
    print(f"bytes stored per request (SQLite file + WAL, 2 leaves + nodes + index): {size / requests:,.0f}")


async def _one_gateway(tmp: Path, config: Path, mode: str, rate: float, seconds: float) -> list[float]:
    port = _port()
    env = {**os.environ, "REGIONGATE_DATA_DIR": str(tmp / "data"), "REGIONGATE_DECISIONS": mode,
           "REGIONGATE_HEALTH_INTERVAL": "3600"}  # fmt: skip
    gw = await _spawn(["regiongate.cli", "serve", "--config", str(config), "--gateway", "gw-fra", "--port", str(port)],
                      env)  # fmt: skip
    try:
        await _up(f"http://127.0.0.1:{port}/healthz")
        return await _load(f"http://127.0.0.1:{port}/v1", rate, seconds)
    finally:
        gw.send_signal(signal.SIGTERM)
        await gw.wait()


async def _spawn(args: list[str], env: Mapping[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _bytes_in(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern))


async def _drop(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.close()


async def _pg_bytes(schema: str) -> int:
    conn = await asyncpg.connect(PG_DSN)
    try:
        sql = "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        return int(await conn.fetchval(sql + " WHERE n.nspname = $1 AND c.relkind = 'r'", schema))
    finally:
        await conn.close()


async def stores(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        appends, proven = Path(tmp) / "a.sqlite3", Path(tmp) / "p.sqlite3"
        if "appends" in args.parts:
            await sustained_appends(SqliteStore(appends), args.appends, "SQLite (WAL, synchronous=FULL)")
            print(f"commits of {SMALL_BATCH} leaves (SQLite), {args.appends:,} leaves into a new log:")
            for stamped, keyed in ((False, "keyed by tag alone"), (True, "keyed by stamped id")):
                path = Path(tmp) / f"s{int(stamped)}.sqlite3"
                await small_commits(SqliteStore(path), args.appends, SMALL_BATCH, stamped=stamped, label=keyed)
        if "proofs" in args.parts:
            on_disk = partial(asyncio.to_thread, _bytes_in, Path(tmp), "p.sqlite3*")
            await proofs(lambda: SqliteStore(proven), args.leaves, "SQLite", on_disk)
    for schema, work in (("ledger_bench_a", "appends"), ("ledger_bench_p", "proofs")):
        if work not in args.parts:
            continue
        await _drop(schema)
        try:
            if work == "appends":
                await sustained_appends(PostgresStore(PG_DSN, schema), args.appends, "PostgreSQL (COPY, commit)")
            else:
                make = partial(PostgresStore, PG_DSN, schema)
                await proofs(make, args.pg_leaves, "PostgreSQL", partial(_pg_bytes, schema))
        finally:
            await _drop(schema)


def _run(main: Coroutine[Any, Any, None], loop: str) -> None:
    import uvloop

    (uvloop.run if loop == "uvloop" else asyncio.run)(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size for the SQLite proof figures")
    parser.add_argument("--pg-leaves", type=int, default=1_000_000, help="tree size for the PostgreSQL proofs")
    parser.add_argument("--appends", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="per mode, split into two interleaved runs")
    parser.add_argument("--delay", type=float, default=0.02, help="the fake upstream's time to first byte (s)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="for the log's parts")
    parser.add_argument("--parts", default="appends,proofs,gateway", help="comma-separated subset to run")
    args = parser.parse_args()
    _run(stores(args), args.loop)
    if "gateway" in args.parts:
        asyncio.run(gateway_latency(args.rate, args.seconds, args.delay))


if __name__ == "__main__":
    main()
