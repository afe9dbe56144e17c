"""A slowloris against a real `vigie run` held to 1,024 open files (in its own process, so the
test process keeps its own limit): 1,100 connections that dribble a request head that never
ends — more than the process could ever hold — reconnecting as soon as they are closed.

Meanwhile visitors and `/healthz` are answered, probes keep passing and no incident opens, the
server never holds more connections than its cap and never logs "Too many open files"; once
the attack stops reconnecting, every half-open connection left is closed by the header timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import SwitchableTarget
from tests.ops.conftest import free_port

NOFILE = 1024
ATTACKERS = 1100
DEADLINE = 60.0  # seconds before a wait is a failure; never reached when the code is right
SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})? (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')
API = {"operator": "almerys", "service": "pec", "check": "api", "location": "local"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics(text: str) -> Samples:
    return {(name, frozenset(LABEL.findall(labels))): float(value) for name, labels, value in SAMPLE.findall(text)}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


class Slowloris:
    """``n`` connections, each reconnecting as soon as the server closes it, until ``stop``."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.n = port, n
        self.reconnect = True
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._one()) for _ in range(self.n)]

    async def _one(self) -> None:
        while self.reconnect:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)  # the accept queue is full: try again, as an attacker would
                continue
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: vigie\r\nX-Slow: ")
                while not reader.at_eof():
                    writer.write(b"a")
                    await writer.drain()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(reader.read(1), 0.2)
            except ConnectionError:
                pass  # closed by the server: reconnect
            finally:
                writer.close()

    async def stop(self) -> None:
        """Stop reconnecting and wait until the server has closed every connection left."""
        self.reconnect = False
        await asyncio.wait_for(asyncio.gather(*self.tasks), DEADLINE)


@pytest.fixture
async def vigie(http_target: SwitchableTarget, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < NOFILE or (hard != resource.RLIM_INFINITY and hard < ATTACKERS + 200):
        pytest.skip(f"needs a hard limit of at least {ATTACKERS + 200} open files, not {hard}")
    if soft != resource.RLIM_INFINITY and soft < ATTACKERS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attacker's own descriptors
    config = tmp_path / "config.yaml"
    config.write_text(f"""
site: {{limits: {{header_timeout: 2s}}}}
defaults: {{interval: 1s, timeout: 2s, failure_threshold: 1, success_threshold: 1}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC optique
        checks:
          - {{id: api, type: http, url: "{http_target.url}/pec", conditions: ["status == 200"]}}
          - {{id: tcp, type: tcp, host: 127.0.0.1, port: {http_target.url.rsplit(":", 1)[1]}}}
""")
    port = free_port()
    log = tmp_path / "vigie.log"
    with open(log, "wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "-c", str(config), "--db", str(tmp_path / "vigie.db"),
            "--listen", f"127.0.0.1:{port}", stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE)),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(DEADLINE):
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"{url}/metrics") as response:
                            text = await response.text()
                            reported = [line for line in text.splitlines() if line.startswith("vigie_probe_success{")]
                            if all(any(f'check="{c}"' in line for line in reported) for c in ("api", "tcp")):
                                break  # both checks have been probed once: what the test reads exists
                    assert process.returncode is None, log.read_text()
                    await asyncio.sleep(0.1)  # polling step
        yield url, log
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()


async def test_it_keeps_serving_and_probing_through_a_slowloris_beyond_its_open_files_limit(
    vigie: tuple[str, Path],
) -> None:
    url, log = vigie
    attack = Slowloris(int(url.rsplit(":", 1)[1]), ATTACKERS)
    timeout = aiohttp.ClientTimeout(total=DEADLINE)
    # a new connection per request, as visitors and load balancers come
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as session:

        async def scrape() -> dict[str, float]:
            async with session.get(f"{url}/metrics") as response:
                assert response.status == 200
                return metrics(await response.text())

        before = await scrape()
        attack.start()
        samples = []
        async with asyncio.timeout(DEADLINE):
            # the attack holds the server at its cap (it evicts) for long enough for several probes
            while True:
                for path in ("/", "/healthz", "/api/v2/status.json"):
                    async with session.get(url + path) as response:
                        assert response.status == 200, path
                samples.append(await scrape())
                probes = value(samples[-1], "vigie_probe_duration_seconds_count", **API)
                evicted = value(samples[-1], "vigie_http_connections_closed_total", reason="evicted")
                if evicted > 2 * ATTACKERS and probes >= value(before, "vigie_probe_duration_seconds_count", **API) + 3:
                    break
        await attack.stop()
        after = await scrape()

    limit = value(after, "vigie_http_connections_limit")
    assert limit == NOFILE - 256
    for sample in samples:
        assert total(sample, "vigie_http_connections") <= limit
        assert value(sample, "vigie_probe_success", **API) == 1.0
        assert value(sample, "vigie_probe_success", **{**API, "check": "tcp"}) == 1.0
        assert total(sample, "vigie_open_incidents") == 0
    # every connection left when the attack stopped was closed for want of a complete head
    assert value(after, "vigie_http_connections", state="reading") == 0
    timed_out = value(after, "vigie_http_connections_closed_total", reason="header_timeout")
    evicted = value(after, "vigie_http_connections_closed_total", reason="evicted")
    assert evicted > 2 * ATTACKERS and timed_out >= 1
    assert value(after, "vigie_http_connections_closed_total", reason="refused") == 0
    text = log.read_text()
    assert "Too many open files" not in text and "out of system resource" not in text
    assert total(after, "vigie_open_incidents") == 0
