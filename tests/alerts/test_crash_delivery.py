"""`kill -9` of `vigie run` while webhook deliveries are pending and in flight and the receiver is down:
after a restart every event arrives, each webhook-id once after de-duplication. Also measures how
long a normal run takes from an endpoint failing to the webhook being received."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.alerts.conftest import Receiver, config_yaml, webhook_channels
from tests.conftest import SwitchableTarget
from tests.monitor.test_crash import query, start_vigie, stop, until

INTERVAL, FAILURE_THRESHOLD, SUCCESS_THRESHOLD = 1, 2, 2


def write_config(path: Path, target: SwitchableTarget, receiver: Receiver) -> None:
    text = config_yaml(target.url, webhook_channels(("hooks", receiver.url), timeout="1s"))
    text = text.replace(
        "defaults: {interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}",
        f"defaults: {{interval: {INTERVAL}s, timeout: 1s, failure_threshold: {FAILURE_THRESHOLD}, "
        f"success_threshold: {SUCCESS_THRESHOLD}}}\nstorage: {{flush_interval: 200ms}}",
    )
    path.write_text(text)


def expected_ids(db: Path) -> set[str]:
    return {f"msg_{event_id}_hooks" for (event_id,) in query(db, "SELECT event_id FROM deliveries WHERE channel = 'hooks'")}


async def test_it_delivers_every_event_once_after_a_sigkill_with_the_receiver_down(
    http_target: SwitchableTarget, receiver: Receiver, tmp_path: Path
) -> None:
    config, db = tmp_path / "config.yaml", tmp_path / "vigie.db"
    write_config(config, http_target, receiver)
    http_target.default, receiver.mode = 503, 503
    vigie = await start_vigie(config, db)
    try:
        await until(lambda: query(db, "SELECT count(*) FROM events")[0][0] >= 1, "incident.opened")
        await receiver.wait_for(lambda r: len(r.attempts) >= 1)  # a first attempt, refused
        http_target.default = 200
        await until(lambda: query(db, "SELECT count(*) FROM events")[0][0] >= 2, "incident.resolved")
        receiver.mode = "hang"  # the next attempt stays in flight…
        await receiver.wait_for(lambda r: r.attempts[-1][1] == "hang", timeout=60)
    finally:
        stop(vigie, signal.SIGKILL)  # …when the process dies
        await vigie.wait()
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    statuses = query(db, "SELECT status, count(*) FROM deliveries GROUP BY status")
    assert dict(statuses) == {"pending": 2}, statuses
    attempts_before = len(receiver.attempts)

    receiver.mode = "ok"
    receiver._release.set()
    vigie = await start_vigie(config, db)
    try:
        wanted = expected_ids(db)
        await receiver.wait_for(lambda r: wanted <= set(r.ids()), timeout=90)
        await until(lambda: dict(query(db, "SELECT status, count(*) FROM deliveries GROUP BY status")) == {"delivered": 2}, "the outbox drained")
    finally:
        stop(vigie, signal.SIGTERM)
        assert await asyncio.wait_for(vigie.wait(), timeout=15) == 0, (tmp_path / "vigie.log").read_text()
    ids = receiver.ids()
    assert set(ids) == wanted and len(wanted) == 2
    assert receiver.types()[: len(wanted)] == ["incident.opened", "incident.resolved"][: len(ids)]
    assert len(set(ids)) == len(wanted)  # after de-duplication on webhook-id: each event exactly once
    print(
        f"\nkill-restart: {len(wanted)} events, {attempts_before} attempts before the kill "
        f"(the last in flight), {len(ids)} received after restart, {len(ids) - len(set(ids))} duplicates"
    )


async def test_it_measures_the_time_from_an_endpoint_failing_to_the_webhook(
    http_target: SwitchableTarget, receiver: Receiver, tmp_path: Path
) -> None:
    config, db = tmp_path / "config.yaml", tmp_path / "vigie.db"
    write_config(config, http_target, receiver)
    vigie = await start_vigie(config, db)
    try:
        await until(
            lambda: query(db, "SELECT count(*) FROM service_states WHERE status = 'operational'")[0][0] == 2, "services up"
        )
        failed_at = time.monotonic()
        http_target.default = 503
        await receiver.wait_for(lambda r: "incident.opened" in r.types(), timeout=30)
        elapsed = time.monotonic() - failed_at
    finally:
        stop(vigie, signal.SIGTERM)
        assert await asyncio.wait_for(vigie.wait(), timeout=15) == 0, (tmp_path / "vigie.log").read_text()
    print(
        f"\nendpoint failing -> webhook received: {elapsed:.2f} s "
        f"(interval {INTERVAL}s, failure_threshold {FAILURE_THRESHOLD}, success_threshold {SUCCESS_THRESHOLD})"
    )
    assert elapsed < INTERVAL * (FAILURE_THRESHOLD + 1) + 2
