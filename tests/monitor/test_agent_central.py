"""The central's agent API: signed requests only, batches answered once stored, each refusal its own 4xx."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.agent import central as central_module
from monitor.agent.protocol import Assignment, Batch
from monitor.agent.signing import REPLAY_WINDOW, sign
from monitor.clock import SystemClock
from monitor.config import parse_config
from monitor.measurement import Measurement
from monitor.service import create_app
from tests.conftest import read, service_of

LYON = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PARIS = "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="
CONFIG = """
locations:
  - {id: lyon, name: Lyon, secret: "${LYON_SECRET}"}
  - {id: paris, name: Paris, secret: "${PARIS_SECRET}"}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - {id: api, type: tcp, host: 127.0.0.1, port: 9, locations: [lyon, paris]}
          - {id: lyon-only, type: tcp, host: 127.0.0.1, port: 9, locations: [lyon]}
          - {id: paris-only, type: tcp, host: 127.0.0.1, port: 9, locations: [paris]}
"""
CHECKS, RESULTS = "/api/agent/v1/checks", "/api/agent/v1/results"


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    config = parse_config(CONFIG, env={"LYON_SECRET": LYON, "PARIS_SECRET": PARIS}).config
    return await aiohttp_client(create_app(config, tmp_path / "v.db"))


def wire(location: str = "lyon", batch_id: str = "lyon-a-1", key: str = "almerys/pec/api", at: float | None = None) -> bytes:
    at = time.time() if at is None else at
    batch = Batch(batch_id, location, at, [Measurement(key, at, 0.01, "up")], {"version": "test"})
    return json.dumps(batch.to_wire()).encode()


async def post(client: Any, body: bytes, *, secret: str = LYON, location: str = "lyon", batch_id: str | None = None,
               now: float | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    if batch_id is None:
        try:
            batch_id = json.loads(body)["batch"]
        except (ValueError, KeyError, TypeError):
            batch_id = "x"
    signed = sign(secret, location, body, time.time() if now is None else now, batch_id)
    response = await client.post(RESULTS, data=body, headers={**signed, **(headers or {})})
    return response.status, await response.json()


async def test_it_stores_a_good_batch_before_answering(client: Any) -> None:
    status, answer = await post(client, wire())
    assert (status, answer["results"]) == (200, 1)
    assert await read(client.app, lambda store: store.count_results()) == 1  # committed, not just queued


async def test_it_refuses_an_unsigned_request(client: Any) -> None:
    response = await client.post(RESULTS, data=wire(), headers={"vigie-location": "lyon"})
    assert response.status == 401 and "unsigned" in (await response.json())["error"]


async def test_it_refuses_an_unknown_location(client: Any) -> None:
    status, answer = await post(client, wire("marseille"), location="marseille")
    assert status == 401 and "marseille" in answer["error"]


async def test_it_refuses_a_request_signed_with_another_locations_secret(client: Any) -> None:
    status, answer = await post(client, wire(), secret=PARIS)
    assert status == 401 and "bad signature" in answer["error"]


async def test_it_refuses_a_request_signed_outside_the_replay_window(client: Any) -> None:
    status, answer = await post(client, wire(), now=time.time() - REPLAY_WINDOW - 60)
    assert status == 401 and "replay window" in answer["error"]


async def test_it_refuses_a_batch_already_received_with_409(client: Any) -> None:
    body = wire()
    assert (await post(client, body))[0] == 200
    status, answer = await post(client, body)
    assert status == 409 and "already received" in answer["error"]
    assert await read(client.app, lambda store: store.count_results()) == 1


async def test_it_refuses_a_body_over_the_limit_before_reading_it(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(central_module, "MAX_BODY", 1000)
    body = b" " * 2000  # its signature would be good: the size is refused first
    status, answer = await post(client, body)
    assert status == 413 and "1000 bytes" in answer["error"]


async def test_it_refuses_a_chunked_body_over_the_limit(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(central_module, "MAX_BODY", 100_000)

    async def chunks() -> Any:
        for _ in range(40):
            yield b" " * 10_000

    response = await client.post(RESULTS, data=chunks(), headers=sign(LYON, "lyon", b"", time.time(), "x"))
    assert response.status == 413


async def test_it_refuses_malformed_json_with_400(client: Any) -> None:
    status, answer = await post(client, b'{"type": "results", ')
    assert status == 400 and "malformed" in answer["error"]


async def test_it_refuses_a_batch_of_the_wrong_shape_with_400(client: Any) -> None:
    status, answer = await post(client, json.dumps({"type": "results", "protocol": 1, "batch": "b"}).encode())
    assert status == 400 and "location" in answer["error"]


async def test_it_refuses_a_webhook_id_that_is_not_the_batch_id(client: Any) -> None:
    status, answer = await post(client, wire(), batch_id="another")
    assert status == 400 and "webhook-id" in answer["error"]


async def test_it_refuses_a_result_about_a_check_not_assigned_to_that_location_with_422(client: Any) -> None:
    status, answer = await post(client, wire(key="almerys/pec/paris-only"))
    assert status == 422 and "not assigned to 'lyon'" in answer["error"]
    assert await read(client.app, lambda store: store.count_results()) == 0


async def test_it_answers_503_while_the_store_cannot_write(client: Any) -> None:
    service = service_of(client.app)
    service.store_health.failed(OSError("disk full"), "test")
    status, answer = await post(client, wire())
    assert status == 503 and "send it again" in answer["error"]


async def test_it_serves_a_locations_assignment_with_its_etag(client: Any) -> None:
    response = await client.get(CHECKS, headers=sign(LYON, "lyon", b"", time.time()))
    assert response.status == 200
    assignment = Assignment.from_wire(await response.json())
    assert set(assignment.checks) == {"almerys/pec/api", "almerys/pec/lyon-only"}
    assert response.headers["ETag"] == f'"{assignment.version}"'


async def test_it_answers_304_when_the_assignment_has_not_changed(client: Any) -> None:
    first = await client.get(CHECKS, headers=sign(LYON, "lyon", b"", time.time()))
    headers = sign(LYON, "lyon", b"", time.time()) | {"If-None-Match": first.headers["ETag"]}
    again = await client.get(CHECKS, headers=headers)
    assert again.status == 304


async def test_it_refuses_an_unsigned_assignment_request(client: Any) -> None:
    response = await client.get(CHECKS, headers={"vigie-location": "lyon"})
    assert response.status == 401


async def test_it_measures_and_warns_of_an_agents_clock_offset(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "vigie.agents"):
        assert (await post(client, wire("paris", "paris-a-1"), secret=PARIS, location="paris", now=time.time() + 42))[0] == 200
        assert (await post(client, wire("paris", "paris-a-2"), secret=PARIS, location="paris", now=time.time() + 42))[0] == 200
    metrics = await (await client.get("/metrics")).text()
    [line] = [line for line in metrics.splitlines() if line.startswith('vigie_agent_clock_offset_seconds{location="paris"}')]
    assert 40 <= float(line.split()[-1]) <= 44
    assert 'vigie_agent_clock_offset_seconds{location="lyon"}' not in metrics  # never heard from: no offset to show
    assert sum("clock of agent paris" in r.getMessage() for r in caplog.records) == 1  # once a minute at most


async def test_it_shows_a_remote_location_up_once_it_reports_and_down_before(client: Any) -> None:
    assert service_of(client.app).health()["locations"] == {"local": True, "lyon": False, "paris": False}
    assert (await post(client, wire()))[0] == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'vigie_location_up{location="lyon"} 1.0' in metrics and 'vigie_location_up{location="paris"} 0.0' in metrics


def test_it_counts_a_location_down_once_silent_for_longer_than_documented() -> None:
    config = parse_config(CONFIG, env={"LYON_SECRET": LYON, "PARIS_SECRET": PARIS}).config
    agents = central_module.Agents(config, SystemClock(), lambda: None)
    agents.seen["lyon"].last_batch_at = time.monotonic() - central_module.SILENT_AFTER - 1
    agents.seen["paris"].last_batch_at = time.monotonic() - 1
    assert agents.up() == {"lyon": False, "paris": True}
