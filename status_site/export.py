"""The static export: the public site as files that any web server, object store or CDN can serve.

``vigie export OUTDIR`` reads the stored state (the database written by
``vigie run``) without probing, builds one `Snapshot` and renders it through
the very functions the live routes use, so the files say exactly what the
live site says at that moment. Layout (English, or any non-default language,
under ``en/``)::

    index.html                          /
    professions/opticien/index.html     /?profession=opticien
    operators/almerys/index.html        /operators/almerys
    operators/almerys/7d/index.html     /operators/almerys?range=7d
    incidents/7/index.html              /incidents/7
    history/index.html                  /history
    404.html                            the not-found page (en/404.html too), see below
    en/...                              the same pages with ?lang=en
    api/v2/summary.json …               /api/v2/*.json (default language)
    api/v2/scheduled-maintenances/upcoming.json, …/active.json
    api/openapi.json, feed.atom, maintenances.ics, badge/{op}.svg, badge/{op}/{svc}.svg, static/*

Every link between exported files is relative and names ``index.html``
explicitly, so the tree works from any sub-path and from ``file://``. The
exception is ``404.html``: a host serves it *at the missing URL*, however deep,
so a relative link would resolve against the wrong directory. Its links are
root-relative instead, under ``--base-path`` (default ``/``: the tree served at
the root of its host; ``/statut/`` when it is served from there). Files are
staged in a hidden directory inside OUTDIR, then renamed over their targets
one by one: a CDN sync sees each file either old or new, never half-written.
Unchanged files are left alone (same bytes, same mtime). Files of an earlier
export that this one no longer writes (an incident older than 90 days) stay:
their links keep working.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote, urljoin
from zoneinfo import ZoneInfo

from aiohttp import web

from monitor.clock import Clock, SystemClock
from monitor.config.model import Config
from monitor.storage import Store
from status_site import api, openapi, pages
from status_site.app import CSP, create_site
from status_site.badges import badge_for
from status_site.calendar import render_calendar
from status_site.feeds import render_feed
from status_site.keys import CONFIG
from status_site.views import LATENCY_RANGES, Snapshot, build_snapshot

INDEX = "index.html"
# root-absolute links that templates write by hand (footer links, the filter form)
ROOT_ABSOLUTE = re.compile(r'(\s(?:href|src|action)=")(/(?!/)[^"#]*)(#[^"]*)?"')
# links that are neither root-absolute, nor an anchor, nor another site (scheme:)
RELATIVE = re.compile(r'(\s(?:href|src|action)=")(?![A-Za-z][A-Za-z0-9+.-]*:|/|#)([^"]*)"')


class ExportError(Exception):
    """A problem the person running the export can fix (missing database, unwritable directory)."""


@dataclass(frozen=True, slots=True)
class ExportReport:
    outdir: Path
    files: int
    bytes: int
    changed: int

    def summary(self) -> str:
        return (
            f"vigie export: {self.files} files, {self.bytes:,} bytes in {self.outdir} "
            f"({self.changed} written, {self.files - self.changed} unchanged)"
        )


# -- layout ------------------------------------------------------------------------------


def page_file(path: str, params: Mapping[str, str], lang: str, default: str) -> str:
    """The exported file (relative to OUTDIR, '/'-separated) standing for a live URL."""
    stripped = path.strip("/")
    if path == "/" or path.startswith(("/operators/", "/incidents/", "/history")):
        parts = [stripped] if stripped else []
        if path == "/" and params.get("profession"):
            parts += ["professions", params["profession"]]
        if path.startswith("/operators/") and params.get("range"):
            parts.append(params["range"])
        if lang != default:
            parts.insert(0, lang)
        return "/".join([*parts, INDEX])
    return stripped  # an asset, an API document, the feed, a badge: one language


def relative(target: str, current: str) -> str:
    """A link from the file ``current`` to the file ``target``, both relative to OUTDIR."""
    return quote(posixpath.relpath(target, posixpath.dirname(current) or "."))


def base_path(value: str) -> str:
    """``--base-path`` as ``/…/``: the URL path the export is served from (``/`` at a host's root)."""
    if not value.startswith("/") or value.startswith("//") or any(c in value for c in "?#\\"):
        raise ExportError(f"--base-path must be a URL path such as / or /statut/, not {value!r}")
    inner = value.strip("/")
    return f"/{quote(inner)}/" if inner else "/"


class StaticLinks:
    """`pages.Linker` for one exported file: every link relative to where that file sits."""

    def __init__(self, current: str, default: str) -> None:
        self.current = current
        self.default = default

    def __call__(self, path: str, params: Mapping[str, str], lang: str) -> str:
        return relative(page_file(path, params, lang, self.default), self.current)


def relativize(html: str, links: StaticLinks, lang: str) -> str:
    """Point the links a template wrote as ``/feed.atom`` or ``/api/...`` at the exported files."""

    def fix(match: re.Match[str]) -> str:
        path = match.group(2).split("?", 1)[0]
        return f'{match.group(1)}{links(path, {}, lang)}{match.group(3) or ""}"'

    return ROOT_ABSOLUTE.sub(fix, html)


def absolutize(html: str, url: str) -> str:
    """The relative links of the page that sits at ``url`` made root-relative (anchors and other sites kept)."""
    return RELATIVE.sub(lambda match: f'{match.group(1)}{urljoin(url, match.group(2))}"', html)


# -- what to write -------------------------------------------------------------------------


# What the live site sends as headers, for a static host: a <meta> CSP in every page (a host that sends no header
# still blocks scripts it did not serve, `javascript:` links included), and files for hosts that read them.
# `frame-ancestors` cannot be set from <meta>: the header files carry it.
META_CSP = CSP.replace("; frame-ancestors 'none'", "")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}


def security_files(root: str = "/") -> dict[str, bytes]:
    """``_headers`` (Netlify, Cloudflare Pages) and ``nginx-security.conf`` (``include`` it in the server block)."""
    netlify = [f"{root}*"] + [f"  {name}: {value}" for name, value in HEADERS.items()]  # badges too: as <img>, unaffected
    nginx = ["# Vigie's static export: the headers `vigie run` sends. In the server block: include nginx-security.conf;"]
    nginx += [f'add_header {name} "{value}" always;' for name, value in HEADERS.items()]
    return {"_headers": ("\n".join(netlify) + "\n").encode(), "nginx-security.conf": ("\n".join(nginx) + "\n").encode()}


def with_meta_csp(html: str) -> str:
    """The page with its CSP as the first thing in ``<head>``, before anything it could govern."""
    return html.replace("<head>", f'<head>\n<meta http-equiv="Content-Security-Policy" content="{META_CSP}">', 1)


def site_files(app: web.Application, store: Store, snapshot: Snapshot, root: str = "/") -> dict[str, bytes]:
    """Every exported file and its bytes, rendered from one snapshot (``store`` is only read, for the charts).

    ``root`` is the normalized `base_path`, used only by the 404 pages."""
    config = app[CONFIG]
    languages = tuple(config.site.languages)
    default = languages[0]
    tz_name = config.site.timezone
    files: dict[str, bytes] = {}

    for name, asset in app[pages.ASSETS].items():
        files[f"static/{name}"] = asset.body
    for route in api.DOCUMENTS:
        files[route.lstrip("/")] = api.render_document(route, snapshot, default, tz_name).body
    files["api/openapi.json"] = api.dump(openapi.document(config.site.base_url)).encode()
    files["feed.atom"] = render_feed(snapshot, default, tz_name).body
    files["maintenances.ics"] = render_calendar(snapshot, default).body
    files.update(security_files(root))
    tz = ZoneInfo(tz_name)
    for operator in snapshot.operators:
        files[f"badge/{operator.id}.svg"] = badge_for(operator, default, tz).body
        for service in operator.services:
            files[f"badge/{operator.id}/{service.id}.svg"] = badge_for(service, default, tz, operator.name).body

    def page(path: str, params: Mapping[str, str], lang: str, make: Callable[[StaticLinks], pages.Rendered],
             name: str | None = None, absolute: bool = False) -> None:
        current = name or page_file(path, params, lang, default)
        links = StaticLinks(current, default)
        html = with_meta_csp(relativize(make(links).body.decode(), links, lang))
        files[current] = (absolutize(html, root + quote(current)) if absolute else html).encode()

    # page() passes the links as the last positional argument, the linker.
    for lang in languages:
        page("/", {}, lang, partial(pages.render_index, app, snapshot, lang, None, False))
        for profession in snapshot.professions:
            page("/", {"profession": profession}, lang, partial(pages.render_index, app, snapshot, lang, profession, False))
        for operator in snapshot.operators:
            for window in LATENCY_RANGES:
                params = {"range": window} if window != "24h" else {}
                page(f"/operators/{operator.id}", params, lang,
                     partial(pages.render_operator, app, store, snapshot, lang, operator.id, window))
        for incident in snapshot.incidents:
            page(f"/incidents/{incident.id}", {}, lang, partial(pages.render_incident, app, snapshot, lang, incident.id))
        page("/history", {}, lang, partial(pages.render_history, app, snapshot, lang))
        not_found = "404.html" if lang == default else f"{lang}/404.html"
        page("/", {}, lang, partial(pages.error_rendering, app, lang, 404), name=not_found, absolute=True)
    return files


# -- writing -------------------------------------------------------------------------------


def write_tree(outdir: Path, files: Mapping[str, bytes]) -> int:
    """Write ``files`` under ``outdir``, each one atomically; return how many changed.

    Pages are renamed into place last, so a page never links to an asset or a
    badge that is not there yet.
    """
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".vigie-export-", dir=outdir))
    except OSError as exc:
        raise ExportError(f"cannot write to {outdir}: {exc.strerror or exc}") from None
    changed: list[str] = []
    try:
        for rel, data in files.items():
            target = outdir / rel
            if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
                continue
            staged = staging / rel
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(data)
            os.chmod(staged, 0o644)
            changed.append(rel)
        for rel in sorted(changed, key=lambda r: (r.endswith(".html"), r)):
            target = outdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
    except OSError as exc:
        where = exc.filename or outdir
        raise ExportError(f"cannot write {where}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(changed)


def export_site(
    config: Config, db_path: str | Path, outdir: str | Path, clock: Clock | None = None, base: str = "/"
) -> ExportReport:
    """Render the stored state of ``db_path`` into ``outdir``. Never probes, never changes stored state.

    ``base`` is the URL path ``outdir`` is served from (see `base_path`)."""
    root = base_path(base)
    db = Path(db_path)
    if not db.is_file():
        raise ExportError(f"no database at {db}: start `vigie run` first, or point --db at its database")
    clock = clock or SystemClock()
    try:
        store = Store(db, readonly=True)  # the same read path as the live site: it cannot write
    except sqlite3.DatabaseError as exc:
        raise ExportError(f"cannot read the database {db}: {exc}") from None
    try:
        snapshot = build_snapshot(store, config, clock.now())
        # the live site's templates, assets and config; it is never started, so it opens nothing
        files = site_files(create_site(config, admin_token=""), store, snapshot, root)
    except sqlite3.DatabaseError as exc:
        raise ExportError(f"cannot read the database {db}: {exc}") from None
    finally:
        store.close()
    out = Path(outdir)
    changed = write_tree(out, files)
    return ExportReport(out, len(files), sum(len(b) for b in files.values()), changed)


def cmd_export(config_path: str, db_path: str, outdir: str, base: str = "/") -> int:
    """``vigie export``: 0 when written, 1 when the database or OUTDIR is unusable (config errors: 2, in main)."""
    from monitor.config import load_config

    loaded = load_config(config_path)
    for warning in loaded.warnings:
        print(f"{warning} (warning)", file=sys.stderr)
    try:
        report = export_site(loaded.config, db_path, outdir, base=base)
    except ExportError as exc:
        print(f"vigie export: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
