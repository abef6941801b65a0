"""The floor regiongate is measured against: aiohttp server → pooled aiohttp client → one upstream, bodies relayed
(SSE streamed through as it comes), no auth, policy, routing or ledger. ``--port P --upstream http://127.0.0.1:U``"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)


async def relay(request: web.Request) -> web.StreamResponse:
    body, headers = await request.read(), {"Content-Type": request.content_type}
    async with request.app[SESSION].request(request.method, request.path_qs, data=body, headers=headers) as up:
        if up.content_type != "text/event-stream":
            return web.Response(status=up.status, body=await up.read(), content_type=up.content_type)
        response = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        async for chunk in up.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


def build(upstream: str) -> web.Application:
    async def session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(upstream, connector=aiohttp.TCPConnector(limit=0)) as client:
            app[SESSION] = client
            yield

    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", relay)
    return app


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT (no path)")
    args = cli.parse_args()
    app, loop, ready = build(args.upstream), uvloop.new_event_loop(), f"passthrough listening on :{args.port}"
    web.run_app(
        app, host="127.0.0.1", port=args.port, access_log=None, loop=loop, print=lambda _: print(ready, flush=True)
    )
