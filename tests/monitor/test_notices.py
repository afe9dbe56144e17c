"""Certificate expiry is a notice: recorded and shown, never a status (item 4)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from monitor.conditions import assess, parse_condition
from monitor.config import ConfigError, parse_config
from monitor.measurement import Measurement
from monitor.metrics import ProbeMetrics
from probes.base import CertInfo, ProbeResult

NOW = 1_800_000_000.0
DAY = 86400.0
CONDITIONS = [parse_condition("status == 200"), parse_condition("cert_expires_in > 14d")]


def result(days_left: float, error: str | None = None) -> ProbeResult:
    return ProbeResult(started_at=NOW, duration=0.1, status=None if error else 200, error=error,
                       cert=CertInfo("s", "i", NOW - 300 * DAY, NOW + days_left * DAY))


def test_it_makes_cert_expiry_a_notice_by_default() -> None:
    assert parse_condition("cert_expires_in > 14d").severity == "notice"
    assert parse_condition("status == 200").severity == "down"


def test_it_keeps_a_service_up_whose_certificate_expires_in_9_days() -> None:
    assessment = assess(result(9.5), CONDITIONS, NOW)
    assert assessment.outcome == "up"
    assert assessment.reasons == []
    assert assessment.notices == ["cert_expires_in > 14d: certificate expires in 9 days"]


def test_it_says_nothing_of_a_certificate_far_from_expiry() -> None:
    assert assess(result(90), CONDITIONS, NOW).notices == []


def test_it_is_down_when_the_handshake_fails_on_an_expired_certificate() -> None:
    assessment = assess(result(-2, error="TLS: certificate has expired"), CONDITIONS, NOW)
    assert assessment.outcome == "down"
    assert assessment.reasons == ["TLS: certificate has expired"]


def test_it_refuses_a_cert_expiry_condition_that_would_change_the_status() -> None:
    with pytest.raises(ValueError, match="cert_expires_in is a notice"):
        parse_condition("cert_expires_in > 14d", severity="degraded")


def test_it_says_why_in_the_config_when_cert_expiry_is_given_a_severity() -> None:
    text = """
operators:
  - id: kalixia
    name: Kalixia
    services:
      - id: portail
        name: {fr: Portail}
        checks:
          - id: certificat
            type: tls
            host: kalixia.example
            conditions: [{condition: "cert_expires_in > 14d", severity: degraded}]
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert "cert_expires_in is a notice" in str(caught.value)


def test_it_accepts_notice_as_an_explicit_severity() -> None:
    assert parse_condition("response_time < 500ms", severity="notice").severity == "notice"
    assessment = assess(ProbeResult(started_at=NOW, duration=0.9, status=200),
                        [parse_condition("response_time < 500ms", severity="notice")], NOW)
    assert assessment.outcome == "up" and assessment.notices == ["response_time < 500ms: 900ms"]


def test_it_carries_the_notice_and_the_expiry_in_the_measurement_and_the_metric() -> None:
    probe = result(9.5)
    m = Measurement.of("kalixia/portail/certificat", probe, assess(probe, CONDITIONS, NOW))
    back = Measurement.from_wire(m.to_wire(), "local")
    assert back.notices == ("cert_expires_in > 14d: certificate expires in 9 days",) and back.outcome == "up"
    registry = CollectorRegistry()
    ProbeMetrics(registry).observe(back)
    labels = {"operator": "kalixia", "service": "portail", "check": "certificat", "location": "local"}
    assert registry.get_sample_value("vigie_tls_cert_expiry_timestamp_seconds", labels) == NOW + 9.5 * DAY
    assert registry.get_sample_value("vigie_probe_success", labels) == 1.0


def test_it_refuses_notices_of_the_wrong_shape_on_the_wire() -> None:
    from monitor.measurement import BadMeasurement

    wire = {"key": "a/b/c", "at": NOW, "duration": 0.1, "outcome": "up", "notices": "not a list"}
    with pytest.raises(BadMeasurement, match="notices"):
        Measurement.from_wire(wire, "local")
