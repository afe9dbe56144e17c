"""Deployment files: the production config validates, the systemd unit verifies, the dashboard imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.conftest import DEPLOY, ROOT

DASHBOARD = DEPLOY / "grafana" / "vigie-dashboard.json"
SECRETS = {
    "VIGIE_SMTP_PASSWORD": "not-a-real-password",
    "VIGIE_WEBHOOK_URL": "https://hooks.example.org/vigie",
    "VIGIE_WEBHOOK_SECRET": "whsec_bm90LWEtcmVhbC1zZWNyZXQ=",
}


def vigie(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_it_validates_the_production_config_with_its_secrets_from_the_environment() -> None:
    result = vigie("validate", "-c", str(DEPLOY / "config.production.yaml"), env=SECRETS)
    assert result.returncode == 0, result.stderr
    assert "2 alert channels" in result.stdout
    for secret in SECRETS.values():
        assert secret not in result.stdout + result.stderr


def test_it_refuses_the_production_config_without_its_secrets() -> None:
    result = vigie("validate", "-c", str(DEPLOY / "config.production.yaml"))
    assert result.returncode == 2
    assert "environment variable VIGIE_SMTP_PASSWORD is not set" in result.stderr


def test_it_ships_a_systemd_unit_that_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "vigie.service").read_text()
    for directive in (
        "DynamicUser=yes", "StateDirectory=vigie", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
        "PrivateTmp=yes", "SystemCallFilter=@system-service", "LimitNOFILE=65536", "EnvironmentFile=/etc/vigie/vigie.env",
        "ExecStart=vigie run -c /etc/vigie/config.yaml --db /var/lib/vigie/vigie.db --listen 127.0.0.1:8080",
    ):
        assert f"\n{directive}\n" in unit, directive
    assert "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" in unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify resolves ExecStart on this machine: point it at this checkout's `vigie`
    executable = Path(sys.executable).with_name("vigie")
    (tmp_path / "vigie.service").write_text(unit.replace("ExecStart=vigie ", f"ExecStart={executable} "))
    result = subprocess.run([analyze, "verify", str(tmp_path / "vigie.service")], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if "vigie.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_it_ships_a_dashboard_that_imports_in_one_click() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Vigie — tiers payant" and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["operator"]["definition"].startswith("label_values(")
    assert variables["service"]["definition"].startswith("label_values(")
    assert variables["location"]["definition"].startswith("label_values(") and variables["location"]["includeAll"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    assert "__inputs" not in dashboard  # nothing to fill in but the data source variable


def test_it_draws_one_latency_curve_per_check_and_location() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "vigie_probe_duration_seconds" in t["expr"]]
    assert exprs and all("by (operator, service, check, location, le)" in e and 'location=~"$location"' in e for e in exprs)
