"""A region's log writer as a process of its own, and its gateways (:mod:`regiongate.ledger.writer`, ``.remote``).

Real processes where it matters: ``regiongate ledger serve`` and ``regiongate serve`` run as subprocesses, reaching
each other over the writer's Unix socket; the fake backends run in the test's process, so what each one received
is counted exactly. What the protocol must guarantee is checked end to end: receipts verify offline with the key
only the writer holds, a killed writer fails every request closed (nothing forwarded) until it is back, a gateway
refuses another log's writer or no writer at all, and the gateways of a region share one log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from regiongate.backends.fake import FakeBackend
from regiongate.ledger.appender import LedgerUnavailable
from regiongate.ledger.checkpoint import open_checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.keys import read_verifier
from regiongate.ledger.leaves import DecisionLeaf, OutcomeLeaf, decode_leaf, tag, tenant_salt
from regiongate.ledger.log import Ledger
from regiongate.ledger.merkle import leaf_hash, root, verify_inclusion
from regiongate.ledger.pg_store import schema_name
from regiongate.ledger.remote import RemoteLedger
from regiongate.ledger.setup import open_region_log, open_writer
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import read_root, request_key
from regiongate.ledger.verify import verify_receipt
from regiongate.ledger.wire import Frame, FrameReader, Kind, ack_frame, frame
from regiongate.ledger.writer import serve_log
from regiongate.settings import LogSettings
from regiongate.topology.loader import parse_topology
from regiongate.topology.records import Topology
from tests.api.conftest import EXAMPLE, KEYS
from tests.ledger.conftest import PG_DSN, URL_LINE, drop_schema, free_port

SALT = "writer-test-salt"
TAG_KEY = bytes(16)
CHAT = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "hello there"}]}


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without any REGIONGATE_* variable it may carry, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("REGIONGATE_")}, **extra}


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "regiongate.cli", *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


async def _exited(proc: subprocess.Popen[bytes], within: float = 10.0) -> int:
    """Its exit status, waiting without blocking the loop (an in-process writer may be serving it)."""
    for _ in range(int(within / 0.02)):
        if proc.poll() is not None:
            return proc.returncode
        await asyncio.sleep(0.02)
    raise AssertionError(f"{proc.args!r} still running after {within} s")


async def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return await _exited(proc)


async def _hello(path: Path) -> str:
    """The verifier key a writer listening on ``path`` greets its gateways with."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        header = await reader.readexactly(5)
        kind, length = header[0], int.from_bytes(header[1:], "little")
        assert kind == Kind.HELLO
        return (await reader.readexactly(length)).decode()
    finally:
        writer.close()
        await writer.wait_closed()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    request_id: str
    receipt: str | None
    backend: str | None

    @property
    def code(self) -> str | None:
        code: str | None = json.loads(self.body)["error"]["code"]
        return code


class World:
    """The example topology with every backend a fake in this process; writers and gateways as processes."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.config = tmp / "topology.yaml"
        self.fakes: dict[str, FakeBackend] = {}
        self.topology: Topology
        self.gateways: dict[str, str] = {}  # gateway id -> base url (…/v1)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.session = aiohttp.ClientSession()

    async def start_fakes(self) -> None:
        text = EXAMPLE.read_text()
        ids = re.findall(r"^  ([a-z0-9-]+):\n    datacenter:", text, flags=re.M)
        self.fakes = {bid: FakeBackend(name=bid) for bid in ids}
        urls = iter([await fake.start("127.0.0.1", 0) for fake in self.fakes.values()])
        text = URL_LINE.sub(lambda _: f"    url: {next(urls)}", text)
        self.config.write_text(text)
        self.topology = parse_topology(text, str(self.config))

    def region_of(self, gateway: str) -> str:
        return self.topology.datacenters[self.topology.gateways[gateway].datacenter].region

    def socket(self, region: str) -> Path:
        return self.tmp / f"{region}.sock"

    def db(self, region: str) -> Path:
        return self.data / f"ledger-{region}.sqlite3"

    def pub(self, region: str) -> Path:
        return self.data / f"ledger-{region}.pub"

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def env(self, region: str, socket_path: Path | None = None) -> dict[str, str]:
        return _env(REGIONGATE_DATA_DIR=str(self.data), REGIONGATE_SALT=SALT, REGIONGATE_HEALTH_INTERVAL="3600",
                    REGIONGATE_CHECKPOINT_INTERVAL="0.05", REGIONGATE_DECISIONS="sqlite",
                    REGIONGATE_LEDGER_SOCKET=str(socket_path or self.socket(region)))  # fmt: skip

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = _spawn(args, env, self.tmp / f"{name}.log")
        self.processes.append(proc)
        return proc

    async def start_writer(self, region: str) -> subprocess.Popen[bytes]:
        """``regiongate ledger serve`` for ``region``, once it greets a gateway (a socket file left by a killed
        writer refuses connections until the new one has replaced it)."""
        args = ["ledger", "serve", "--region", region, "--socket", str(self.socket(region)), "--config",
                str(self.config)]  # fmt: skip
        proc = self.spawn(f"writer-{region}", args, self.env(region))
        for _ in range(200):
            assert proc.poll() is None, f"the writer exited ({proc.returncode}):\n{self.log(f'writer-{region}')}"
            with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
                await _hello(self.socket(region))
                return proc
            await asyncio.sleep(0.05)
        raise AssertionError(f"the writer of {region} never listened:\n{self.log(f'writer-{region}')}")

    def spawn_gateway(self, gateway: str, port: int, socket_path: Path | None = None) -> subprocess.Popen[bytes]:
        args = ["serve", "--config", str(self.config), "--gateway", gateway, "--port", str(port)]
        return self.spawn(gateway, args, self.env(self.region_of(gateway), socket_path))

    async def start_gateway(self, gateway: str) -> subprocess.Popen[bytes]:
        port = free_port()
        proc = self.spawn_gateway(gateway, port)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            assert proc.poll() is None, f"{gateway} exited ({proc.returncode}):\n{self.log(gateway)}"
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.get(f"{url}/healthz") as resp:
                    if resp.status < 500:
                        self.gateways[gateway] = f"{url}/v1"
                        return proc
            await asyncio.sleep(0.05)
        raise AssertionError(f"{gateway} never came up:\n{self.log(gateway)}")

    async def chat(self, gateway: str, tenant: str) -> Answer:
        headers = {"Authorization": f"Bearer {KEYS[tenant]}"}
        async with self.session.post(f"{self.gateways[gateway]}/chat/completions", json=CHAT, headers=headers) as r:
            h = r.headers
            return Answer(r.status, await r.read(), h["x-regiongate-request-id"], h.get("x-regiongate-receipt"),
                          h.get("x-regiongate-backend"))  # fmt: skip

    async def get(self, gateway: str, path: str, tenant: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {KEYS[tenant]}"} if tenant else {}
        async with self.session.get(self.gateways[gateway] + path, headers=headers) as resp:
            return resp.status, await resp.read()

    async def receipt(self, gateway: str, request_id: str, tenant: str) -> bytes:
        """The receipt once its leaves are committed and covered by a checkpoint (202 until then)."""
        for _ in range(50):
            status, body = await self.get(gateway, f"/receipts/{request_id}", tenant)
            if status == 200:
                return body
            assert status == 202, body
            await asyncio.sleep(0.05)
        raise AssertionError(f"no receipt for {request_id}")

    def forwarded(self) -> int:
        return sum(fake.requests for fake in self.fakes.values())

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "regiongate.cli", *args]
        return await asyncio.to_thread(subprocess.run, command, env=_env(), capture_output=True, text=True,
                                       timeout=30, check=False)  # fmt: skip

    def assert_no_traceback(self) -> None:
        for log in self.tmp.glob("*.log"):
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text}"

    async def close(self) -> None:
        for proc in reversed(self.processes):  # gateways before their writer
            if proc.poll() is None:
                proc.kill()
            await _exited(proc)
        await self.session.close()
        for fake in self.fakes.values():
            await fake.stop()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path)
    try:
        await w.start_fakes()
        yield w
    finally:
        await w.close()


@contextlib.asynccontextmanager
async def serving(data: Path, region: str, path: Path) -> AsyncIterator[Ledger]:
    """A region's writer in this process (as :func:`run_writer` runs it), listening on ``path``."""
    ledger = await open_writer(LogSettings(data_dir=data, checkpoint_interval=0.05), region)
    ready = asyncio.Event()
    task = asyncio.create_task(serve_log(ledger, path, ready=ready))
    try:
        async with asyncio.timeout(5):
            await ready.wait()
        yield ledger
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


Behave = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def peer(path: Path, behave: Behave) -> AsyncIterator[None]:
    """Something other than a writer listening on ``path``; each of its connections is over (closed) on exit."""
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            with contextlib.suppress(ConnectionError):
                await behave(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_unix_server(handle, str(path))
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        async with asyncio.timeout(5):
            await asyncio.gather(*handlers)


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    pass


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\xff" * 16)  # an unknown frame kind
    await reader.read()  # until the gateway hangs up


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


# -- one gateway, one writer --------------------------------------------------------------------------------------


async def test_answers_through_a_writer_process_have_receipts_that_verify_offline(world: World, tmp_path: Path) -> None:
    await world.start_writer("eu-west")
    await world.start_gateway("gw-par")
    answers = await asyncio.gather(*(world.chat("gw-par", "eu-ministry") for _ in range(20)))
    assert [a.status for a in answers] == [200] * 20, [a.body for a in answers if a.status != 200]
    assert world.forwarded() == 20
    pub = world.pub("eu-west")
    assert await world.get("gw-par", "/ledger/key") == (200, pub.read_bytes())  # the key the writer greeted with

    first = answers[0]
    assert first.receipt == first.request_id
    receipt = await world.receipt("gw-par", first.request_id, "eu-ministry")
    (tmp_path / "receipt.json").write_bytes(receipt)
    (tmp_path / "body").write_bytes(first.body)
    verify = await world.cli("verify", str(tmp_path / "receipt.json"), "--key", str(pub), "--body",
                             str(tmp_path / "body"))  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "the body given is exactly the output logged" in verify.stdout

    verifier = read_verifier(str(pub))
    indices: set[int] = set()
    for answer in answers:
        verified = verify_receipt(await world.receipt("gw-par", answer.request_id, "eu-ministry"), verifier)
        assert verified.checkpoint.origin == "regiongate/eu-west"
        decision, outcome = (leaf for _, leaf in verified.leaves)
        assert isinstance(decision, DecisionLeaf)
        assert isinstance(outcome, OutcomeLeaf)
        assert (decision.region, decision.gateway, decision.backend) == ("eu-west", "gw-par", answer.backend)
        assert outcome.status == 200
        indices |= {index for index, _ in verified.leaves}
    assert indices == set(range(40))  # one log, every leaf of the 20 requests once (a decision and an outcome each)
    world.assert_no_traceback()


async def test_killed_writer_fails_requests_closed_until_it_is_back(world: World) -> None:
    tenant = "eu-ministry"
    writer = await world.start_writer("eu-west")
    gateway = await world.start_gateway("gw-par")
    before = await world.chat("gw-par", tenant)
    assert before.status == 200
    await world.receipt("gw-par", before.request_id, tenant)

    writer.kill()  # SIGKILL: no last checkpoint, no goodbye on the socket
    await _exited(writer)
    refused = await world.chat("gw-par", tenant)
    assert (refused.status, refused.code) == (503, "ledger_unavailable"), refused.body
    for fake in world.fakes.values():
        fake.reset()
    for _ in range(3):  # the gateway knows now: nothing goes to a backend without a decision stored first
        again = await world.chat("gw-par", tenant)
        assert (again.status, again.code) == (503, "ledger_unavailable"), again.body
    assert world.forwarded() == 0

    db, pub = world.db("eu-west"), world.pub("eu-west")
    check = await world.cli("ledger", "check", "--db", str(db), "--key", str(pub))
    assert check.returncode == 0, check.stdout + check.stderr  # the log as the kill left it recomputes

    writer = await world.start_writer("eu-west")  # the same socket and data directory
    start = time.monotonic()
    while (after := await world.chat("gw-par", tenant)).status != 200:
        assert (after.status, after.code) == (503, "ledger_unavailable"), after.body
        assert time.monotonic() - start < 5, "the gateway did not reach the restarted writer"
        await asyncio.sleep(0.1)
    assert world.forwarded() == 1  # the one answered request, not the refused ones

    verifier = read_verifier(str(pub))
    old = verify_receipt(await world.receipt("gw-par", before.request_id, tenant), verifier)
    new = verify_receipt(await world.receipt("gw-par", after.request_id, tenant), verifier)
    assert [index for index, _ in old.leaves] == [0, 1]  # still proved after the kill, under the same key
    assert [index for index, _ in new.leaves] == [2, 3]  # the same log, carried on: refused requests left no leaf

    assert await _stop(gateway) == 0  # SIGTERM: the gateway, then the writer, stop cleanly
    assert await _stop(writer) == 0
    check = await world.cli("ledger", "check", "--db", str(db), "--key", str(pub))
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("OK:")
    world.assert_no_traceback()


# -- what a gateway refuses to start with -------------------------------------------------------------------------


async def test_gateway_refuses_the_writer_of_another_log(world: World, tmp_path: Path) -> None:
    path = tmp_path / "eu-central.sock"
    async with serving(world.data, "eu-central", path) as ledger:
        store = SqliteStore(world.db("eu-central"), writer=False)
        with pytest.raises(LedgerError) as refused:
            await RemoteLedger.connect(path, store, origin="regiongate/eu-west")
        assert not isinstance(refused.value, LedgerUnavailable)  # not transient: the wrong writer, not a slow one
        assert "'regiongate/eu-central'" in str(refused.value)
        assert "'regiongate/eu-west'" in str(refused.value)

        # The same, as a gateway process of another region started on that writer's socket.
        gateway = world.spawn_gateway("gw-par", free_port(), socket_path=path)
        assert await _exited(gateway) != 0
        told = world.log("gw-par")
        assert "regiongate/eu-central" in told
        assert "regiongate/eu-west" in told

        # The writer still serves its own log's gateways.
        remote = await RemoteLedger.connect(path, SqliteStore(world.db("eu-central"), writer=False),
                                            origin="regiongate/eu-central")  # fmt: skip
        try:
            assert await remote.append(b"a leaf", TAG_KEY) == 0
            assert await remote.flush() == 1
        finally:
            await remote.close()
        assert ledger.appender.committed.size == 1


async def _refused_fast(settings: LogSettings) -> LedgerUnavailable:
    start = time.monotonic()
    with pytest.raises(LedgerUnavailable) as refused:
        await open_region_log(settings, "eu-west")
    assert time.monotonic() - start < 2
    assert (refused.value.status, refused.value.code) == (503, "ledger_unavailable")
    return refused.value


async def test_gateway_without_a_writer_fails_to_start(world: World, tmp_path: Path) -> None:
    path = tmp_path / "eu-west.sock"
    settings = LogSettings(data_dir=world.data, ledger_socket=str(path))
    assert "cannot reach the region's log writer" in str(await _refused_fast(settings))  # no socket file

    with socket.socket(socket.AF_UNIX) as dead:  # a socket file nobody listens on (a writer that died)
        dead.bind(str(path))
    assert path.exists()
    assert "cannot reach the region's log writer" in str(await _refused_fast(settings))

    gateway = world.spawn_gateway("gw-par", free_port(), socket_path=path)
    assert await _exited(gateway) != 0
    assert f"cannot reach the region's log writer at {path}" in world.log("gw-par")


async def test_gateway_refuses_a_peer_that_is_not_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "eu-west.sock"
    settings = LogSettings(data_dir=tmp_path, ledger_socket=str(path))

    for behave in (_close_at_once, _garbage):
        async with peer(path, behave):
            assert "before its HELLO" in str(await _refused_fast(settings))


async def test_gateway_gives_up_on_a_writer_that_never_speaks(tmp_path: Path) -> None:
    path = tmp_path / "eu-west.sock"
    async with peer(path, _silent):
        start = time.monotonic()
        with pytest.raises(LedgerUnavailable, match="cannot reach the region's log writer"):
            await open_region_log(LogSettings(data_dir=tmp_path, ledger_socket=str(path)), "eu-west")
        assert 4 < time.monotonic() - start < 8  # bounded (5 s), not a hang


async def test_gateway_cli_without_a_writer_says_why_without_a_traceback(world: World, tmp_path: Path) -> None:
    gateway = world.spawn_gateway("gw-par", free_port(), socket_path=tmp_path / "nobody.sock")
    assert await _exited(gateway) != 0
    told = world.log("gw-par")
    assert "cannot reach the region's log writer" in told
    assert "Traceback" not in told


async def test_reconnects_only_to_a_writer_with_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "eu-west.sock"
    first, other = tmp_path / "first", tmp_path / "other"
    async with serving(first, "eu-west", path):
        remote = await RemoteLedger.connect(path, SqliteStore(first / "ledger-eu-west.sqlite3", writer=False),
                                            origin="regiongate/eu-west", retry=0.05)  # fmt: skip
        assert await remote.append(b"before", TAG_KEY) == 0
    try:
        async with asyncio.timeout(2):
            await remote.unreachable.wait()
        async with serving(other, "eu-west", path):  # same origin, another key: another log
            await asyncio.sleep(0.5)  # ten retries
            assert not remote.connected
            with pytest.raises(LedgerUnavailable):
                remote.append(b"refused", TAG_KEY)
        async with serving(first, "eu-west", path):
            for _ in range(100):
                if remote.connected:
                    break
                await asyncio.sleep(0.02)
            assert remote.connected
            assert await remote.append(b"after", TAG_KEY) == 1  # the same log, carried on
    finally:
        await remote.close()


async def _a_log(data: Path) -> str:
    """An empty eu-west log in ``data`` (for the gateway's read-only store); its verifier key."""
    ledger = await open_writer(LogSettings(data_dir=data), "eu-west")
    await ledger.close()
    return ledger.verifier.vkey


async def _leaves(reader: asyncio.StreamReader, count: int) -> list[Frame]:
    frames, received = FrameReader(), list[Frame]()
    while len(received) < count:
        data = await reader.read(1 << 16)
        assert data, "the gateway hung up"
        received += frames.feed(data)
    return received


async def test_leaves_in_doubt_when_the_writer_goes_fail_closed(tmp_path: Path) -> None:
    vkey = await _a_log(tmp_path)
    gone = asyncio.Event()

    async def acks_two_then_dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(Kind.HELLO, vkey.encode()))
        assert {f.kind for f in await _leaves(reader, 5)} == {Kind.LEAF}
        writer.write(ack_frame(0, 2))  # the first two are committed; the writer dies before the others are
        await gone.wait()

    path = tmp_path / "eu-west.sock"
    async with peer(path, acks_two_then_dies):
        store = SqliteStore(tmp_path / "ledger-eu-west.sqlite3", writer=False)
        remote = await RemoteLedger.connect(path, store, origin="regiongate/eu-west", retry=5)
        try:
            futures = [remote.append(f"leaf {i}".encode(), TAG_KEY) for i in range(5)]
            assert [await future for future in futures[:2]] == [0, 1]
            flushing = asyncio.ensure_future(remote.flush())
            await asyncio.sleep(0.05)
            assert not flushing.done()
            gone.set()
            for future in futures[2:]:
                with pytest.raises(LedgerUnavailable):
                    await future
            with pytest.raises(LedgerUnavailable):
                await flushing
            assert remote.unreachable.is_set()
            with pytest.raises(LedgerUnavailable):  # and refused at once, until a writer is back
                remote.append(b"next", TAG_KEY)
        finally:
            await remote.close()


async def test_a_writer_acknowledging_leaves_never_sent_is_dropped(tmp_path: Path) -> None:
    vkey = await _a_log(tmp_path)

    async def acks_too_much(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(Kind.HELLO, vkey.encode()))
        await _leaves(reader, 1)
        writer.write(ack_frame(0, 3))
        await reader.read()  # until the gateway hangs up

    path = tmp_path / "eu-west.sock"
    async with peer(path, acks_too_much):
        store = SqliteStore(tmp_path / "ledger-eu-west.sqlite3", writer=False)
        remote = await RemoteLedger.connect(path, store, origin="regiongate/eu-west", retry=5)
        try:
            with pytest.raises(LedgerUnavailable):  # in doubt: the writer's word is worth nothing now
                await remote.append(b"one leaf", TAG_KEY)
            assert remote.unreachable.is_set()
        finally:
            await remote.close()


async def test_writer_lost_between_hello_and_attach_is_noticed(tmp_path: Path) -> None:
    vkey = await _a_log(tmp_path)

    async def hello_then_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(Kind.HELLO, vkey.encode()))  # a writer that dies right after greeting

    path = tmp_path / "eu-west.sock"
    async with peer(path, hello_then_gone):
        store = SqliteStore(tmp_path / "ledger-eu-west.sqlite3", writer=False)
        try:
            remote = await RemoteLedger.connect(path, store, origin="regiongate/eu-west", retry=5)
        except LedgerUnavailable:
            return
        try:
            async with asyncio.timeout(2):
                await remote.unreachable.wait()  # else appends wait forever on a dead connection
            with pytest.raises(LedgerUnavailable):
                remote.append(b"leaf", TAG_KEY)
        finally:
            await remote.close()


# -- two gateways, one writer -------------------------------------------------------------------------------------


async def test_two_gateways_share_one_writer_and_one_log(world: World) -> None:
    assert world.region_of("gw-fra") == world.region_of("gw-fra3") == "eu-central"
    writer = await world.start_writer("eu-central")
    gateways = await asyncio.gather(world.start_gateway("gw-fra"), world.start_gateway("gw-fra3"))
    tenant, each = "eu-retailer", 10
    answers = await asyncio.gather(*(world.chat(gw, tenant) for gw in ("gw-fra", "gw-fra3") for _ in range(each)))
    assert [a.status for a in answers] == [200] * 2 * each, [a.body for a in answers if a.status != 200]
    served = {a.request_id: gw for a, gw in zip(answers, ["gw-fra"] * each + ["gw-fra3"] * each, strict=True)}

    leaves = 2 * len(answers)  # a decision and an outcome per request
    for _ in range(100):  # both gateways are told of every checkpoint the writer seals
        notes = [(await world.get(gw, "/ledger/checkpoint"))[1].decode() for gw in ("gw-fra", "gw-fra3")]
        checkpoint, _ = open_checkpoint(notes[0], [read_verifier(str(world.pub("eu-central")))])
        if notes[0] == notes[1] and checkpoint.size == leaves:
            break
        await asyncio.sleep(0.05)
    assert notes[0] == notes[1]
    assert (checkpoint.origin, checkpoint.size) == ("regiongate/eu-central", leaves)

    store = SqliteStore(world.db("eu-central"), writer=False)
    await store.open()
    try:
        assert await store.size() == leaves
        assert await read_root(store, leaves) == checkpoint.root_hash  # one tree, the one both gateways serve
        logged = [decode_leaf(data) for _, data in await store.leaves(0, leaves)]
        salt = tenant_salt(SALT.encode(), tenant)
        for request_id, gateway in served.items():
            wanted = tag(salt, "request", request_id)
            found = [decode_leaf(d) for i in await store.find(request_key(wanted, request_id))
                     for _, d in await store.leaves(i, i + 1)]  # fmt: skip
            mine = [leaf for leaf in found if leaf.request == wanted]
            assert sorted(type(leaf).__name__ for leaf in mine) == ["DecisionLeaf", "OutcomeLeaf"]
            assert {leaf.gateway for leaf in mine} == {gateway}
    finally:
        await store.close()
    assert {leaf.gateway for leaf in logged} == {"gw-fra", "gw-fra3"}

    # One log: either gateway of the region finds the receipt of a request the other one served.
    crossed = next(rid for rid, gw in served.items() if gw == "gw-fra3")
    verified = verify_receipt(
        await world.receipt("gw-fra", crossed, tenant), read_verifier(str(world.pub("eu-central")))
    )
    assert {leaf.gateway for _, leaf in verified.leaves} == {"gw-fra3"}

    for proc in [*gateways, writer]:
        assert await _stop(proc) == 0
    check = await world.cli("ledger", "check", "--db", str(world.db("eu-central")), "--key",
                            str(world.pub("eu-central")))  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    world.assert_no_traceback()


# -- on PostgreSQL --------------------------------------------------------------------------------------------------


async def test_a_writer_on_postgresql_serves_gateways_reading_it_read_only(tmp_path: Path) -> None:
    """The writer appends to its schema; the gateway's handle reads the same schema without the writer's lock, and
    what it serves (entries, proofs against the pushed checkpoint) is what the writer committed."""
    log = f"test_{os.urandom(5).hex()}"
    settings = LogSettings(data_dir=tmp_path, decisions="postgres", ledger_dsn=PG_DSN, ledger_log=log,
                           checkpoint_interval=0.05, ledger_socket=str(tmp_path / "pg.sock"))  # fmt: skip
    writer = await open_writer(settings, "eu-west")
    ready = asyncio.Event()
    serving = asyncio.create_task(serve_log(writer, Path(settings.ledger_socket), ready=ready))
    try:
        await ready.wait()
        remote = await open_region_log(settings, "eu-west")
        assert isinstance(remote, RemoteLedger)
        try:
            indices = await asyncio.gather(*(remote.append(f"leaf {i}".encode(), TAG_KEY) for i in range(3)))
            assert indices == [0, 1, 2]
            signed = await remote.wait_sealed(2, patience=5.0)
            assert signed is not None
            assert signed[0].size == 3
            assert [data for _, data in await remote.entries(TAG_KEY)] == [b"leaf 0", b"leaf 1", b"leaf 2"]
            checkpoint = signed[0]
            assert checkpoint.root_hash == root([f"leaf {i}".encode() for i in range(3)])
            proof = await remote.proof(1, signed)
            assert verify_inclusion(1, 3, leaf_hash(b"leaf 1"), proof.hashes, checkpoint.root_hash)
        finally:
            await remote.close()
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await drop_schema(schema_name(log))
