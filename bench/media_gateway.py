"""Added latency of the gateway's media step: 1 MB base64 JPEGs at a fixed rate, through the gateway vs direct.

Run from the repository root: ``.venv/bin/python bench/media_gateway.py [--rate 20] [--seconds 20]
[--profile passthrough --dialect openai] [--workers 2] [--pool process] [--tasks-per-child 200]``.

Three processes: a fake backend (``regiongate.backends.fake``), a gateway (the real app and runtime, decisions kept
in memory so the log's fsync is not counted; one tenant, one backend declaring the given media profile and dialect),
and this one, an open-loop client: request *i* is sent at ``t0 + i/rate`` whatever happened to the others, and its
latency runs from that scheduled time to the last byte of the answer. The same requests are sent straight to the fake
(the floor) and through the gateway; the difference of the percentiles is what the gateway adds: authentication,
planning, the media step (decode and validate the JPEG in a worker, re-encode the part, the salted digest) and the
extra hop. Every answer must be a 200, and every image part the backend received must be a decodable JPEG.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import io
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import msgspec
import uvloop
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.media.corpus, run as a script

from tests.media import corpus

from regiongate.api.app import serve
from regiongate.api.runtime import Runtime
from regiongate.ledger.decisions import MemorySink
from regiongate.settings import MediaSettings, ServeSettings
from regiongate.topology.loader import parse_topology

KEY = "rg-bench-key"
TOPOLOGY = """\
version: 1
organisations:
  op: {{name: Op SAS, country: FR, hq: FR}}
datacenters:
  dc: {{region: eu-west, country: FR, city: Paris, facility_operator: op, service_operator: op}}
backends:
  b:
    datacenter: dc
    engine: openai
    url: http://127.0.0.1:{backend}/v1
    accelerator: {{vendor: nvidia, model: H100, count: 1}}
    capacity: 1
    media_profile: {profile}
    dialect: {dialect}
    models:
      qwen3-omni: {{input: [text, image], output: [text]}}
gateways:
  gw: {{datacenter: dc, url: http://127.0.0.1:{gateway}/v1}}
tenants:
  t:
    keys: ["sha256:{key}"]
    policy: {{processing_in: EU}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_gateway(text: str, port: int, media: MediaSettings) -> None:
    topology = parse_topology(text, "bench-topology.yaml")
    settings = ServeSettings(
        topology=Path("bench-topology.yaml"), gateway="gw", port=port, salt=b"bench", decisions="memory", media=media
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(Runtime(settings, topology, MemorySink()), "127.0.0.1", port))


def request_body(jpeg: bytes, n: int) -> bytes:
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    content = [
        {"type": "text", "text": f"request {n}: what is in this picture?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    messages = [{"role": "user", "content": content}]
    return msgspec.json.encode({"model": "qwen3-omni", "messages": messages, "max_tokens": 8})


async def wait_ready(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up")
            await asyncio.sleep(0.1)


async def open_loop(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], dict[int, int]]:
    """Latencies in ms of the 200s, from each request's scheduled send time, and the count of every status."""
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(i: int, start: float) -> tuple[int, float]:
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            async with http.post(url, data=io.BytesIO(bodies[i]), headers=headers) as r:
                await r.read()
            return r.status, (time.perf_counter() - start) * 1000

        t0 = time.perf_counter() + 0.2
        results = await asyncio.gather(*(one(i, t0 + i / rate) for i in range(len(bodies))))
        statuses: dict[int, int] = {}
        for status, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        return [ms for status, ms in results if status == 200], statuses


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p90": q[89], "p99": q[98], "max": max(values)}


async def check_received(fake: str) -> None:
    """The last image part the backend received decodes (the gateway sent a real image, in the dialect's form)."""
    async with aiohttp.ClientSession() as http, http.get(fake + "/_fake/stats") as r:
        stats = await r.json()
    header, _, payload = stats["last_body"]["messages"][0]["content"][1]["image_url"]["url"].partition(",")
    image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    image.load()
    print(f"the backend received {header},…: a {image.format} of {image.width}x{image.height}")


async def measure(args: argparse.Namespace, backend: int, gateway: int) -> None:
    jpeg = corpus.image_bytes("JPEG", 1700, 1275, quality=85)  # 0.97 MB
    count = round(args.rate * args.seconds)
    bodies = [request_body(jpeg, n) for n in range(count)]
    warm = bodies[: max(10, round(args.rate))]
    print(f"{len(jpeg) / 1e6:.2f} MB JPEG (1700x1275), {len(bodies[0]) / 1e6:.2f} MB request body, "
          f"{count} requests at {args.rate:g}/s, open loop; profile {args.profile}, dialect {args.dialect}, "
          f"{args.workers} {args.pool} worker(s), replaced every {args.tasks_per_child} jobs")  # fmt: skip
    await wait_ready(f"http://127.0.0.1:{backend}/health")
    await wait_ready(f"http://127.0.0.1:{gateway}/healthz")
    results = {}
    for name, url in (("direct", f"http://127.0.0.1:{backend}"), ("gateway", f"http://127.0.0.1:{gateway}")):
        await open_loop(url + "/v1/chat/completions", warm, args.rate)  # connections, worker processes
        latencies, statuses = await open_loop(url + "/v1/chat/completions", bodies, args.rate)
        print(f"{name}: statuses {dict(sorted(statuses.items()))}")
        results[name] = percentiles(latencies)
    await check_received(f"http://127.0.0.1:{backend}")
    print(f"{'':10}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}  (ms)")
    for name, row in results.items():
        print(f"{name:10}" + "".join(f"{row[k]:9.1f}" for k in ("p50", "p90", "p99", "max")))
    added = {k: results["gateway"][k] - results["direct"][k] for k in ("p50", "p90", "p99")}
    print(f"{'added':10}" + "".join(f"{added[k]:9.1f}" for k in ("p50", "p90", "p99")))
    verdict = "meets" if added["p50"] <= 30 else "MISSES"
    print(f"added p50 {added['p50']:.1f} ms {verdict} the 30 ms target for a 1 MB image")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--rate", type=float, default=20.0)
    cli.add_argument("--seconds", type=float, default=20.0)
    cli.add_argument("--profile", default="passthrough")
    cli.add_argument("--dialect", default="openai")
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--pool", choices=("process", "thread"), default="process")
    cli.add_argument("--tasks-per-child", type=int, default=MediaSettings().tasks_per_child)
    args = cli.parse_args()
    backend, gateway = free_port(), free_port()
    fake = subprocess.Popen([sys.executable, "-m", "regiongate.backends.fake", "--port", str(backend), "--name", "b"])
    key = hashlib.sha256(KEY.encode()).hexdigest()
    text = TOPOLOGY.format(backend=backend, gateway=gateway, profile=args.profile, dialect=args.dialect, key=key)
    media = MediaSettings(  # queue: the default 16
        workers=args.workers, processes=args.pool == "process", tasks_per_child=args.tasks_per_child
    )
    process = multiprocessing.get_context("spawn").Process(target=run_gateway, args=(text, gateway, media))
    process.start()
    try:
        uvloop.run(measure(args, backend, gateway))
    finally:
        if process.pid is not None:  # SIGINT: the gateway shuts down cleanly, its worker pool with it
            os.kill(process.pid, signal.SIGINT)
        process.join(10)
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
