"""The public JSON API, in the shape of Atlassian Statuspage's v2 API (what aggregators read).

Every object keeps Statuspage's fields and meanings; Vigie's additions sit
beside them under their own names and never replace one of theirs:

- components: ``vigie_status`` (the component status, or ``unknown`` before the
  first verdict — Statuspage has no "unknown", so ``status`` then says
  ``operational``, the value its readers treat as "nothing to report"),
  ``vigie_since``, ``names`` ({fr, en}: the short names, as Vigie's pages say them),
  ``vigie_short_name`` (the short name in the page's language), ``professions``.
  ``name`` is unique on the page, because Statuspage clients key components by
  name: a service's is "Almerys — Demande de prise en charge optique" (several
  operators offer a service of the same name), and any name that still repeats
  gets its id in brackets; services also
  ``uptime`` ({"24h","7d","30d","90d"}: ratios 0–1 of the time observed, ``null`` when unobserved),
  ``uptime_since`` (when Vigie began to measure it, within the 90 days; a window longer than
  the time since covers only that time),
  and, only when their checks run from more than one place, ``locations``: one
  object per place, ``{"id", "name", "names", "status", "last_at", "last_ms",
  "latency_ms": {"p50", "p95"}}`` — what that place sees (``up``, ``degraded``,
  ``down``, ``unknown``, ``stale``: no recent result, ``isolated``: set aside), its
  latest result and the service's median and 95th percentile over 24 h in ms
  (``null`` when unmeasured). ``status`` stays the consensus of the places;
  ``signals``: what backs the status, among ``probes``, ``locations``, ``feeds``
  (partners' outcome counts), ``heartbeats`` (push checks) and ``reports``;
  ``reports``: professionals' reports while above their baseline, ``{"level":
  "rising"|"strong", "since", "count"}`` (reporters in the last hour), else ``null``;
- incidents: ``eta`` (always present: the object or ``null``), ``auto_detected``,
  ``operator_id``, ``names`` ({fr, en}); updates: ``bodies`` ({fr, en}), ``auto``;
- page: ``language``.

Maintenances: ``scheduled-maintenances.json`` lists every window of the last
days that was not cancelled, ``scheduled-maintenances/upcoming.json`` those not
started yet and ``scheduled-maintenances/active.json`` those in progress, as
Statuspage's routes of the same names do.

Texts (names, bodies, status description) are French unless ``?lang=en`` (or
Accept-Language) asks for English. Times are ISO-8601 in UTC with a ``Z``.
Ids are strings as in Statuspage: a service's id is ``operator/service``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from aiohttp import web

from monitor.statuses import LIVE_MAINTENANCE, NOT_KNOWN, ComponentStatus, IncidentStatus, Indicator, MaintenanceStatus
from monitor.words import iso, page_description
from status_site.i18n import negotiate
from status_site.keys import CONFIG, SITE
from status_site.state import Rendered, SiteState, rendered, respond
from status_site.views import IncidentView, LocationView, MaintenanceView, OperatorView, ServiceView, Snapshot

JSON = "application/json; charset=utf-8"
MAX_AGE = 5  # seconds: aggregators poll; the render-once cache makes this cheap
INCIDENT_LIMIT = 50  # Statuspage's incidents.json lists the 50 most recent
def page_id(base_url: str) -> str:
    """A stable, opaque page id per deployment, shaped like Statuspage's (12 characters)."""
    return hashlib.blake2b(base_url.encode(), digest_size=6).hexdigest()


def _text(texts: dict[str, str] | None, lang: str) -> str | None:
    if not texts:
        return None
    return texts.get(lang) or texts.get("fr") or next(iter(texts.values()))


def _updated_at(snapshot: Snapshot) -> float:
    """When what the page says last changed: the latest flip or incident update."""
    moments = [s.since for s in snapshot.services if s.since is not None]
    moments += [i.updated_at for i in snapshot.incidents]
    return max(moments, default=snapshot.generated_at)


class ApiWriter:
    """Builds Statuspage-shaped objects from one snapshot, in one language."""

    def __init__(self, snapshot: Snapshot, lang: str, time_zone: str) -> None:
        self.snapshot = snapshot
        self.lang = lang
        self.time_zone = time_zone
        self.page_id = page_id(snapshot.base_url)
        self.updated_at = _updated_at(snapshot)
        self.names = self.unique_names()

    # -- page and status -------------------------------------------------------

    def page(self) -> dict[str, Any]:
        return {
            "id": self.page_id,
            "name": self.snapshot.title,
            "url": self.snapshot.base_url,
            "time_zone": self.time_zone,
            "updated_at": iso(self.updated_at),
            "language": self.lang,
        }

    def status(self) -> dict[str, Any]:
        return {
            "indicator": self.snapshot.indicator,
            "description": page_description(self.lang, self.snapshot.status),
        }

    # -- components ------------------------------------------------------------

    def components(self) -> list[dict[str, Any]]:
        """Each operator as a group component followed by its services."""
        out: list[dict[str, Any]] = []
        for operator in self.snapshot.operators:
            out.append(self.group(operator))
            out.extend(self.component(service, index) for index, service in enumerate(operator.services))
        return out

    def unique_names(self) -> dict[str, str]:
        """Component id -> its name on the page, unique: "Operator — Service", then "(id)" where that repeats."""
        names = {}
        for operator in self.snapshot.operators:
            names[operator.id] = operator.name
            for service in operator.services:
                names[service.key] = f"{operator.name} — {_text(service.name, self.lang) or service.id}"
        seen = Counter(names.values())
        return {key: f"{name} ({key})" if seen[name] > 1 else name for key, name in names.items()}

    def _common(self, status: str | None, since: float | None, created: float | None) -> dict[str, Any]:
        return {
            "status": status if status is not None else ComponentStatus.OPERATIONAL,
            "created_at": iso(created if created is not None else self.updated_at),
            "updated_at": iso(since if since is not None else self.updated_at),
            "page_id": self.page_id,
            "showcase": True,
            "start_date": None,
            "only_show_if_degraded": False,
            "vigie_status": status if status is not None else NOT_KNOWN,
            "vigie_since": iso(since),
        }

    def group(self, operator: OperatorView) -> dict[str, Any]:
        created = min((c for s in operator.services if (c := _first_observed(s)) is not None), default=None)
        return {
            "id": operator.id,
            "name": self.names.get(operator.id, operator.name),
            "description": None,
            "position": operator.position + 1,
            "group": True,
            "group_id": None,
            "components": [s.key for s in operator.services],
            **self._common(operator.status, _latest_since(operator), created),
            "names": {lang: operator.name for lang in self.snapshot.languages},
            "vigie_short_name": operator.name,
            "professions": list(operator.professions),
        }

    def component(self, service: ServiceView, index: int) -> dict[str, Any]:
        return {
            "id": service.key,
            "name": self.names.get(service.key) or _text(service.name, self.lang),
            "description": _text(service.description, self.lang),
            "position": index + 1,
            "group": False,
            "group_id": service.operator_id,
            **self._common(service.status, service.since, _first_observed(service)),
            "names": dict(service.name),
            "vigie_short_name": _text(service.name, self.lang),
            "professions": list(service.professions),
            "uptime": {window: _ratio(value) for window, value in service.uptime.items()},
            "uptime_since": iso(service.measured_since),  # a window's ratio covers only the time since then
            **({"locations": [self.location(place) for place in service.locations]} if service.locations else {}),
            "signals": list(service.signals),
            "reports": {"level": service.reports.level, "since": iso(service.reports.since), "count": service.reports.count}
            if service.reports else None,
        }

    def location(self, place: LocationView) -> dict[str, Any]:
        return {
            "id": place.id,
            "name": _text(place.name, self.lang),
            "names": dict(place.name),
            "status": place.status,
            "last_at": iso(place.last_at),
            "last_ms": place.last_ms,
            "latency_ms": {"p50": place.p50, "p95": place.p95},
        }

    # -- incidents -------------------------------------------------------------

    def incident(self, incident: IncidentView) -> dict[str, Any]:
        incident_id = str(incident.id)
        monitoring = [u.at for u in incident.updates if u.status == IncidentStatus.MONITORING]
        affected = [self.snapshot.service(a.key) for a in incident.services]
        return {
            "id": incident_id,
            "name": _text(incident.title, self.lang),
            "status": incident.status,
            "created_at": iso(incident.started_at),
            "updated_at": iso(incident.updated_at),
            "monitoring_at": iso(max(monitoring)) if monitoring else None,
            "resolved_at": iso(incident.resolved_at),
            "started_at": iso(incident.started_at),
            "impact": incident.impact,
            "shortlink": f"{self.snapshot.base_url.rstrip('/')}/incidents/{incident.id}",
            "page_id": self.page_id,
            "incident_updates": [
                {
                    "id": str(update.id),
                    "status": update.status,
                    "body": _text(update.message, self.lang),
                    "incident_id": incident_id,
                    "created_at": iso(update.at),
                    "updated_at": iso(update.at),
                    "display_at": iso(update.at),
                    # Vigie keeps no per-update component transitions; `components` lists them
                    "affected_components": None,
                    "deliver_notifications": True,
                    "bodies": dict(update.message),
                    "auto": update.auto,
                }
                for update in incident.updates
            ],
            "components": [self.component(s, self._index(s)) for s in affected if s is not None],
            "operator_id": incident.operator_id,
            "names": dict(incident.title),
            "auto_detected": incident.auto,
            "eta": None if incident.resolved else _eta(incident.eta),
        }

    def _index(self, service: ServiceView) -> int:
        """A service's place within its operator (positions restart at 1 in each group)."""
        operator = self.snapshot.operator(service.operator_id)
        return operator.services.index(service) if operator else 0

    def scheduled_maintenances(self, only: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Maintenance windows but the cancelled ones, soonest first; ``only`` keeps those of these statuses."""
        windows = [
            m for m in self.snapshot.maintenances
            if m.status != MaintenanceStatus.CANCELLED and (only is None or m.status in only)
        ]
        return [self.maintenance(m) for m in windows]

    def maintenance(self, window: MaintenanceView) -> dict[str, Any]:
        services = [self.snapshot.service(s.key) for s in window.services]
        ended = window.status == MaintenanceStatus.COMPLETED
        message = {
            "id": f"m{window.id}",
            "status": window.status,
            "body": _text(window.message, self.lang),
            "incident_id": f"m{window.id}",
            "created_at": iso(window.created_at),
            "updated_at": iso(window.updated_at),
            "display_at": iso(window.created_at),
            "affected_components": None,
            "deliver_notifications": True,
            "bodies": dict(window.message),
        }
        return {
            "id": f"m{window.id}",
            "name": _text(window.title, self.lang),
            "status": window.status,
            "created_at": iso(window.created_at),
            "updated_at": iso(window.updated_at),
            "monitoring_at": None,
            "resolved_at": iso(window.updated_at) if ended else None,
            "started_at": iso(window.starts_at),
            "impact": Indicator.MAINTENANCE,
            "shortlink": f"{self.snapshot.base_url}/",
            "page_id": self.page_id,
            "incident_updates": [message],
            "components": [self.component(s, self._index(s)) for s in services if s is not None],
            "scheduled_for": iso(window.starts_at),
            "scheduled_until": iso(window.ends_at),
            "names": dict(window.title),
        }


def _first_observed(service: ServiceView) -> float | None:
    """Vigie records no creation time: the start of the earliest day it has data for."""
    return next((day.start for day in service.days if day.uptime is not None), service.since)


def _latest_since(operator: OperatorView) -> float | None:
    return max((s.since for s in operator.services if s.since is not None), default=None)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _eta(eta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The contract's ETA object with its times as ISO-8601."""
    if eta is None:
        return None
    out = {key: eta.get(key) for key in ("expected_at", "low", "high", "source", "basis")}
    for key in ("expected_at", "low", "high"):
        value = out[key]
        if isinstance(value, (int, float)):
            out[key] = iso(float(value))
    return out


# -- documents: one function per route ------------------------------------------


def summary(w: ApiWriter) -> dict[str, Any]:
    """Everything at once: what aggregators poll."""
    return {
        "page": w.page(),
        "status": w.status(),
        "components": w.components(),
        "incidents": [w.incident(i) for i in w.snapshot.unresolved],
        "scheduled_maintenances": w.scheduled_maintenances(only=LIVE_MAINTENANCE),
    }


def status(w: ApiWriter) -> dict[str, Any]:
    """The overall indicator only."""
    return {"page": w.page(), "status": w.status()}


def components(w: ApiWriter) -> dict[str, Any]:
    """Every operator group and service."""
    return {"page": w.page(), "components": w.components()}


def incidents(w: ApiWriter) -> dict[str, Any]:
    """The most recent incidents, newest first."""
    return {"page": w.page(), "incidents": [w.incident(i) for i in w.snapshot.incidents[:INCIDENT_LIMIT]]}


def unresolved(w: ApiWriter) -> dict[str, Any]:
    """Incidents still open, each with its `eta`."""
    return {"page": w.page(), "incidents": [w.incident(i) for i in w.snapshot.unresolved]}


def scheduled_maintenances(w: ApiWriter) -> dict[str, Any]:
    """Upcoming and in-progress maintenance windows."""
    return {"page": w.page(), "scheduled_maintenances": w.scheduled_maintenances()}


def upcoming_maintenances(w: ApiWriter) -> dict[str, Any]:
    """Maintenance windows not started yet."""
    return {"page": w.page(), "scheduled_maintenances": w.scheduled_maintenances(only=(MaintenanceStatus.SCHEDULED,))}


def active_maintenances(w: ApiWriter) -> dict[str, Any]:
    """Maintenance windows in progress."""
    return {"page": w.page(), "scheduled_maintenances": w.scheduled_maintenances(only=(MaintenanceStatus.IN_PROGRESS,))}


DOCUMENTS: dict[str, Callable[[ApiWriter], dict[str, Any]]] = {
    "/api/v2/summary.json": summary,
    "/api/v2/status.json": status,
    "/api/v2/components.json": components,
    "/api/v2/incidents.json": incidents,
    "/api/v2/incidents/unresolved.json": unresolved,
    "/api/v2/scheduled-maintenances.json": scheduled_maintenances,
    "/api/v2/scheduled-maintenances/upcoming.json": upcoming_maintenances,
    "/api/v2/scheduled-maintenances/active.json": active_maintenances,
}


def dump(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def render_document(route: str, snapshot: Snapshot, lang: str, time_zone: str) -> Rendered:
    """One route's JSON for a snapshot (also what the static export writes)."""
    return rendered(dump(DOCUMENTS[route](ApiWriter(snapshot, lang, time_zone))), JSON)


def _handler(route: str) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        site: SiteState = request.app[SITE]
        config = request.app[CONFIG]
        lang = negotiate(request, tuple(config.site.languages))
        time_zone = config.site.timezone
        page = await site.render(("api", route, lang), lambda snap: render_document(route, snap, lang, time_zone))
        return respond(request, page, max_age=MAX_AGE)

    handle.__name__ = "api_" + route.removeprefix("/api/v2/").replace(".json", "").replace("-", "_").replace("/", "_")
    return handle


async def openapi_json(request: web.Request) -> web.Response:
    from status_site import openapi

    config = request.app[CONFIG]
    page = await request.app[SITE].render(
        ("api", "openapi"), lambda _: rendered(dump(openapi.document(config.site.base_url)), JSON)
    )
    return respond(request, page, max_age=300)


def add_routes(app: web.Application) -> None:
    for route in DOCUMENTS:
        app.router.add_get(route, _handler(route))
    app.router.add_get("/api/openapi.json", openapi_json)
