"""The static export, served by a plain static server, says what the live site says.

State comes from a real engine probing a real HTTP target under a `FakeClock`:
a resolved outage of the rights check, then an open outage of the optical
PEC. The export and the live app read the same database at the same instant.
"""

from __future__ import annotations

import html as html_lib
import posixpath
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
import feedparser
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from monitor.cli import main
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.service import create_app
from monitor.storage import Store
from status_site import api
from status_site.export import ExportReport, export_site
from tests.conftest import SwitchableTarget, probe_now

ROOT = Path(__file__).resolve().parents[2]
PEC = "Demande de prise en charge optique"
HOSTILE = '<script>alert("x")</script> & "quotes"'
LINK = re.compile(r'\s(?:href|src|action)="([^"]*)"')
FILTER = re.compile(r'<(form|nav) class="filter\b.*?</\1>', re.S)
REPORT = re.compile(r'<details class="report">.*?</details>', re.S)  # the live site's report form: no server behind an export
FILTER_LINKS = re.compile(r'<nav class="filter filter-links" aria-label="([^"]+)">(.*?)</nav>', re.S)
FILTER_LINK = re.compile(r'<li><a href="([^"]+)"( aria-current="page")?>([^<]+)</a></li>')
SERVICE = re.compile(r'<li class="service" id="service-([^"]+)"')

CONFIG = """
site: {{title: "Vigie — export", base_url: "https://statut.example.org", languages: [fr, en]}}
defaults: {{interval: 30s, timeout: 2s, failure_threshold: 2, success_threshold: 2}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {{fr: "{pec}", en: "Optical pre-authorisation"}}
        professions: [opticien]
        checks:
          - {{id: api, type: http, url: "{url}/pec/health", conditions: ["status == 200"]}}
      - id: droits
        name: {{fr: "Visiodroits", en: "Rights check"}}
        professions: [pharmacien]
        checks:
          - {{id: api, type: http, url: "{url}/droits/health", conditions: ["status == 200"]}}
  - id: viamedis
    name: Viamedis
    services:
      - id: portail
        name: {{fr: "Espace professionnel", en: "Professional portal"}}
        professions: [pharmacien, opticien]
        checks:
          - {{id: web, type: http, url: "{url}/portail", conditions: ["status == 200"]}}
"""


@dataclass
class Exported:
    config: Config
    config_path: Path
    db: Path
    outdir: Path
    now: float
    report: ExportReport
    live: TestClient
    static_url: str
    session: aiohttp.ClientSession

    async def live_bytes(self, path: str) -> bytes:
        response = await self.live.get(path)
        assert response.status == 200, path
        return await response.read()

    async def static_bytes(self, rel: str) -> bytes:
        async with self.session.get(self.static_url + rel) as response:
            assert response.status == 200, rel
            return await response.read()

    def html_files(self) -> list[str]:
        return sorted(p.relative_to(self.outdir).as_posix() for p in self.outdir.rglob("*.html"))


async def tick(engine: Engine, clock: FakeClock, times: int = 1) -> None:
    for _ in range(times):
        for key in engine.targets:
            await probe_now(engine, key)
        clock.advance(30)
        engine.account_all()


def record_state(config: Config, db: Path, target: SwitchableTarget, clock: FakeClock) -> None:
    """Ten minutes of history: the rights check down then back (resolved), the optical PEC down (open)."""

    async def run() -> None:
        store = Store(db)
        engine = Engine(config, store, clock)
        await tick(engine, clock, 6)
        target.status["droits"] = 503
        await tick(engine, clock, 4)
        target.status["droits"] = 200
        await tick(engine, clock, 4)
        target.status["pec"] = 503
        await tick(engine, clock, 6)
        [incident] = store.open_incidents()
        store.add_incident_update(incident.id, clock.now(), "identified", {"fr": HOSTILE, "en": HOSTILE})
        engine.close()
        store.close()

    return run()  # type: ignore[return-value]


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1, port picked by the OS, serving ``tmp_path/site``."""
    outdir = tmp_path / "site"
    outdir.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(outdir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        port = re.search(r"port (\d+)", line)
        assert port, f"http.server said {line!r}"
        yield f"http://127.0.0.1:{port.group(1)}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def exported(
    http_target: SwitchableTarget, tmp_path: Path, static_server: str, aiohttp_client: Any
) -> AsyncIterator[Exported]:
    text = CONFIG.format(url=http_target.url, pec=PEC)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(text)
    config = parse_config(text, env={}).config
    db = tmp_path / "vigie.db"
    clock = FakeClock(1_780_000_000.0)
    await record_state(config, db, http_target, clock)
    now = clock.now()
    report = export_site(config, db, tmp_path / "site", FakeClock(now))
    live = await aiohttp_client(create_app(config, db, FakeClock(now), schedule=False))
    async with aiohttp.ClientSession() as session:
        yield Exported(config, config_path, db, tmp_path / "site", now, report, live, static_server, session)


def static_host(outdir: Path, base: str) -> web.Application:
    """A host as GitHub Pages, Netlify or nginx's ``error_page 404`` serve an export from ``base``:
    the files, and for any missing URL the ``404.html`` of its language, at that URL, status 404."""

    async def serve(request: web.Request) -> web.StreamResponse:
        rel = request.path[len(base):] if request.path.startswith(base) else ""
        target = outdir / (rel + "index.html" if rel.endswith("/") or not rel else rel)
        if ".." not in rel.split("/") and target.is_file():
            return web.FileResponse(target)
        page = outdir / ("en/404.html" if rel.startswith("en/") else "404.html")
        return web.Response(status=404, body=page.read_bytes(), content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    return app


def visible_text(html: str) -> str:
    """What a reader sees: the text between tags, without attributes (where the links differ)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# -- the same answers ---------------------------------------------------------------------


async def test_it_writes_every_api_document_as_the_live_site_answers_it(exported: Exported) -> None:
    for route in [*api.DOCUMENTS, "/api/openapi.json"]:
        static = await exported.static_bytes(route.lstrip("/"))
        assert static == await exported.live_bytes(route), route
    summary = await exported.live.get("/api/v2/incidents/unresolved.json")
    [incident] = (await summary.json())["incidents"]
    assert incident["status"] == "identified" and incident["incident_updates"][0]["body"] == HOSTILE


async def test_it_writes_the_same_feed(exported: Exported) -> None:
    static = await exported.static_bytes("feed.atom")
    assert static == await exported.live_bytes("/feed.atom")
    feed = feedparser.parse(static)
    assert not feed.bozo
    assert len(feed.entries) >= 4  # opened + resolved, opened + the identified update
    assert any(entry.content[0].value.split("\n\n")[0] == HOSTILE for entry in feed.entries)  # then what backs it


async def test_it_writes_every_badge_as_the_live_site_draws_it(exported: Exported) -> None:
    paths = [f"/badge/{o.id}.svg" for o in exported.config.operators]
    paths += [f"/badge/{o.id}/{s.id}.svg" for o in exported.config.operators for s in o.services]
    for path in paths:
        assert await exported.static_bytes(path.lstrip("/")) == await exported.live_bytes(path), path


async def test_it_writes_pages_that_say_what_the_live_pages_say(exported: Exported) -> None:
    [open_id] = [i.id for i in Store(exported.db).open_incidents()]
    pairs = {
        "/": "index.html",
        "/?lang=en": "en/index.html",
        "/?profession=opticien": "professions/opticien/index.html",
        "/?profession=pharmacien&lang=en": "en/professions/pharmacien/index.html",
        "/operators/almerys": "operators/almerys/index.html",
        "/operators/almerys?range=7d&lang=en": "en/operators/almerys/7d/index.html",
        "/operators/viamedis?range=30d": "operators/viamedis/30d/index.html",
        f"/incidents/{open_id}": f"incidents/{open_id}/index.html",
        f"/incidents/{open_id}?lang=en": f"en/incidents/{open_id}/index.html",
        "/history": "history/index.html",
        "/history?lang=en": "en/history/index.html",
    }
    for live_path, rel in pairs.items():
        live = (await exported.live_bytes(live_path)).decode()
        static = (await exported.static_bytes(rel)).decode()
        # the profession filter differs (a form live, links in the export), and only the live site takes reports
        assert not REPORT.search(static), rel
        if rel.startswith(("index", "en/index", "operators", "en/operators", "professions", "en/professions")):
            assert REPORT.search(live), rel
        assert visible_text(FILTER.sub("", static)) == visible_text(FILTER.sub("", REPORT.sub("", live))), rel
    index = visible_text((await exported.static_bytes("index.html")).decode())
    assert "Incidents en cours" in index and PEC in index and HOSTILE in index
    assert "Panne en cours chez Almerys" in index
    english = (await exported.static_bytes("en/index.html")).decode()
    assert '<html lang="en">' in english and "Optical pre-authorisation" in english and PEC not in english
    assert "<script>alert" not in english  # the hostile message stays escaped


async def test_it_writes_a_not_found_page_in_each_language(exported: Exported) -> None:
    for rel, lang in (("404.html", "fr"), ("en/404.html", "en")):
        page = (exported.outdir / rel).read_text()
        assert f'<html lang="{lang}">' in page and "404" in page


# -- the profession filter ---------------------------------------------------------------------


def filter_links(page: str) -> tuple[str, list[tuple[str, bool, str]]]:
    """The exported filter: its accessible name and its links as (href, current, label)."""
    [(label, links)] = FILTER_LINKS.findall(page)
    return label, [(html_lib.unescape(h), bool(current), text) for h, current, text in FILTER_LINK.findall(links)]


async def test_it_links_the_index_to_every_profession_page(exported: Exported) -> None:
    for prefix, legend, everything in (("", "Filtrer par métier", "Tous les métiers"),
                                       ("en/", "Filter by profession", "All professions")):
        index = (exported.outdir / f"{prefix}index.html").read_text()
        assert "<form" not in index and "?profession=" not in index  # a static server ignores queries
        label, links = filter_links(index)
        assert label == legend
        assert links[0] == ("index.html", True, everything)
        assert [(href, current) for href, current, _ in links[1:]] == [
            ("professions/opticien/index.html", False), ("professions/pharmacien/index.html", False)]
        for href, _, _ in links:
            assert await exported.static_bytes(prefix + href)
    assert filter_links((exported.outdir / "index.html").read_text())[1][1][2] == "Je suis opticien"


async def test_it_shows_only_that_professions_services_on_its_page(exported: Exported) -> None:
    expected = {"opticien": ["almerys-pec-optique", "viamedis-portail"],
                "pharmacien": ["almerys-droits", "viamedis-portail"]}
    for prefix in ("", "en/"):
        everything = (await exported.static_bytes(f"{prefix}index.html")).decode()
        assert SERVICE.findall(everything) == ["almerys-pec-optique", "almerys-droits", "viamedis-portail"]
        for profession, services in expected.items():
            rel = f"{prefix}professions/{profession}/index.html"
            page = (await exported.static_bytes(rel)).decode()
            assert SERVICE.findall(page) == services, rel
            _, links = filter_links(page)
            assert [href for href, current, _ in links if current] == ["index.html"], rel
    pharmacist = (exported.outdir / "professions/pharmacien/index.html").read_text()
    assert PEC not in visible_text(pharmacist)  # nor its open incident
    assert "Filtre actif : « Je suis pharmacien »" in visible_text(pharmacist)


async def test_it_links_each_profession_page_back_to_the_others(exported: Exported) -> None:
    _, links = filter_links((exported.outdir / "en/professions/opticien/index.html").read_text())
    assert links == [("../../index.html", False, "All professions"), ("index.html", True, "I am an optician"),
                     ("../pharmacien/index.html", False, "I am a pharmacist")]
    for href, _, _ in links:
        url = urljoin(exported.static_url + "en/professions/opticien/index.html", href)
        async with exported.session.get(url) as response:
            assert response.status == 200, href


async def test_it_keeps_the_filter_form_on_the_live_site(exported: Exported) -> None:
    live = (await exported.live_bytes("/?profession=opticien")).decode()
    assert '<form class="filter" method="get" action="/">' in live and "filter-links" not in live
    assert '<option value="opticien" selected>' in live


# -- links ----------------------------------------------------------------------------------


async def test_it_links_every_page_relatively_to_files_that_exist(exported: Exported) -> None:
    """Crawl every exported page over HTTP: each link is relative and answers 200 from a plain server."""
    checked: set[str] = set()
    files = exported.html_files()
    assert len(files) > 20
    for rel in files:
        if rel.endswith("404.html"):
            continue  # served at any missing URL: its links are root-relative (tested below)
        page = (exported.outdir / rel).read_text()
        for href in (html_lib.unescape(h) for h in LINK.findall(page)):
            parts = urlsplit(href)
            if parts.scheme or href.startswith("#"):
                continue  # the operator's own site, or an anchor on this page
            assert not href.startswith("/"), (rel, href)
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), unquote(parts.path)))
            assert not target.startswith(".."), (rel, href)
            assert (exported.outdir / target).is_file(), (rel, href)  # what file:// would open
            url = urljoin(exported.static_url + rel, href)
            if url not in checked:
                checked.add(url)
                async with exported.session.get(url) as response:
                    assert response.status == 200, (rel, href)
    assert any(u.endswith("/static/style.css") for u in checked)
    assert any(u.endswith("/feed.atom") for u in checked) and any(u.endswith("/api/v2/summary.json") for u in checked)


async def test_it_links_each_page_to_its_other_language(exported: Exported) -> None:
    french = (exported.outdir / "operators/almerys/7d/index.html").read_text()
    assert 'href="../../../en/operators/almerys/7d/index.html"' in french
    english = (exported.outdir / "en/operators/almerys/7d/index.html").read_text()
    assert 'href="../../../../operators/almerys/7d/index.html"' in english
    assert 'href="../../../index.html"' in english  # home stays in English


@pytest.mark.parametrize("base", ["/", "/statut/"])
async def test_it_serves_a_not_found_page_whose_links_work_at_any_depth(
    exported: Exported, base: str, tmp_path: Path, aiohttp_server: Any
) -> None:
    outdir = exported.outdir
    if base != "/":
        outdir = tmp_path / "served-from-statut"
        export_site(exported.config, exported.db, outdir, FakeClock(exported.now), base=base)
    server = await aiohttp_server(static_host(outdir, base))
    for missing, lang in ((f"{base}operators/nope/deep/er/page", "fr"), (f"{base}en/incidents/999999/x/", "en")):
        url = str(server.make_url(missing))
        async with exported.session.get(url) as response:
            assert response.status == 404, url
            page = await response.text()
        assert f'<html lang="{lang}">' in page and "404" in page
        hrefs = [html_lib.unescape(h) for h in LINK.findall(page)]
        assert any(h == f"{base}static/style.css" for h in hrefs), hrefs
        assert f"{base}index.html" in hrefs and f"{base}feed.atom" in hrefs and f"{base}en/index.html" in hrefs
        for href in hrefs:
            if href.startswith("#") or urlsplit(href).scheme:
                continue  # the skip link, another site
            assert href.startswith(base), (missing, href)
            async with exported.session.get(urljoin(url, href)) as found:
                assert found.status == 200, (missing, href)


def test_it_refuses_a_base_path_that_is_not_a_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url="http://127.0.0.1:9", pec=PEC))
    for bad in ("statut", "https://cdn.example.org/statut/", "//cdn.example.org/"):
        argv = ["export", "-c", str(config), "--db", str(tmp_path / "v.db"), "--base-path", bad, str(tmp_path / "out")]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "--base-path must be a URL path" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


async def test_it_keeps_live_js_polling_the_page_it_is_on(exported: Exported) -> None:
    script = (exported.outdir / "static/live.js").read_text()
    assert "fetch(window.location.href" in script
    assert not re.search(r"""fetch\(\s*["']/""", script)


async def test_it_leaves_the_live_site_links_root_absolute(exported: Exported) -> None:
    live = (await exported.live_bytes("/?lang=en")).decode()
    assert 'href="/history?lang=en"' in live and 'src="/static/live.js?v=' in live


# -- writing ----------------------------------------------------------------------------------


async def test_it_rewrites_nothing_when_nothing_changed(exported: Exported) -> None:
    assert exported.report.changed == exported.report.files
    mtime = (exported.outdir / "index.html").stat().st_mtime_ns
    again = export_site(exported.config, exported.db, exported.outdir, FakeClock(exported.now))
    assert (again.files, again.changed) == (exported.report.files, 0)
    assert (exported.outdir / "index.html").stat().st_mtime_ns == mtime
    assert not [p for p in exported.outdir.rglob("*") if p.name.startswith(".")]  # no staging left behind


async def test_it_replaces_changed_files_whole(exported: Exported) -> None:
    later = export_site(exported.config, exported.db, exported.outdir, FakeClock(exported.now + 3600))
    assert 0 < later.changed < later.files  # the pages age ("il y a 1 heure"); the assets do not
    assert "il y a" in (exported.outdir / "index.html").read_text()
    assert not [p for p in exported.outdir.rglob("*") if p.name.startswith(".")]


# -- the command line ---------------------------------------------------------------------------


async def test_it_exports_from_the_command_line(exported: Exported, tmp_path: Path) -> None:
    out = tmp_path / "cli-out"
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "export", "-c", str(exported.config_path), "--db", str(exported.db), str(out)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert re.fullmatch(r"vigie export: \d+ files, [\d,]+ bytes in .+ \(\d+ written, 0 unchanged\)", line)
    assert (out / "index.html").is_file() and (out / "en/index.html").is_file()


def test_it_says_when_the_database_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url="http://127.0.0.1:9", pec=PEC))
    assert main(["export", "-c", str(config), "--db", str(tmp_path / "nope.db"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no database at" in err and "nope.db" in err and "Traceback" not in err
    assert not (tmp_path / "nope.db").exists() and not (tmp_path / "out").exists()


def test_it_says_when_the_database_is_not_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url="http://127.0.0.1:9", pec=PEC))
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert main(["export", "-c", str(config), "--db", str(tmp_path / "junk.db"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "cannot read the database" in err and "Traceback" not in err


def test_it_locates_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("operators:\n  - id: Not An Id\n    name: X\n    services: []\n")
    assert main(["export", "-c", str(config), "--db", str(tmp_path / "v.db"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(config))}:\d+:\d+: ", err) and "Traceback" not in err


def test_it_says_when_outdir_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url="http://127.0.0.1:9", pec=PEC))
    parsed = parse_config(config.read_text(), env={}).config
    store = Store(tmp_path / "v.db")
    Engine(parsed, store, FakeClock()).close()
    store.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    assert main(["export", "-c", str(config), "--db", str(tmp_path / "v.db"), str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert "cannot write to" in err and "a-file" in err and "Traceback" not in err
