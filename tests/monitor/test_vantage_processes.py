"""Consensus with real processes: a central, three ``vigie agent`` processes, five operators, a webhook receiver.

Each agent probes from its own loopback address (127.0.0.2, .3, .4); the
target resets the connections of the addresses the test chooses (a lost
network, as the agent sees it) and answers 503 for the operators it chooses (a
real outage, as everybody sees it). Webhooks are verified with the
``standardwebhooks`` library. Timeline, from the moment every check reports
from every place:

    lyon loses its network (every endpoint fails at once, for it only): isolated, no incident, no alert
    lyon gets it back: recovered, nothing replayed
    operator op1 goes down for everybody: an incident and its alert within interval × failure_threshold + 3 s
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

AGENTS = {
    "lyon": ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "127.0.0.2"),
    "paris": ("whsec_dGVzdHRlc3R0ZXN0dGVzdA==", "127.0.0.3"),
    "nantes": ("whsec_bmFudGVzbmFudGVzbmFudGVz", "127.0.0.4"),
}
HOOK_SECRET = "whsec_aG9va2hvb2tob29raG9vaw=="
OPERATORS = ("op1", "op2", "op3", "op4", "op5")
INTERVAL, THRESHOLD = 1.0, 3
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.2-4 are loopback addresses on Linux only")


class Target(ThreadingHTTPServer):
    daemon_threads = True
    blocked: set[str] = set()  # peers whose connections are reset
    failing: set[str] = set()  # operators answering 503


class _TargetHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        server: Target = self.server  # type: ignore[assignment]
        if self.client_address[0] in server.blocked:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        status = 503 if self.path.strip("/") in server.failing else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: Any) -> None:
        pass


class Receiver(ThreadingHTTPServer):
    """A webhook receiver that verifies every signature and keeps (arrival time, channel, event type)."""

    daemon_threads = True
    received: list[tuple[float, str, str]]
    refused: int


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        server: Receiver = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = Webhook(HOOK_SECRET).verify(body, dict(self.headers))
        except Exception:  # noqa: BLE001 - a bad signature is counted, and the test fails on it
            server.refused += 1
            self.send_response(401)
        else:
            server.received.append((time.time(), self.path.strip("/"), event["type"]))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(target: int, hooks: int) -> str:
    locations = "\n".join(f'  - {{id: {loc}, name: {loc.title()}, secret: "${{{loc.upper()}_SECRET}}"}}' for loc in AGENTS)
    operators = "\n".join(
        f"""  - id: {op}
    name: {op.upper()}
    services:
      - id: pec
        name: PEC
        locations: [{', '.join(AGENTS)}]
        checks: [{{id: api, type: http, url: "http://127.0.0.1:{target}/{op}", conditions: ["status == 200"]}}]"""
        for op in OPERATORS
    )
    return f"""
defaults: {{interval: 1s, timeout: 800ms, failure_threshold: {THRESHOLD}, success_threshold: 2}}
locations:
{locations}
operators:
{operators}
alerts:
  channels:
    - {{id: federation, type: webhook, url: "http://127.0.0.1:{hooks}/federation", secret: "{HOOK_SECRET}"}}
    - {{id: exploitation, type: webhook, url: "http://127.0.0.1:{hooks}/exploitation", secret: "{HOOK_SECRET}",
        events: [vigie.isolated, vigie.recovered]}}
"""


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)


@dataclass
class Story:
    marks: dict[str, float] = field(default_factory=dict)
    received: list[tuple[float, str, str]] = field(default_factory=list)
    refused: int = 0
    incidents_during_isolation: list[tuple[Any, ...]] = field(default_factory=list)
    incidents: list[tuple[Any, ...]] = field(default_factory=list)
    vantages: list[tuple[Any, ...]] = field(default_factory=list)
    healthz_isolated: dict[str, Any] = field(default_factory=dict)


def healthz(port: int) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return {**json.loads(response.read()), "code": response.status}
    except urllib.error.HTTPError as exc:
        return {**json.loads(exc.read()), "code": exc.code}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("vantage")
    target = Target(("127.0.0.1", 0), _TargetHandler)
    receiver = Receiver(("127.0.0.1", 0), _HookHandler)
    receiver.received, receiver.refused = [], 0
    for server in (target, receiver):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    (tmp / "config.yaml").write_text(config(target.server_address[1], receiver.server_address[1]))
    db = tmp / "central.db"
    env = {**os.environ, **{f"{loc.upper()}_SECRET": secret for loc, (secret, _) in AGENTS.items()}}
    logs = {name: tmp / f"{name}.log" for name in ("central", *AGENTS)}
    processes: dict[str, subprocess.Popen[bytes]] = {
        "central": subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(tmp / "config.yaml"), "--listen", f"127.0.0.1:{port}",
             "--db", str(db)],
            env=env, stdout=subprocess.DEVNULL, stderr=logs["central"].open("ab"),
        )
    }
    for loc, (secret, address) in AGENTS.items():
        processes[loc] = subprocess.Popen(
            [sys.executable, "-m", "monitor", "agent", "--central", f"http://127.0.0.1:{port}", "--location", loc,
             "--spool", str(tmp / f"spool-{loc}"), "--source-address", address],
            env={**os.environ, "VIGIE_AGENT_SECRET": secret}, stdout=subprocess.DEVNULL, stderr=logs[loc].open("ab"),
        )
    out = Story()
    try:
        wait_until(lambda: len(query(db, "SELECT key, location FROM check_location_states WHERE status = 'up'")) == 15,
                   90, "every check up from every place")
        out.marks["lyon_lost"] = time.time()
        target.blocked = {AGENTS["lyon"][1]}
        wait_until(lambda: bool(query(db, "SELECT 1 FROM vantages WHERE location = 'lyon' AND isolated_since IS NOT NULL")),
                   30, "lyon isolated")
        out.healthz_isolated = healthz(port)
        time.sleep(INTERVAL * THRESHOLD * 2)  # long enough for lyon's failures to have opened incidents, were they counted
        out.incidents_during_isolation = query(db, "SELECT id, operator_id FROM incidents")
        target.blocked = set()
        out.marks["lyon_back"] = time.time()
        wait_until(lambda: bool(query(db, "SELECT 1 FROM vantages WHERE location = 'lyon' AND isolated_since IS NULL")),
                   30, "lyon recovered")
        wait_until(lambda: len(query(db, "SELECT key, location FROM check_location_states WHERE status = 'up'")) == 15,
                   30, "every check up again from every place")
        out.marks["op1_down"] = time.time()
        target.failing = {"op1"}
        wait_until(lambda: any(kind == "incident.opened" for _, _, kind in receiver.received), 20, "the incident's alert")
        out.incidents = query(db, "SELECT id, operator_id FROM incidents")
        out.vantages = query(db, "SELECT location, isolated_since FROM vantages")
        for loc in AGENTS:
            processes[loc].send_signal(signal.SIGTERM)
        for loc in AGENTS:
            try:
                processes[loc].wait(30)
            except subprocess.TimeoutExpired:  # not what this test is about: say where it hangs, and go on
                processes[loc].send_signal(signal.SIGUSR1)
                time.sleep(1)
                print(f"agent {loc} did not stop within 30 s of SIGTERM")
        processes["central"].send_signal(signal.SIGTERM)
        processes["central"].wait(30)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        target.shutdown()
        receiver.shutdown()
        out.received, out.refused = list(receiver.received), receiver.refused
        for name, path in logs.items():
            if path.exists():
                print(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}")
    yield out


def test_one_place_losing_its_network_opens_no_incident_and_alerts_no_federation(story: Story) -> None:
    assert story.incidents_during_isolation == []
    federation = [(at, kind) for at, channel, kind in story.received if channel == "federation" and at < story.marks["op1_down"]]
    assert federation == []
    assert story.refused == 0


def test_operations_hear_that_the_place_was_isolated_and_recovered(story: Story) -> None:
    told = [kind for _, channel, kind in story.received if channel == "exploitation"]
    assert told == ["vigie.isolated", "vigie.recovered"]
    assert story.healthz_isolated["code"] == 503
    assert any(p.startswith("location lyon is isolated since") for p in story.healthz_isolated["problems"])


def test_an_outage_seen_by_the_quorum_is_alerted_within_interval_times_threshold_plus_3_s(story: Story) -> None:
    [(_, operator)] = story.incidents
    assert operator == "op1"
    [opened_at] = [at for at, channel, kind in story.received if channel == "federation" and kind == "incident.opened"]
    print(f"incident.opened received {opened_at - story.marks['op1_down']:.2f} s after op1 went down")
    assert opened_at - story.marks["op1_down"] <= INTERVAL * THRESHOLD + 3
