"""probes.measure: the one entry point, with one deadline per probe, that never raises."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import probes
from monitor.config.model import HttpCheck, TcpCheck
from probes import PROBES, Run, measure
from probes.base import ProbeContext
from tests.probes import servers


def http_check(url: str, timeout: str) -> HttpCheck:
    return HttpCheck.model_validate({"id": "api", "type": "http", "url": url, "timeout": timeout})


async def test_it_cuts_a_probe_that_never_returns_at_its_timeout(
    monkeypatch: pytest.MonkeyPatch, ctx: ProbeContext
) -> None:
    async def hangs(check: Any, run: Run) -> None:  # a probe with a bug: it waits for nothing
        run.phase("first_byte")
        await asyncio.Event().wait()

    monkeypatch.setitem(PROBES, "http", hangs)
    result = await measure(http_check("http://127.0.0.1:9/", "0.3s"), ctx)
    assert result.error == "timeout after 0.3s waiting for the first byte"
    # One deadline: cut at the timeout, not at an outer backstop a second later.
    assert 0.3 - servers.SLACK <= result.duration < 0.3 + 0.5
    assert 0.25 <= result.phases["first_byte"] <= result.duration


async def test_it_reports_the_duration_of_a_real_timeout_as_the_timeout(ctx: ProbeContext) -> None:
    async with servers.serve(servers.no_first_byte) as peer:
        result = await measure(http_check(f"http://127.0.0.1:{peer.port}/", "0.3s"), ctx)
    assert result.error == "timeout after 0.3s waiting for the first byte"
    assert 0.3 - servers.SLACK <= result.duration < 0.3 + 0.5


async def test_it_turns_a_crashing_probe_into_an_error_result(
    monkeypatch: pytest.MonkeyPatch, ctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    async def crashes(check: Any, run: Run) -> None:  # a probe with a bug, not the thing under test
        raise RuntimeError("bug in the probe")

    monkeypatch.setitem(PROBES, "http", crashes)
    monkeypatch.setattr(probes, "_BUGS_LOGGED", set())
    with caplog.at_level(logging.ERROR, logger="vigie.probes"):
        first = await measure(http_check("http://127.0.0.1:9/", "1s"), ctx)
        second = await measure(http_check("http://127.0.0.1:9/", "1s"), ctx)
    assert first.error == second.error == "probe error: RuntimeError: bug in the probe"
    assert first.duration >= 0
    [record] = [r for r in caplog.records if r.name == "vigie.probes"]  # logged once, not per run
    assert record.exc_info is not None or record.exc_text  # with its traceback (maybe redacted by monitor.logs)
    assert "Traceback" in caplog.text


async def test_it_lets_cancellation_through(monkeypatch: pytest.MonkeyPatch, ctx: ProbeContext) -> None:
    started = asyncio.Event()

    async def waits(check: Any, run: Run) -> None:
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setitem(PROBES, "http", waits)
    task = asyncio.ensure_future(measure(http_check("http://127.0.0.1:9/", "5s"), ctx))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_it_keeps_a_probe_sentence_for_its_timeout(ctx: ProbeContext) -> None:
    async with servers.serve(servers.banner(b"500 go away\r\n")) as peer:
        check = TcpCheck.model_validate(
            {"id": "p", "type": "tcp", "host": "127.0.0.1", "port": peer.port, "timeout": "0.3s", "expect": "220"}
        )
        result = await measure(check, ctx)
    assert result.error == "expected '220' not received (got 13 bytes: '500 go away\\r\\n'): timeout after 0.3s"
    assert 0.3 - servers.SLACK <= result.duration < 0.3 + 0.5
