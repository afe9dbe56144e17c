"""Prometheus metrics on a registry the caller owns (no module-level globals).

Probe families are fed by every measurement as it reaches the core; current
states (statuses, open incidents, the outbox, the service's own health) are
read at scrape time by collectors — the database-backed ones from `Readings`,
refreshed on a reader thread just before each scrape — so a series can never
go stale and a scrape never touches SQLite on the event loop.
"""

from __future__ import annotations

import bisect
import os
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor import __version__
from monitor.keys import Key
from monitor.measurement import Measurement
from monitor.statuses import CHECK_STATUSES, COMPONENT_STATUSES, Outcome

if TYPE_CHECKING:
    from monitor.engine import Engine
    from monitor.storage import Store

LABELS = ("operator", "service", "check")
PROBE_LABELS = (*LABELS, "location")  # what one check's probes from one place show


@lru_cache(maxsize=1 << 16)
def check_labels(key: str) -> tuple[str, ...]:
    """A check key's label values, parsed (and validated) once per key: observe runs at every probe."""
    return tuple(Key.check_of(key).labels())


@lru_cache(maxsize=1 << 16)
def service_labels(key: str) -> tuple[str, ...]:
    return tuple(Key.service_of(key).labels())


DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DELIVERY_OUTCOMES = ("delivered", "retry", "dead")
OUTBOX_STATUSES = ("pending", "delivered", "dead", "suppressed")


class _CheckSeries:
    """What the scrape shows of one check: its last probe, and the counts of its durations."""

    __slots__ = ("labels", "success", "buckets", "total", "count", "phases", "cert_not_after", "status")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = list(labels)
        self.success = 0.0
        self.buckets = array("Q", bytes(8 * (len(DURATION_BUCKETS) + 1)))  # the last is +Inf
        self.total = 0.0
        self.count = 0
        self.phases: dict[str, float] = {}
        self.cert_not_after: float | None = None
        self.status: int | None = None


class _Lateness:
    """How late one location's scheduler starts its probes."""

    __slots__ = ("buckets", "total", "count")

    def __init__(self) -> None:
        self.buckets = array("Q", bytes(8 * (len(LATENESS_BUCKETS) + 1)))
        self.total = 0.0
        self.count = 0


class ProbeMetrics(Collector):
    """The per-check probe families, labelled with the location probed from, fed by ``observe``.

    A compact record per (check, location), turned into metric families at scrape time:
    prometheus_client's own children cost about 5 KB a check (a histogram of 13 buckets, five
    phase gauges, locks), which at ten thousand checks was most of the core's memory.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.checks: dict[str, dict[str, _CheckSeries]] = {}  # location -> check key -> series
        self.lateness: dict[str, _Lateness] = {}  # location -> its scheduler's lateness
        self.last_probe = 0.0
        registry.register(self)

    def observe(self, m: Measurement) -> None:
        at = self.checks.get(m.location)
        if at is None:
            at = self.checks[m.location] = {}
            self.lateness[m.location] = _Lateness()
        series = at.get(m.key)
        if series is None:
            series = at[m.key] = _CheckSeries((*check_labels(m.key), m.location))
        series.success = 0.0 if m.outcome == Outcome.DOWN else 1.0
        series.buckets[bisect.bisect_left(DURATION_BUCKETS, m.duration)] += 1
        series.total += m.duration
        series.count += 1
        if m.phases:
            series.phases = m.phases
        if m.cert_not_after is not None:
            series.cert_not_after = m.cert_not_after
        if m.status is not None:
            series.status = m.status
        lateness = self.lateness[m.location]
        lateness.buckets[bisect.bisect_left(LATENESS_BUCKETS, m.lateness)] += 1
        lateness.total += m.lateness
        lateness.count += 1
        self.last_probe = max(self.last_probe, m.at + m.duration)

    def collect(self) -> Iterator[Any]:
        # copies: observe runs on the loop, a scrape on a thread
        checks = [series for at in list(self.checks.values()) for series in list(at.values())]
        labels = PROBE_LABELS
        success = GaugeMetricFamily("vigie_probe_success", "1 if the last probe passed its down-severity conditions", labels=labels)
        duration = HistogramMetricFamily("vigie_probe_duration_seconds", "Duration of probes", labels=labels)
        phases = GaugeMetricFamily("vigie_probe_phase_duration_seconds", "Duration of each phase of the last probe",
                                   labels=labels + ("phase",))
        cert = GaugeMetricFamily("vigie_tls_cert_expiry_timestamp_seconds",
                                 "Expiry of the certificate the endpoint presented, Unix time", labels=labels)
        status = GaugeMetricFamily("vigie_probe_http_status_code", "HTTP status code of the last probe's answer", labels=labels)
        for series in checks:
            success.add_metric(series.labels, series.success)
            duration.add_metric(series.labels, _cumulative(DURATION_BUCKETS, series.buckets), series.total)
            for phase, seconds in series.phases.items():
                phases.add_metric([*series.labels, phase], seconds)
            if series.cert_not_after is not None:
                cert.add_metric(series.labels, series.cert_not_after)
            if series.status is not None:
                status.add_metric(series.labels, series.status)
        yield from (success, duration, phases, cert, status)
        lateness = HistogramMetricFamily(
            "vigie_scheduler_lateness_seconds", "Delay between a probe's planned and actual start", labels=("location",)
        )
        for location, late in list(self.lateness.items()):
            lateness.add_metric([location], _cumulative(LATENESS_BUCKETS, late.buckets), late.total)
        yield lateness
        # Stuck-prober signal: the core may still serve /metrics while no probe runs.
        yield GaugeMetricFamily("vigie_scheduler_last_probe_timestamp_seconds", "When the last probe finished, Unix time",
                                value=self.last_probe)


def _cumulative(bounds: tuple[float, ...], counts: array) -> list[tuple[str, float]]:
    """Prometheus' cumulative buckets ("le", count) from per-bucket counts, +Inf last."""
    out, running = [], 0
    for bound, n in zip((*bounds, float("inf")), counts):
        running += n
        out.append((floatToGoString(bound), float(running)))
    return out


@dataclass
class Readings:
    """What the scrape shows that lives in the database; ``read`` runs on a reader thread."""

    open_incidents: dict[str, int] = field(default_factory=dict)
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)
    database_bytes: int = 0

    def read(self, store: Store) -> None:
        counts: dict[str, int] = {}
        for incident in store.open_incidents():
            counts[incident.operator_id] = counts.get(incident.operator_id, 0) + 1
        self.open_incidents = counts
        self.outbox = store.outbox_counts()
        size = 0
        if store.path != ":memory:":
            for suffix in ("", "-wal"):
                try:
                    size += os.path.getsize(store.path + suffix)
                except OSError:
                    pass
        self.database_bytes = size


class StateCollector(Collector):
    """Checks', services' and incidents' current state, and the service's own health."""

    def __init__(self, engine: Engine, readings: Readings, health: Callable[[], dict[str, Any]]) -> None:
        self.engine = engine
        self.readings = readings
        self.health = health

    def collect(self) -> Iterator[Any]:
        engine = self.engine
        checks = GaugeMetricFamily("vigie_check_status", "Current status of a check (1 for the current one)", labels=LABELS + ("status",))
        for key, state in dict(engine.check_states).items():  # a copy: the writer thread replaces values
            for status in CHECK_STATUSES:
                checks.add_metric([*check_labels(key), status.value], 1.0 if state.status == status else 0.0)
        yield checks
        components = GaugeMetricFamily(
            "vigie_component_status", "Current status of a service (1 for the current one)", labels=("operator", "service", "status")
        )
        for key, (current, _) in dict(engine.service_states).items():  # a copy: the writer thread replaces values
            for component_status in COMPONENT_STATUSES:
                components.add_metric(
                    [*service_labels(key), component_status.value], 1.0 if current == component_status else 0.0
                )
        yield components
        incidents = GaugeMetricFamily("vigie_open_incidents", "Unresolved incidents", labels=("operator",))
        counts = {operator.id: 0 for operator in engine.config.operators} | self.readings.open_incidents
        for operator_id, count in counts.items():
            incidents.add_metric([operator_id], count)
        yield incidents
        yield from _reports_families(engine)
        yield from _location_families(engine)
        yield GaugeMetricFamily("vigie_checks_configured", "Checks in the configuration", value=len(engine.targets))
        yield GaugeMetricFamily(
            "vigie_database_size_bytes", "Size of the SQLite database and its WAL", value=self.readings.database_bytes
        )
        info = InfoMetricFamily("vigie_build", "Vigie's version")
        info.add_metric([], {"version": __version__})
        yield info
        yield from _health_families(self.health())


def _reports_families(engine: Any) -> Iterator[Any]:
    """Professionals' reports per service as last judged against their baseline (``monitor.surge``)."""
    level = GaugeMetricFamily(
        "vigie_service_reports_level", "Reports on a service against its baseline (1 for the current level)",
        labels=("operator", "service", "level"),
    )
    count = GaugeMetricFamily(
        "vigie_service_reports", "Reporters of a service in the last hour, when last judged", labels=("operator", "service"))
    rows = dict(engine.surges.rows)  # a copy: the writer thread replaces values
    for key in engine.services:
        row = rows.get(key)
        for name in ("calm", "rising", "strong"):
            level.add_metric([*service_labels(key), name], 1.0 if (row.level if row else "calm") == name else 0.0)
        count.add_metric(service_labels(key), row.count if row else 0)
    yield level
    yield count


def _location_families(engine: Any) -> Iterator[Any]:
    """What each location sees of each check, which ones disagree, and which are set aside (isolated)."""
    seen = GaugeMetricFamily(
        "vigie_check_location_status", "Status of a check as one location judges it (1 for the current one)",
        labels=(*LABELS, "location", "status"),
    )
    for (key, location), state in dict(engine.location_states).items():  # copies: the writer thread replaces values
        for status in CHECK_STATUSES:
            seen.add_metric([*check_labels(key), location, status.value], 1.0 if state.status == status else 0.0)
    yield seen
    disagree = GaugeMetricFamily(
        "vigie_check_locations_disagreeing", "Usable locations that see a check otherwise than the consensus",
        labels=LABELS,
    )
    for key, locations in dict(engine.disagree).items():
        disagree.add_metric(check_labels(key), len(locations))
    yield disagree
    isolated = GaugeMetricFamily("vigie_location_isolated", "1 while a location is isolated (its results set aside)",
                                 labels=("location",))
    for location, vantage in dict(engine.vantages).items():
        isolated.add_metric([location], 1.0 if vantage.isolated else 0.0)
    yield isolated
    yield GaugeMetricFamily("vigie_checks_unjudged", "Checks no quorum of locations can judge now", value=len(engine.blind))


def _health_families(health: dict[str, Any]) -> Iterator[Any]:
    """The service's own state: is it able to measure, judge and store right now?"""
    yield GaugeMetricFamily("vigie_scheduler_healthy", "1 while the chores run and the local prober reports", value=float(health["scheduler"]))
    yield GaugeMetricFamily("vigie_probes_in_flight", "Probes running now", value=health["in_flight"])
    locations = GaugeMetricFamily("vigie_location_up", "1 while a location's prober reports", labels=("location",))
    for location, up in health["locations"].items():
        locations.add_metric([location], 1.0 if up else 0.0)
    yield locations
    yield GaugeMetricFamily("vigie_store_healthy", "1 while the store can write", value=1.0 if health["store_ok"] else 0.0)
    yield GaugeMetricFamily("vigie_results_waiting", "Probe results received and not yet written", value=health["waiting"])
    yield CounterMetricFamily("vigie_results_dropped", "Probe results lost because the waiting queue overflowed", value=health["dropped"])
    yield CounterMetricFamily("vigie_store_write_failures", "Writes that failed because of the store", value=health["store_failures"])
    yield CounterMetricFamily("vigie_prober_restarts", "Times the local prober had to be started again", value=health["restarts"])
    yield CounterMetricFamily("vigie_probe_runs_skipped", "Planned probe runs skipped because the previous one was still running", value=health["skipped"])


class AlertMetrics:
    """Alert deliveries by channel and outcome (counted as they happen) and the outbox backlog (read at scrape).

    Labels are channel ids of the config (all public subscribers are one ``subscribers`` series);
    never delivery ids, addresses or errors.
    """

    def __init__(self, registry: CollectorRegistry, channels: list[str], readings: Readings) -> None:
        from prometheus_client import Counter

        self.deliveries = Counter(
            "vigie_alert_deliveries", "Alert delivery attempts by channel and outcome", ("channel", "outcome"),
            registry=registry,
        )
        for channel in channels:
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(channel, outcome)
        registry.register(_OutboxCollector(readings, channels))

    def observe(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel, outcome).inc()


class _OutboxCollector(Collector):
    def __init__(self, readings: Readings, channels: list[str]) -> None:
        self.readings = readings
        self.channels = channels

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily("vigie_alert_outbox", "Deliveries in the outbox by channel and status", labels=("channel", "status"))
        counts: dict[tuple[str, str], int] = {(c, s): 0 for c in self.channels for s in OUTBOX_STATUSES}
        for (channel, status), n in self.readings.outbox.items():
            label = "subscribers" if channel.startswith("subscriber:") else channel
            counts[(label, status)] = counts.get((label, status), 0) + n
        for (channel, status), n in sorted(counts.items()):
            family.add_metric([channel, status], n)
        yield family
