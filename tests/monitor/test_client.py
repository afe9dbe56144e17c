"""`vigie incident …` / `vigie maintenance …` against a real `vigie run` in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.client import parse_time, show_incident

PARIS = ZoneInfo("Europe/Paris")
TOKEN = "jeton-cli-0123456789abcdef"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- parse_time: what the user types ------------------------------------------------------


def paris(*args: int) -> float:
    return datetime(*args, tzinfo=PARIS).timestamp()


def test_it_reads_a_clock_time_as_the_next_one_in_paris() -> None:
    now = paris(2026, 11, 30, 14, 5)
    assert parse_time("16:00", now) == paris(2026, 11, 30, 16, 0)
    assert parse_time("16h", now) == parse_time("16h00", now) == paris(2026, 11, 30, 16, 0)
    assert parse_time("9:30", now) == paris(2026, 12, 1, 9, 30)  # already past today: tomorrow
    assert parse_time("14:05", now) == paris(2026, 12, 1, 14, 5)  # now is not the future


def test_it_reads_a_clock_time_across_a_change_of_summer_time() -> None:
    now = paris(2026, 3, 28, 23, 0)  # the clocks go forward that night
    assert parse_time("08:00", now) - now == 8 * 3600


def test_it_reads_iso_times_with_an_offset_only() -> None:
    assert parse_time("2026-12-01T22:00+01:00", 0) == paris(2026, 12, 1, 22, 0)
    assert parse_time("2026-12-01T21:00Z", 0) == paris(2026, 12, 1, 22, 0)
    for bad, message in [("2026-12-01T22:00", "UTC offset"), ("demain", "neither HH:MM"), ("25:00", "not a time"),
                         ("12:61", "not a time"), ("", "neither")]:
        with pytest.raises(ValueError, match=message):
            parse_time(bad, 0)


# -- the CLI against a running instance ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> Any:
    with NO_PROXY.open(url, timeout=5) as response:
        return json.loads(response.read())


def wait_healthy(url: str, vigie: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if vigie.poll() is not None:
            raise AssertionError(f"vigie run exited with {vigie.returncode}:\n{log.read_text()}")
        try:
            if get(url + "/healthz") == {"status": "ok"}:
                return
        except OSError:
            pass
        time.sleep(0.05)  # polling a subprocess, with a deadline
    raise AssertionError(f"vigie run never became healthy:\n{log.read_text()}")


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `vigie run` with the admin API on; it watches itself (a TCP check on its own port)."""
    tmp = tmp_path_factory.mktemp("vigie")
    port = free_port()
    config = tmp / "config.yaml"
    config.write_text(f"""
defaults: {{interval: 5s, timeout: 1s, failure_threshold: 2, success_threshold: 1}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {{fr: "Demande de prise en charge optique", en: "Optical pre-authorisation"}}
        checks: [{{id: port, type: tcp, host: 127.0.0.1, port: {port}}}]
      - id: droits
        name: Droits
        checks: [{{id: port, type: tcp, host: 127.0.0.1, port: {port}}}]
""")
    log = tmp / "vigie.log"
    env = {**os.environ, "VIGIE_ADMIN_TOKEN": TOKEN}
    with open(log, "wb") as out:
        vigie = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), "--db", str(tmp / "vigie.db"),
             "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=out, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, vigie, log)
        yield url
    finally:
        vigie.terminate()
        vigie.wait(timeout=30)


def vigie(url: str, *args: str, token: str | None = TOKEN, expect: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIGIE_ADMIN_TOKEN", "VIGIE_URL")}
    env["VIGIE_URL"] = url
    if token is not None:
        env["VIGIE_ADMIN_TOKEN"] = token
    done = subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == expect, (done.stdout, done.stderr)
    return done.stdout if expect == 0 else done.stderr


def test_it_runs_an_incident_from_the_command_line(instance: str) -> None:
    eta_text = (datetime.now(PARIS) + timedelta(hours=2)).strftime("%H:%M")
    eta = datetime.fromtimestamp(parse_time(eta_text, time.time()), UTC)

    out = vigie(instance, "incident", "open", "almerys", "--services", "pec-optique",
                "--title", "PEC optique perturbée", "--message", "Les demandes échouent.",
                "--message-en", "Requests fail.", "--status", "identified")
    assert out.startswith("opened incident #1 [identified] PEC optique perturbée (almerys, manual)")
    assert "services: almerys/pec-optique" in out

    out = vigie(instance, "incident", "update", "1", "--message", "Correctif déployé à 16 h.", "--eta", eta_text)
    assert f"ETA announced {eta.astimezone(PARIS):%Y-%m-%d %H:%M}" in out
    [public] = get(instance + "/api/v2/incidents/unresolved.json")["incidents"]
    assert public["eta"]["source"] == "operator"
    assert public["eta"]["expected_at"] == eta.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    admin = json.loads(NO_PROXY.open(urllib.request.Request(
        instance + "/api/admin/incidents/1", headers={"Authorization": f"Bearer {TOKEN}"}), timeout=5).read())
    assert admin["eta_history"][-1]["source"] == "operator"

    out = vigie(instance, "incident", "list")
    assert "incident #1 [identified]" in out and "Correctif déployé à 16 h." in out

    out = vigie(instance, "incident", "update", "1", "--message", "Sous surveillance.", "--status", "monitoring",
                "--clear-eta", "--take-over")
    assert "[monitoring]" in out and "ETA announced" not in out

    out = vigie(instance, "incident", "resolve", "1", "--message", "Rétabli.")
    assert out.startswith("resolved incident #1 [resolved]")
    assert get(instance + "/api/v2/incidents/unresolved.json")["incidents"] == []
    assert vigie(instance, "incident", "list").strip() == "no open incidents"
    assert "incident #1 [resolved]" in vigie(instance, "incident", "list", "--all")


def test_it_plans_lists_and_cancels_maintenance_from_the_command_line(instance: str) -> None:
    start = (datetime.now(PARIS) + timedelta(days=2)).replace(hour=22, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=3)
    out = vigie(instance, "maintenance", "add", "--services", "almerys/pec-optique,almerys/droits",
                "--start", start.isoformat(), "--end", end.isoformat(), "--title", "Mise à jour",
                "--message", "Mise à jour des serveurs.")
    assert out.startswith("scheduled maintenance #1 [scheduled] Mise à jour")
    assert f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} on almerys/droits, almerys/pec-optique" in out
    assert "maintenance #1 [scheduled]" in vigie(instance, "maintenance", "list")
    # the same window again overlaps: the server's message, exit 1
    err = vigie(instance, "maintenance", "add", "--services", "almerys/droits", "--start", start.isoformat(),
                "--end", end.isoformat(), "--title", "Encore", "--message", "Encore.", expect=1)
    assert "overlaps maintenance 1 on almerys/droits (409)" in err
    assert vigie(instance, "maintenance", "cancel", "1").startswith("cancelled maintenance #1 [cancelled]")
    assert vigie(instance, "maintenance", "list").strip() == "no maintenance windows"


def test_it_reports_errors_without_a_traceback(instance: str, tmp_path: Path) -> None:
    assert "no incident 99 (404)" in vigie(instance, "incident", "resolve", "99", "--message", "x", expect=1)
    assert "the admin token is wrong (401)" in vigie(instance, "incident", "list", token="faux", expect=1)
    assert "no admin token" in vigie(instance, "incident", "list", token=None, expect=2)
    assert "unknown services: almerys/nope" in vigie(
        instance, "incident", "open", "almerys", "--services", "nope", "--title", "t", "--message", "m", expect=1)
    assert "--eta: '25:00' is not a time of day" in vigie(
        instance, "incident", "update", "1", "--message", "m", "--eta", "25:00", expect=2)
    assert "required: --message" in vigie(instance, "incident", "resolve", "1", expect=2)
    assert "not allowed with argument" in vigie(
        instance, "incident", "update", "1", "--message", "m", "--eta", "16:00", "--clear-eta", expect=2)
    closed = f"http://127.0.0.1:{free_port()}"
    assert f"cannot reach Vigie at {closed}" in vigie(closed, "maintenance", "list", expect=1)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert "maintenance" in vigie(instance, "maintenance", "list", "--token-file", str(token_file), token=None)


@pytest.mark.parametrize(("own", "said"), [
    (None, "(from 40 past outages)"), (40, "(from 40 past outages)"), (8, "(from 40 past outages, 8 of them of this service)"),
    (0, "(from 40 past outages of other services)"),
])
def test_it_says_how_many_of_an_estimate_s_outages_were_the_service_s_own(own: int | None, said: str) -> None:
    incident = {"id": 3, "auto": True, "status": "investigating", "title": {"fr": "PEC"}, "operator": "almerys",
                "services": [{"service": "almerys/pec"}], "started_at": "2026-12-01T10:00:00+01:00", "resolved_at": None,
                "announced_eta": None, "updates": [],
                "eta": {"expected_at": "2026-12-01T11:00:00+01:00", "basis": 40, "service_basis": own}}
    assert show_incident(incident).splitlines()[2].endswith(said)
