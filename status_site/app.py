"""The aiohttp application factory: one process serves the site, /healthz and /metrics.

Each resource is one ``cleanup_ctx`` entry (database and engine, then the
scheduler), so a start that fails half-way still tears down what it opened.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator

import jinja2

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from monitor.clock import Clock
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.metrics import Metrics
from alerts.dispatcher import Dispatcher
from monitor.scheduler import Scheduler
from monitor.storage import Store
from status_site import admin_api, api, badges, calendar, feeds, pages, subscribe
from status_site.state import SiteState
from status_site.templating import make_environment

log = logging.getLogger("vigie.site")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", Engine)
SCHEDULER = web.AppKey("scheduler", Scheduler)
ALERTS = web.AppKey("alerts", Dispatcher)
REGISTRY = web.AppKey("registry", CollectorRegistry)
SITE = web.AppKey("site", SiteState)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

# No inline script, no third-party anything. Badges are meant to be embedded elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
BADGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def create_app(
    config: Config,
    db_path: str | Path,
    clock: Clock | None = None,
    *,
    schedule: bool = True,
    on_engine: list | None = None,
    admin_token: str | None = None,
) -> web.Application:
    """Build the whole service. ``schedule=False`` serves stored state without probing (tests).

    ``admin_token`` None reads ``$VIGIE_ADMIN_TOKEN``; without a token the admin API is off.
    """
    app = web.Application(middlewares=[security_headers, errors])
    app[CONFIG] = config
    app[REGISTRY] = CollectorRegistry(auto_describe=True)
    app[TEMPLATES] = make_environment(config.site.templates_dir)

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        store = Store(db_path)
        try:
            engine = Engine(config, store, clock)
            Metrics(app[REGISTRY], engine)
            for listener in on_engine or []:
                engine.listeners.append(listener)
            app[ENGINE] = engine
            app[SITE] = SiteState(engine, engine.clock)
            yield
            engine.close()
        finally:
            store.close()

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        scheduler = Scheduler(app[ENGINE])
        app[SCHEDULER] = scheduler
        app[REGISTRY].register(SchedulerHealth(scheduler))
        if schedule:
            scheduler.start()
        yield
        scheduler.shutdown()

    async def alerts_ctx(app: web.Application) -> AsyncIterator[None]:
        from alerts.registry import start_alerts

        async with start_alerts(app[ENGINE], app[REGISTRY], run=schedule) as dispatcher:
            app[ALERTS] = dispatcher
            yield

    app.cleanup_ctx.append(engine_ctx)
    app.cleanup_ctx.append(alerts_ctx)  # before the scheduler: the router is set before probes run
    app.cleanup_ctx.append(scheduler_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for module in (pages, api, feeds, badges, calendar, subscribe):
        module.add_routes(app)
    admin_api.add_routes(app, admin_token)
    return app


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(request, exc)
        raise
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/badge/"):
        headers.setdefault("Content-Security-Policy", BADGE_CSP)
        headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    else:
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith(("/api/", "/badge/", "/feed.atom", "/healthz")):
        headers.setdefault("Access-Control-Allow-Origin", "*")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404s and 405s in the visitor's language (JSON under /api/); a bug never shows a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if request.path.startswith("/api/"):
            return web.json_response({"error": {"status": exc.status, "message": exc.reason}}, status=exc.status)
        if exc.status in (404, 405):
            return pages.error_page(request, exc.status)
        raise
    except Exception:  # noqa: BLE001
        log.exception("error answering %s", request.path)
        if request.path.startswith("/api/"):
            return web.json_response({"error": {"status": 500, "message": "internal error"}}, status=500)
        return pages.error_page(request, 500)


class SchedulerHealth(Collector):
    """``vigie_scheduler_healthy``: what /healthz says, for Prometheus."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "vigie_scheduler_healthy", "1 while the scheduler is running and beating", value=1.0 if self.scheduler.healthy else 0.0
        )


async def healthz(request: web.Request) -> web.Response:
    """200 while the scheduler is alive and beating, else 503."""
    scheduler = request.app[SCHEDULER]
    if scheduler.healthy:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "stuck"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
