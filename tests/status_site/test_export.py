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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
import feedparser
import pytest
from aiohttp.test_utils import TestClient

from monitor.cli import main
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.storage import Store
from status_site import api
from status_site.app import create_app
from status_site.export import ExportReport, export_site
from tests.conftest import SwitchableTarget

ROOT = Path(__file__).resolve().parents[2]
PEC = "Demande de prise en charge optique"
HOSTILE = '<script>alert("x")</script> & "quotes"'
LINK = re.compile(r'\s(?:href|src|action)="([^"]*)"')

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
            await engine.run_check(key)
        clock.advance(30)
        engine.account_all()
        engine.flush()


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
    assert any(entry.content[0].value == HOSTILE for entry in feed.entries)


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
        assert visible_text(static) == visible_text(live), rel
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


# -- links ----------------------------------------------------------------------------------


async def test_it_links_every_page_relatively_to_files_that_exist(exported: Exported) -> None:
    """Crawl every exported page over HTTP: each link is relative and answers 200 from a plain server."""
    checked: set[str] = set()
    files = exported.html_files()
    assert len(files) > 20
    for rel in files:
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
