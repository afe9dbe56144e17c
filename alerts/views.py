"""What an alert says, as plain strings: one view of an event, in one language, for every channel.

The email templates render it and the chat/push text (apprise) is cut from
it, so a mail and a chat line say the same thing — and, through
`monitor.words.Sentences`, in the very sentences of the status page (the
ETA, the maintenance window, the alert's title).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from monitor.statuses import IncidentStatus, MaintenanceStatus
from monitor.words import Sentences, epoch, localized, notice_words
from monitor.words.signals import signal_words

# which status a window has once the event has happened (a cancelled one says so whatever the event)
MAINTENANCE_BY_EVENT = {
    "maintenance.scheduled": MaintenanceStatus.SCHEDULED,
    "maintenance.started": MaintenanceStatus.IN_PROGRESS,
    "maintenance.ended": MaintenanceStatus.COMPLETED,
}


class AlertEvent(Protocol):
    """What a view needs of an event: an outbox `EventRow` or a `monitor.events.Event`."""

    @property
    def type(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def operator_id(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LooseEvent:
    """An event given as its parts (``type``, ``data``, ``at``)."""

    type: str
    at: float
    data: dict[str, Any]
    operator_id: str | None = None


@dataclass(frozen=True)
class _Window:
    """A window read back from an event's data, for `Sentences.maintenance_when`."""

    status: str
    starts_at: float
    ends_at: float


def link(url: str, lang: str, **params: str) -> str:
    """``url`` with ``params``, and ``lang=en`` unless the reader reads French (the site's default)."""
    query = {**params, **({"lang": lang} if lang != "fr" else {})}
    return url + ("&" if "?" in url else "?") + urlencode(query) if query else url


def alert_view(event: AlertEvent, lang: str, tz: ZoneInfo, base_url: str = "") -> dict[str, Any]:
    """What the incident and maintenance templates show, in one language, as plain strings.

    ``subject`` is the alert's headline (an email's subject); ``chat_title``
    the same with since when it lasts, and ``lines`` the short text, of a
    chat or push message.
    """
    words = Sentences(lang, tz)
    data = event.data
    if "maintenance" in data:
        view = _maintenance_view(event, words)
    elif data.get("test"):
        view = _test_view(event, words, base_url)
    elif "vantage" in data:
        view = _vantage_view(event, words, base_url)
    elif "reports" in data:
        view = _surge_view(event, words, base_url)
    elif "incident" not in data:
        view = _flapping_view(event, words, base_url)
    else:
        view = _incident_view(event, words)
    view["subject"] = words.alert_title(view["operator"], view["services"], view["status"])
    view.setdefault("chat_title", view["subject"])
    return view


def _maintenance_view(event: AlertEvent, words: Sentences) -> dict[str, Any]:
    fmt, lang, data = words.fmt, words.lang, event.data
    window = data["maintenance"]
    status = window.get("status") if window.get("status") == MaintenanceStatus.CANCELLED else MAINTENANCE_BY_EVENT.get(
        event.type, window.get("status", MaintenanceStatus.SCHEDULED))
    starts, ends = epoch(window.get("starts_at")), epoch(window.get("ends_at"))
    title = localized(window.get("title"), lang)
    url = link(window.get("url", ""), lang)
    when = (words.maintenance_when(_Window(status or "", starts, ends), event.at)
            if starts is not None and ends is not None else "")
    return {
        "template": "maintenance",
        "operator": " / ".join(o["name"] for o in data.get("operators", [])) or "Vigie",
        "services": [localized(s["name"], lang) for s in window.get("services", [])],
        "status": words.alert_state(status or ""),
        "title": title,
        "message": localized(window.get("message"), lang),
        "starts": fmt.datetime(starts) if starts is not None else "",
        "ends": fmt.datetime(ends) if ends is not None else "",
        "when": when,
        "url": url,
        "lines": [line for line in (when, title, url) if line],
    }


def _incident_view(event: AlertEvent, words: Sentences) -> dict[str, Any]:
    fmt, lang, data = words.fmt, words.lang, event.data
    incident = data["incident"]
    # the event says it best: an ``incident.resolved`` is a recovery whatever the data's status says
    status = incident.get("status", IncidentStatus.INVESTIGATING)
    if event.type == "incident.resolved":
        status = IncidentStatus.RESOLVED
    started = epoch(incident.get("started_at"))
    latest = incident.get("latest_update") or {}
    services: list[dict[str, Any]] = []
    for service in incident.get("services", []):
        recovered = epoch(service.get("recovered_at"))
        since = epoch(service.get("since"))
        reports = service.get("reports") or None
        services.append({
            "name": localized(service["name"], lang),
            "since": fmt.datetime(since) if since is not None else "",
            "recovered": fmt.datetime(recovered) if recovered is not None else None,
            # professionals' reports while above their baseline: the count beside the outage
            "reports": words.reports_note(reports["level"], epoch(reports["since"]) or event.at, int(reports["count"]),
                                          event.at, beside=True) if reports and recovered is None else None,
        })
    resolved = epoch(incident.get("resolved_at"))
    recovery = None if resolved is not None else words.recovery(
        incident.get("eta"), event.at, outlasted=epoch(incident.get("eta_outlasted")))
    message = localized(latest.get("message"), lang) if latest else ""
    url = link(incident.get("url", ""), lang)
    affected = [s["name"] for s in services if s["recovered"] is None] or [s["name"] for s in services]
    state = dict(reminder=bool(data.get("reminder")), stable=(data.get("flapping") or {}).get("state") == "stable")
    lasting = started if resolved is None and event.type != "incident.resolved" else None  # since when, while it lasts
    backing = words.backed_by(s for service in incident.get("services", []) for s in service.get("signals", ()))
    return {
        "template": "incident",
        "backing": backing,
        "operator": view_operator(event),
        "services": [s["name"] for s in services],
        "service_lines": services,
        "status": words.alert_state(status, **state),
        # a short message names the services still out (all of them once every one is back), and since when
        "chat_title": words.alert_title(view_operator(event), affected,
                                        words.alert_state(status, **state, since=lasting, now=event.at)),
        "incident_status": words.incident_status(status) if status else "",
        "title": localized(incident.get("title"), lang),
        "since": fmt.datetime(started) if started is not None else "",
        "resolved": fmt.datetime(resolved) if resolved is not None else None,
        "message": message,
        "message_at": fmt.datetime(a) if (a := epoch(latest.get("at"))) is not None else "",
        "eta": recovery[1] if recovery else None,
        "url": url,
        "lines": [line for line in (message, recovery[1] if recovery else None, url) if line],
    }


def _test_view(event: AlertEvent, words: Sentences, base_url: str) -> dict[str, Any]:
    """``vigie alerts test``: says only that the channel works."""
    notices = notice_words(words.lang)
    message = localized(event.data.get("message"), words.lang)
    return {
        "template": "incident", "operator": "Vigie", "services": [], "service_lines": [],
        "status": notices.test, "incident_status": "", "title": notices.test, "since": "", "resolved": None,
        "message_at": words.fmt.datetime(event.at), "message": message, "eta": None,
        "url": link(base_url + "/", words.lang), "lines": [message] if message else [],
    }


def _vantage_view(event: AlertEvent, words: Sentences, base_url: str) -> dict[str, Any]:
    """``vigie.isolated`` / ``vigie.recovered``: Vigie's own vantage, for operations."""
    notices, vantage = notice_words(words.lang), event.data["vantage"]
    location = localized(vantage.get("location", {}).get("name"), words.lang) or vantage.get("location", {}).get("id", "")
    isolated = vantage.get("state") == "isolated"
    message = (notices.isolated_message if isolated else notices.recovered_message).format(
        location=location, why=vantage.get("why", ""))
    return {
        "template": "incident", "operator": f"{notices.vantage} {location}", "services": [], "service_lines": [],
        "status": notices.isolated if isolated else notices.recovered, "incident_status": "", "title": message,
        "since": words.fmt.datetime(event.at), "resolved": None, "message_at": words.fmt.datetime(event.at),
        "message": message, "eta": None, "url": link(vantage.get("url") or base_url + "/", words.lang),
        "lines": [message],
    }


def _surge_view(event: AlertEvent, words: Sentences, base_url: str) -> dict[str, Any]:
    """``reports.surge``: professionals' reports on a service climb above their baseline, or are calm again."""
    fmt, lang, data, said = words.fmt, words.lang, event.data, signal_words(words.lang)
    service, reports, operator = data.get("service", {}), data.get("reports", {}), data.get("operator", {})
    name = localized(service.get("name"), lang) or service.get("id", "")
    level = reports.get("level", "calm")
    since = epoch(reports.get("since"))
    if level == "calm" or since is None:
        message = said.surge_over.format(service=name)
    else:
        message = words.reports_note(level, since, int(reports.get("count", 0)), event.at)
    probes = said.surge_probes.format(colon=words.t.colon, status=words.status(service.get("status")))
    url = link(reports.get("url") or f"{base_url}/operators/{operator.get('id', '')}", lang)
    return {
        "template": "incident", "operator": operator.get("name", event.operator_id or ""), "services": [name],
        "service_lines": [{"name": name, "since": fmt.datetime(since) if since else "", "recovered": None}],
        "status": said.get(f"surge_{level}", level), "incident_status": "", "title": f"{name} — {message}",
        "since": fmt.datetime(since) if since else "", "resolved": None, "message_at": fmt.datetime(event.at),
        "message": f"{message}\n{probes}", "eta": None, "url": url, "lines": [message, probes, url],
    }


def _flapping_view(event: AlertEvent, words: Sentences, base_url: str) -> dict[str, Any]:
    """A ``service.flapping`` event (a service that keeps changing state, or is stable again)."""
    fmt, lang, data, notices = words.fmt, words.lang, event.data, notice_words(words.lang)
    service, flapping = data.get("service", {}), data.get("flapping", {})
    name = localized(service.get("name"), lang) or service.get("id", "")
    stable = flapping.get("state") == "stable"
    since = epoch(flapping.get("since"))
    window = fmt.duration(float(flapping.get("window") or 0))
    operator = data.get("operator", {})
    message = (notices.stable_again if stable else notices.flapping).format(
        service=name, changes=flapping.get("changes", "?"), window=window)
    return {
        "template": "incident", "operator": operator.get("name", event.operator_id or ""), "services": [name],
        "service_lines": [{"name": name, "since": fmt.datetime(since) if since else "", "recovered": None}],
        "status": notices.stable if stable else notices.unstable, "incident_status": "", "title": name,
        "since": fmt.datetime(since) if since else "", "resolved": None, "message_at": fmt.datetime(event.at),
        "message": message, "eta": None, "url": link(f"{base_url}/operators/{operator.get('id', '')}", lang),
        "lines": [message],
    }


def view_operator(event: AlertEvent) -> str:
    return event.data.get("operator", {}).get("name", event.operator_id or "")


def chat_text(event: AlertEvent, lang: str, tz: ZoneInfo, base_url: str = "") -> tuple[str, str]:
    """(title, body) of an event for a chat line or a push: the email's headline, since when, and its gist."""
    view = alert_view(event, lang, tz, base_url)
    return view["chat_title"], "\n".join(view["lines"])


def text_of(event_type: str, data: Mapping[str, Any], at: float, lang: str, tz: str) -> tuple[str, str]:
    """`chat_text` of an event given as its parts."""
    return chat_text(LooseEvent(event_type, at, dict(data)), lang, ZoneInfo(tz))
