"""The static export carries the live site's security headers (issue 13, item 3): a <meta> CSP in every page, so
that a host that sends no header still blocks scripts it did not serve — `javascript:` links included — and
`_headers` / `nginx-security.conf` for the hosts that read them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp import web

from status_site.export import META_CSP, site_files, write_tree
from status_site.views import build_snapshot
from tests.browser.conftest import CHROMIUM, LiveSite, OpenPage
from tests.conftest import read

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
PLANTED = '<a id="planted" href="javascript:window.__xss=1">x</a><script>window.__xss=2</script>'


async def export(site: LiveSite, into: Path) -> dict[str, bytes]:
    now, config = site.clock.now(), site.engine.config
    files = await read(site.app, lambda store: site_files(site.app, store, build_snapshot(store, config, now)))
    write_tree(into, files)
    return files


async def test_every_exported_page_has_its_csp_first(live_site: LiveSite, tmp_path: Path) -> None:
    files = await export(live_site, tmp_path)
    pages = [name for name in files if name.endswith(".html")]
    assert len(pages) > 10
    for name in pages:
        head = files[name].decode().split("<head>", 1)[1]
        assert head.lstrip().startswith(f'<meta http-equiv="Content-Security-Policy" content="{META_CSP}">'), name
    headers = files["_headers"].decode()
    assert headers.startswith("/*\n") and "Content-Security-Policy: default-src 'none'" in headers
    assert "frame-ancestors 'none'" in headers and "X-Content-Type-Options: nosniff" in headers


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing")
async def test_a_planted_javascript_link_does_not_run_in_the_exported_page(
    live_site: LiveSite, open_page: OpenPage, tmp_path: Path
) -> None:
    await export(live_site, tmp_path)
    index = tmp_path / "index.html"
    index.write_text(index.read_text().replace("</main>", PLANTED + "</main>"))  # a hostile value that slipped through
    app = web.Application()
    app.router.add_static("/", tmp_path)  # a plain static server: it sends no security header at all
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        visit = await open_page("desktop")
        await visit.page.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/index.html")
        await visit.page.click("#planted")
        await visit.page.wait_for_timeout(200)
        assert await visit.page.evaluate("window.__xss") is None
    finally:
        await runner.cleanup()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is missing")
async def test_the_nginx_snippet_is_valid_nginx(live_site: LiveSite, tmp_path: Path) -> None:
    await export(live_site, tmp_path / "site")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log off; server {{ listen 127.0.0.1:1; root {tmp_path}/site; include {tmp_path}/site/nginx-security.conf; }} }}
""")
    checked = subprocess.run(["nginx", "-t", "-q", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
