"""The demo's field: what Vigie hears beyond its probes, played from the scenario.

- **The partner** — the opticians' software gateway — sends, after each
  ``FEED_WINDOW``, its counts of PECs that went through, failed or timed out for
  each service it carries (``PARTNER_SERVICES``), signed per Standard Webhooks
  with its secret (``POST /api/feeds/v1/outcomes``, ``docs/feeds.md``). While the
  scenario's ``pec_fail`` lasts, nine in ten fail.
- **Professionals** report the services the scenario has them report
  (``POST /api/reports``), each from a network of its own — a loopback address
  ``127.N.0.1``, a /24 of its own — with its own browser, so each counts once.

``send_window`` and ``report`` do one thing each (tests call them on a fake
clock); ``run`` plays them in real time for ``vigie demo``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook

from monitor.demo.fleet import FEED_WINDOW, PARTNER, DemoFleet
from monitor.demo.scenario import PARTNER_SERVICES, REPORTERS

log = logging.getLogger("vigie.demo")


def counts(window: int, failing: bool) -> dict[str, int]:
    """A window's outcome counts, varied but reproducible: about 45 PECs, 1 in 20 failing, or 9 in 10."""
    if failing:
        return {"ok": 3 + window % 3, "failed": 32 + window % 7, "timeout": 4 + window % 2}
    return {"ok": 40 + (window * 7) % 11, "failed": window % 3, "timeout": 0}


def reporter_address(n: int) -> str:
    """The n-th professional's network: 127.(10 + n).0.1 (Linux routes all of 127/8 to the loopback)."""
    return f"127.{10 + n}.0.1"


def reporter_agent(n: int) -> str:
    return f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.{n}.0 Safari/537.36 OpticienDemo/{n}"


class Field:
    def __init__(self, fleet: DemoFleet, central: str) -> None:
        self.fleet = fleet
        self.central = central.rstrip("/")
        self.webhook = Webhook(fleet.partner_secret)
        self.sent: dict[str, float] = {}  # service -> start of the last window sent
        self.reported: dict[str, int] = {}  # service -> professionals who reported it this cycle

    def _window_start(self) -> float:
        now = self.fleet.clock.now()
        return (now // FEED_WINDOW) * FEED_WINDOW - FEED_WINDOW  # the last window that is over

    async def send_window(self, service: str, start: float) -> int:
        """Send the partner's counts for ``service`` in the window starting at ``start``; the central's status."""
        elapsed = self.fleet.elapsed() - (self.fleet.clock.now() - start)  # the scenario at the window's start
        fault = self.fleet.scenario.fault(elapsed, service)
        body = json.dumps({
            "service": service, "window_start": datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z"),
            "window_s": FEED_WINDOW, **counts(int(start // FEED_WINDOW), fault is not None and fault.kind == "pec_fail"),
        })
        message_id, at = f"msg_{uuid.uuid4().hex}", datetime.fromtimestamp(self.fleet.clock.now(), UTC)
        headers = {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": self.webhook.sign(message_id, at, body), "vigie-partner": PARTNER["id"],
                   "content-type": "application/json"}
        async with aiohttp.ClientSession() as session, session.post(
            f"{self.central}/api/feeds/v1/outcomes", data=body, headers=headers) as response:
            self.sent[service] = start
            return response.status

    async def report(self, service: str, n: int) -> int:
        """Professional ``n`` reports that the PEC of ``service`` is refused with a technical error."""
        connector = aiohttp.TCPConnector(local_addr=(reporter_address(n), 0))
        async with aiohttp.ClientSession(connector=connector) as session, session.post(
            f"{self.central}/api/reports", json={"service": service, "symptom": "pec-erreur-technique"},
            headers={"User-Agent": reporter_agent(n)}) as response:
            return response.status

    async def step(self) -> None:
        """What is due now: the windows over since the last sent, and the reports the scenario has come."""
        start = self._window_start()
        for service in PARTNER_SERVICES:
            if self.sent.get(service, 0.0) < start:
                await self.send_window(service, start)
        elapsed = self.fleet.elapsed()
        for service in PARTNER_SERVICES:
            due = self.fleet.scenario.reporters_by(elapsed, service)
            if due < self.reported.get(service, 0):  # a new cycle: the story starts again
                self.reported[service] = 0
            while self.reported.get(service, 0) < min(due, REPORTERS):
                await self.report(service, self.reported.get(service, 0))
                self.reported[service] = self.reported.get(service, 0) + 1

    async def run(self) -> None:
        """Play the field in real time until cancelled; a central not yet up is tried again."""
        while True:
            try:
                await self.step()
            except (aiohttp.ClientError, OSError) as exc:
                log.debug("the demo's field could not reach the central: %s", exc)
            await asyncio.sleep(1.0)
