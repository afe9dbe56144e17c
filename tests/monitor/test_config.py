"""Config loading: every broken file of tests/config_errors gives exactly its located errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "config_errors").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.*)$")

MINIMAL = """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {fr: "PEC optique", en: "Optical pre-authorisation"}
        professions: [opticien]
        checks:
          - id: api
            type: http
            url: "https://pec.example.org/health"
            headers: {Authorization: "Bearer ${TOKEN}"}
            conditions: ["status == 200", {condition: "response_time < 2s", severity: degraded}]
          - {id: tls, type: tls, host: pec.example.org, interval: 5m}
"""


def expectations(path: Path) -> list[tuple[int, int, str]]:
    out = []
    for line in path.read_text().splitlines():
        match = EXPECT.match(line)
        if match:
            out.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    return out


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_it_reports_each_broken_file_located(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    problems = caught.value.problems
    assert len(problems) == len(expected), "\n".join(map(str, problems))
    for (line, column, message), problem in zip(sorted(expected), problems):
        assert (problem.line, problem.column) == (line, column), str(problem)
        assert problem.message.startswith(message), str(problem)
        assert str(problem).startswith(f"{path}:{line}:{column}: ")


def test_it_inherits_defaults_into_checks() -> None:
    config = parse_config(MINIMAL, env={"TOKEN": "s3cret"}).config
    api = config.find_check("almerys/pec-optique/api")[2]
    tls = config.find_check("almerys/pec-optique/tls")[2]
    assert (api.interval, api.timeout, api.failure_threshold, api.success_threshold) == (60.0, 10.0, 3, 2)
    assert tls.interval == 300.0


def test_it_interpolates_environment_variables() -> None:
    config = parse_config(MINIMAL, env={"TOKEN": "s3cret"}).config
    assert config.find_check("almerys/pec-optique/api")[2].headers == {"Authorization": "Bearer s3cret"}


def test_it_keeps_a_literal_dollar_brace_when_escaped() -> None:
    text = MINIMAL.replace("Bearer ${TOKEN}", "$${LITERAL}")
    config = parse_config(text, env={}).config
    assert config.find_check("almerys/pec-optique/api")[2].headers == {"Authorization": "${LITERAL}"}


def test_it_parses_conditions_with_their_severity() -> None:
    api = parse_config(MINIMAL, env={"TOKEN": "x"}).config.find_check("almerys/pec-optique/api")[2]
    assert [(c.text, c.severity) for c in api.conditions] == [
        ("status == 200", "down"),
        ("response_time < 2s", "degraded"),
    ]


def test_it_reads_a_plain_string_name_as_french() -> None:
    config = parse_config(MINIMAL.replace('{fr: "PEC optique", en: "Optical pre-authorisation"}', "PEC optique"), env={"TOKEN": "x"}).config
    assert config.operators[0].services[0].name == {"fr": "PEC optique"}


def test_it_warns_about_very_short_intervals() -> None:
    loaded = parse_config(MINIMAL.replace("interval: 5m", "interval: 2s"), env={"TOKEN": "x"})
    assert any("interval below 10s" in w.message for w in loaded.warnings)


def test_it_validates_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(ROOT / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "probes per minute" in out


def test_it_exits_2_with_every_error_and_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "tests" / "config_errors" / "many_errors.yaml"
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count(str(path)) == 3 and "Traceback" not in err


def test_it_says_when_the_file_is_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["validate", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'nope.yaml'}: file not found\n"  # no line 0, column 0


def test_it_prints_a_json_schema_editors_can_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "operators" in schema["required"]
    check_types = json.dumps(schema["$defs"])
    assert all(f'"{kind}"' in check_types for kind in ("http", "tcp", "dns", "tls"))


def test_it_reads_the_deprecated_raw_retention_as_the_raw_results_retention_and_warns() -> None:
    loaded = parse_config(MINIMAL + "storage: {raw_retention: 30d}\n", env={"TOKEN": "x"})
    assert loaded.config.storage.retention.results == 30 * 86400
    [warning] = [w for w in loaded.warnings if "raw_retention" in w.message]
    assert "deprecated" in warning.message and warning.line == MINIMAL.count("\n") + 1


def test_it_documents_every_retention_default() -> None:
    import yaml

    from monitor.config.model import Retention
    from monitor.durations import parse_duration

    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("## History and disk", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    documented = yaml.safe_load(block)["storage"]["retention"]
    defaults = Retention()
    assert {kind: parse_duration(value) for kind, value in documented.items()} == {
        kind: getattr(defaults, kind) for kind in Retention.model_fields
    }


LOCATIONS = """
locations:
  - {id: lyon, name: {fr: Lyon, en: Lyon}, secret: "${LYON_SECRET}"}
  - {id: paris, name: Paris, secret: "${PARIS_SECRET}"}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        locations: [local, lyon, paris]
        checks:
          - {id: api, type: http, url: "https://pec.example.org/h"}
          - {id: two, type: http, url: "https://pec.example.org/h", locations: [lyon, paris]}
          - id: inside
            type: http
            url: "https://pec.example.org/h"
            locations: [lyon]
            basic_auth: {username: opticien, password: "${agent:PEC_PASSWORD}"}
      - {id: portail, name: Portail, quorum: 1, locations: [local, lyon], checks: [{id: web, type: tcp, host: x.example, port: 443}]}
  - {id: viamedis, name: Viamedis, services: [{id: pec, name: PEC, checks: [{id: api, type: tcp, host: y.example, port: 443}]}]}
"""
SECRETS = {"LYON_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PARIS_SECRET": "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="}


def test_checks_inherit_locations_and_a_majority_quorum() -> None:
    config = parse_config(LOCATIONS, env=SECRETS).config
    checks = {f"{o.id}/{s.id}/{c.id}": c for o, s, c in config.iter_checks()}
    assert (checks["almerys/pec/api"].locations, checks["almerys/pec/api"].quorum) == (["local", "lyon", "paris"], 2)
    assert (checks["almerys/pec/two"].locations, checks["almerys/pec/two"].quorum) == (["lyon", "paris"], 2)
    assert (checks["almerys/pec/inside"].locations, checks["almerys/pec/inside"].quorum) == (["lyon"], 1)
    assert (checks["almerys/portail/web"].locations, checks["almerys/portail/web"].quorum) == (["local", "lyon"], 1)
    assert (checks["viamedis/pec/api"].locations, checks["viamedis/pec/api"].quorum) == (["local"], 1)
    assert config.location_ids() == ["local", "lyon", "paris"]
    assert config.location("lyon").secret == SECRETS["LYON_SECRET"]
    assert config.location("local").name["fr"]


def test_agent_secrets_stay_unresolved_on_the_central_and_resolve_on_the_agent() -> None:
    from monitor.agent.protocol import Assignment, resolve_agent_secrets

    config = parse_config(LOCATIONS, env=SECRETS).config
    lyon = Assignment.for_location(config, "lyon")
    assert set(lyon.checks) == {"almerys/pec/api", "almerys/pec/two", "almerys/pec/inside", "almerys/portail/web"}
    assert set(Assignment.for_location(config, "local").checks) == {"almerys/pec/api", "almerys/portail/web", "viamedis/pec/api"}
    wire = json.dumps(Assignment.for_location(config, "lyon").to_wire())
    assert "${agent:PEC_PASSWORD}" in wire  # what the central sends: the name, never the secret
    received = Assignment.from_wire(json.loads(wire))
    resolved = resolve_agent_secrets(received.checks["almerys/pec/inside"], {"PEC_PASSWORD": "hunter2"})
    assert resolved.basic_auth.password == "hunter2"
    with pytest.raises(KeyError, match="PEC_PASSWORD"):
        resolve_agent_secrets(received.checks["almerys/pec/inside"], {})


def test_validate_summarises_the_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(LOCATIONS)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert main(["validate", "-c", str(path)]) == 0
    assert "locations: local (3 checks), lyon (4 checks), paris (2 checks)" in capsys.readouterr().out


@pytest.mark.parametrize("smtp, warned", [
    ("{host: smtp.example.org, port: 25, from: v@x.org, username: vigie, password: pw}", True),
    ("{host: smtp.example.org, port: 587, starttls: true, from: v@x.org, username: vigie, password: pw}", False),
    ("{host: smtp.example.org, port: 465, tls: true, from: v@x.org, username: vigie, password: pw}", False),
    ("{host: smtp.example.org, port: 25, from: v@x.org}", False),  # no password to give away
    ("{host: 127.0.0.1, port: 25, from: v@x.org, username: vigie, password: pw}", False),  # a relay on this machine
])
def test_it_warns_when_the_smtp_password_would_cross_the_network_in_clear(
    smtp: str, warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "x")
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL + f"alerts:\n  smtp: {smtp}\n")
    assert main(["validate", "-c", str(path)]) == 0  # a warning, not an error
    err = capsys.readouterr().err
    assert ("would cross the network in clear" in err) == warned
    if warned:
        assert f"{path}:" in err and "starttls: true" in err and "(warning)" in err
