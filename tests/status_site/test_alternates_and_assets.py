"""What Lighthouse asks of every page: absolute hreflang alternates, and CSS/JS sent gzipped to who accepts it."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.storage import Store
from status_site.export import export_site
from status_site.pages import STATIC_DIR
from tests.status_site.conftest import SITE_CONFIG, Site

ALTERNATE = re.compile(r'<link rel="alternate" hreflang="([a-z]+)" href="([^"]*)">')
BASE = "https://statut.example.org"


def alternates(html: str) -> dict[str, str]:
    return dict(ALTERNATE.findall(html.replace("&amp;", "&")))


async def test_it_gives_absolute_alternates_from_the_base_url(site: Site) -> None:
    _, html = await site.get("/operators/almerys?range=7d&lang=en")
    assert alternates(html) == {
        "fr": "http://127.0.0.1:8080/operators/almerys?range=7d&lang=fr",
        "en": "http://127.0.0.1:8080/operators/almerys?range=7d&lang=en",
    }


async def test_it_gives_exported_pages_absolute_alternates_to_their_files(tmp_path: Path) -> None:
    text = SITE_CONFIG.format(almerys="Almerys").replace('site: {title: "Vigie — test"}',
                                                          f'site: {{title: "Vigie — test", base_url: "{BASE}/statut/"}}')
    config = parse_config(text, env={}).config
    out = tmp_path / "site"
    Store(tmp_path / "v.db").close()  # a database with nothing measured yet
    export_site(config, tmp_path / "v.db", out, FakeClock(1_780_000_000.0), base="/statut/")
    french = (out / "operators/almerys/index.html").read_text()
    assert alternates(french) == {"fr": f"{BASE}/statut/operators/almerys/index.html",
                                  "en": f"{BASE}/statut/en/operators/almerys/index.html"}
    english = (out / "en/index.html").read_text()
    assert alternates(english) == {"fr": f"{BASE}/statut/index.html", "en": f"{BASE}/statut/en/index.html"}


async def test_it_sends_style_and_script_gzipped_when_accepted(site: Site) -> None:
    for name in ("style.css", "live.js"):
        response = await site.client.get(f"/static/{name}", headers={"Accept-Encoding": "br, gzip;q=0.8"})
        body = await response.read()  # aiohttp's client decompresses it
        original = (STATIC_DIR / name).read_bytes()
        assert response.headers["Content-Encoding"] == "gzip", name
        assert response.headers["Vary"] == "Accept-Encoding", name
        assert body == original
        assert int(response.headers["Content-Length"]) == len(gzip.compress(original, compresslevel=9, mtime=0)) < len(original)


async def test_it_sends_them_plain_to_a_client_without_gzip(site: Site) -> None:
    for accept in ("identity", "gzip;q=0"):
        response = await site.client.get("/static/style.css", headers={"Accept-Encoding": accept})
        assert "Content-Encoding" not in response.headers, accept
        assert response.headers["Vary"] == "Accept-Encoding"  # a cache must keep both
        assert await response.read() == (STATIC_DIR / "style.css").read_bytes()


async def test_it_validates_each_encoding_on_its_own(site: Site) -> None:
    gzipped = await site.client.get("/static/live.js", headers={"Accept-Encoding": "gzip"})
    plain = await site.client.get("/static/live.js", headers={"Accept-Encoding": "identity"})
    assert gzipped.headers["ETag"] != plain.headers["ETag"]
    again = await site.client.get("/static/live.js", headers={"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["ETag"]})
    assert again.status == 304 and again.headers["Vary"] == "Accept-Encoding"
    other = await site.client.get("/static/live.js", headers={"Accept-Encoding": "identity", "If-None-Match": gzipped.headers["ETag"]})
    assert other.status == 200 and "Content-Encoding" not in other.headers


async def test_it_leaves_a_tiny_icon_uncompressed(site: Site) -> None:
    response = await site.client.get("/static/favicon.svg", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200 and "Content-Encoding" not in response.headers and "Vary" not in response.headers
