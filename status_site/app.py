"""The public site as an aiohttp application: pages, API, feeds, badges, admin API, /healthz, /metrics.

The site is given what it shows; it builds nothing else. ``monitor.service``
wires the service and sets the read port (``SITE``) and the core's narrow port
(``CORE``) on the application before it serves (``status_site.keys``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.config.model import Config
from status_site import admin_api, api, badges, calendar, feeds, pages, reports, subscribe
from status_site.client import TRUSTED, networks
from status_site.keys import CONFIG, CORE, TEMPLATES
from status_site.templating import make_environment

log = logging.getLogger("vigie.site")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# No inline script, no third-party anything. Badges are meant to be embedded elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
BADGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def create_site(config: Config, *, admin_token: str | None = None) -> web.Application:
    """The routes and middlewares; ``admin_token`` None reads ``$VIGIE_ADMIN_TOKEN`` (none: admin API off)."""
    app = web.Application(middlewares=[security_headers, errors])
    app[CONFIG] = config
    app[TRUSTED] = networks(config.site.trusted_proxies)
    app[TEMPLATES] = make_environment(config.site.templates_dir)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for module in (pages, api, feeds, badges, calendar, subscribe, reports):
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


async def healthz(request: web.Request) -> web.Response:
    """200 while probing, judging and storing all work; else 503 with what is wrong."""
    problems = request.app[CORE].problems()
    if not problems:
        return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})
    return web.json_response({"status": "unhealthy", "problems": problems}, status=503, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[CORE].metrics()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
