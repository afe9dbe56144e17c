"""The command line, run as a real subprocess against real targets."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web


@pytest.fixture
async def portal() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<h1>Espace professionnel</h1><p>Une erreur technique est survenue</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
operators:
  - id: isante
    name: iSanté
    services:
      - id: portail
        name: Espace professionnel
        checks:
          - id: page
            type: http
            url: "{url}"
            conditions:
              - "status == 200"
              - "body contains 'Espace professionnel'"
              - "body not contains 'erreur technique'"
              - {{condition: "response_time < 5s", severity: degraded}}
{extra}"""
    )
    return path


async def vigie(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode or 0, out.decode(), err.decode()


async def test_it_explains_a_failing_check_condition_by_condition(portal: str, tmp_path: Path) -> None:
    code, out, err = await vigie("probe", "-c", str(write_config(tmp_path, portal)), "isante/portail/page")
    assert code == 1, err
    assert "[ok  ] status == 200" in out
    assert "[ok  ] body contains 'Espace professionnel'" in out
    assert "[FAIL] body not contains 'erreur technique'" in out
    assert "connect" in out and "first_byte" in out and "total" in out
    assert "=> DOWN" in out


async def test_it_exits_0_when_the_check_passes(portal: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, portal)
    path.write_text(path.read_text().replace("body not contains 'erreur technique'", "status < 400"))
    code, out, _ = await vigie("probe", "-c", str(path), "isante/portail/page")
    assert code == 0 and "=> UP" in out


async def test_it_lists_the_known_checks_for_an_unknown_one(portal: str, tmp_path: Path) -> None:
    code, _, err = await vigie("probe", "-c", str(write_config(tmp_path, portal)), "isante/nope/page")
    assert code == 2
    assert "unknown check 'isante/nope/page'" in err and "isante/portail/page" in err


async def test_it_explains_a_refused_connection(tmp_path: Path) -> None:
    code, out, _ = await vigie("probe", "-c", str(write_config(tmp_path, "http://127.0.0.1:9/")), "isante/portail/page")
    assert code == 1 and "connection refused" in out


async def test_it_rejects_a_bad_listen_address(tmp_path: Path) -> None:
    code, _, err = await vigie("run", "-c", str(write_config(tmp_path, "http://127.0.0.1:9/")), "--listen", "nowhere")
    assert code == 2 and "expected HOST:PORT" in err and "Traceback" not in err


async def test_it_validates_without_a_traceback_on_a_broken_config(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("operators: [\n")
    code, _, err = await vigie("validate", "-c", str(path))
    assert code == 2 and f"{path}:" in err and "Traceback" not in err


async def test_it_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "vigie.db"
    db.write_bytes(b"this is not SQLite" * 100)
    code, _, err = await vigie("run", "-c", str(write_config(tmp_path, "http://127.0.0.1:9/")), "--db", str(db), "--listen", "127.0.0.1:0")
    assert code == 1 and "cannot use the database" in err and "Traceback" not in err
    assert db.read_bytes() == b"this is not SQLite" * 100
