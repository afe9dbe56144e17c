"""A simulated fleet for the benchmarks, in its own process: operators' endpoints, some flapping, and a webhook sink.

    python bench/_fleet.py PORT [--flap-from EPOCH] [--flapping N] [--period SECONDS] [--delay SECONDS]

* ``/svc/<n>/<check>``: 200 "OK", except services ``0 .. N-1`` once ``--flap-from`` has passed:
  each answers 503 for ``period`` seconds then 200 for ``period``, phase-shifted per service, so
  about a tenth of the fleet keeps flipping (computed from the clock: no control channel);
* ``/ref``: waits ``--delay`` (60 ms) then answers 200 — the reference endpoint, when run alone;
* ``POST /hook``: 204, for Vigie's webhook alerts.

Everything listens on 127.0.0.1. Stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--flap-from", type=float, default=float("inf"))
    parser.add_argument("--flapping", type=int, default=0)
    parser.add_argument("--period", type=float, default=30.0)
    parser.add_argument("--delay", type=float, default=0.060)
    args = parser.parse_args()

    async def service(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        now = time.time()
        if n < args.flapping and now >= args.flap_from:
            phase = (now - args.flap_from + n * args.period / max(1, args.flapping)) // args.period
            if phase % 2 == 0:
                return web.Response(status=503, text="Service indisponible")
        return web.Response(text="OK")

    async def reference(request: web.Request) -> web.Response:
        await asyncio.sleep(args.delay)
        return web.Response(text="OK")

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/svc/{n}/{check}", service)
    app.router.add_get("/ref", reference)
    app.router.add_post("/hook", hook)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
