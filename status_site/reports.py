"""``POST /signalements`` (the plain form) and ``POST /api/reports`` (JSON): a professional says a service fails.

No free text, no email, no account: a service, and a symptom from a fixed
list. The visitor's address (through trusted proxies only) and user agent are
read to make a keyed hash and to rate-limit, then forgotten; neither is ever
written. The count goes through the core's writer, like every write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from monitor.keys import InvalidKey, Key
from monitor.rate_limit import RateLimiter
from monitor.reports import SYMPTOMS, ReporterKeys
from status_site import openapi
from status_site.client import client_address
from status_site.keys import CONFIG, CORE
from status_site.subscribe import AppClock, same_origin

MAX_BODY = 4096
VISITOR_LIMIT = (30, 3600.0)  # reports per visitor per hour, whatever the services
# reports waiting for the writer at once: past this, refuse at once (429) rather than queue — when the machine is
# short of CPU, a report answered in a second is worth more than one answered after its sender gave up
IN_FLIGHT = 64
RETRY_AFTER = "5"
STATE = web.AppKey("reports_state", dict)


def add_routes(app: web.Application) -> None:
    clock = AppClock(app)  # the service's clock, once it runs
    app[STATE] = {"keys": ReporterKeys(), "limit": RateLimiter(*VISITOR_LIMIT, clock=clock), "clock": clock,
                  "in_flight": 0}
    app.router.add_post("/api/reports", api_report)
    app.router.add_post("/signalements", form_report)


class Refused(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


async def _count(request: web.Request, service: Any, symptom: Any) -> bool:
    config = request.app[CONFIG]
    if not isinstance(service, str) or not isinstance(symptom, str):
        raise Refused(400, "expected {\"service\": \"operator/service\", \"symptom\": \"…\"}")
    try:
        key = Key.service_of(service)
    except InvalidKey:
        raise Refused(400, "service: expected 'operator/service'") from None
    if key not in set(config.service_keys()):
        raise Refused(404, f"unknown service {service[:100]!r}")
    if symptom not in SYMPTOMS:
        raise Refused(422, f"symptom: one of {', '.join(SYMPTOMS)}")
    state = request.app[STATE]
    visitor = client_address(request)
    if not state["limit"].allow(visitor):
        raise Refused(429, "too many reports from here: try again later")
    if state["in_flight"] >= IN_FLIGHT:
        raise Refused(429, "too many reports being counted right now: try again in a few seconds")
    now = state["clock"].now()
    reporter = state["keys"].key(visitor, request.headers.get("User-Agent", ""), now)
    del visitor  # from here on, only the keyed hash
    state["in_flight"] += 1
    try:
        return bool(await request.app[CORE].command(
            lambda engine: engine.surges.record(str(key), symptom, reporter, now)))
    finally:
        state["in_flight"] -= 1


async def api_report(request: web.Request) -> web.Response:
    if (request.content_length or 0) > MAX_BODY:
        return web.json_response({"error": f"body over {MAX_BODY} bytes"}, status=413)
    try:
        body = json.loads(await request.content.read(MAX_BODY + 1) or b"null")
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "malformed JSON"}, status=400)
    if not isinstance(body, dict) or set(body) - {"service", "symptom"}:
        return web.json_response({"error": "expected {\"service\", \"symptom\"} only"}, status=400)
    try:
        counted = await _count(request, body.get("service"), body.get("symptom"))
    except Refused as exc:
        headers = {"Retry-After": RETRY_AFTER} if exc.status == 429 else None
        return web.json_response({"error": exc.error}, status=exc.status, headers=headers)
    return web.json_response({"counted": counted}, status=202)


async def form_report(request: web.Request) -> web.Response:
    if not same_origin(request):
        raise web.HTTPForbidden(text="Formulaire envoyé depuis un autre site : refusé.")
    if (request.content_length or 0) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length or 0)
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="Formulaire illisible.") from None
    try:
        await _count(request, form.get("service"), form.get("symptom"))
    except Refused as exc:
        words = {429: "Trop de signalements depuis ce réseau, ou en ce moment : réessayez plus tard.",
                 404: "Service inconnu.", 422: "Symptôme inconnu."}
        raise _error(exc.status, words.get(exc.status, "Signalement illisible.")) from None
    operator = Key.service_of(str(form.get("service"))).operator
    raise web.HTTPSeeOther(f"/operators/{operator}?signalement=merci")


def _error(status: int, text: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 422: web.HTTPUnprocessableEntity, 429: web.HTTPTooManyRequests}
    return cls.get(status, web.HTTPBadRequest)(text=text)


@dataclass(frozen=True)
class _ReportDoc(openapi.RouteDoc):
    """``POST /api/reports`` in the OpenAPI document."""

    def operation(self) -> dict[str, Any]:
        def error(description: str) -> dict[str, Any]:
            return {"description": description, "content": {"application/json": {"schema": {"$ref": openapi.REF + "Error"}}}}

        body = {"type": "object", "additionalProperties": False, "required": ["service", "symptom"], "properties": {
            "service": {"type": "string", "pattern": "^[a-z0-9-]+/[a-z0-9-]+$", "examples": ["almerys/pec-optique"]},
            "symptom": {"enum": list(SYMPTOMS)}}}
        accepted = {"type": "object", "required": ["counted"], "properties": {"counted": {
            "type": "boolean", "description": "false when this reporter already reported this service this hour"}}}
        return {
            "summary": self.summary, "tags": list(self.tags), "parameters": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "202": {"description": "Taken", "content": {"application/json": {"schema": accepted}}},
                "400": error("Malformed JSON, a field too many, or a service that is no 'operator/service'"),
                "404": error("Unknown service"),
                "413": error(f"Body over {MAX_BODY} bytes"),
                "422": error("Unknown symptom"),
                "429": error(f"More than {VISITOR_LIMIT[0]} reports from this visitor in an hour, or more than "
                             f"{IN_FLIGHT} reports being counted at once (Retry-After)"),
            },
        }


openapi.register(_ReportDoc("/api/reports", "A professional reports that a service fails (no personal data kept)",
                            method="post", tags=("reports",)))
