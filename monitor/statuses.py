"""Every status Vigie speaks of, in one place: checks, probe outcomes, components, incidents, maintenance.

Each vocabulary is a `StrEnum`: its members *are* the strings the contract,
the database, the JSON API, the metrics and the webhooks carry
(``ComponentStatus.MAJOR_OUTAGE == "major_outage"``, ``json.dumps`` and
SQLite write ``"major_outage"``, ``f"{status}"`` says ``major_outage``), so
nothing outside changes, while code names a status instead of spelling it and a
typo fails at import time. A value read back from SQLite or JSON is a plain
``str`` and compares equal to its member; ``parse`` gives the member back.

Why StrEnum rather than Literal aliases: one name per value, iteration in a
fixed order (the contract's), and a place for the orders and mappings below.
Where pydantic must validate a request body, it gets a ``Literal`` built
from these tuples (`monitor.statuses.literal`), so the OpenAPI schema stays
an inline ``{"enum": [...]}`` and strict JSON validation keeps taking plain
strings. On Python 3.11 ``"x" in SomeEnum`` raises, hence the tuples.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, TypeVar

E = TypeVar("E", bound=StrEnum)


class Outcome(StrEnum):
    """What one probe result was judged to be against its conditions (a condition's severity is one too)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class Severity(StrEnum):
    """What a failed condition makes of a result: the check down, degraded, or only a note beside it.

    ``notice`` never moves a status: it is recorded and shown (a certificate that expires in 9 days
    still works today). Its values are the outcomes' own, so ``Severity.DOWN == Outcome.DOWN``.
    """

    DOWN = "down"
    DEGRADED = "degraded"
    NOTICE = "notice"


class CheckStatus(StrEnum):
    """A check's status after the thresholds: ``unknown`` until its first verdict."""

    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class ComponentStatus(StrEnum):
    """A service's status: Statuspage's component values, in the contract's order."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


class IncidentStatus(StrEnum):
    """Statuspage's incident values; ``resolved`` closes an incident."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Indicator(StrEnum):
    """Statuspage's page indicator (``status.indicator``) and incident impact."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


# a component whose status is not known yet: None in the code; this word in the API
# (``vigie_status``), the page's CSS classes and the demo's narrator
NOT_KNOWN = "unknown"

OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
# what a failed condition may make of a result (a condition's ``severity``)
SEVERITIES: tuple[Severity, ...] = tuple(Severity)
CHECK_STATUSES: tuple[CheckStatus, ...] = tuple(CheckStatus)
COMPONENT_STATUSES: tuple[ComponentStatus, ...] = tuple(ComponentStatus)
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = tuple(IncidentStatus)
# what an incident can be opened or updated to without resolving it
OPEN_INCIDENT_STATUSES: tuple[IncidentStatus, ...] = tuple(s for s in IncidentStatus if s != IncidentStatus.RESOLVED)
MAINTENANCE_STATUSES: tuple[MaintenanceStatus, ...] = tuple(MaintenanceStatus)
INDICATORS: tuple[Indicator, ...] = tuple(Indicator)

# worst last: the order in which an operator shows "its worst service"
SEVERITY: dict[str, int] = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}
OUTAGES: frozenset[ComponentStatus] = frozenset({ComponentStatus.PARTIAL_OUTAGE, ComponentStatus.MAJOR_OUTAGE})
# uptime: time in these counts as available; time under maintenance is not observed at all
AVAILABLE: tuple[ComponentStatus, ...] = (ComponentStatus.OPERATIONAL, ComponentStatus.DEGRADED_PERFORMANCE)
OBSERVED: tuple[ComponentStatus, ...] = tuple(s for s in ComponentStatus if s != ComponentStatus.UNDER_MAINTENANCE)
# windows that still matter: not over, not called off
LIVE_MAINTENANCE: tuple[MaintenanceStatus, ...] = (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)

# Statuspage's page indicator for the worst component status (None: nothing known yet)
PAGE_INDICATOR: dict[str | None, Indicator] = {
    None: Indicator.NONE,
    ComponentStatus.OPERATIONAL: Indicator.NONE,
    ComponentStatus.UNDER_MAINTENANCE: Indicator.MAINTENANCE,
    ComponentStatus.DEGRADED_PERFORMANCE: Indicator.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: Indicator.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: Indicator.CRITICAL,
}


def parse(kind: type[E], value: object) -> E:
    """``value`` as a member of ``kind``; ValueError naming the allowed values otherwise."""
    try:
        return kind(value)  # type: ignore[arg-type]  # anything at all: what is no member fails below
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValueError(f"unknown {kind.__name__} {value!r} (one of: {allowed})") from None


def is_outage(status: str | None) -> bool:
    """Partial or major outage: what opens an incident."""
    return status in OUTAGES


def worst(statuses: Iterable[str | None]) -> ComponentStatus | None:
    """The worst known component status (an operator shows its worst service's); None if none is known."""
    known = [status for status in statuses if status is not None]
    return ComponentStatus(max(known, key=SEVERITY.__getitem__)) if known else None


def page_indicator(status: str | None) -> Indicator:
    """Statuspage's ``status.indicator`` for the page's worst component status."""
    return PAGE_INDICATOR[status]


def impact(reached: Iterable[str], auto: bool) -> Indicator:
    """Statuspage's incident impact: the worst status its services reached.

    Nothing reached yet: an automatic incident only opens on an outage, so it is
    at least ``major``; one a person opened by hand says ``minor`` until proven worse.
    """
    statuses = [status for status in reached if status in SEVERITY]
    if not statuses:
        return Indicator.MINOR if not auto else PAGE_INDICATOR[ComponentStatus.PARTIAL_OUTAGE]
    return PAGE_INDICATOR[worst(statuses)]


def literal(values: Iterable[StrEnum]) -> object:
    """A ``Literal[...]`` of these members' values, for pydantic models (inline enum schema, plain strings)."""
    return Literal[tuple(v.value for v in values)]
