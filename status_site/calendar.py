"""``/maintenances.ics``: maintenance windows as an iCalendar feed (RFC 5545).

A practice manager subscribes once in their calendar and sees every planned
window of the operators they depend on. Cancelled windows stay in the feed
with ``STATUS:CANCELLED`` so that calendars remove them.

What RFC 5545 asks and how it is met:

- a calendar has at least one component (3.6): the feed always carries the
  ``VTIMEZONE`` of UTC, the zone all its times are written in, so a calendar
  with no window is still a valid one;
- with ``METHOD:PUBLISH``, ``DTSTAMP`` is when this calendar object was made
  (3.8.7.2): the latest change of what it says, the same for every event (so
  an unchanged calendar keeps its bytes and its ETag); ``LAST-MODIFIED`` is
  each window's own latest change;
- ``SEQUENCE`` counts the revisions of an event (3.8.7.4): 0 as published,
  1 once cancelled — a window's times and services cannot be edited, only
  called off (started and completed change nothing a calendar shows);
- ``UID`` is unique worldwide (3.8.4.7): it carries the window's id, an id of
  this installation (a digest of its ``base_url``, the `status_site.api`
  page id) and its host, so two Vigies on one host never share one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web

from monitor.statuses import MaintenanceStatus
from monitor.words import localized, texts
from status_site.api import page_id
from status_site.i18n import negotiate
from status_site.state import Rendered, SiteState, rendered, respond
from status_site.views import MaintenanceView, Snapshot

CONTENT_TYPE = "text/calendar; charset=utf-8"
UTC_ZONE = [
    "BEGIN:VTIMEZONE",
    "TZID:UTC",
    "BEGIN:STANDARD",
    "DTSTART:19700101T000000",
    "TZOFFSETFROM:+0000",
    "TZOFFSETTO:+0000",
    "TZNAME:UTC",
    "END:STANDARD",
    "END:VTIMEZONE",
]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/maintenances.ics", maintenances_ics)


async def maintenances_ics(request: web.Request) -> web.Response:
    from status_site.keys import SITE

    site: SiteState = request.app[SITE]
    lang = negotiate(request, site.snapshot().languages)
    page = await site.render(("ics", lang), lambda snapshot: render_calendar(snapshot, lang))
    return respond(request, page, max_age=60, stale=600)


def uid(snapshot: Snapshot, window: MaintenanceView) -> str:
    """'maintenance-3.6f1c2a9b0d4e@statut.example.org': unique to this window of this installation."""
    host = urlsplit(snapshot.base_url).hostname or "vigie.invalid"
    return f"maintenance-{window.id}.{page_id(snapshot.base_url)}@{host}"


def sequence(window: MaintenanceView) -> int:
    """How many times what the event says was revised (see the module's docstring)."""
    return 1 if window.status == MaintenanceStatus.CANCELLED else 0


def render_calendar(snapshot: Snapshot, lang: str = "fr") -> Rendered:
    made = max((w.updated_at for w in snapshot.maintenances), default=snapshot.generated_at)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Vigie//Maintenances//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        _prop("X-WR-CALNAME", texts(lang).calendar_name.format(title=snapshot.title)),
        *UTC_ZONE,
    ]
    for window in snapshot.maintenances:
        services = ", ".join(localized(s.name, lang) for s in window.services)
        title = localized(window.title, lang)
        description = localized(window.message, lang) + "\n\n" + services
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid(snapshot, window)}",
            f"DTSTAMP:{_utc(made)}",
            f"DTSTART:{_utc(window.starts_at)}",
            f"DTEND:{_utc(window.ends_at)}",
            f"CREATED:{_utc(window.created_at)}",
            f"LAST-MODIFIED:{_utc(window.updated_at)}",
            f"SEQUENCE:{sequence(window)}",
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
