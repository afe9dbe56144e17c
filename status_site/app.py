"""The aiohttp application factory: one process serves the site, /healthz and /metrics.

Each resource is one ``cleanup_ctx`` entry (database and engine, then the
scheduler), so a start that fails half-way still tears down what it opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from monitor.clock import Clock
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.metrics import Metrics
from monitor.scheduler import Scheduler
from monitor.storage import Store

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", Engine)
SCHEDULER = web.AppKey("scheduler", Scheduler)
REGISTRY = web.AppKey("registry", CollectorRegistry)


def create_app(
    config: Config,
    db_path: str | Path,
    clock: Clock | None = None,
    *,
    schedule: bool = True,
    on_engine: list | None = None,
) -> web.Application:
    """Build the whole service. ``schedule=False`` serves stored state without probing (tests)."""
    app = web.Application()
    app[CONFIG] = config
    app[REGISTRY] = CollectorRegistry(auto_describe=True)

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        store = Store(db_path)
        try:
            engine = Engine(config, store, clock)
            Metrics(app[REGISTRY], engine)
            for listener in on_engine or []:
                engine.listeners.append(listener)
            app[ENGINE] = engine
            yield
            engine.close()
        finally:
            store.close()

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        scheduler = Scheduler(app[ENGINE])
        app[SCHEDULER] = scheduler
        if schedule:
            scheduler.start()
        yield
        scheduler.shutdown()

    app.cleanup_ctx.append(engine_ctx)
    app.cleanup_ctx.append(scheduler_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def healthz(request: web.Request) -> web.Response:
    """200 while the scheduler is alive and beating, else 503."""
    scheduler = request.app[SCHEDULER]
    if scheduler.healthy:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "stuck"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
