"""The HTML pages: overview, operator, incident, history, error pages and static assets.

Handlers stay thin: they validate the request into a small, bounded cache key
(language, page, known parameters only — a hostile query string never grows
the cache), and render the current `Snapshot` once per state change through
`SiteState.render`. Everything a template needs to say comes from `views`,
`messages` and `i18n`; drawings come from `svg`.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urljoin
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from monitor.config.model import PROFESSIONS
from monitor.keys import Key
from monitor.reports import SYMPTOMS
from monitor.statuses import MaintenanceStatus, worst
from monitor.storage import Store
from monitor.words import Sentences, iso, maintenance_running
from monitor.words.glance import glance_words
from monitor.words.signals import signal_words
from status_site import svg, uptime_words
from status_site.glance import banner_facts, operators_in_trouble_first, recoveries, trouble_first
from status_site.i18n import negotiate
from status_site.keys import CONFIG, SITE, TEMPLATES
from status_site.state import ETAG_SLOT, Rendered, rendered, respond
from status_site.views import (
    DAY,
    LATENCY_RANGES,
    UPTIME_WINDOWS,
    IncidentView,
    MaintenanceView,
    ServiceView,
    Snapshot,
    latency_series,
)

STATIC_DIR = Path(__file__).parent / "static"
HTML = "text/html; charset=utf-8"
MAINTENANCE_AHEAD = 14 * DAY  # how far ahead the overview announces maintenance windows


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    gzipped: bytes | None = None  # compressed once at start, for a phone on a weak network

    @property
    def version(self) -> str:
        return self.etag.strip('"')[:10]


ASSETS = web.AppKey("assets", dict)
GZIP_ABOVE = 1024  # bytes: below, the gzip header and a second representation to cache cost more than they save


# (path, params, lang) -> URL: the static export links pages relatively, as files
Linker = Callable[[str, Mapping[str, str], str], str]


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every file of ``static/``, read once: the set of names is the whitelist (no path traversal)."""
    found: dict[str, Asset] = {}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.is_file() and not path.name.startswith("."):
            body = path.read_bytes()
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
                kind = ("text/javascript" if path.suffix == ".js" else kind) + "; charset=utf-8"
            squeezed = gzip.compress(body, compresslevel=9, mtime=0) if _compressible(kind, body) else None
            found[path.name] = Asset(body, kind, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"', squeezed)
    return found


def _compressible(kind: str, body: bytes) -> bool:
    """Text (CSS, JavaScript, SVG) worth a gzip; PNGs and the like are compressed already."""
    return len(body) > GZIP_ABOVE and (kind.startswith("text/") or "svg" in kind or "json" in kind)


def add_routes(app: web.Application) -> None:
    app[ASSETS] = load_assets()
    app.router.add_get("/", index, name="index")
    app.router.add_get("/operators/{operator_id}", operator_page, name="operator")
    app.router.add_get("/incidents/{incident_id}", incident_page, name="incident")
    app.router.add_get("/history", history_page, name="history")
    app.router.add_get("/static/{name}", static, name="static")


# -- the context every template gets ------------------------------------------------


class Page(Sentences):
    """The language-bound helpers a template uses: links that keep the language, words, times
    (and, from `monitor.words.Sentences`, every status word and sentence — ETAs, maintenance windows,
    durations — in the very words the emails and chat texts use)."""

    def __init__(
        self, app: web.Application, lang: str, path: str, params: Mapping[str, str] | None = None,
        linker: Linker | None = None,
    ) -> None:
        config = app[CONFIG]
        super().__init__(lang, ZoneInfo(config.site.timezone))
        self.app = app
        self.languages = tuple(config.site.languages)
        self.default = self.languages[0]
        self.path = path
        self.params = dict(params or {})
        self.site_title = config.site.title
        self.base_url = config.site.base_url  # no trailing '/' (the config's validator strips it)
        self.assets: dict[str, Asset] = app[ASSETS]
        self.linker = linker  # None: root-absolute links with ?lang= (the live site)
        self.etag_slot = ETAG_SLOT  # filled with the page's own validators once rendered (`rendered`)

    @property
    def symptoms(self) -> list[tuple[str, str]]:
        """The symptoms a professional may report, in the page's language (``monitor.reports``)."""
        return [(key, words.get(self.lang) or words["fr"]) for key, words in SYMPTOMS.items()]

    @property
    def report_thanks(self) -> str:
        return signal_words(self.lang).thanks

    def href(self, path: str, **params: str | None) -> str:
        """An internal link that keeps ``?lang=en`` when the visitor chose a language other than the default."""
        query = {k: v for k, v in params.items() if v}
        if self.linker is not None:
            return self.linker(path, query, self.lang)
        if self.lang != self.default:
            query["lang"] = self.lang
        return path + (f"?{urlencode(query)}" if query else "")

    def switch(self, lang: str) -> str:
        """This page in another language (explicit, so it wins over Accept-Language)."""
        if self.linker is not None:
            return self.linker(self.path, self.params, lang)
        return self.path + "?" + urlencode({**self.params, "lang": lang})

    def alternate(self, lang: str) -> str:
        """This page in ``lang`` as an absolute URL, from ``site.base_url``: what ``hreflang`` links need."""
        here = getattr(self.linker, "current", None)  # an exported file: its links are relative to it
        if here is not None:
            return urljoin(f"{self.base_url}/{here}", self.switch(lang))
        return self.base_url + self.switch(lang)

    def asset(self, name: str) -> str:
        if self.linker is not None:
            return self.linker(f"/static/{name}", {}, self.lang)
        found = self.assets.get(name)
        return f"/static/{name}" + (f"?v={found.version}" if found else "")

    def operator_href(self, operator_id: str, **params: str | None) -> str:
        return self.href(f"/operators/{quote(operator_id)}", **params)

    def incident_href(self, incident_id: int) -> str:
        return self.href(f"/incidents/{int(incident_id)}")

    def iso(self, at: float) -> str | None:
        """A machine-readable time for ``<time datetime>``: the form the API and the feed use."""
        return iso(at)

    def incident_eta(self, incident: IncidentView, now: float) -> tuple[str, str] | None:
        """What an open incident says of its recovery: (kind, sentence), see `Sentences.recovery`."""
        if incident.resolved:
            return None
        return self.recovery(incident.eta, now, unknown=incident.eta_unknown, outlasted=incident.outlasted(now))

    def duration(self, incident: IncidentView, now: float) -> str:
        return self.lasted(incident.started_at, incident.resolved_at, now)

    def maintenance_services(self, window: MaintenanceView, snapshot: Snapshot, operator_id: str | None = None) -> list[str]:
        """The services a window touches, each with its operator's name unless it is ``operator_id``'s."""
        names = []
        for service in window.services:
            owner = Key(service.key).operator
            operator = snapshot.operator(owner)
            name = self.name(service.name)
            if owner != operator_id:
                name = f"{operator.name if operator else owner}{self.t.colon} {name}"
            names.append(name)
        return names

    def ms(self, value: float | None) -> str:
        """Milliseconds as a whole number, thousands apart by a narrow space: '1 250'."""
        return "—" if value is None else svg.ms(value)

    def icon(self, status: str | None) -> Markup:
        return svg.status_icon(status)

    def bar(self, service: ServiceView) -> Markup:
        return svg.uptime_bar(service.days, self.fmt, self.t)

    def bar_days(self, service: ServiceView) -> Markup:
        return uptime_words.day_list(service.days, self.fmt, self.t, self.incident_href)

    def uptime_figure(self, service: ServiceView, now: float) -> str:
        """The 90-day figure under a bar, or how long the service has been measured instead."""
        return uptime_words.uptime_figure(service.uptime, service.measured_since, now, self.fmt, self.t)

    def uptime_cell(self, service: ServiceView, window: str, now: float) -> Markup:
        return uptime_words.table_cell(window, service.uptime, service.measured_since, now, self.fmt, self.t)

    def uptime_note(self, services: Sequence[ServiceView], now: float) -> str | None:
        return uptime_words.table_note([s.measured_since for s in services], now, self.fmt, self.t)

    def render(self, template: str, status: int = 200, **context: Any) -> Rendered:
        html = self.app_templates().get_template(template).render(
            page=self, t=self.t, g=glance_words(self.lang), fmt=self.fmt, **context)
        return rendered(html, HTML, status, own_etag=True)

    def app_templates(self) -> Any:
        return self.app[TEMPLATES]


def _lang(request: web.Request) -> str:
    return negotiate(request, tuple(request.app[CONFIG].site.languages))


async def _serve(request: web.Request, key: tuple[Any, ...], make: Callable[[Snapshot], Rendered]) -> web.Response:
    return respond(request, await request.app[SITE].render(key, make))


def _snapshot(request: web.Request) -> Snapshot:
    return request.app[SITE].snapshot()


def shown_maintenances(
    snapshot: Snapshot, now: float, keys: set[str] | None = None, ahead: float | None = None
) -> list[MaintenanceView]:
    """Windows running now, then upcoming ones (starting within ``ahead``), touching ``keys``.

    Completed and cancelled windows are never shown on the pages (the API and the calendar keep them).
    """
    running, upcoming = [], []
    for window in snapshot.maintenances:
        if keys is not None and not any(s.key in keys for s in window.services):
            continue
        if maintenance_running(window, now):
            running.append(window)
        elif window.status == MaintenanceStatus.SCHEDULED and window.starts_at > now and (ahead is None or window.starts_at <= now + ahead):
            upcoming.append(window)
    running.sort(key=lambda w: (w.ends_at, w.id))
    upcoming.sort(key=lambda w: (w.starts_at, w.id))
    return running + upcoming


# -- the overview ----------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    lang = _lang(request)
    asked = request.query.get("profession")
    profession = asked if asked in PROFESSIONS else None
    unknown = bool(asked) and profession is None
    return await _serve(request, ("index", lang, profession, unknown),
                  lambda snapshot: render_index(request.app, snapshot, lang, profession, unknown))


def render_index(
    app: web.Application, snapshot: Snapshot, lang: str, profession: str | None = None,
    unknown: bool = False, linker: Linker | None = None,
) -> Rendered:
    """The overview, optionally narrowed to the services one profession uses."""
    page = Page(app, lang, "/", {"profession": profession} if profession else {}, linker)
    narrowed = [
        (o, [s for s in o.services if profession is None or profession in s.professions]) for o in snapshot.operators
    ]
    groups = operators_in_trouble_first(
        [(o, services, worst(s.status for s in services)) for o, services in narrowed if services])
    keys = {s.key for _, services, _ in groups for s in services}
    unresolved = [i for i in snapshot.unresolved if any(a.key in keys for a in i.services) or profession is None]
    sentence, overall = page.banner((o.name, [(s.name, s.status) for s in services]) for o, services, _ in groups)
    recovered = recoveries(snapshot, snapshot.generated_at)
    return page.render(
        "index.html",
        snapshot=snapshot,
        now=snapshot.generated_at,
        banner=sentence,
        facts=banner_facts(snapshot, groups, unresolved, recovered, lambda s: page.name(s.name)),
        recovered=recovered,
        overall=overall,
        groups=groups,
        unresolved=unresolved,
        profession=profession,
        i_am=page.i_am(profession) if profession else None,
        unknown_profession=unknown,
        professions=[(p, page.i_am(p)) for p in PROFESSIONS if p in snapshot.professions],
        maintenances=shown_maintenances(snapshot, snapshot.generated_at, keys, MAINTENANCE_AHEAD),
    )


# -- one operator -----------------------------------------------------------------------


async def operator_page(request: web.Request) -> web.Response:
    operator_id = request.match_info["operator_id"]
    if _snapshot(request).operator(operator_id) is None:
        raise web.HTTPNotFound()
    lang = _lang(request)
    window = request.query.get("range", "24h")
    window = window if window in LATENCY_RANGES else "24h"
    thanked = request.query.get("signalement") == "merci"  # back from the report form (status_site.reports)
    page = await request.app[SITE].render_reading(
        ("operator", lang, operator_id, window, thanked),
        lambda snapshot, store: render_operator(request.app, store, snapshot, lang, operator_id, window, thanked=thanked),
    )
    return respond(request, page)


def render_operator(
    app: web.Application, store: Store, snapshot: Snapshot, lang: str, operator_id: str, window: str = "24h",
    linker: Linker | None = None, thanked: bool = False,
) -> Rendered:
    """One operator's page, its response-time charts over ``window`` (a key of LATENCY_RANGES)."""
    operator = snapshot.operator(operator_id)
    if operator is None:  # the config changed between the check and now
        return error_rendering(app, lang, 404, linker)
    now = snapshot.generated_at
    page = Page(app, lang, f"/operators/{operator_id}", {"range": window} if window != "24h" else {}, linker)
    charts = {s.key: latency_series(store, app[CONFIG], s.key, window, now) for s in operator.services}
    services, current = trouble_first(operator.services, lambda s: s.status), [i for i in snapshot.unresolved if i.operator_id == operator_id]
    recovered, in_current = recoveries(snapshot, now), {a.key for i in current for a in i.services}
    return page.render(
        "operator.html",
        snapshot=snapshot,
        now=now,
        operator=operator,
        services=services,
        current=current,
        recovered=recovered,
        recent=[(s, recovered[s.key]) for s in services if s.key in recovered and s.key not in in_current],
        thanked=thanked and linker is None,
        window=window,
        windows=list(LATENCY_RANGES),
        uptime_windows=list(UPTIME_WINDOWS),
        charts={s.key: svg.latency_chart(charts[s.key], page.fmt, page.t, window, now, page.name(s.name))
                for s in operator.services},
        incidents=[i for i in snapshot.incidents if i.operator_id == operator_id],
        maintenances=shown_maintenances(snapshot, now, {s.key for s in operator.services}),
    )


# -- one incident ------------------------------------------------------------------------


async def incident_page(request: web.Request) -> web.Response:
    raw = request.match_info["incident_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    incident_id = int(raw)
    if _snapshot(request).incident(incident_id) is None:
        raise web.HTTPNotFound()
    lang = _lang(request)
    return await _serve(request, ("incident", lang, incident_id),
                  lambda snapshot: render_incident(request.app, snapshot, lang, incident_id))


def render_incident(
    app: web.Application, snapshot: Snapshot, lang: str, incident_id: int, linker: Linker | None = None
) -> Rendered:
    incident = snapshot.incident(incident_id)
    if incident is None:
        return error_rendering(app, lang, 404, linker)
    page = Page(app, lang, f"/incidents/{incident_id}", None, linker)
    return page.render(
        "incident.html",
        snapshot=snapshot,
        now=snapshot.generated_at,
        incident=incident,
        operator=snapshot.operator(incident.operator_id),
        eta_history=getattr(incident, "eta_history", None) or (),
    )


# -- history -------------------------------------------------------------------------------


async def history_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    return await _serve(request, ("history", lang), lambda snapshot: render_history(request.app, snapshot, lang))


def render_history(app: web.Application, snapshot: Snapshot, lang: str, linker: Linker | None = None) -> Rendered:
    page = Page(app, lang, "/history", None, linker)
    months: list[tuple[str, list[IncidentView]]] = []
    for incident in snapshot.incidents:  # newest first already
        month = page.fmt.month(incident.started_at)
        if not months or months[-1][0] != month:
            months.append((month, []))
        months[-1][1].append(incident)
    return page.render("history.html", snapshot=snapshot, now=snapshot.generated_at, months=months)


# -- errors and assets -----------------------------------------------------------------------


def error_rendering(app: web.Application, lang: str, status: int, linker: Linker | None = None) -> Rendered:
    page = Page(app, lang, "/", None, linker)
    key = str(status) if status in (404, 405, 500) else "other"
    return page.render(
        "error.html",
        status=status,
        code=status,
        heading=page.t[f"error_{key}"],
        text=page.t[f"error_{key}_text"],
    )


def error_page(request: web.Request, status: int) -> web.Response:
    """A real page, in the visitor's language, for 404, 405 and 500 (never a traceback)."""
    try:
        lang = _lang(request)
        page = error_rendering(request.app, lang, status)
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        return web.Response(status=status, text=f"{status}", content_type="text/plain")
    return web.Response(
        body=page.body,
        status=status,
        headers={"Content-Type": HTML, "Cache-Control": "no-store", "Vary": "Accept-Language"},
    )


async def static(request: web.Request) -> web.Response:
    """Self-hosted assets; a versioned URL (``?v=``) is cached for a year."""
    asset = request.app[ASSETS].get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    from status_site.state import _accepts_gzip as accepts_gzip

    versioned = request.query.get("v") == asset.version
    use_gzip = asset.gzipped is not None and accepts_gzip(request.headers.get("Accept-Encoding", ""))
    # each encoding is its own representation, with its own strong validator (as `state.respond`)
    etag = asset.etag[:-1] + '-gz"' if use_gzip else asset.etag
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable" if versioned else "public, max-age=300",
    }
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if etag in {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=asset.gzipped, headers=headers)
    return web.Response(body=asset.body, headers=headers)
