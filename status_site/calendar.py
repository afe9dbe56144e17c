"""``/maintenances.ics``: maintenance windows as an iCalendar feed (RFC 5545).

A practice manager subscribes once in their calendar and sees every planned
window of the operators they depend on. Cancelled windows stay in the feed
with ``STATUS:CANCELLED`` so that calendars remove them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web

from monitor.statuses import MaintenanceStatus
from monitor.words import localized, texts
from status_site.i18n import negotiate
from status_site.state import Rendered, SiteState, rendered, respond
from status_site.views import Snapshot

CONTENT_TYPE = "text/calendar; charset=utf-8"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/maintenances.ics", maintenances_ics)


async def maintenances_ics(request: web.Request) -> web.Response:
    from status_site.keys import SITE

    site: SiteState = request.app[SITE]
    lang = negotiate(request, site.snapshot().languages)
    page = await site.render(("ics", lang), lambda snapshot: render_calendar(snapshot, lang))
    return respond(request, page, max_age=60, stale=600)


def render_calendar(snapshot: Snapshot, lang: str = "fr") -> Rendered:
    host = urlsplit(snapshot.base_url).hostname or "vigie.invalid"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Vigie//Maintenances//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        _prop("X-WR-CALNAME", texts(lang).calendar_name.format(title=snapshot.title)),
    ]
    for window in snapshot.maintenances:
        services = ", ".join(localized(s.name, lang) for s in window.services)
        title = localized(window.title, lang)
        description = localized(window.message, lang) + "\n\n" + services
        lines += [
            "BEGIN:VEVENT",
            f"UID:maintenance-{window.id}@{host}",
            f"DTSTAMP:{_utc(window.updated_at)}",
            f"DTSTART:{_utc(window.starts_at)}",
            f"DTEND:{_utc(window.ends_at)}",
            f"SEQUENCE:{int(window.updated_at - window.created_at)}",
            _prop("SUMMARY", title),
            _prop("DESCRIPTION", description),
            _prop("URL", f"{snapshot.base_url}/"),
            "STATUS:" + ("CANCELLED" if window.status == MaintenanceStatus.CANCELLED else "CONFIRMED"),
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return rendered("".join(_fold(line) + "\r\n" for line in lines), CONTENT_TYPE)


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")


def _prop(name: str, text: str) -> str:
    """A TEXT property, escaped (RFC 5545 3.3.11); control characters dropped."""
    text = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
    escaped = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    return f"{name}:{escaped}"


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space, never splitting a character."""
    out: list[str] = []
    current = b""
    for ch in line:
        encoded = ch.encode("utf-8")
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode("utf-8"))
            current = b""
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n ".join(out)
