"""The verifiable log, measured: sustained appends (SQLite, PostgreSQL), proofs at 10^6 leaves, bytes per request,
and the gateway's added latency with the log on versus off at a steady 200 req/s.

    .venv/bin/python bench/ledger.py [--leaves 1000000] [--appends 200000] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import asyncpg

from regiongate.ledger.appender import Appender
from regiongate.ledger.checkpoint import Checkpoint, sign_checkpoint
from regiongate.ledger.leaves import DecisionLeaf, encode_leaf
from regiongate.ledger.merkle import leaf_hash, verify_inclusion
from regiongate.ledger.note import generate_key, parse_signer_key
from regiongate.ledger.pg_store import PostgresStore
from regiongate.ledger.proof import TlogProof, verify_proof
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import Frontier, LogStore, read_inclusion, read_root, request_key

PG_DSN = os.environ.get("REGIONGATE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "src" / "regiongate" / "data" / "example-topology.yaml"
ORIGIN = "regiongate/bench"
SIGNER = parse_signer_key(generate_key(ORIGIN)[0])


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


async def sustained_appends(store: LogStore, count: int, label: str) -> float:
    await store.open()
    appender = Appender(store, await Frontier.load(store))
    start = time.perf_counter()
    futures = []
    for n in range(count):  # offered faster than any disk: what is measured is what the log sustains
        futures.append(appender.append(_leaf(n), request_key(f"{n:064x}")))
        if n % 2000 == 1999:
            await asyncio.sleep(0)
    await asyncio.gather(*futures)
    rate = count / (time.perf_counter() - start)
    print(f"appends {label}: {rate:,.0f} leaves/s sustained ({count:,} leaves, {appender.committed.batches} commits)")
    await appender.close()
    await store.close()
    return rate


# -- proofs ---------------------------------------------------------------------------------------------------------


async def proofs(store: LogStore, size: int, label: str, samples: int = 2000) -> None:
    await store.open()
    have = await store.size()
    if have < size:
        appender = Appender(store, await Frontier.load(store), max_batch=50_000)
        for start in range(have, size, 50_000):
            batch = [appender.append(_leaf(n), b"\0" * 16) for n in range(start, min(size, start + 50_000))]
            await asyncio.gather(*batch)
        await appender.close()
    note = sign_checkpoint(Checkpoint(ORIGIN, size, await read_root(store, size)), SIGNER)
    gen, ver, full = [], [], []
    vkey, root = SIGNER.verifier(), await read_root(store, size)
    for index in random.Random(1).sample(range(size), samples):
        t0 = time.perf_counter()
        hashes = await read_inclusion(store, index, size)
        t1 = time.perf_counter()
        assert verify_inclusion(index, size, leaf_hash(_leaf(index)), hashes, root)
        t2 = time.perf_counter()
        verify_proof(TlogProof(index, tuple(hashes), note).encode(), _leaf(index), vkey)
        t3 = time.perf_counter()
        gen.append(t1 - t0)
        ver.append(t2 - t1)
        full.append(t3 - t2)
    print(f"proofs {label} at {size:,} leaves: generate {_ms(gen)}; verify path {_ms(ver)}; "
          f"verify tlog-proof incl. signature {_ms(full)}")  # fmt: skip
    await store.close()


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


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await sustained_appends(SqliteStore(Path(tmp) / "a.sqlite3"), args.appends, "SQLite (WAL, synchronous=FULL)")
        await proofs(SqliteStore(Path(tmp) / "p.sqlite3"), args.leaves, "SQLite")
        size = _bytes_in(Path(tmp), "p.sqlite3*")
        print(f"bytes stored per leaf at {args.leaves:,} leaves (bench leaves of ~{len(_leaf(0))} B): "
              f"{size / args.leaves:,.0f}")  # fmt: skip
    for schema, work in (("ledger_bench_a", "appends"), ("ledger_bench_p", "proofs")):
        await _drop(schema)
        try:
            if work == "appends":
                await sustained_appends(PostgresStore(PG_DSN, schema), args.appends, "PostgreSQL (COPY, commit)")
            else:
                await proofs(PostgresStore(PG_DSN, schema), args.pg_leaves, "PostgreSQL")
        finally:
            await _drop(schema)
    await gateway_latency(args.rate, args.seconds, args.delay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size for the SQLite proof figures")
    parser.add_argument("--pg-leaves", type=int, default=1_000_000, help="tree size for the PostgreSQL proofs")
    parser.add_argument("--appends", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="per mode, split into two interleaved runs")
    parser.add_argument("--delay", type=float, default=0.02, help="the fake upstream's time to first byte (s)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
