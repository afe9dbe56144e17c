"""The OpenAPI 3.1 description of the public routes, with JSON Schemas and live-shaped examples.

Schemas describe Statuspage's v2 objects plus Vigie's additions (see
`status_site.api`). Examples are produced by the real API writer from a small
fixed snapshot, so they cannot drift from what the routes answer. A later
module adds its routes with `register(RouteDoc(...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor import statuses
from monitor.statuses import ComponentStatus as C
from monitor.statuses import IncidentStatus as I
from monitor.statuses import Indicator
from status_site import api
from status_site.location_views import LOCATION_STATUSES
from status_site.views import (
    AffectedView,
    DayView,
    IncidentView,
    LocationView,
    OperatorView,
    ServiceView,
    Snapshot,
    UpdateView,
)

COMPONENT_STATUSES = [s.value for s in statuses.COMPONENT_STATUSES]
INCIDENT_STATUSES = [s.value for s in statuses.INCIDENT_STATUSES]
INDICATORS = [s.value for s in statuses.INDICATORS]
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
TEXTS = {"type": "object", "additionalProperties": {"type": "string"}, "description": "the text per language"}
RATIO = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
MS_OR_NULL = {"type": ["number", "null"], "minimum": 0}
REF = "#/components/schemas/"


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Page": _object(
        {"id": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"},
         "time_zone": {"type": "string"}, "updated_at": TIME},
        {"language": {"type": "string", "description": "Vigie: the language of the texts"}},
    ),
    "Status": _object(
        {"indicator": {"enum": INDICATORS},
         "description": {"type": "string"}}
    ),
    "Eta": {
        "type": ["object", "null"],
        "description": "Vigie: when service should be back; null when there is nothing honest to say",
        "required": ["expected_at", "low", "high", "source", "basis"],
        "properties": {
            "expected_at": TIME_OR_NULL, "low": TIME_OR_NULL, "high": TIME_OR_NULL,
            "source": {"enum": ["operator", "estimate"]},
            "basis": {"type": ["integer", "null"], "minimum": 0},
        },
    },
    "Component": _object(
        {
            "id": {"type": "string", "description": "operator id for a group, operator/service for a service"},
            "name": {"type": "string"}, "description": {"type": ["string", "null"]},
            "status": {"enum": COMPONENT_STATUSES}, "position": {"type": "integer", "minimum": 1},
            "created_at": TIME, "updated_at": TIME, "page_id": {"type": "string"},
            "group": {"type": "boolean"}, "group_id": {"type": ["string", "null"]},
            "showcase": {"type": "boolean"}, "only_show_if_degraded": {"type": "boolean"},
            "start_date": {"type": ["string", "null"]},
            "vigie_status": {"enum": [*COMPONENT_STATUSES, statuses.NOT_KNOWN]},
            "vigie_since": TIME_OR_NULL, "names": TEXTS,
            "vigie_short_name": {"type": "string", "description": "Vigie: the name as its pages say it; "
                                 "`name` is unique on the page (a service's starts with its operator's name)"},
            "professions": {"type": "array", "items": {"type": "string"}},
        },
        {
            "components": {"type": "array", "items": {"type": "string"}, "description": "a group's children"},
            "uptime": {
                "type": "object", "required": ["24h", "7d", "30d", "90d"],
                "properties": {w: RATIO for w in ("24h", "7d", "30d", "90d")},
                "description": "Vigie: share of observed time up, per window (0–1)",
            },
            "uptime_since": {
                **TIME_OR_NULL,
                "description": "Vigie: when measuring began (within 90 days); a longer window covers only the time since",
            },
            "locations": {
                "type": "array", "items": {"$ref": REF + "Location"}, "minItems": 2,
                "description": "Vigie: each place a service's checks run from; present only when there are several",
            },
            "signals": {
                "type": "array", "items": {"enum": ["probes", "locations", "feeds", "heartbeats", "reports"]},
                "description": "Vigie: what backs a service's status (reports only while above their baseline)",
            },
            "reports": {
                "oneOf": [{"type": "null"}, _object({
                    "level": {"enum": ["rising", "strong"]}, "since": TIME,
                    "count": {"type": "integer", "minimum": 0, "description": "reporters in the last hour"},
                })],
                "description": "Vigie: professionals' reports on a service while above their baseline, else null",
            },
        },
    ),
    "Location": _object(
        {
            "id": {"type": "string", "description": "the location's id: local (Vigie's own prober) or an agent's"},
            "name": {"type": "string"}, "names": TEXTS,
            "status": {
                "enum": list(LOCATION_STATUSES),
                "description": "what this place sees (the worst of the service's checks there): its own verdict, "
                "stale when it has no recent result, isolated when it lost its view of the operators and is set aside; "
                "the component's status is the consensus of the places",
            },
            "last_at": TIME_OR_NULL,
            "last_ms": {"type": ["integer", "null"], "minimum": 0, "description": "duration of the latest result"},
            "latency_ms": _object(
                {"p50": MS_OR_NULL, "p95": MS_OR_NULL},
            ) | {"description": "median and 95th percentile over the last 24 hours, from hourly rollups"},
        }
    ),
    "IncidentUpdate": _object(
        {
            "id": {"type": "string"}, "status": {"enum": INCIDENT_STATUSES}, "body": {"type": "string"},
            "incident_id": {"type": "string"}, "created_at": TIME, "updated_at": TIME, "display_at": TIME,
            "affected_components": {"type": ["array", "null"]}, "bodies": TEXTS, "auto": {"type": "boolean"},
        },
        {"deliver_notifications": {"type": "boolean"}},
    ),
    "Incident": _object(
        {
            "id": {"type": "string"}, "name": {"type": "string"}, "status": {"enum": INCIDENT_STATUSES},
            "created_at": TIME, "updated_at": TIME, "monitoring_at": TIME_OR_NULL, "resolved_at": TIME_OR_NULL,
            "started_at": TIME, "impact": {"enum": INDICATORS},
            "shortlink": {"type": "string"}, "page_id": {"type": "string"},
            "incident_updates": {"type": "array", "items": {"$ref": REF + "IncidentUpdate"}},
            "components": {"type": "array", "items": {"$ref": REF + "Component"}},
            "operator_id": {"type": "string"}, "names": TEXTS, "auto_detected": {"type": "boolean"},
            "eta": {"$ref": REF + "Eta"},
        }
    ),
    "ScheduledMaintenance": _object(
        {"id": {"type": "string"}, "name": {"type": "string"}, "scheduled_for": TIME, "scheduled_until": TIME,
         # Statuspage's values for a maintenance (Vigie never says "verifying")
         "status": {"enum": ["scheduled", "in_progress", "verifying", "completed"]}},
        {"incident_updates": {"type": "array", "items": {"$ref": REF + "IncidentUpdate"}},
         "components": {"type": "array", "items": {"$ref": REF + "Component"}}},
    ),
    "Error": _object(
        {"error": _object({"status": {"type": "integer"}, "message": {"type": "string"}})}
    ),
}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": REF + name}}


DOCUMENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "/api/v2/summary.json": _object(
        {"page": {"$ref": REF + "Page"}, "status": {"$ref": REF + "Status"}, "components": _list("Component"),
         "incidents": _list("Incident"), "scheduled_maintenances": _list("ScheduledMaintenance")}
    ),
    "/api/v2/status.json": _object({"page": {"$ref": REF + "Page"}, "status": {"$ref": REF + "Status"}}),
    "/api/v2/components.json": _object({"page": {"$ref": REF + "Page"}, "components": _list("Component")}),
    "/api/v2/incidents.json": _object({"page": {"$ref": REF + "Page"}, "incidents": _list("Incident")}),
    "/api/v2/incidents/unresolved.json": _object({"page": {"$ref": REF + "Page"}, "incidents": _list("Incident")}),
    **{
        path: _object({"page": {"$ref": REF + "Page"}, "scheduled_maintenances": _list("ScheduledMaintenance")})
        for path in ("/api/v2/scheduled-maintenances.json", "/api/v2/scheduled-maintenances/upcoming.json",
                     "/api/v2/scheduled-maintenances/active.json")
    },
}
SUMMARIES = {
    "/api/v2/summary.json": "Page, overall status, components, unresolved incidents, maintenances",
    "/api/v2/status.json": "The overall status indicator",
    "/api/v2/components.json": "Every component: operators as groups, their services",
    "/api/v2/incidents.json": "The 50 most recent incidents, newest first",
    "/api/v2/incidents/unresolved.json": "Incidents not resolved yet, each with its ETA",
    "/api/v2/scheduled-maintenances.json": "Maintenance windows of the last days and to come, cancelled ones left out",
    "/api/v2/scheduled-maintenances/upcoming.json": "Maintenance windows not started yet",
    "/api/v2/scheduled-maintenances/active.json": "Maintenance windows in progress",
}
LANG = {
    "name": "lang", "in": "query", "required": False,
    "description": "fr (default) or en; otherwise Accept-Language decides",
    "schema": {"type": "string", "enum": ["fr", "en"]},
}


@dataclass(frozen=True)
class RouteDoc:
    """One GET route: what it answers with, by content type, and an example when JSON."""

    path: str
    summary: str
    content_type: str = "application/json"
    schema: dict[str, Any] | None = None
    example: Callable[[], Any] | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    not_found: bool = False
    tags: tuple[str, ...] = ("public",)
    method: str = "get"

    def operation(self) -> dict[str, Any]:
        media: dict[str, Any] = {"schema": self.schema or {"type": "string"}}
        if self.example is not None:
            media["example"] = self.example()
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {self.content_type: media}}}
        responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)"}
        if self.not_found:
            responses["404"] = {"description": "Unknown id", "content": {self.content_type: {"schema": {"type": "string"}}}}
        return {"summary": self.summary, "tags": list(self.tags), "parameters": self.parameters, "responses": responses}


ROUTES: list[RouteDoc] = []
SECURITY_SCHEMES: dict[str, Any] = {}  # filled by the modules whose routes need them (the admin API)


def register(route: RouteDoc) -> None:
    """Describe one more route (the admin API adds its own later)."""
    ROUTES.append(route)


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


# A lambda, not a partial: example_document is defined further down. The default argument binds the path.
for _path, _schema in DOCUMENT_SCHEMAS.items():
    register(RouteDoc(_path, SUMMARIES[_path], schema=_schema, parameters=[LANG],
                      example=lambda p=_path: example_document(p),  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
                      tags=("statuspage-v2",)))
register(RouteDoc("/api/openapi.json", "This document", schema={"type": "object"}))
register(RouteDoc("/feed.atom", "Atom 1.0 feed, one entry per incident update (French unless ?lang=en)",
                  content_type="application/atom+xml", parameters=[LANG]))
register(RouteDoc("/badge/{operator}.svg", "SVG badge: an operator's status and 30-day uptime",
                  content_type="image/svg+xml", parameters=[*_path_params("operator"), LANG], not_found=True))
register(RouteDoc("/badge/{operator}/{service}.svg", "SVG badge: a service's status and 30-day uptime",
                  content_type="image/svg+xml", parameters=[*_path_params("operator", "service"), LANG],
                  not_found=True))
register(RouteDoc("/maintenances.ics", "Maintenance windows as an iCalendar (RFC 5545) feed",
                  content_type="text/calendar", parameters=[LANG]))
@dataclass(frozen=True)
class _HealthDoc(RouteDoc):
    """``/healthz``: 200 when Vigie can do its work, 503 with the reasons when it cannot (load balancers read it)."""

    def operation(self) -> dict[str, Any]:
        out = super().operation()
        out["responses"]["503"] = {"description": "Vigie cannot do its work right now; problems say why", "content": {
            "application/json": {"schema": _object({"status": {"enum": ["unhealthy"]}, "problems": {
                "type": "array", "items": {"type": "string"}}}), "example": {
                "status": "unhealthy", "problems": ["the store cannot write: disk full"]}}}}
        return out


register(_HealthDoc("/healthz", "200 when Vigie can probe, judge, store and alert, else 503 with the problems",
                    schema=_object({"status": {"enum": ["ok"]}}), example=lambda: {"status": "ok"}))
register(RouteDoc("/metrics", "Prometheus text exposition format", content_type="text/plain"))


def document(base_url: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = route.operation()
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Vigie — public API",
            "version": "2",
            "description": "Statuspage v2-compatible status of the French tiers-payant operators, "
            "with Vigie's additions beside Statuspage's fields (eta, uptime, professions, vigie_status, locations).",
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": SECURITY_SCHEMES,
            "responses": {"NotFound": {"description": "Unknown route or id",
                                       "content": {"application/json": {"schema": {"$ref": REF + "Error"}}}}},
        },
    }


# -- examples: the real writer on a small fixed snapshot ---------------------------

_T0 = 1_780_000_000.0


def example_snapshot() -> Snapshot:
    day = DayView("2026-05-28", _T0 - 86400, 0.9991, C.MAJOR_OUTAGE, (7,))
    service = ServiceView(
        key="almerys/pec-optique", id="pec-optique", operator_id="almerys",
        name={"fr": "Demande de prise en charge optique", "en": "Optical pre-authorisation"},
        description=None, professions=("opticien",), status=C.MAJOR_OUTAGE, since=_T0 - 600, checks=(),
        uptime={"24h": 0.993, "7d": 0.999, "30d": 0.9998, "90d": None}, days=(day,), position=0,
    )
    seen = ServiceView(  # run from two places: its component lists them
        key="almerys/droits", id="droits", operator_id="almerys", name={"fr": "Visiodroits", "en": "Rights check"},
        description=None, professions=("pharmacien",), status=C.OPERATIONAL, since=_T0 - 86400, checks=(),
        uptime={"24h": 1.0, "7d": 1.0, "30d": 0.9999, "90d": 0.9999}, days=(day,), position=1,
        locations=(
            LocationView("local", {"fr": "Vigie (serveur central)", "en": "Vigie (central server)"}, "up",
                         _T0 - 20, 118, 112.5, 240.0, 2880),
            LocationView("lyon", {"fr": "Lyon", "en": "Lyon"}, "stale", _T0 - 900, 131, 120.0, 262.5, 2700),
        ),
    )
    operator = OperatorView("almerys", "Almerys", None, C.MAJOR_OUTAGE, (service, seen), 0)
    incident = IncidentView(
        id=7, operator_id="almerys", operator_name="Almerys",
        title={"fr": "Almerys : Demande de prise en charge optique indisponible",
               "en": "Almerys: Optical pre-authorisation unavailable"},
        status=I.INVESTIGATING, auto=True, impact=Indicator.CRITICAL, started_at=_T0 - 600, resolved_at=None,
        updated_at=_T0 - 600, services=(AffectedView(service.key, service.name, _T0 - 600, None),),
        updates=(UpdateView(12, _T0 - 600, I.INVESTIGATING,
                            {"fr": "Le service ne répond plus.", "en": "The service does not answer."}, True),),
        eta={"expected_at": _T0 + 1800, "low": _T0 + 600, "high": _T0 + 3600, "source": "estimate", "basis": 14},
    )
    return Snapshot(
        generated_at=_T0, version=1, title="Vigie — état du tiers payant", base_url="https://statut.example.org",
        languages=("fr", "en"), status=C.MAJOR_OUTAGE, indicator=Indicator.CRITICAL, operators=(operator,),
        unresolved=(incident,), incidents=(incident,), professions=("opticien",),
    )


def example_document(path: str) -> dict[str, Any]:
    return api.DOCUMENTS[path](api.ApiWriter(example_snapshot(), "fr", "Europe/Paris"))
