"""The aiohttp application: routes, middleware and the runtime's life cycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from regiongate.api.errors import error_middleware
from regiongate.api.proxy import RUNTIME, chat_completions, embeddings, healthz, list_models
from regiongate.api.runtime import Runtime
from regiongate.ledger.http import ledger_routes
from regiongate.topology.records import Tenant

log = logging.getLogger("regiongate.api")


def build_app(runtime: Runtime, *, start_background: bool = True) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=runtime.settings.max_body_bytes)
    app[RUNTIME] = runtime
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/healthz", healthz)
    if runtime.ledger is not None:

        def identify(authorization: str | None) -> tuple[str, bytes]:
            tenant: Tenant = runtime.keys.authenticate(authorization)
            return tenant.id, runtime.recording.tenant_salt(tenant)

        app.add_routes(ledger_routes(runtime.ledger, identify, wait=runtime.settings.receipt_wait))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        runtime.start(background=start_background)
        yield
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def serve(runtime: Runtime, host: str, port: int, *, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled."""
    app = build_app(runtime)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=1024)
    await site.start()
    log.info("gateway %s listening on http://%s:%d/v1", runtime.gateway.id, host, port)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
