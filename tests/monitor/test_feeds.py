"""Partners' outcome feeds and push heartbeats: signed, refused clearly, judged like probes, stale when silent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from monitor.agent import partners as partners_module
from monitor.agent.partners import PUSH_LIMIT
from monitor.agent.protocol import LOCAL, Assignment
from monitor.agent.signing import REPLAY_WINDOW
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from monitor.statuses import CheckStatus
from tests.conftest import read, run, service_of

ACME = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="
TOKEN = "push-token-0123456789"
ENV = {"ACME": ACME, "OTHER": OTHER, "TOKEN": TOKEN}
CONFIG = """
partners:
  - {id: acme, name: Acme, secret: "${ACME}"}
  - {id: other, name: Other, secret: "${OTHER}"}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - {id: acme, type: feed, partner: acme, failure_threshold: 2, conditions: ["volume >= 10", "error_rate < 20%"]}
      - id: portail
        name: Portail
        checks:
          - {id: other, type: feed, partner: other, conditions: ["error_rate < 50%"]}
          - {id: cron, type: push, token: "${TOKEN}", interval: 60s, timeout: 10s, failure_threshold: 2}
"""
START = 1_780_000_020.0  # a whole minute, plus the 20 s a partner takes to send a window once it is over
FEED = "almerys/pec/acme"
PUSH = "/api/push/v1/almerys/portail/cron"
OUTCOMES = "/api/feeds/v1/outcomes"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def start(aiohttp_client: Any, db: Path, clock: FakeClock) -> Any:
    config = parse_config(CONFIG, env=ENV).config
    return await aiohttp_client(create_app(config, db, clock))


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> Any:
    return await start(aiohttp_client, tmp_path / "v.db", clock)


def window(minutes_ago: int = 1, ok: int = 20, failed: int = 0, timeout: int = 0, **extra: Any) -> dict[str, Any]:
    start = START - 20 - 60 * minutes_ago
    body = {"service": "almerys/pec", "window_start": datetime.fromtimestamp(start, UTC).isoformat(), "window_s": 60,
            "ok": ok, "failed": failed, "timeout": timeout}
    return {**body, **extra}


_ids = iter(range(10**6))


def signed(body: bytes, secret: str = ACME, partner: str = "acme", at: float | None = None,
           message_id: str | None = None) -> dict[str, str]:
    """The headers a partner sends, made by the standardwebhooks library itself."""
    message_id = message_id or f"msg_{next(_ids)}"
    when = datetime.fromtimestamp(START if at is None else at, UTC)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, when, body.decode()), "vigie-partner": partner}


async def send(client: Any, data: Any, **sign: Any) -> tuple[int, dict[str, Any]]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    response = await client.post(OUTCOMES, data=body, headers=signed(body, **sign))
    return response.status, await response.json()


async def status_of(client: Any, key: str) -> Any:
    return await run(client.app, lambda engine: engine.check_states[key])


async def results(client: Any) -> int:
    return int(await read(client.app, lambda store: store.count_results()))


async def sweep(client: Any, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    await run(client.app, lambda engine: engine.sweep())


# -- a partner's windows ----------------------------------------------------------------------------


async def test_it_takes_a_signed_window_and_judges_it_like_a_probe(client: Any) -> None:
    status, answer = await send(client, window())
    assert status == 200
    assert answer["checks"] == [{"check": FEED, "judged": True, "outcome": "up", "reasons": []}]
    assert (await status_of(client, FEED)).status == CheckStatus.UP
    assert await results(client) == 1  # committed before the answer


async def test_failing_windows_open_an_incident_through_the_thresholds(client: Any) -> None:
    status, answer = await send(client, window(3, ok=12, failed=6, timeout=2))
    assert answer["checks"][0]["reasons"] == ["error_rate < 20%: error rate 40.0% (8 of 20)"]
    assert (await status_of(client, FEED)).status == CheckStatus.UNKNOWN  # one failing window: below the threshold
    assert await read(client.app, lambda store: store.open_auto_incident("almerys")) is None
    await send(client, window(2, ok=12, failed=6, timeout=2))
    state = await status_of(client, FEED)
    assert state.status == CheckStatus.DOWN and "error rate 40.0%" in state.reasons[0]
    incident = await read(client.app, lambda store: store.open_auto_incident("almerys"))
    assert incident is not None and [s.key for s in incident.view().services] == ["almerys/pec"]


async def test_a_window_with_too_little_traffic_is_not_judged_and_never_makes_the_check_green(client: Any) -> None:
    status, answer = await send(client, window(ok=4, failed=0))
    assert status == 200
    assert answer["checks"] == [{"check": FEED, "judged": False, "why": "volume >= 10: volume 4: not enough traffic to judge"}]
    assert (await status_of(client, FEED)).status == CheckStatus.UNKNOWN
    assert await results(client) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"body": b"", "headers": {}},  # nothing signed at all
        {"headers": {"vigie-partner": ""}},  # no partner named
        {"secret": OTHER},  # another partner's secret
        {"partner": "nobody"},
        {"at": START - REPLAY_WINDOW - 60},  # an old capture sent again
        {"headers": {"webhook-signature": "v1,AAAA"}},
    ],
    ids=["unsigned", "no-partner", "wrong-partner-secret", "unknown-partner", "old-timestamp", "bad-signature"],
)
async def test_it_refuses_an_unproven_sender_with_401(client: Any, change: dict[str, Any]) -> None:
    body = json.dumps(window()).encode()
    sign = {k: change[k] for k in ("secret", "partner", "at") if k in change}
    headers = signed(body, **sign) if "body" not in change else {}
    headers.update(change.get("headers", {}))
    response = await client.post(OUTCOMES, data=body, headers=headers)
    assert response.status == 401, await response.text()
    assert (await response.json())["error"]
    assert await results(client) == 0 and (await status_of(client, FEED)).status == CheckStatus.UNKNOWN


async def test_it_refuses_a_webhook_id_already_received_and_counts_it_once(client: Any) -> None:
    body = json.dumps(window()).encode()
    assert (await client.post(OUTCOMES, data=body, headers=signed(body, message_id="msg_1"))).status == 200
    again = await client.post(OUTCOMES, data=body, headers=signed(body, message_id="msg_1"))
    assert again.status == 409 and "already received" in (await again.json())["error"]
    assert await results(client) == 1


async def test_it_refuses_a_window_sent_again_under_a_new_id_and_an_older_one(client: Any) -> None:
    assert (await send(client, window(2)))[0] == 200
    status, answer = await send(client, window(2))
    assert status == 409 and "already received" in answer["error"]
    assert (await send(client, window(3)))[0] == 409  # older than the last one taken: it can no longer be judged
    assert await results(client) == 1


async def test_a_restart_does_not_take_again_a_window_already_judged(aiohttp_client: Any, tmp_path: Path,
                                                                       clock: FakeClock) -> None:
    first = await start(aiohttp_client, tmp_path / "v.db", clock)
    assert (await send(first, window()))[0] == 200
    await first.close()
    second = await start(aiohttp_client, tmp_path / "v.db", clock)
    status, answer = await send(second, window())
    assert status == 409
    assert await results(second) == 1


BAD_BODIES = [
    (b"not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({k: v for k, v in window().items() if k != "ok"}).encode(), 400, "missing field 'ok'"),
    (json.dumps(window(transaction={"patient": "x"})).encode(), 400, "unknown field 'transaction'"),
    (json.dumps(window(window_start="hier")).encode(), 400, "window_start"),
    (json.dumps(window(window_start="2026-05-28T20:00:00")).encode(), 400, "offset"),
    (json.dumps(window(service=12)).encode(), 400, "service"),
    (json.dumps(window(ok=-1)).encode(), 422, "ok: expected a count"),
    (json.dumps(window(failed=2.5)).encode(), 422, "failed: expected a count"),
    (json.dumps(window(timeout=True)).encode(), 422, "timeout: expected a count"),
    (json.dumps(window(window_s=5)).encode(), 422, "window_s"),
    (json.dumps(window(window_s="60")).encode(), 422, "window_s"),
    (json.dumps(window(minutes_ago=-2)).encode(), 422, "in the future"),
    (json.dumps(window(service="almerys/nope")).encode(), 422, "no feed check for partner 'acme'"),
    (json.dumps(window(service="almerys/portail")).encode(), 422, "no feed check for partner 'acme'"),  # another's
    (json.dumps(window(service="almerys/pec/acme")).encode(), 422, "service"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_BODIES, ids=[f"{i}-{s}" for i, (_, s, _) in enumerate(BAD_BODIES)])
async def test_it_refuses_a_malformed_window_clearly_and_harms_nothing(client: Any, body: bytes, status: int,
                                                                        words: str) -> None:
    got, answer = await send(client, body)
    assert got == status and words in answer["error"], answer
    assert await results(client) == 0
    assert (await send(client, window()))[0] == 200  # the partner's next good window is still taken


async def test_it_refuses_a_body_over_the_limit_before_reading_it(client: Any) -> None:
    body = json.dumps(window(service="x" * 10_000)).encode()
    response = await client.post(OUTCOMES, data=body, headers=signed(body))
    assert response.status == 413 and "4096 bytes" in (await response.json())["error"]


async def test_it_answers_503_while_the_store_cannot_write_and_takes_the_window_later(client: Any) -> None:
    service_of(client.app).store_health.failed(OSError("disk full"), "test")
    status, answer = await send(client, window())
    assert status == 503 and "send it again" in answer["error"]
    service_of(client.app).store_health.succeeded()
    assert (await send(client, window()))[0] == 200  # refused, so not remembered as received


# -- staleness --------------------------------------------------------------------------------------


async def test_a_feed_that_stops_becomes_unknown_never_held_up(client: Any, clock: FakeClock) -> None:
    await send(client, window())
    await sweep(client, clock, 100)  # one window missed: not yet stale
    assert (await status_of(client, FEED)).status == CheckStatus.UP
    await sweep(client, clock, 60)  # three windows and the timeout after the last one's start
    state = await status_of(client, FEED)
    assert state.status == CheckStatus.UNKNOWN
    assert "flux du partenaire acme muet" in state.reasons[0]
    service = await run(client.app, lambda engine: engine.service_states["almerys/pec"])
    assert service[0] is None  # nothing known of the service: not operational


async def test_a_stale_feed_is_judged_afresh_when_it_comes_back(client: Any, clock: FakeClock) -> None:
    assert (await send(client, window(2, ok=10, failed=10)))[0] == 200
    assert (await send(client, window(1, ok=10, failed=10)))[0] == 200
    assert (await status_of(client, FEED)).status == CheckStatus.DOWN
    await sweep(client, clock, 600)
    assert (await status_of(client, FEED)).status == CheckStatus.UNKNOWN
    assert (await send(client, {**window(), "window_start": datetime.fromtimestamp(START + 520, UTC).isoformat()},
                      at=clock.now()))[0] == 200
    assert (await status_of(client, FEED)).status == CheckStatus.UP  # old streaks do not carry over the silence


# -- heartbeats -------------------------------------------------------------------------------------


async def push(client: Any, query: str = "", token: str = TOKEN, path: str = PUSH, **kwargs: Any) -> tuple[int, Any]:
    response = await client.post(path + query, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    return response.status, await response.json()


async def test_a_heartbeat_makes_its_check_up(client: Any) -> None:
    assert await push(client) == (200, {"check": "almerys/portail/cron", "outcome": "up"})
    assert (await status_of(client, "almerys/portail/cron")).status == CheckStatus.UP


async def test_a_missing_heartbeat_makes_its_check_down_through_the_threshold(client: Any, clock: FakeClock) -> None:
    await push(client)
    await sweep(client, clock, 65)  # within the interval and its grace
    assert (await status_of(client, "almerys/portail/cron")).status == CheckStatus.UP
    await sweep(client, clock, 10)  # one miss: below the failure threshold
    assert (await status_of(client, "almerys/portail/cron")).status == CheckStatus.UP
    await sweep(client, clock, 60)
    state = await status_of(client, "almerys/portail/cron")
    assert state.status == CheckStatus.DOWN
    assert state.reasons[0].startswith("aucun battement reçu depuis")
    assert await results(client) == 3  # the push and two misses, each counted once


async def test_a_pusher_that_says_it_failed_is_a_failed_result(client: Any, clock: FakeClock) -> None:
    await push(client, "?success=false&error=sauvegarde%20interrompue")
    clock.advance(1)
    status, answer = await push(client, "?success=false&error=sauvegarde%20interrompue")
    assert (status, answer["outcome"]) == (200, "down")
    state = await status_of(client, "almerys/portail/cron")
    assert state.status == CheckStatus.DOWN and state.reasons == ("échec signalé : sauvegarde interrompue",)


@pytest.mark.parametrize(
    ("call", "status", "words"),
    [
        ({"token": "wrong-token-0123456789"}, 401, "Bearer"),
        ({"token": ""}, 401, "Bearer"),
        ({"path": "/api/push/v1/almerys/portail/nope"}, 404, "no push check"),
        ({"path": "/api/push/v1/almerys/pec/acme"}, 404, "no push check"),  # a feed check takes no push
        ({"query": "?success=maybe"}, 400, "success"),
        ({"query": "?status=up"}, 400, "unknown parameter"),
        ({"query": "?success=false&error=" + "x" * 300}, 400, "at most 200"),
        ({"data": b'{"success": true}'}, 400, "no body"),
        ({"data": b"x" * 5000}, 413, "1024 bytes"),
    ],
    ids=["bad-token", "no-token", "unknown-check", "feed-check", "bad-success", "unknown-param", "long-error", "body", "huge"],
)
async def test_it_refuses_a_bad_push_clearly_and_harms_nothing(client: Any, call: dict[str, Any], status: int,
                                                               words: str) -> None:
    got, answer = await push(client, **call)
    assert got == status and words in answer["error"], answer
    assert await results(client) == 0


async def test_a_check_pushed_in_a_loop_is_refused_past_its_limit_and_the_others_are_not(
        aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> None:
    """A cron job gone mad pushes all it can: past 60 a minute, 429 with Retry-After; its neighbour still pushes."""
    config = parse_config(CONFIG.replace(
        "failure_threshold: 2}\n", "failure_threshold: 2}\n"
        "          - {id: backup, type: push, token: \"${TOKEN}\", interval: 60s, timeout: 10s}\n", 1), env=ENV).config
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", clock))
    limit, window_s = PUSH_LIMIT
    statuses = []
    for _ in range(limit + 20):  # one every 0.4 s: 80 in 32 s
        statuses.append((await push(client))[0])
        clock.advance(0.4)
    assert statuses == [200] * limit + [429] * 20
    response = await client.post(PUSH, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 429 and response.headers["Retry-After"] == "5"
    assert "push once per run" in (await response.json())["error"]
    assert await results(client) == limit  # the refused ones cost nothing
    assert (await push(client, path="/api/push/v1/almerys/portail/backup"))[0] == 200
    clock.advance(window_s)
    assert (await push(client))[0] == 200  # a minute later, heard again


async def test_pushes_waiting_for_a_busy_writer_are_capped_and_stored_once_it_is_free(
        client: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's thread busy with a long job (a prune, a slow disk): pushes wait for it, up to the cap; past it, 429."""
    cap = 3  # PUSHES_IN_FLIGHT (64) made small: the mechanism is the same, and each push gets its own millisecond
    monkeypatch.setattr(partners_module, "PUSHES_IN_FLIGHT", cap)
    partners, intake = service_of(client.app).partners, service_of(client.app).intake
    gate = threading.Event()
    busy = asyncio.ensure_future(intake.db.write(lambda _store: gate.wait(30)))  # the writer's one thread, taken

    async def until(condition: Any) -> None:
        for _ in range(2000):  # waits for the server's tasks to get there, not for time to pass
            if condition():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the pushes never reached the writer")

    waiting = []
    try:
        for i in range(cap):
            waiting.append(asyncio.ensure_future(push(client)))
            await until(lambda i=i: partners.pushes_in_flight == i + 1)
            clock.advance(1.0)
        status, answer = await asyncio.wait_for(push(client), 10)  # answered at once, not queued behind the writer
        assert status == 429 and "push again in a few seconds" in answer["error"]
    finally:
        gate.set()  # a failure above must not leave the writer held
    await busy
    assert [status for status, _ in await asyncio.gather(*waiting)] == [200] * cap
    assert partners.pushes_in_flight == 0 and await results(client) == cap  # every push taken is stored; the refused one is not
    assert (await push(client))[0] == 200  # the writer free again: heard at once


# -- what probes never see --------------------------------------------------------------------------


async def test_no_prober_runs_a_feed_or_a_push_check(client: Any) -> None:
    config = parse_config(CONFIG, env=ENV).config
    assert Assignment.for_location(config, LOCAL).checks == {}
    assert service_of(client.app).prober.process is None  # nothing to probe: no child process at all


async def test_failing_feeds_of_many_operators_never_isolate_anything(aiohttp_client: Any, tmp_path: Path,
                                                                      clock: FakeClock) -> None:
    operators = "\n".join(
        f"  - {{id: op{i}, name: Op{i}, services: [{{id: pec, name: PEC, checks: ["
        f"{{id: feed, type: feed, partner: acme, failure_threshold: 1, conditions: ['error_rate < 20%']}}]}}]}}"
        for i in range(4)
    )
    config = parse_config(f"partners: [{{id: acme, name: Acme, secret: '{ACME}'}}]\noperators:\n{operators}", env={}).config
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", clock))
    for i in range(4):
        assert (await send(client, window(service=f"op{i}/pec", ok=0, failed=10)))[0] == 200
    engine = service_of(client.app).engine
    assert all(engine.check_states[f"op{i}/pec/feed"].status == CheckStatus.DOWN for i in range(4))
    assert not any(vantage.isolated for vantage in engine.vantages.values())
    assert engine.vantages["partner-acme"].operators == {}  # a partner's place counts no operator



async def test_the_python_example_of_the_docs_is_taken(aiohttp_client: Any, tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "docs" / "feeds.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    client = await start(aiohttp_client, tmp_path / "v.db", FakeClock(time.time()))
    code = (code.replace("editeur-x", "acme").replace("almerys/pec-optique", "almerys/pec")
            .replace("https://statut.example.org/api/feeds/v1/outcomes", str(client.make_url(OUTCOMES))))
    printed: list[Any] = []
    namespace = {"SECRET": ACME, "print": printed.append}
    await asyncio.get_running_loop().run_in_executor(None, exec, code, namespace)
    answer = json.loads(printed[0])
    assert answer["checks"] == [{"check": "almerys/pec/acme", "judged": True, "outcome": "down",
                                 "reasons": ["error_rate < 20%: error rate 24.8% (56 of 226)"]}]
    assert "error rate 24.8% (56 of 226)" in text  # what the docs say it answers
