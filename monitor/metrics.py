"""Prometheus metrics on a registry the caller owns (no module-level globals).

Counters and histograms are fed as observations arrive; current states
(statuses, open incidents, in-flight probes) are read from the engine at
scrape time by a collector, so a series can never go stale.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.engine import Engine, Observation
from monitor.keys import Key
from monitor.statuses import CHECK_STATUSES, COMPONENT_STATUSES, Outcome

LABELS = ("operator", "service", "check")


@lru_cache(maxsize=1 << 16)
def check_labels(key: str) -> tuple[str, ...]:
    """A check key's label values, parsed (and validated) once per key: observe runs at every probe."""
    return tuple(Key.check_of(key).labels())


@lru_cache(maxsize=1 << 16)
def service_labels(key: str) -> tuple[str, ...]:
    return tuple(Key.service_of(key).labels())
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Vigie's metric families, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, engine: Engine) -> None:
        self.registry = registry
        self.probe_success = Gauge(
            "vigie_probe_success", "1 if the last probe passed its down-severity conditions", LABELS, registry=registry
        )
        self.probe_duration = Histogram(
            "vigie_probe_duration_seconds", "Duration of probes", LABELS, buckets=DURATION_BUCKETS, registry=registry
        )
        self.phase_duration = Gauge(
            "vigie_probe_phase_duration_seconds",
            "Duration of each phase of the last probe",
            LABELS + ("phase",),
            registry=registry,
        )
        self.cert_expiry = Gauge(
            "vigie_tls_cert_expiry_timestamp_seconds",
            "Expiry of the certificate the endpoint presented, Unix time",
            LABELS,
            registry=registry,
        )
        self.lateness = Histogram(
            "vigie_scheduler_lateness_seconds",
            "Delay between a probe's planned and actual start",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.http_status = Gauge(
            "vigie_probe_http_status_code", "HTTP status code of the last probe's answer", LABELS, registry=registry
        )
        # Stuck-scheduler signal: the event loop may still serve /metrics while no probe runs.
        self.last_probe = Gauge(
            "vigie_scheduler_last_probe_timestamp_seconds",
            "When the last probe finished, Unix time",
            registry=registry,
        )
        registry.register(_StateCollector(engine))
        engine.listeners.append(self._on_event)

    def _on_event(self, kind: str, payload: Any) -> None:
        if kind == "observation":
            self.observe(payload)

    def observe(self, observation: Observation) -> None:
        labels = check_labels(observation.key)
        result = observation.result
        self.probe_success.labels(*labels).set(0 if observation.assessment.outcome == Outcome.DOWN else 1)
        self.probe_duration.labels(*labels).observe(result.duration)
        for phase, seconds in result.phases.items():
            self.phase_duration.labels(*labels, phase).set(seconds)
        if result.cert is not None:
            self.cert_expiry.labels(*labels).set(result.cert.not_after)
        if result.status is not None:
            self.http_status.labels(*labels).set(result.status)
        self.lateness.observe(observation.lateness)
        self.last_probe.set(result.started_at + result.duration)


class _StateCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        engine = self.engine
        checks = GaugeMetricFamily("vigie_check_status", "Current status of a check (1 for the current one)", labels=LABELS + ("status",))
        for key, state in engine.check_states.items():
            for status in CHECK_STATUSES:
                checks.add_metric([*check_labels(key), status.value], 1.0 if state.status == status else 0.0)
        yield checks
        components = GaugeMetricFamily(
            "vigie_component_status", "Current status of a service (1 for the current one)", labels=("operator", "service", "status")
        )
        for key, (current, _) in engine.service_states.items():
            for component_status in COMPONENT_STATUSES:
                components.add_metric(
                    [*service_labels(key), component_status.value], 1.0 if current == component_status else 0.0
                )
        yield components
        incidents = GaugeMetricFamily("vigie_open_incidents", "Unresolved incidents", labels=("operator",))
        counts = {operator.id: 0 for operator in engine.config.operators}
        for incident in engine.store.open_incidents():
            counts[incident.operator_id] = counts.get(incident.operator_id, 0) + 1
        for operator_id, count in counts.items():
            incidents.add_metric([operator_id], count)
        yield incidents
        yield GaugeMetricFamily("vigie_probes_in_flight", "Probes running now", value=engine.in_flight)
        yield GaugeMetricFamily("vigie_checks_configured", "Checks in the configuration", value=len(engine.targets))
        size = 0
        if engine.store.path != ":memory:":
            for suffix in ("", "-wal"):
                try:
                    size += os.path.getsize(engine.store.path + suffix)
                except OSError:
                    pass
        yield GaugeMetricFamily("vigie_database_size_bytes", "Size of the SQLite database and its WAL", value=size)
        info = InfoMetricFamily("vigie_build", "Vigie's version")
        info.add_metric([], {"version": __version__})
        yield info


DELIVERY_OUTCOMES = ("delivered", "retry", "dead")
OUTBOX_STATUSES = ("pending", "delivered", "dead", "suppressed")


class AlertMetrics:
    """Alert deliveries by channel and outcome (counted as they happen) and the outbox backlog (read at scrape).

    Labels are channel ids of the config (all public subscribers are one ``subscribers`` series);
    never delivery ids, addresses or errors.
    """

    def __init__(self, registry: CollectorRegistry, engine: Engine, channels: list[str]) -> None:
        self.deliveries = Counter(
            "vigie_alert_deliveries", "Alert delivery attempts by channel and outcome", ("channel", "outcome"),
            registry=registry,
        )
        for channel in channels:
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(channel, outcome)
        registry.register(_OutboxCollector(engine, channels))

    def observe(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel, outcome).inc()


class _OutboxCollector(Collector):
    def __init__(self, engine: Engine, channels: list[str]) -> None:
        self.engine = engine
        self.channels = channels

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily("vigie_alert_outbox", "Deliveries in the outbox by channel and status", labels=("channel", "status"))
        counts: dict[tuple[str, str], int] = {(c, s): 0 for c in self.channels for s in OUTBOX_STATUSES}
        for (channel, status), n in self.engine.store.outbox_counts().items():
            label = "subscribers" if channel.startswith("subscriber:") else channel
            counts[(label, status)] = counts.get((label, status), 0) + n
        for (channel, status), n in sorted(counts.items()):
            family.add_metric([channel, status], n)
        yield family
