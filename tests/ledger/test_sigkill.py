"""SIGKILL under load loses no decision of any request whose client received a byte.

A real ``regiongate serve`` process (SQLite log) in front of a real fake-backend process; concurrent streaming
clients note every request id whose response headers arrived; the gateway is killed mid-load; then the log on
disk must hold a decision leaf for each of them, and still recompute cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from regiongate.cli import main
from regiongate.ledger.keys import load_or_create_signer
from regiongate.ledger.leaves import DecisionLeaf, decode_leaf, tag, tenant_salt
from regiongate.ledger.log import Ledger
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import request_key
from tests.api.conftest import EXAMPLE, KEYS
from tests.ledger.conftest import URL_LINE, free_port

SALT = "sigkill-test-salt"
TENANT = "eu-retailer"  # many compliant backends: load spreads over the whole fake


async def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            assert proc.poll() is None, "process exited at start"
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never came up")


async def _client(url: str, seen: list[str], stop: asyncio.Event) -> None:
    body = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True}
    headers = {"Authorization": f"Bearer {KEYS[TENANT]}"}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.post(f"{url}/chat/completions", json=body, headers=headers) as resp:
                    seen.append(resp.headers["x-regiongate-request-id"])  # bytes reached the client
                    await resp.read()
            except (aiohttp.ClientError, KeyError):
                await asyncio.sleep(0.01)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


async def test_sigkill_under_load_loses_no_decision(tmp_path: Path) -> None:
    fake_port, gw_port = free_port(), free_port()
    config = tmp_path / "topology.yaml"
    config.write_text(URL_LINE.sub(f"    url: http://127.0.0.1:{fake_port}/v1", EXAMPLE.read_text()))
    env = {**os.environ, "REGIONGATE_DATA_DIR": str(tmp_path / "data"), "REGIONGATE_SALT": SALT,
           "REGIONGATE_HEALTH_INTERVAL": "3600"}  # fmt: skip
    fake = _spawn(["regiongate.backends.fake", "--port", str(fake_port), "--name", "fake"], env)
    gateway = _spawn(["regiongate.cli", "serve", "--config", str(config), "--gateway", "gw-fra",
                      "--port", str(gw_port)], env)  # fmt: skip
    try:
        await _wait_up(f"http://127.0.0.1:{fake_port}/health", fake)
        async with aiohttp.ClientSession() as session:  # slow streams: many requests in flight at the kill
            await session.post(f"http://127.0.0.1:{fake_port}/_fake/behaviour", json={"chunk_delay": 0.02})
        url = f"http://127.0.0.1:{gw_port}/v1"
        await _wait_up(f"{url[:-3]}/healthz", gateway)
        seen: list[str] = []
        stop = asyncio.Event()
        clients = [asyncio.create_task(_client(url, seen, stop)) for _ in range(32)]
        for _ in range(80):  # at least ~2 s of load and 150 answered requests (a slow CI box gets up to 8 s)
            await asyncio.sleep(0.1)
            if len(seen) >= 150 and _ >= 20:
                break
        gateway.send_signal(signal.SIGKILL)
        gateway.wait()
        stop.set()
        await asyncio.gather(*clients)
    finally:
        for proc in (gateway, fake):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(seen) >= 50, "not enough load to mean anything"
    await _assert_logged(tmp_path / "data", seen)


async def _assert_logged(data: Path, seen: list[str]) -> None:
    db = data / "ledger-eu-central.sqlite3"
    salt = tenant_salt(SALT.encode(), TENANT)
    store = SqliteStore(db, writer=False)
    await store.open()
    try:
        missing = []
        for request_id in seen:
            wanted = tag(salt, "request", request_id)
            rows = [await store.leaves(i, i + 1) for i in await store.find(request_key(wanted, request_id))]
            leaves = [decode_leaf(d) for found in rows for _, d in found]
            if not any(isinstance(x, DecisionLeaf) and x.request == wanted for x in leaves):
                missing.append(request_id)
    finally:
        await store.close()
    assert not missing, f"{len(missing)} of {len(seen)} answered requests lost their decision leaf"
    key = data / "ledger-eu-central.key"
    check = ["ledger", "check", "--db", str(db), "--key", str(key.with_suffix(".pub"))]
    assert await asyncio.to_thread(main, check) == 0  # killed mid-commit or not, the log recomputes
    ledger = await Ledger.open(SqliteStore(db), load_or_create_signer(key, "regiongate/eu-central"))
    await ledger.close()  # a restart after the kill opens cleanly and carries on
