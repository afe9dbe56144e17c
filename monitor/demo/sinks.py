"""The demo's local alert receivers: an SMTP server and a webhook endpoint on loopback.

A newcomer running ``vigie demo`` sees the alerts a federation would get —
the email's subject and the webhook's event, signature verified with the
``standardwebhooks`` library as a real receiver would — printed as they
arrive.
"""

from __future__ import annotations

import base64
import email
import email.policy
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks import Webhook

HOST = "127.0.0.1"
Say = Callable[[str], None]


def _print(text: str) -> None:
    print(text, file=sys.stdout, flush=True)


@dataclass
class Received:
    kind: str  # email | webhook
    summary: str
    raw: Any = None


@dataclass
class MailSink:
    """An SMTP server that keeps what it is sent."""

    say: Say = _print
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: Any = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        # content is typed bytes | str | None; without decode_data (below, the default) aiosmtpd gives bytes
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        subject = str(message.get("Subject", ""))
        self.received.append(Received("email", subject, message))
        self.say(f"  ✉ courriel reçu par {', '.join(envelope.rcpt_tos)} : {subject}")
        return "250 Message accepted"

    async def start(self) -> int:
        import asyncio

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self, hostname="vigie-demo"), HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass
class WebhookSink:
    """A webhook receiver that verifies every signature before believing it."""

    say: Say = _print
    secret: str = field(default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    received: list[Received] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:  # noqa: BLE001 - any failure means "not from Vigie"
            self.say("  ⚠ webhook refusé : signature invalide")
            return web.Response(status=400)
        message_id = request.headers.get("webhook-id", "")
        if message_id in self.seen_ids:  # at-least-once delivery: de-duplicate on webhook-id
            return web.Response(status=204)
        self.seen_ids.add(message_id)
        data = payload.get("data", {})
        subject = data.get("incident") or data.get("maintenance") or {}
        title = subject.get("title", {}).get("fr", "") if isinstance(subject.get("title"), dict) else ""
        if isinstance(data.get("reports"), dict):  # reports.surge: the service and its level
            service = data.get("service", {}).get("name", {})
            title = f"{service.get('fr', '') if isinstance(service, dict) else ''} : {data['reports'].get('level', '')}"
        summary = f"{payload.get('type')} — {title}".rstrip(" —")
        self.received.append(Received("webhook", summary, payload))
        self.say(f"  ↪ webhook signé reçu ({message_id}) : {summary}")
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/vigie"

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/vigie", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def alerts_config(mail: MailSink, hook: WebhookSink) -> dict[str, Any]:
    """The ``alerts`` section that sends the demo's alerts to its sinks."""
    return {
        "smtp": {"host": HOST, "port": mail.port, "starttls": False, "from": "vigie@demo.invalid"},
        "channels": [
            {"id": "federation-courriel", "type": "email", "to": ["alertes@federation.demo.invalid"], "language": "fr"},
            {"id": "federation-webhook", "type": "webhook", "url": hook.url, "secret": hook.secret, "timeout": "5s"},
            # operations hear of Vigie's own vantage, never the federations; and of professionals' reports
            {"id": "exploitation", "type": "webhook", "url": hook.url, "secret": hook.secret, "timeout": "5s",
             "events": ["vigie.isolated", "vigie.recovered", "reports.surge"]},
        ],
    }
