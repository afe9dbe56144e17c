"""Shields-like SVG badges: an operator's or a service's status in words and its 30-day uptime.

A service's badge names its operator ("Almerys — PEC optique"): several
operators offer services of the same name, and a badge is read on its own.

Status is said in words *and* colour, on solid backgrounds whose contrast with
the white text is at least 4.5:1, so a badge reads the same on light and dark
pages. Text widths come from a fixed per-character table (Verdana 11 px
metrics, rounded), so the same input always gives the same SVG, and
``textLength`` makes any fallback font fit the box. Every text goes through
ElementTree (escaped) after the characters XML cannot carry are replaced.

An unknown operator or service answers 404 with an SVG badge saying
"introuvable" (not JSON): a badge is embedded with ``<img>``, where a broken
image would say nothing. Its id is not echoed back.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

from aiohttp import web

from monitor.keys import InvalidKey, Key
from monitor.statuses import ComponentStatus as C
from monitor.words import BADGE_TEXTS, Formatter, badge_word, localized, pick
from monitor.words.languages import SPACED_COLON
from status_site.feeds import xml_text
from status_site.i18n import negotiate
from status_site.state import Rendered, rendered, respond
from status_site.views import OperatorView, ServiceView, Snapshot

SVG_NS = "http://www.w3.org/2000/svg"
CONTENT_TYPE = "image/svg+xml; charset=utf-8"
MAX_AGE = 30  # seconds: badges are fetched by other sites' visitors; keep them fresh
LABEL_COLOUR = "#30363d"
TEXT_COLOUR = "#ffffff"
COLOURS: dict[str | None, str] = {  # each >= 4.5:1 against white text
    C.OPERATIONAL: "#1a7f37",
    C.DEGRADED_PERFORMANCE: "#8a5a00",
    C.PARTIAL_OUTAGE: "#b35900",
    C.MAJOR_OUTAGE: "#c4221f",
    C.UNDER_MAINTENANCE: "#0b62c4",
    None: "#59636e",
}
MAX_LABEL = 60  # characters: "Operator — Service"; the title (spoken) always has it all

# Verdana 11 px advance widths (px), rounded; anything not listed falls back by category.
_WIDTHS: dict[str, float] = {
    " ": 3.9, "i": 3.1, "l": 3.1, "j": 3.4, "f": 3.9, "t": 4.3, "r": 4.7, "I": 4.2, "J": 5.0,
    "m": 10.7, "w": 9.0, "M": 9.3, "W": 10.9, "O": 8.5, "Q": 8.5, "G": 8.4, "D": 8.3, "H": 8.2,
    ".": 3.6, ",": 3.6, ":": 4.5, ";": 4.5, "!": 4.5, "'": 2.9, "|": 5.0, "-": 4.6, "·": 3.6,
    "(": 5.0, ")": 5.0, "/": 5.0, "%": 11.9, "&": 8.0, "<": 9.2, ">": 9.2, "\"": 5.0, "—": 11.0,
    "…": 11.0, "\u202f": 2.5, "\u00a0": 3.9,
}


def char_width(char: str) -> float:
    if char in _WIDTHS:
        return _WIDTHS[char]
    base = unicodedata.normalize("NFD", char)[:1]  # é is as wide as e
    if base != char and base in _WIDTHS:
        return _WIDTHS[base]
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 11.0
    if base.isdigit():
        return 7.0
    if base.isupper():
        return 7.6
    if base.islower():
        return 6.8
    return 7.5


def text_width(text: str) -> float:
    return round(sum(char_width(c) for c in text), 1)


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1].rstrip() + "…"


def service_label(operator: str, service: str) -> str:
    """'Almerys — PEC optique'; a long service name is shortened, never the operator's."""
    room = max(MAX_LABEL - len(operator) - 3, 8)
    short = service if len(service) <= room else service[: room - 1].rstrip() + "…"
    return f"{operator} — {short}"


def make_badge(label: str, value: str, colour: str, title: str) -> bytes:
    """The SVG document: label on the left, value on the right, both in white on solid colour."""
    label, value, title = xml_text(_shorten(label)), xml_text(value), xml_text(title)
    label_w = text_width(label) + 12
    value_w = text_width(value) + 12
    width = round(label_w + value_w, 1)
    svg = ET.Element("svg", {"xmlns": SVG_NS, "width": str(width), "height": "20", "role": "img",
                             "aria-label": title, "viewBox": f"0 0 {width} 20"})
    ET.SubElement(svg, "title").text = title
    ET.SubElement(svg, "rect", {"width": str(width), "height": "20", "rx": "3", "fill": colour})
    ET.SubElement(svg, "rect", {"width": str(label_w), "height": "20", "rx": "3", "fill": LABEL_COLOUR})
    ET.SubElement(svg, "rect", {"x": str(label_w - 4), "width": "4", "height": "20", "fill": LABEL_COLOUR})
    group = ET.SubElement(svg, "g", {"fill": TEXT_COLOUR, "font-family": "Verdana,Geneva,DejaVu Sans,sans-serif",
                                     "font-size": "11", "aria-hidden": "true"})
    for x, text in ((6, label), (label_w + 6, value)):
        node = ET.SubElement(group, "text", {"x": str(round(x, 1)), "y": "14", "textLength": str(text_width(text)),
                                             "lengthAdjust": "spacingAndGlyphs"})
        node.text = text
    return ET.tostring(svg, encoding="utf-8", xml_declaration=False)


def _value(status: str | None, uptime: float | None, lang: str, formatter: Formatter) -> tuple[str, str]:
    word = badge_word(lang, status)
    if uptime is None:
        return word, word
    percent = formatter.percent(uptime, 2)
    return f"{word} · {percent}", f"{word}, {pick(BADGE_TEXTS, lang)['uptime']} {percent}"


def operator_uptime(operator: OperatorView) -> float | None:
    """An operator's 30-day uptime: the mean of its observed services'."""
    known = [uptime for s in operator.services if (uptime := s.uptime.get("30d")) is not None]
    return sum(known) / len(known) if known else None


def badge_for(subject: OperatorView | ServiceView, lang: str, tz: ZoneInfo, operator: str | None = None) -> Rendered:
    """The badge of an operator, or of a service of ``operator`` (its name; its id when not given)."""
    formatter = Formatter(lang, tz)
    if isinstance(subject, OperatorView):
        label = full = subject.name
        uptime = operator_uptime(subject)
    else:
        owner, name = operator or subject.operator_id, localized(subject.name, lang) or subject.id
        label, full = service_label(owner, name), f"{owner} — {name}"
        uptime = subject.uptime.get("30d")
    value, spoken = _value(subject.status, uptime, lang, formatter)
    return rendered(make_badge(label, value, COLOURS.get(subject.status, COLOURS[None]),
                               f"{full}{pick(SPACED_COLON, lang)} {spoken}"), CONTENT_TYPE)


def badge_in(snapshot: Snapshot, subject: OperatorView | ServiceView, lang: str, tz: ZoneInfo) -> Rendered:
    """`badge_for` with the operator's name read from ``snapshot``."""
    owner = snapshot.operator(subject.operator_id) if isinstance(subject, ServiceView) else None
    return badge_for(subject, lang, tz, owner.name if owner is not None else None)


def not_found_badge(lang: str) -> Rendered:
    word = pick(BADGE_TEXTS, lang)["not_found"]
    return rendered(make_badge("Vigie", word, COLOURS[None], f"Vigie{pick(SPACED_COLON, lang)} {word}"),
                    CONTENT_TYPE, status=404)


def find(snapshot: Snapshot, operator_id: str, service_id: str | None) -> OperatorView | ServiceView | None:
    if service_id is None:
        return snapshot.operator(operator_id)
    try:
        return snapshot.service(Key.of(operator_id, service_id))
    except InvalidKey:  # ids from the URL: anything that is not an id names nothing
        return None


async def badge(request: web.Request) -> web.Response:
    from status_site.keys import CONFIG, SITE

    config = request.app[CONFIG]
    lang = negotiate(request, tuple(config.site.languages))
    operator_id, service_id = request.match_info["operator"], request.match_info.get("service")
    site = request.app[SITE]
    subject = find(site.snapshot(), operator_id, service_id)
    if subject is None:  # not cached: unknown ids are unbounded input
        return respond(request, not_found_badge(lang), max_age=MAX_AGE)
    tz = ZoneInfo(config.site.timezone)
    page = await site.render(("badge", operator_id, service_id, lang),
                       lambda snapshot: badge_in(snapshot, find(snapshot, operator_id, service_id) or subject, lang, tz))
    return respond(request, page, max_age=MAX_AGE)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/badge/{operator}.svg", badge)
    app.router.add_get("/badge/{operator}/{service}.svg", badge)
