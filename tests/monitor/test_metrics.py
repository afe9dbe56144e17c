"""The probe families: compact records per check, exposed at scrape time as Prometheus expects them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.measurement import Measurement
from monitor.metrics import ProbeMetrics

KEY = "almerys/pec/api"


def scrape(registry: CollectorRegistry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_it_counts_durations_in_cumulative_buckets_with_le_inclusive() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    for duration in (0.003, 0.005, 0.2, 0.25, 3.0, 45.0):  # 0.005 and 0.25 sit on a bound: they count in it
        metrics.observe(Measurement(KEY, 1.8e9, duration, "up", lateness=0.002))
    samples = scrape(registry)
    labels = (("check", "api"), ("location", "local"), ("operator", "almerys"), ("service", "pec"))
    buckets = {dict(k)["le"]: v for k, v in samples["vigie_probe_duration_seconds_bucket"].items()}
    assert buckets["0.005"] == 2 and buckets["0.1"] == 2 and buckets["0.25"] == 4 and buckets["5.0"] == 5
    assert buckets["30.0"] == 5 and buckets["+Inf"] == 6
    assert samples["vigie_probe_duration_seconds_count"][labels] == 6
    assert abs(samples["vigie_probe_duration_seconds_sum"][labels] - 48.458) < 1e-9
    assert samples["vigie_scheduler_lateness_seconds_count"][(("location", "local"),)] == 6


def test_it_shows_the_last_probe_of_each_check() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.observe(Measurement(KEY, 1.8e9, 0.1, "up", status=200, phases={"connect": 0.01, "first_byte": 0.05},
                                cert_not_after=1.9e9))
    metrics.observe(Measurement(KEY, 1.8e9 + 30, 0.1, "down", status=503, phases={"connect": 0.02, "first_byte": 0.07}))
    samples = scrape(registry)
    labels = (("check", "api"), ("location", "local"), ("operator", "almerys"), ("service", "pec"))
    assert samples["vigie_probe_success"][labels] == 0
    assert samples["vigie_probe_http_status_code"][labels] == 503
    assert samples["vigie_tls_cert_expiry_timestamp_seconds"][labels] == 1.9e9  # the last one that presented one
    phases = {dict(k)["phase"]: v for k, v in samples["vigie_probe_phase_duration_seconds"].items()}
    assert phases == {"connect": 0.02, "first_byte": 0.07}
    assert samples["vigie_scheduler_last_probe_timestamp_seconds"][()] == 1.8e9 + 30.1


def test_it_shows_each_location_of_a_check_as_its_own_series() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.observe(Measurement(KEY, 1.8e9, 0.1, "up", lateness=0.001, cert_not_after=1.9e9))
    metrics.observe(Measurement(KEY, 1.8e9, 2.5, "down", lateness=3.0, location="lyon"))
    metrics.observe(Measurement(KEY, 1.8e9 + 30, 2.6, "down", lateness=3.0, location="lyon"))
    samples = scrape(registry)
    common = (("check", "api"), ("operator", "almerys"), ("service", "pec"))

    def at(location: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((*common, ("location", location))))

    assert samples["vigie_probe_success"] == {at("local"): 1, at("lyon"): 0}
    assert samples["vigie_probe_duration_seconds_count"] == {at("local"): 1, at("lyon"): 2}
    assert samples["vigie_tls_cert_expiry_timestamp_seconds"] == {at("local"): 1.9e9}
    assert samples["vigie_scheduler_lateness_seconds_count"] == {(("location", "local"),): 1, (("location", "lyon"),): 2}
    slow = {dict(k)["location"]: v for k, v in samples["vigie_scheduler_lateness_seconds_bucket"].items() if dict(k)["le"] == "2.5"}
    assert slow == {"local": 1, "lyon": 0}
