"""Schemathesis over every route of the OpenAPI document, against a running `vigie demo` (issue 13).

    python bench/fuzz.py [--st /tmp/st-venv/bin/st] [--max-examples 100]

Starts `vigie demo` on a free port with an admin token (so the admin routes are exercised too, authenticated),
runs `st run` with the `not_a_server_error` check over `/api/openapi.json` — the public API, reports, the agent,
partner-feed and push APIs and the admin API — and prints the number of operations and test cases, and every
server error. `/healthz` is left to a direct check: it takes no input, and its 503 is its job. Schemathesis is not one of Vigie's dependencies: install it in a venv of its own
(`python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install schemathesis`). Exit 1 on any server error.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The routes /api/openapi.json does not describe: the pages and forms (HTML), and the agents' API (signed, kept
# out of the public document on purpose). Described here, only to be fuzzed.
_TEXT = {"type": "string"}
_FORM = "application/x-www-form-urlencoded"
_HTML = {"200": {"description": "a page", "content": {"text/html": {"schema": _TEXT}}}}


def _q(*names: str, where: str = "query") -> list[dict[str, object]]:
    return [{"name": n, "in": where, "required": where == "path", "schema": _TEXT} for n in names]


def _form(*fields: str) -> dict[str, object]:
    return {"required": True, "content": {_FORM: {"schema": {"type": "object", "properties": {f: _TEXT for f in fields}}}}}


SIGNED = _q("vigie-location", "webhook-id", "webhook-timestamp", "webhook-signature", where="header")
EXTRA = {
    "openapi": "3.1.0", "info": {"title": "Vigie: pages, forms and the agents' API", "version": "1"},
    "paths": {
        "/": {"get": {"parameters": _q("lang", "profession"), "responses": _HTML}},
        "/operators/{operator_id}": {"get": {"parameters": _q("operator_id", where="path") + _q("lang", "range", "signalement"),
                                             "responses": _HTML}},
        "/incidents/{incident_id}": {"get": {"parameters": _q("incident_id", where="path") + _q("lang"), "responses": _HTML}},
        "/history": {"get": {"parameters": _q("lang"), "responses": _HTML}},
        "/signalements": {"post": {"requestBody": _form("service", "symptom"), "responses": _HTML}},
        "/subscriptions": {"get": {"parameters": _q("lang"), "responses": _HTML},
                           "post": {"requestBody": _form("email", "operator", "service", "profession", "lang"),
                                    "responses": _HTML}},
        "/subscriptions/confirm": {"get": {"parameters": _q("token"), "responses": _HTML},
                                   "post": {"requestBody": _form("token"), "responses": _HTML}},
        "/subscriptions/unsubscribe": {"get": {"parameters": _q("token"), "responses": _HTML},
                                       "post": {"requestBody": _form("token"), "responses": _HTML}},
        "/api/agent/v1/checks": {"get": {"parameters": SIGNED, "responses": {"200": {"description": "assignment"}}}},
        "/api/agent/v1/results": {"post": {"parameters": SIGNED, "responses": {"200": {"description": "taken"}},
                                           "requestBody": {"required": True, "content": {"application/json": {
                                               "schema": {"type": "object"}}}}}},
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/v2/status.json", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} never answered")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--st", default="/tmp/st-venv/bin/st", help="the schemathesis command")
    parser.add_argument("--max-examples", type=int, default=100, help="cases per operation and phase")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigie-fuzz-"))
    port, token = free_port(), secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VIGIE_ADMIN_TOKEN": token, "TMPDIR": str(work)}
    with open(work / "demo.log", "wb") as log:  # the child keeps its own copy of the descriptor
        demo = subprocess.Popen(
            [sys.executable, "-m", "monitor", "demo", "--listen", f"127.0.0.1:{port}", "--db", str(work / "v.db")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(url)
        report = work / "report.json"
        run = subprocess.run(
            [args.st, "run", f"{url}/api/openapi.json", "--checks", "not_a_server_error", "--max-examples",
             str(args.max_examples), "--header", f"Authorization: Bearer {token}", "--seed", "2024",
             "--report-json-path", str(report), "--report", "json", "--continue-on-failure",
             # /healthz takes no input and answers 503 by design while the demo's scripted isolation lasts: it is
             # checked below instead (schemathesis counts every 5xx as a server error, documented or not)
             "--exclude-path", "/healthz"],
            cwd=work, capture_output=True, text=True)
        extra = work / "extra.json"
        extra.write_text(json.dumps(EXTRA))
        more = subprocess.run(
            [args.st, "run", str(extra), "--url", url, "--checks", "not_a_server_error", "--max-examples",
             str(args.max_examples), "--seed", "2024", "--report-json-path", str(work / "extra-report.json"),
             "--report", "json", "--continue-on-failure"],
            cwd=work, capture_output=True, text=True)
        for name, done, path in (("openapi.json", run, report), ("pages, forms, agents", more, work / "extra-report.json")):
            print(f"== {name}\n{done.stdout[-4000:]}")
            print(done.stderr[-2000:], file=sys.stderr)
            if path.exists():
                data = json.loads(path.read_text())
                print(json.dumps({k: data.get(k) for k in ("operations", "test_cases", "failures") if k in data}, indent=1)[:3000])
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
                health = answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            health = refused.code, json.loads(refused.read())
        print("GET /healthz:", health)
        healthy = health[0] == 200 and health[1] == {"status": "ok"} or (
            health[0] == 503 and health[1].get("status") == "unhealthy" and isinstance(health[1].get("problems"), list))
        return run.returncode or more.returncode or (0 if healthy else 1)
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
