"""The admin API in the OpenAPI document: its response schemas, its bearer auth, its errors.

`status_site.admin_api` calls `document` once, with its route table, when it
loads; the request bodies' schemas come from the pydantic models themselves,
so the document cannot drift from what the routes accept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from monitor.statuses import INCIDENT_STATUSES, MAINTENANCE_STATUSES
from status_site import openapi

# (method, path under the prefix, handler, summary, request body model, response schema name)
AdminRoute = tuple[str, str, Callable[..., Any], str, type[BaseModel] | None, str]

_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXTS = {"type": "object", "required": ["fr"], "additionalProperties": {"type": "string"}}
SCHEMAS: dict[str, dict[str, Any]] = {
    "AdminIncident": {
        "type": "object",
        "required": ["id", "operator", "status", "auto", "title", "started_at", "updated_at", "resolved_at",
                     "announced_eta", "eta", "services", "updates", "url"],
        "properties": {
            "id": {"type": "integer"}, "operator": {"type": "string"},
            "status": {"enum": [s.value for s in INCIDENT_STATUSES]},
            "auto": {"type": "boolean", "description": "Vigie resolves it on its own (false once a human takes over)"},
            "title": _TEXTS, "started_at": _TIME, "updated_at": _TIME, "resolved_at": _TIME,
            "announced_eta": _TIME, "eta": {"oneOf": [{"type": "null"}, {"$ref": openapi.REF + "AdminEta"}]},
            "services": {"type": "array", "items": {"type": "object"}},
            "updates": {"type": "array", "items": {"type": "object"}, "description": "newest first"},
            "eta_history": {"type": "array", "items": {"$ref": openapi.REF + "AdminEta"}},
            "url": {"type": "string"},
        },
    },
    "AdminEta": {
        "type": "object",
        "properties": {"at": _TIME, "source": {"enum": ["operator", "estimate", "none"]}, "expected_at": _TIME,
                       "low": _TIME, "high": _TIME, "basis": {"type": ["integer", "null"]},
                       "service_basis": {"type": ["integer", "null"]}, "scope": {"type": ["string", "null"]}},
    },
    "AdminMaintenance": {
        "type": "object",
        "required": ["id", "status", "services", "starts_at", "ends_at", "title", "message"],
        "properties": {"id": {"type": "integer"}, "status": {"enum": [s.value for s in MAINTENANCE_STATUSES]},
                       "services": {"type": "array", "items": {"type": "string"}}, "starts_at": _TIME, "ends_at": _TIME,
                       "title": _TEXTS, "message": _TEXTS, "created_at": _TIME, "updated_at": _TIME},
    },
    "AdminIncidentList": {"type": "object", "required": ["incidents"],
                          "properties": {"incidents": {"type": "array", "items": {"$ref": openapi.REF + "AdminIncident"}}}},
    "AdminOutbox": {"type": "object", "required": ["deliveries", "counts"], "properties": {
        "deliveries": {"type": "array", "items": {"type": "object"}},
        "counts": {"type": "array", "items": {"type": "object"}}}},
    "AdminMaintenanceList": {"type": "object", "required": ["maintenances"], "properties": {
        "maintenances": {"type": "array", "items": {"$ref": openapi.REF + "AdminMaintenance"}}}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": openapi.REF + "Error"}}}}


@dataclass(frozen=True)
class AdminRouteDoc(openapi.RouteDoc):
    """An admin route: bearer auth, a JSON body for POSTs, the errors it may answer."""

    body: str | None = None  # the request body's schema name
    created: bool = False
    max_body: int = 64 * 1024  # bytes, for the 413 answer's description

    def operation(self) -> dict[str, Any]:
        ok = {"description": "OK", "content": {"application/json": {"schema": self.schema}}}
        responses: dict[str, Any] = {"201" if self.created else "200": ok}
        responses["401"] = {**_error("No token or a wrong one"),
                            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}}
        responses["404"] = _error("Unknown id, or the admin API is off (no token configured)")
        operation: dict[str, Any] = {"summary": self.summary, "tags": list(self.tags),
                                     "security": [{"bearerAuth": []}], "parameters": self.parameters}
        if self.method == "post":
            responses["400"] = _error("Malformed JSON")
            responses["409"] = _error("Conflicts with the current state (already resolved, overlapping window…)")
            responses["413"] = _error(f"Body larger than {self.max_body // 1024} KiB")
            responses["422"] = _error("Wrong types, unknown fields, services or operator, a time in the past…")
        if self.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": openapi.REF + self.body}}}}
        return {**operation, "responses": responses}


def document(routes: Sequence[AdminRoute], prefix: str, max_body: int) -> None:
    """Add the admin routes, their schemas and the bearer scheme to the OpenAPI document."""
    openapi.SCHEMAS.update(SCHEMAS)
    openapi.SECURITY_SCHEMES["bearerAuth"] = {
        "type": "http", "scheme": "bearer", "description": "the token in $VIGIE_ADMIN_TOKEN of the running instance"}
    status = {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}}
    for method, path, _, summary, body, response in routes:
        params = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}] if "{id" in path else []
        if method == "GET" and "{id" not in path:
            params.append(status)
        if body is not None:
            schema = body.model_json_schema(ref_template=openapi.REF + "{model}")
            openapi.SCHEMAS.update(schema.pop("$defs", {}))
            openapi.SCHEMAS[body.__name__] = schema
        openapi.register(AdminRouteDoc(
            prefix + path.replace(r":\d{1,18}", ""), summary, schema={"$ref": openapi.REF + response}, parameters=params,
            tags=("admin",), method=method.lower(), body=body.__name__ if body is not None else None, created=summary.endswith("(201)"),
            max_body=max_body))
