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

# CORS (item 16 of issue 12). Everything public and read-only may be read by another site's
# scripts (a widget, an aggregator's dashboard): "*", never with credentials (Vigie sets no
# cookie). Beside them only `POST /api/reports` (JSON, no credentials: a professional's tool
# may report from its own page; the fixed symptom list and the per-client limits guard it as
# they guard same-origin reports). No CORS header at all on the admin API (a bearer token must
# never be usable from a browser page of another origin), on the agents', partners' and push
# APIs (server to server, signed), on `/signalements` and the subscription forms (HTML forms
# of this very site), nor on `/metrics`.
CORS_READ = ("/api/v2/", "/api/openapi.json", "/badge/", "/feed.atom", "/maintenances.ics", "/healthz")
CORS_WRITE = ("/api/reports",)
CORS_REQUEST_HEADERS = "Accept, Accept-Language, Content-Type, If-None-Match, If-Modified-Since"
CORS_EXPOSED = "ETag, Retry-After, Content-Language"
PREFLIGHT_MAX_AGE = "86400"  # seconds: browsers cap it lower anyway


def cors_kind(path: str) -> str | None:
    """'read', 'write' or None (no CORS header): which CORS answer a path gets."""
    if path.startswith(CORS_READ) and not path.startswith("/api/admin/"):
        return "read"
    return "write" if path in CORS_WRITE else None


def create_site(config: Config, *, admin_token: str | None = None) -> web.Application:
    """The routes and middlewares; ``admin_token`` None reads ``$VIGIE_ADMIN_TOKEN`` (none: admin API off)."""
    app = web.Application(middlewares=[security_headers, errors, options])
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
    if cors_kind(request.path) is not None:
        headers.setdefault("Access-Control-Allow-Origin", "*")
        headers.setdefault("Access-Control-Expose-Headers", CORS_EXPOSED)


def _allowed(request: web.Request) -> list[str] | None:
    """The methods the matched resource answers (None: no resource at this path)."""
    failure = getattr(request.match_info, "http_exception", None)
    if isinstance(failure, web.HTTPMethodNotAllowed):
        return sorted(failure.allowed_methods)
    if failure is not None:
        return None
    route = request.match_info.route
    return sorted({r.method for r in route.resource} if route.resource is not None else {route.method})


@web.middleware
async def options(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``OPTIONS`` on any known path: 204 with ``Allow``; a CORS preflight also gets its grant where CORS applies.

    Admin paths are left to the router (405 with ``Allow``, no CORS header): they are not for browsers."""
    if request.method != "OPTIONS" or request.path.startswith("/api/admin/"):
        return await handler(request)
    allowed = _allowed(request)
    if allowed is None:
        return await handler(request)  # the 404 it deserves
    methods = ", ".join(sorted({*allowed, "OPTIONS"}))
    headers = {"Allow": methods, "Cache-Control": "no-store"}
    kind = cors_kind(request.path)
    asked = request.headers.get("Access-Control-Request-Method", "").upper()
    if kind is not None and "Origin" in request.headers and asked:
        grant = [m for m in allowed if m in (("GET", "HEAD") if kind == "read" else ("POST",))]
        if asked in grant:  # otherwise no grant: the browser then refuses the request itself
            headers.update({
                "Access-Control-Allow-Methods": ", ".join(grant),
                "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            })
    return web.Response(status=204, headers=headers)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404s and 405s in the visitor's language (JSON under /api/); a bug never shows a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response: web.StreamResponse
        if request.path.startswith("/api/"):
            response = web.json_response({"error": {"status": exc.status, "message": exc.reason}}, status=exc.status)
        elif exc.status in (404, 405):
            response = pages.error_page(request, exc.status)
        else:
            raise
        if "Allow" in exc.headers:  # a 405 says what the resource does answer (RFC 9110 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
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
