"""The admin API under /api/admin/: incidents, their updates and ETAs, maintenance windows.

Every route needs ``Authorization: Bearer <token>``, the token read from
``$VIGIE_ADMIN_TOKEN`` when the app is built and compared in constant time.
With no token configured the admin API is off: every ``/api/admin/*`` path
answers 404 (with a JSON message saying why), as if it did not exist.

Routes are thin: a pydantic model checks the body's shape, `monitor.admin`
checks it against the config and the current state and writes (or raises
`AdminError` and writes nothing), and emits the engine events that make the
public site render again. Each action runs on the service's writer thread
(``Core.command``), reads of the admin lists there too, so what it answers is
what it just wrote. Errors are
``{"error": {"status", "message", "details"?}}``; never a 5xx for bad input.
The routes' part of the OpenAPI document is built in `status_site.admin_openapi`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor import admin
from monitor.admin import AdminError
from monitor.client import parse_time
from monitor.config.model import Config
from monitor.statuses import INCIDENT_STATUSES, OPEN_INCIDENT_STATUSES, IncidentStatus, literal
from monitor.storage import EtaRecord, Incident, Maintenance
from monitor.words import iso
from status_site import admin_openapi
from status_site.keys import CONFIG, CORE, SITE

PREFIX = "/api/admin/"
ADMIN_TOKEN = web.AppKey("admin_token", str)  # "" when the admin API is off
MAX_BODY = 64 * 1024  # bytes
MAX_MESSAGE = 5000  # characters
MAX_TITLE = 300
LIST_LIMIT = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Body = TypeVar("Body", bound=BaseModel)
T = TypeVar("T")


# -- request bodies ----------------------------------------------------------------


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape: not text
        raise ValueError("must be valid Unicode text") from None
    return text


Message = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE), AfterValidator(_not_blank)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE), AfterValidator(_not_blank)]
ServiceKey = Annotated[str, Field(min_length=3, max_length=200, description="operator/service")]
When = Annotated[str, Field(max_length=64, description="ISO-8601 with offset, or HH:MM: the next such time, site time zone")]


# plain-string Literals (an inline enum in the OpenAPI document), from monitor.statuses
# Literals built at run time from the status enums: pydantic validates against them, mypy cannot
# read them as types (hence the valid-type ignores where they annotate a field).
OpenStatus = literal(OPEN_INCIDENT_STATUSES)
AnyStatus = literal(INCIDENT_STATUSES)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AdminMessage(Strict):
    fr: Message
    en: Message | None = None


class AdminTitle(Strict):
    fr: Title
    en: Title | None = None


class AdminIncidentOpen(Strict):
    operator: str = Field(min_length=1, max_length=100)
    services: list[ServiceKey] = Field(min_length=1, max_length=100)
    title: Title | AdminTitle
    message: Message | AdminMessage
    status: OpenStatus = IncidentStatus.INVESTIGATING.value  # type: ignore[valid-type]
    eta: When | None = None


class AdminIncidentUpdate(Strict):
    message: Message | AdminMessage
    status: AnyStatus | None = None  # type: ignore[valid-type]
    eta: When | None = None
    clear_eta: bool = False
    take_over: bool = False

    @model_validator(mode="after")
    def _one_eta(self) -> AdminIncidentUpdate:
        if self.eta is not None and self.clear_eta:
            raise ValueError("give an eta or clear_eta, not both")
        return self


class AdminIncidentResolve(Strict):
    message: Message | AdminMessage


class AdminMaintenanceAdd(Strict):
    services: list[ServiceKey] = Field(min_length=1, max_length=100)
    starts_at: When
    ends_at: When
    title: Title | AdminTitle
    message: Message | AdminMessage


def _texts(value: str | AdminMessage | AdminTitle) -> dict[str, str]:
    if isinstance(value, str):
        return {"fr": value}
    return value.model_dump(exclude_none=True)


async def read_body(request: web.Request, model: type[Body]) -> Body:
    """The body as ``model``: 413 past `MAX_BODY`, 400 when not JSON, 422 when the shape is wrong."""
    raw = bytearray()
    async for chunk in request.content.iter_chunked(16384):
        raw += chunk
        if len(raw) > MAX_BODY:  # chunked uploads carry no Content-Length
            raise AdminError(413, f"the body is larger than {MAX_BODY // 1024} KiB")
    try:
        return model.model_validate_json(bytes(raw), strict=True)
    except ValidationError as exc:
        raise BadBody(exc) from None


class BadBody(Exception):
    def __init__(self, exc: ValidationError) -> None:
        super().__init__(str(exc))
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        self.malformed = any(e["type"] == "json_invalid" for e in errors)
        self.details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errors]


# -- the guard: auth, size, errors -----------------------------------------------------


def error(
    status: int, message: str, details: list[dict[str, str]] | None = None, challenge: str | None = None
) -> web.Response:
    body: dict[str, Any] = {"status": status, "message": message}
    if details:
        body["details"] = details
    headers = {"Cache-Control": "no-store"}
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge
    return web.json_response({"error": body}, status=status, headers=headers)


def _is_admin(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    return request.path.startswith(PREFIX) or request.path == PREFIX.rstrip("/") or canonical.startswith(PREFIX)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every admin path: off without a token, 401 without the right one, JSON errors for bad input."""
    if not _is_admin(request):
        return await handler(request)
    token = request.app[ADMIN_TOKEN]
    if not token:
        return error(404, "the admin API is off: start Vigie with VIGIE_ADMIN_TOKEN set to enable it")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return error(401, "an admin token is required (Authorization: Bearer …)", challenge='Bearer realm="vigie-admin"')
    # digests of equal length: the comparison says nothing about the token's length either
    given_digest = hashlib.sha256(given.strip().encode("utf-8", "surrogateescape")).digest()
    if not hmac.compare_digest(given_digest, hashlib.sha256(token.encode("utf-8")).digest()):
        return error(401, "the admin token is wrong",
                     challenge='Bearer realm="vigie-admin", error="invalid_token"')
    if (request.content_length or 0) > MAX_BODY:
        return error(413, f"the body is larger than {MAX_BODY // 1024} KiB")
    try:
        response = await handler(request)
    except AdminError as exc:
        return error(exc.status, exc.message)
    except BadBody as exc:
        if exc.malformed:
            return error(400, "the body is not valid JSON", exc.details)
        return error(422, "the body does not have the expected shape", exc.details)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- what the API answers with ----------------------------------------------------------


class Shown:
    """Turns stored objects into the admin API's JSON, times in the site's time zone (on the writer thread)."""

    def __init__(self, config: Config, engine: Any) -> None:
        self.engine = engine  # monitor.engine.Engine: the site never imports it
        self.config = config
        self.zone = ZoneInfo(self.config.site.timezone)

    def at(self, when: float | None) -> str | None:
        return iso(when, self.zone)

    def stored(self, incident_id: int) -> Incident:
        incident = self.engine.store.incident(incident_id)
        if incident is None:
            raise AdminError(404, f"no incident {incident_id}")
        return incident

    def when(self, text: str, field: str) -> float:
        try:
            return parse_time(text, self.engine.clock.now(), self.zone)
        except ValueError as exc:
            raise AdminError(422, f"{field}: {exc}") from None

    def eta(self, record: EtaRecord | None) -> dict[str, Any] | None:
        if record is None:
            return None
        return {"at": self.at(record.at), "source": record.source, "expected_at": self.at(record.expected_at),
                "low": self.at(record.low), "high": self.at(record.high), "basis": record.basis, "service_basis": record.service_basis,
                "scope": record.scope}

    def incident(self, incident: Incident, history: bool = False) -> dict[str, Any]:
        store = self.engine.store
        out: dict[str, Any] = {
            "id": incident.id,
            "operator": incident.operator_id,
            "status": incident.status,
            "auto": incident.auto,
            "title": dict(incident.title),
            "started_at": self.at(incident.started_at),
            "updated_at": self.at(incident.updated_at),
            "resolved_at": self.at(incident.resolved_at),
            "announced_eta": self.at(incident.announced_eta),
            "eta": None if incident.resolved_at is not None else self.eta(store.latest_eta(incident.id)),
            "services": [{"service": s.key, "since": self.at(s.since), "recovered_at": self.at(s.recovered_at)}
                         for s in incident.services],
            "updates": [{"id": u.id, "at": self.at(u.at), "status": u.status, "message": dict(u.message), "auto": u.auto}
                        for u in incident.updates],
            "url": f"{self.config.site.base_url.rstrip('/')}/incidents/{incident.id}",
        }
        if history:
            out["eta_history"] = [self.eta(r) for r in store.eta_history(incident.id)]
        return out

    def maintenance(self, window: Maintenance) -> dict[str, Any]:
        return {
            "id": window.id, "status": window.status, "services": list(window.services),
            "starts_at": self.at(window.starts_at), "ends_at": self.at(window.ends_at),
            "title": dict(window.title), "message": dict(window.message),
            "created_at": self.at(window.created_at), "updated_at": self.at(window.updated_at),
        }


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the route only matches digits


async def _run(request: web.Request, fn: Callable[[Shown], T], changes: bool = False) -> T:
    """``fn(shown)`` on the writer thread, with the engine; an AdminError comes back as it was raised.

    A change is answered once the public pages show it, so that what the admin sees next is true.
    """
    config = request.app[CONFIG]
    result = await request.app[CORE].command(lambda engine: fn(Shown(config, engine)))
    if changes:
        await request.app[SITE].fresh()
    return result


# -- handlers -----------------------------------------------------------------------------


async def list_incidents(request: web.Request) -> web.Response:
    which = request.query.get("status", "open")
    if which not in ("open", "all"):
        raise AdminError(400, "status must be 'open' or 'all'")

    def run(shown: Shown) -> dict[str, Any]:
        store = shown.engine.store
        found = store.open_incidents() if which == "open" else store.incidents()[:LIST_LIMIT]
        return {"incidents": [shown.incident(i) for i in found]}

    return web.json_response(await _run(request, run))


async def get_incident(request: web.Request) -> web.Response:
    incident_id = _id(request)
    return web.json_response(await _run(request, lambda shown: shown.incident(shown.stored(incident_id), history=True)))


async def open_incident(request: web.Request) -> web.Response:
    body = await read_body(request, AdminIncidentOpen)

    def run(shown: Shown) -> tuple[int, dict[str, Any]]:
        eta = None if body.eta is None else shown.when(body.eta, "eta")
        incident_id = admin.open_incident(shown.engine, body.operator, body.services, _texts(body.title),
                                          _texts(body.message), body.status, eta)
        return incident_id, shown.incident(shown.stored(incident_id), history=True)

    incident_id, incident = await _run(request, run, changes=True)
    return web.json_response(incident, status=201, headers={"Location": f"{PREFIX}incidents/{incident_id}"})


async def update_incident(request: web.Request) -> web.Response:
    incident_id = _id(request)
    await _run(request, lambda shown: shown.stored(incident_id))  # an unknown id is a 404 before the body is judged
    body = await read_body(request, AdminIncidentUpdate)

    def run(shown: Shown) -> dict[str, Any]:
        eta = None if body.eta is None else shown.when(body.eta, "eta")
        incident = admin.update_incident(shown.engine, incident_id, _texts(body.message), body.status, eta,
                                         body.clear_eta, body.take_over)
        return shown.incident(incident, history=True)

    return web.json_response(await _run(request, run, changes=True))


async def resolve_incident(request: web.Request) -> web.Response:
    incident_id = _id(request)
    await _run(request, lambda shown: shown.stored(incident_id))
    body = await read_body(request, AdminIncidentResolve)

    def run(shown: Shown) -> dict[str, Any]:
        return shown.incident(admin.resolve_incident(shown.engine, incident_id, _texts(body.message)), history=True)

    return web.json_response(await _run(request, run, changes=True))


async def list_maintenances(request: web.Request) -> web.Response:
    which = request.query.get("status", "upcoming")
    if which not in ("upcoming", "all"):
        raise AdminError(400, "status must be 'upcoming' or 'all'")

    def run(shown: Shown) -> dict[str, Any]:
        store = shown.engine.store
        if which == "upcoming":
            found = store.maintenances(since=shown.engine.clock.now())
        else:
            found = store.maintenances(include_cancelled=True)[-LIST_LIMIT:]
        return {"maintenances": [shown.maintenance(m) for m in found]}

    return web.json_response(await _run(request, run))


async def list_outbox(request: web.Request) -> web.Response:
    """Deliveries still pending or given up (dead): what an operator must see when alerts fail."""
    which = request.query.get("status", "dead")
    if which not in ("dead", "pending"):
        raise AdminError(400, "status must be 'dead' or 'pending'")

    def run(shown: Shown) -> dict[str, Any]:
        store = shown.engine.store
        return {
            "deliveries": [
                {
                    "id": d.id,
                    "channel": d.channel,
                    "status": d.status,
                    "event": {"id": d.event.id, "type": d.event.type, "at": shown.at(d.event.at)},
                    "attempts": d.attempts,
                    "next_attempt_at": shown.at(d.next_attempt_at),
                    "last_error": d.last_error,
                }
                for d in store.deliveries(status=which, limit=LIST_LIMIT)
            ],
            "counts": [
                {"channel": channel, "status": status, "count": count}
                for (channel, status), count in sorted(store.outbox_counts().items())
            ],
        }

    return web.json_response(await _run(request, run))


async def add_maintenance(request: web.Request) -> web.Response:
    body = await read_body(request, AdminMaintenanceAdd)

    def run(shown: Shown) -> tuple[int, dict[str, Any]]:
        starts_at, ends_at = shown.when(body.starts_at, "starts_at"), shown.when(body.ends_at, "ends_at")
        maintenance_id = admin.add_maintenance(shown.engine, body.services, starts_at, ends_at, _texts(body.title),
                                               _texts(body.message))
        window = shown.engine.store.maintenance(maintenance_id)
        assert window is not None
        return maintenance_id, shown.maintenance(window)

    maintenance_id, window = await _run(request, run, changes=True)
    return web.json_response(window, status=201, headers={"Location": f"{PREFIX}maintenances/{maintenance_id}"})


async def cancel_maintenance(request: web.Request) -> web.Response:
    maintenance_id = _id(request)
    return web.json_response(
        await _run(request, lambda shown: shown.maintenance(admin.cancel_maintenance(shown.engine, maintenance_id)),
                   changes=True)
    )


ROUTES: list[admin_openapi.AdminRoute] = [
    ("GET", "incidents", list_incidents, "List incidents: ?status=open (default) or all (the latest 200)",
     None, "AdminIncidentList"),
    ("POST", "incidents", open_incident, "Open a manual incident (201)", AdminIncidentOpen, "AdminIncident"),
    ("GET", r"incidents/{id:\d{1,18}}", get_incident, "One incident with its updates and ETA history", None, "AdminIncident"),
    ("POST", r"incidents/{id:\d{1,18}}/updates", update_incident,
     "Post an update (message, status, announced ETA, take over); a non-resolved status reopens a resolved one",
     AdminIncidentUpdate, "AdminIncident"),
    ("POST", r"incidents/{id:\d{1,18}}/resolve", resolve_incident, "Resolve an incident", AdminIncidentResolve,
     "AdminIncident"),
    ("GET", "maintenances", list_maintenances, "List maintenance windows: ?status=upcoming (default) or all",
     None, "AdminMaintenanceList"),
    ("POST", "maintenances", add_maintenance, "Plan a maintenance window (201)", AdminMaintenanceAdd,
     "AdminMaintenance"),
    ("POST", r"maintenances/{id:\d{1,18}}/cancel", cancel_maintenance, "Cancel a window; one in progress ends now",
     None, "AdminMaintenance"),
    ("GET", "outbox", list_outbox, "Alert deliveries: ?status=dead (default) or pending, with counts per channel",
     None, "AdminOutbox"),
]


def add_routes(app: web.Application, token: str | None = None) -> None:
    """Mount the admin API; ``token`` None reads ``$VIGIE_ADMIN_TOKEN``; no token leaves it off."""
    if token is None:
        token = os.environ.get("VIGIE_ADMIN_TOKEN", "")
    app[ADMIN_TOKEN] = token.strip()
    app.middlewares.append(guard)
    for method, path, handler, *_ in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)


admin_openapi.document(ROUTES, PREFIX, MAX_BODY)
