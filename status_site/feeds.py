"""The Atom 1.0 feed: one entry per incident update and one per maintenance window, French by default (``?lang=en``).

The XML is built with ElementTree, which escapes text and attributes; the
characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates,
U+FFFE/U+FFFF) are replaced by U+FFFD first, so a hostile message can never
make the feed unreadable. Entry ids are tag URIs (RFC 4151) made of the
site's host, the incident's start date, the incident id and the update id:
they never change once published. A maintenance window is one entry (its
tag URI ends in ``/maintenances/{id}``) whose ``updated`` moves as it is
started, completed or cancelled. Each language is a feed of its own: the
English one's ``id`` and ``rel="self"`` are ``/feed.atom?lang=en``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web

from monitor.words import SUPPORTED, Sentences, alert_word, incident_word, iso, join_words, localized, texts
from monitor.words.languages import SPACED_COLON, pick
from status_site.state import Rendered, rendered, respond
from status_site.views import IncidentView, MaintenanceView, Snapshot, UpdateView

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
MAX_ENTRIES = 200
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced by U+FFFD; escaping is the writer's job."""
    return _NOT_XML.sub("\ufffd", text)


def tag_uri(base_url: str, incident: IncidentView, update: UpdateView | None = None) -> str:
    """'tag:statut.example.org,2026-11-29:/incidents/12/updates/34' — stable forever."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "localhost").lower()
    date = datetime.fromtimestamp(incident.started_at, UTC).date().isoformat()
    specific = f"{parts.path.rstrip('/')}/incidents/{incident.id}"
    if update is not None:
        specific += f"/updates/{update.id}"
    return f"tag:{host},{date}:{specific}"


def maintenance_uri(base_url: str, window: MaintenanceView) -> str:
    """'tag:statut.example.org,2026-11-29:/maintenances/3' — one entry per window, stable forever."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "localhost").lower()
    date = datetime.fromtimestamp(window.created_at, UTC).date().isoformat()
    return f"tag:{host},{date}:{parts.path.rstrip('/')}/maintenances/{window.id}"


def feed_url(base_url: str, lang: str, default: str) -> str:
    """The feed's own address in ``lang``: its ``id`` and ``rel="self"``."""
    url = f"{base_url.rstrip('/')}/feed.atom"
    return url if lang == default else f"{url}?lang={lang}"


def _operators(snapshot: Snapshot, window: MaintenanceView) -> list[tuple[str, str]]:
    """(id, name) of the operators a window touches, in page order."""
    touched = {a.key.split("/", 1)[0] for a in window.services}
    return [(o.id, o.name) for o in snapshot.operators if o.id in touched]


def entry_title(incident: IncidentView, update: UpdateView, lang: str) -> str:
    """'Almerys : PEC optique indisponible — Résolu' (the operator's name is added when missing)."""
    title = localized(incident.title, lang)
    if not title.startswith(incident.operator_name):
        title = f"{incident.operator_name}{pick(SPACED_COLON, lang)} {title}"
    return f"{title} — {incident_word(lang, update.status)}"


def _updates(snapshot: Snapshot) -> Iterator[tuple[IncidentView, UpdateView]]:
    pairs = [(i, u) for i in snapshot.incidents for u in i.updates]
    pairs.sort(key=lambda pair: (pair[1].at, pair[1].id), reverse=True)
    yield from pairs[:MAX_ENTRIES]


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def build_feed(snapshot: Snapshot, lang: str, time_zone: str = "Europe/Paris") -> bytes:
    """The feed document as UTF-8 bytes (``time_zone``: the site's, for the maintenance windows' times)."""
    base = snapshot.base_url.rstrip("/")
    pairs = list(_updates(snapshot))
    windows = sorted(snapshot.maintenances, key=lambda w: (w.updated_at, w.id), reverse=True)[:MAX_ENTRIES]
    updated = max([*(u.at for _, u in pairs), *(w.updated_at for w in windows)], default=snapshot.generated_at)
    own = feed_url(base, lang, snapshot.languages[0] if snapshot.languages else lang)
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: lang})
    _add(feed, "id", own)
    _add(feed, "title", snapshot.title)
    _add(feed, "subtitle", texts(lang).feed_subtitle)
    _add(feed, "updated", iso(updated))
    _add(feed, "link", rel="self", type="application/atom+xml", href=own)
    _add(feed, "link", rel="alternate", type="text/html", href=f"{base}/")
    author = _add(feed, "author")
    _add(author, "name", snapshot.title)
    _add(author, "uri", f"{base}/")
    _add(feed, "generator", "Vigie")
    words = Sentences(lang, "UTC")  # words only: the entries' times are ISO
    latest = {incident.id: max(u.at for u in incident.updates) for incident, _ in pairs}
    # newest first, incidents' updates and windows mixed, at most MAX_ENTRIES in all
    order = sorted([(u.at, 1, u.id, i, u) for i, u in pairs] + [(w.updated_at, 0, w.id, w, None) for w in windows],
                   key=lambda item: item[:3], reverse=True)[:MAX_ENTRIES]
    when = Sentences(lang, time_zone)
    for *_, subject, change in order:
        if isinstance(subject, MaintenanceView):
            _maintenance_entry(feed, snapshot, subject, lang, when)
            continue
        incident, update = subject, change
        assert isinstance(incident, IncidentView) and isinstance(update, UpdateView)
        entry = _add(feed, "entry")
        _add(entry, "id", tag_uri(snapshot.base_url, incident, update))
        _add(entry, "title", entry_title(incident, update, lang))
        _add(entry, "updated", iso(update.at))
        _add(entry, "published", iso(update.at))
        _add(entry, "link", rel="alternate", type="text/html", href=f"{base}/incidents/{incident.id}")
        _add(entry, "category", term=incident.operator_id, label=incident.operator_name)
        _add(entry, "category", term=update.status, label=incident_word(lang, update.status))
        message = localized(update.message, lang)
        # what backs the status: reports count only on an open incident's latest entry (they are of the moment)
        now = not incident.resolved and update.at == latest[incident.id]
        services = [found for a in incident.services if (found := snapshot.service(a.key)) is not None]
        backing = words.backed_by(s for service in services for s in service.signals if now or s != "reports")
        _add(entry, "content", f"{message}\n\n{backing}" if backing else message, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _maintenance_entry(feed: ET.Element, snapshot: Snapshot, window: MaintenanceView, lang: str,
                       words: Sentences) -> None:
    """'Almerys : Mise à jour des serveurs — maintenance prévue', with its message, services and times."""
    base = snapshot.base_url.rstrip("/")
    operators = _operators(snapshot, window)
    names = join_words([name for _, name in operators], lang) or snapshot.title
    entry = _add(feed, "entry")
    _add(entry, "id", maintenance_uri(snapshot.base_url, window))
    _add(entry, "title", f"{names}{pick(SPACED_COLON, lang)} {localized(window.title, lang)} — "
                         f"{alert_word(lang, window.status)}")
    _add(entry, "updated", iso(window.updated_at))
    _add(entry, "published", iso(window.created_at))
    page = f"{base}/operators/{operators[0][0]}" if len(operators) == 1 else f"{base}/"
    _add(entry, "link", rel="alternate", type="text/html", href=page)
    for operator_id, name in operators:
        _add(entry, "category", term=operator_id, label=name)
    _add(entry, "category", term=f"maintenance.{window.status}", label=alert_word(lang, window.status))
    services = join_words([localized(s.name, lang) for s in window.services], lang)
    text = "\n\n".join(part for part in (localized(window.message, lang), services,
                                          words.maintenance_when(window, snapshot.generated_at)) if part)
    _add(entry, "content", text, type="text")


def render_feed(snapshot: Snapshot, lang: str, time_zone: str = "Europe/Paris") -> Rendered:
    return rendered(build_feed(snapshot, lang, time_zone), CONTENT_TYPE)


def feed_language(request: web.Request, languages: tuple[str, ...]) -> str:
    """Only ``?lang=`` picks the language: a feed URL must mean the same thing for every reader."""
    asked = request.query.get("lang", "").strip().lower()
    allowed = [lang for lang in languages if lang in SUPPORTED] or ["fr"]
    return asked if asked in allowed else allowed[0]


async def atom(request: web.Request) -> web.Response:
    from status_site.keys import CONFIG, SITE

    site = request.app[CONFIG].site
    lang = feed_language(request, tuple(site.languages))
    page = await request.app[SITE].render(("feed", lang), lambda snapshot: render_feed(snapshot, lang, site.timezone))
    response = respond(request, page, max_age=30)
    response.headers["Vary"] = "Accept-Encoding"  # the language comes from the URL only
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/feed.atom", atom)
