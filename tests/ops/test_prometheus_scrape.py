"""A real Prometheus scrapes a running demo; every dashboard and rule expression must find series.

Approach for rules: most alert expressions are true only during an incident, so each rule is
reduced to its *witnesses* — every operand of ``and``/``or``/``unless`` with its threshold
comparison removed, and ``absent(x)`` turned into ``x`` — and each witness must return at least
one series: that proves every selector, label and function in the rule matches what Vigie
really exposes. The rules are also loaded into this Prometheus and must evaluate without error;
and the demo's script makes two of them really become active: Kalixia's certificate expires in
10 days (OperatorCertificateExpiringSoon) and Almerys' optical PEC goes down 6 s into every
one-minute cycle (OperatorServiceDown).

A metric that a panel or a rule names but the scrape does not expose at all fails its test,
named in the message: a dashboard or an alert that can never see data is a defect, not a skip.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.ops.conftest import CYCLE, DEPLOY, Demo, free_port, http_get, stop, tool, wait_for

DASHBOARD = DEPLOY / "grafana" / "vigie-dashboard.json"
RULES = DEPLOY / "prometheus" / "vigie-rules.yml"
GRAFANA_VARIABLES = {  # as Grafana would expand them with "All" selected
    "__rate_interval": "1m",
    "__range": "5m",
    "__interval": "15s",
    "operator": ".*",
    "service": ".*",
    "location": ".*",
}
COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool\b)?")
SET_OPERATOR = re.compile(r"\b(and|or|unless)\b")
METRIC = re.compile(r"\b(vigie_[a-z_]+|up)\b")


def expand(expr: str) -> str:
    """Grafana's template variables replaced: ``$x``, ``${x}`` and ``${x:format}``."""

    def replace(match: re.Match[str]) -> str:
        return GRAFANA_VARIABLES[match.group(1) or match.group(2)]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def _top_level(expr: str) -> Iterator[tuple[int, str]]:
    """(index, character) of ``expr`` outside brackets and quotes."""
    depth, quote = 0, ""
    for index, char in enumerate(expr):
        if quote:
            quote = "" if char == quote and expr[index - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            yield index, char


def _split(expr: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """``expr`` cut at the top-level matches of ``pattern``: [(part, operator before it)]."""
    top = {index for index, _ in _top_level(expr)}
    cuts = [m for m in pattern.finditer(expr) if m.start() in top]
    parts, start, before = [], 0, ""
    for match in cuts:
        parts.append((expr[start : match.start()], before))
        start, before = match.end(), match.group(1)
    parts.append((expr[start:], before))
    return parts


def witnesses(expr: str) -> list[str]:
    """The sub-expressions of a rule that must return series whatever the thresholds."""
    out = []
    for part, _ in _split(expr, SET_OPERATOR):
        side = _split(part, COMPARISON)[0][0].strip()
        if side.startswith("absent(") and side.endswith(")"):
            side = side[len("absent(") : -1]
        out.append(side)
    return out


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]
    return [
        (f"{p['title']} [{t['refId']}]", expand(t["expr"]))
        for p in panels
        for t in p.get("targets", [])
    ]


def dashboard_variables() -> list[tuple[str, str, str]]:
    out = []
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
            assert match, variable["definition"]
            out.append((variable["name"], expand(match.group(1)), match.group(2)))
    return out


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def rule_witnesses() -> list[tuple[str, str]]:
    return [(f"{r['alert']}: {w}", w) for r in rules() for w in witnesses(r["expr"])]


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen

    def api(self, path: str, **params: str) -> Any:
        status, body = http_get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        payload = json.loads(body)
        assert status == 200 and payload["status"] == "success", payload
        return payload["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]

    def names(self) -> set[str]:
        return set(self.api("label/__name__/values"))


@pytest.fixture(scope="module")
def prometheus(demo: Demo, probed_scrape: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus scraping the demo every second, started once every check has been probed."""
    binary = tool("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "vigie", "static_configs": [{"targets": [demo.url.removeprefix("http://")]}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    with open(workdir / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", process)
    try:
        wait_for("Prometheus ready", lambda: http_get(f"{server.url}/-/ready")[0] == 200 or None, 30, process)
        wait_for("the demo scraped", lambda: server.query('up{job="vigie"} == 1') or None, 20, process)
        yield server
    finally:
        stop(process)


def first_series(prometheus: Prometheus, expr: str, timeout: float = 15) -> list[dict[str, Any]]:
    """Series of ``expr``, polled until there is one (rates need two scrapes)."""
    unexposed = set(METRIC.findall(expr)) - prometheus.names()
    if unexposed:
        pytest.fail(f"{expr} names {', '.join(sorted(unexposed))}, which the scrape of the demo does not expose")
    deadline = time.monotonic() + timeout
    while True:
        result = prometheus.query(expr)
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"no series for {expr}")
        time.sleep(0.2)  # polling step


@pytest.mark.parametrize("expr", [e for _, e in dashboard_expressions()], ids=[i for i, _ in dashboard_expressions()])
def test_it_finds_series_for_every_dashboard_expression(prometheus: Prometheus, expr: str) -> None:
    first_series(prometheus, expr)


@pytest.mark.parametrize("name, match, label", dashboard_variables(), ids=[v[0] for v in dashboard_variables()])
def test_it_finds_values_for_every_dashboard_variable(prometheus: Prometheus, name: str, match: str, label: str) -> None:
    values = prometheus.api(f"label/{label}/values", **{"match[]": match})
    assert values, (name, match)
    # the demo's operators and services, and its one location: the central's own prober
    assert "almerys" in values or "pec-optique" in values or (label == "location" and "local" in values)


@pytest.mark.parametrize("expr", [e for _, e in rule_witnesses()], ids=[i for i, _ in rule_witnesses()])
def test_it_finds_series_for_every_rule_expression(prometheus: Prometheus, expr: str) -> None:
    first_series(prometheus, expr)


def test_it_reduces_rules_to_their_witnesses() -> None:
    assert witnesses('up{job="vigie"} == 0') == ['up{job="vigie"}']
    assert witnesses('absent(up{job="vigie"})') == ['up{job="vigie"}']
    assert witnesses('min by (a) (x{s=~"a|b"}) - time() < 14 * 86400') == ['min by (a) (x{s=~"a|b"}) - time()']
    assert witnesses("sum(a) > 10 and sum(deriv(b[15m])) > 0") == ["sum(a)", "sum(deriv(b[15m]))"]


def test_it_loads_and_evaluates_every_rule(prometheus: Prometheus) -> None:
    def all_evaluated() -> list[dict[str, Any]] | None:
        loaded = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        return loaded if loaded and all(r["health"] == "ok" for r in loaded) else None

    loaded = wait_for("every rule evaluated", all_evaluated, 15, prometheus.process)
    assert sorted(r["name"] for r in loaded) == sorted(r["alert"] for r in rules())


def active_alert(prometheus: Prometheus, name: str, **labels: str) -> dict[str, Any] | None:
    for alert in prometheus.api("alerts")["alerts"]:
        if alert["labels"]["alertname"] == name and labels.items() <= alert["labels"].items():
            return alert
    return None


def test_it_raises_the_certificate_alert_for_the_scripted_kalixia_certificate(prometheus: Prometheus) -> None:
    alert = wait_for(
        "OperatorCertificateExpiringSoon for kalixia",
        lambda: active_alert(prometheus, "OperatorCertificateExpiringSoon", operator="kalixia"),
        15,
        prometheus.process,
    )
    assert alert["state"] == "pending"  # `for: 10m`
    assert 9 * 86400 < float(alert["value"]) < 11 * 86400
    assert active_alert(prometheus, "OperatorCertificateExpiringSoon", operator="almerys") is None


def test_it_raises_the_service_down_alert_during_the_scripted_outage(prometheus: Prometheus, demo: Demo) -> None:
    # the outage starts 0.10 of a cycle in and is judged after 3 failed probes; wait for the next one
    elapsed = time.time() - demo.started
    timeout = CYCLE - (elapsed % CYCLE) + 0.45 * CYCLE if elapsed % CYCLE > 0.40 * CYCLE else 0.45 * CYCLE
    alert = wait_for(
        "OperatorServiceDown for almerys/pec-optique",
        lambda: active_alert(prometheus, "OperatorServiceDown", operator="almerys", service="pec-optique"),
        timeout,
        prometheus.process,
    )
    assert alert["labels"]["status"] in ("major_outage", "partial_outage") and alert["state"] == "pending"
