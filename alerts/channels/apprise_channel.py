"""Chat and push channels through apprise (Slack, Teams, Mattermost, Discord, Telegram, ntfy…).

One apprise URL per channel (``spec.url``); a short text in the channel's
language: ``[Vigie] Almerys — Demande de prise en charge optique : panne
(depuis 14 h 05)`` as the title, the latest update, the ETA and the link as
the body. Apprise is synchronous: it runs in a worker thread, bounded by the
channel's timeout. Apprise URLs carry tokens, so they never reach logs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import apprise

from alerts.channels.apprise_failure import describe, mask, quiet_apprise_logger, secrets_of
from alerts.channels.base import Channel, ChannelContext, TransportError
from status_site.i18n import Formatter

if TYPE_CHECKING:
    from monitor.config.model import Channel as ChannelSpec
    from monitor.storage.outbox import Delivery

# apprise logs the URLs it is given, tokens included; Vigie logs its own failures, masked
quiet_apprise_logger()

WORDS = {
    "fr": {
        "incident.opened": "panne",
        "incident.updated": "panne en cours",
        "incident.resolved": "rétabli",
        "maintenance.scheduled": "maintenance prévue",
        "maintenance.started": "maintenance en cours",
        "maintenance.ended": "maintenance terminée",
        "instable": "instable",
        "stable": "de nouveau stable",
        "since": "depuis",
        "eta": "Retour estimé",
        "reminder": "Rappel",
        "test": "message de test",
        "and": "et",
    },
    "en": {
        "incident.opened": "outage",
        "incident.updated": "outage ongoing",
        "incident.resolved": "resolved",
        "maintenance.scheduled": "maintenance scheduled",
        "maintenance.started": "maintenance in progress",
        "maintenance.ended": "maintenance over",
        "instable": "unstable",
        "stable": "stable again",
        "since": "since",
        "eta": "Expected back",
        "reminder": "Reminder",
        "test": "test message",
        "and": "and",
    },
}


def _at(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def _name(names: dict[str, str], lang: str) -> str:
    return names.get(lang) or names.get("fr") or next(iter(names.values()), "")


def message(event_type: str, data: dict[str, Any], at: float, lang: str, tz: str) -> tuple[str, str]:
    """(title, body) of an event in ``lang``: short enough for a chat line or a push."""
    words, fmt = WORDS[lang], Formatter(lang, ZoneInfo(tz))
    if "incident" in data:
        incident = data["incident"]
        operator = data["operator"]["name"]
        services = [_name(s["name"], lang) for s in incident["services"] if s.get("recovered_at") is None] or [
            _name(s["name"], lang) for s in incident["services"]
        ]
        state = words[event_type]
        if (data.get("flapping") or {}).get("state") == "stable":
            state = f"{state} ({words['stable']})"
        started = _at(incident["started_at"]) or at
        when = f" ({words['since']} {fmt.since(started, at)})" if event_type != "incident.resolved" else ""
        joined = f" {words['and']} ".join(services)
        title = f"[Vigie] {operator} — {joined} : {state}{when}"
        if data.get("reminder"):
            title = f"{words['reminder']} — {title}"
        lines = []
        if incident.get("latest_update"):
            lines.append(_name(incident["latest_update"]["message"], lang))
        if incident.get("eta") and incident["eta"].get("expected_at"):
            lines.append(f"{words['eta']} : {fmt.since(_at(incident['eta']['expected_at']) or at, at)}")
        lines.append(incident["url"])
        return title, "\n".join(lines)
    if "maintenance" in data:
        window = data["maintenance"]
        operators = ", ".join(o["name"] for o in data.get("operators", []))
        services = f" {words['and']} ".join(_name(s["name"], lang) for s in window["services"])
        starts, ends = _at(window["starts_at"]) or at, _at(window["ends_at"]) or at
        title = f"[Vigie] {operators} — {services} : {words[event_type]}"
        body = f"{fmt.datetime(starts)} → {fmt.datetime(ends)}\n{_name(window['title'], lang)}\n{window['url']}"
        return title, body
    if "service" in data:
        service, flapping = data["service"], data.get("flapping") or {}
        state = words["stable"] if flapping.get("state") == "stable" else words["instable"]
        title = f"[Vigie] {data['operator']['name']} — {_name(service['name'], lang)} : {state}"
        return title, ""
    return f"[Vigie] {words['test']}", _name(data.get("message", {"fr": ""}), lang)


class AppriseChannel(Channel):
    kind = "apprise"

    def __init__(self, spec: "ChannelSpec", ctx: ChannelContext) -> None:
        super().__init__(spec, ctx)
        self.apprise = apprise.Apprise()
        self.valid = bool(self.apprise.add(spec.url or ""))
        self.secrets = secrets_of(spec.url or "")

    async def send(self, delivery: "Delivery") -> None:
        if not self.valid:
            raise TransportError("the apprise URL is not one apprise understands", permanent=True)
        event = delivery.event
        title, body = message(event.type, event.data, event.at, self.spec.language, self.ctx.config.site.timezone)
        timeout = self.spec.timeout
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(
                    self.apprise.notify, body=body or title, title=title, timeout=timeout, log_level=logging.DEBUG
                ),
                timeout + 1.0,  # apprise stops waiting at `timeout`; this only guards against a bug there
            )
        except TimeoutError:
            raise TransportError(f"apprise: no answer within {timeout:g}s") from None
        except Exception as exc:  # noqa: BLE001 - apprise raises its own kinds; none should escape as a bug
            raise TransportError(f"apprise: {type(exc).__name__}: {mask(str(exc), self.secrets)}"[:300]) from None
        if not result:
            raise TransportError(f"apprise: {describe(result, self.secrets, timeout)}")
