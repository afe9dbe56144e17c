"""The alert rules and the example Prometheus config, through promtool."""

from __future__ import annotations

import subprocess

import yaml

from tests.ops.conftest import DEPLOY, tool

RULES = DEPLOY / "prometheus" / "vigie-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "vigie-rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60
    )


def test_it_passes_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 15 rules found" in result.stdout


def test_it_passes_the_rules_unit_tests() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_it_tests_every_alert_firing_and_not_firing() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    fired, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for expectation in case.get("alert_rule_test", []):
            (fired if expectation.get("exp_alerts") else quiet).add(expectation["alertname"])
    assert fired == alerts and quiet == alerts


def test_it_gives_every_alert_a_severity_and_a_summary() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_it_ships_a_valid_example_prometheus_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
