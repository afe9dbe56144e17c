"""`/metrics` of a running demo: clean for `promtool check metrics`, complete, with bounded labels."""

from __future__ import annotations

import re
import subprocess
from collections import Counter

from tests.ops.conftest import sample_value, tool

FAMILIES = (
    "vigie_probe_success",
    "vigie_probe_duration_seconds",
    "vigie_probe_phase_duration_seconds",
    "vigie_probe_http_status_code",
    "vigie_tls_cert_expiry_timestamp_seconds",
    "vigie_check_status",
    "vigie_component_status",
    "vigie_open_incidents",
    "vigie_scheduler_lateness_seconds",
    "vigie_scheduler_last_probe_timestamp_seconds",
    "vigie_probes_in_flight",
    "vigie_checks_configured",
    "vigie_database_size_bytes",
    "vigie_build_info",
    "vigie_http_connections",
    "vigie_http_connections_limit",
    "vigie_http_connections_closed_total",
)
ALLOWED_LABELS = {"operator", "service", "check", "status", "phase", "channel", "outcome", "state", "reason", "le", "version",
                  "location",  # location: fixed by the contract
                  "route", "code",  # the agent API's two routes and the HTTP codes it answers
                  "level"}  # a service's reports level: calm, rising, strong
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, line
            out.append((match["name"], dict(LABEL.findall(match["labels"] or ""))))
    return out


def test_it_passes_promtool_check_metrics(probed_scrape: str) -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=probed_scrape, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stdout + result.stderr


def test_it_exposes_every_family_the_contract_asks_for(probed_scrape: str) -> None:
    declared = set(re.findall(r"^# TYPE (\S+) ", probed_scrape, flags=re.M))
    assert set(FAMILIES) <= declared, set(FAMILIES) - declared
    names = {name for name, _ in samples(probed_scrape)}
    for family in FAMILIES:
        assert any(n == family or n.startswith(family + "_") for n in names), f"{family} has no sample"


def test_it_keeps_labels_to_a_bounded_set(probed_scrape: str) -> None:
    rows = samples(probed_scrape)
    for name, labels in rows:
        assert set(labels) <= ALLOWED_LABELS, (name, labels)
        for value in labels.values():
            assert "://" not in value and " " not in value, (name, labels)  # no URL, no error text
    checks = sample_value(probed_scrape, "vigie_checks_configured")
    measured = len([1 for name, _ in rows if name == "vigie_probe_success"])  # one per check and location
    assert checks and measured >= checks
    assert len(rows) < 40 * measured, Counter(n for n, _ in rows).most_common(5)


def test_it_reports_the_scripted_certificate_and_statuses(probed_scrape: str) -> None:
    rows = samples(probed_scrape)
    kalixia = [labels for n, labels in rows
               if n == "vigie_tls_cert_expiry_timestamp_seconds" and labels["operator"] == "kalixia"]
    assert kalixia
    current = [labels["status"] for n, labels in rows if n == "vigie_check_status"]
    assert set(current) <= {"unknown", "up", "degraded", "down"}
