"""Fallback target when nginx is missing: ``/health`` -> ``OK`` over http and https.

Run as its own process (``python bench/_aiohttp_target.py HTTP_PORT HTTPS_PORT CERT KEY``)
so that its CPU is never counted as Vigie's.
"""

from __future__ import annotations

import asyncio
import ssl
import sys

from aiohttp import web


async def health(request: web.Request) -> web.Response:
    return web.Response(body=b"OK\n", content_type="text/plain", headers={"Connection": "close"})


async def main(http_port: int, https_port: int, cert: str, key: str) -> None:
    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=0)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    await web.TCPSite(runner, "127.0.0.1", http_port, backlog=4096).start()
    await web.TCPSite(runner, "127.0.0.1", https_port, ssl_context=context, backlog=4096).start()
    await asyncio.Event().wait()  # until SIGTERM


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]))
