"""Agent-side credentials: resolved on the agent only; the central stores verdicts, never the secret nor a body."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.agent.remote import AgentOptions, RemoteAgent
from monitor.agent.spool import Spool
from monitor.config import parse_config
from monitor.service import create_app
from tests.conftest import eventually, read

LYON = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PASSWORD = "s3cret-of-the-partner"
BODY = "PEC n° 4242 accordée à Mme Dupont"  # what the endpoint answers: must never leave the agent


async def test_the_agent_resolves_its_secret_and_the_central_never_sees_it_nor_the_body(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []

    async def pec(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        expected = "Basic " + base64.b64encode(f"vigie:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="refusé")
        return web.Response(text=BODY)

    app = web.Application()
    app.router.add_get("/pec", pec)
    target = await aiohttp_server(app)
    config = parse_config(
        f"""
locations:
  - {{id: lyon, name: Lyon, secret: "${{LYON_SECRET}}"}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - id: authentifiee
            type: http
            url: "http://127.0.0.1:{target.port}/pec"
            interval: 1s
            locations: [lyon]
            basic_auth: {{username: vigie, password: "${{agent:PEC_PASSWORD}}"}}
            conditions: ["status == 200", "body contains 'accordée'"]
""",
        env={"LYON_SECRET": LYON},
    ).config
    central = await aiohttp_client(create_app(config, tmp_path / "central.db"))
    monkeypatch.setenv("PEC_PASSWORD", PASSWORD)  # the agent's environment, not the central's
    agent = RemoteAgent(AgentOptions(str(central.make_url("")).rstrip("/"), "lyon", LYON, str(tmp_path / "spool")),
                        Spool(tmp_path / "spool"))
    running = asyncio.create_task(agent.run())
    try:
        async def stored() -> list[Any]:
            return await read(central.app, lambda store: store.recent_results("almerys/pec/authentifiee", location="lyon"))

        results: list[Any] = []

        async def two_results() -> bool:
            results[:] = await stored()
            return len(results) >= 2

        await eventually(two_results)
    finally:
        agent.stop()
        await asyncio.wait_for(running, 10)
    assert all(r["outcome"] == "up" for r in results), results  # authenticated: the secret reached the target
    assert seen and all(header and header.startswith("Basic ") for header in seen)
    await central.close()
    for path in tmp_path.glob("central.db*"):
        data = path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert b"Mme Dupont" not in data and "accordée à".encode() not in data, path
