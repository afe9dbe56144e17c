"""CPU time per HTTP(S) probe on a fresh connection: Vigie beside blackbox_exporter and curl.

    python bench/probe_cpu.py [--quick] [--probes N] [--concurrency C] [--rate R] [--profile]

Target: nginx on 127.0.0.1 (temporary prefix, ``/health`` -> ``OK``, keep-alive
off, TLS session cache off, a trustme certificate), or an aiohttp server in a
separate process when nginx is missing.

Measured in the same run, one after the other, on the same target:

* Vigie: ``probes.measure`` on an ``HttpCheck`` built by ``parse_config``, N
  probes in this process, on **uvloop** (the prober's loop) and again on stock
  asyncio; sequentially, then C at a time. CPU is this process's ``getrusage``
  (user + system, every thread).
* prometheus-blackbox-exporter (module ``http_2xx``; a new HTTP client without
  keep-alive per probe, so a fresh connection and a full TLS handshake like
  Vigie's): N ``/probe`` requests from an aiohttp client in this process; CPU
  is the exporter process's utime+stime from ``/proc/<pid>/stat``. The
  client's own CPU (asking, reading the metrics) is *not* counted: it is what
  Prometheus would spend, not the prober.
* curl: one curl process fetching N globbed URLs with ``Connection: close``
  and ``--no-sessionid``; CPU from ``wait4``'s rusage (start-up amortised).
* floors: the least a Python client can do — ``asyncio.open_connection``
  (with TLS for https), write a fixed request, read to EOF — on asyncio and on
  uvloop: the part of the cost that is Python's and the loop's, not Vigie's.
* steady rate: Vigie (uvloop) and blackbox_exporter again, N probes started
  at a fixed rate R (default 10,000 checks a minute) whether or not the last
  one is over, the way a scheduler drives them; CPU over the whole window, idle
  moments included.

Ratios are Vigie (uvloop) ÷ reference (above 1: Vigie spends more CPU per probe).
Results: a table on stdout and ``bench/results/probe_cpu.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime
import io
import os
import platform
import pstats
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop  # noqa: E402
from _drivers import (  # noqa: E402
    PROBE_DEADLINE,
    WARMUP,
    blackbox_exporter,
    blackbox_version,
    drive,
    measure_blackbox,
    measure_curl,
    measured,
    median_of,
    mode_name,
    row,
    run_on,
    scheme_of,
    self_cpu,
)
from _targets import Target, local_target, proc_rss_mib, table, write_json  # noqa: E402

from monitor.config import parse_config  # noqa: E402
from monitor.config.model import HttpCheck  # noqa: E402
from probes import measure  # noqa: E402
from probes.base import ProbeContext  # noqa: E402

VIGIE = "vigie (uvloop)"


def build_checks(target: Target) -> dict[str, HttpCheck]:
    text = f"""
operators:
  - id: bench
    name: Bench
    services:
      - id: local
        name: Local
        checks:
          - {{id: http, type: http, url: "{target.http_url}", timeout: 5s}}
          - {{id: https, type: http, url: "{target.https_url}", timeout: 5s, tls: {{ca_file: "{target.certs.ca_pem}"}}}}
"""
    config = parse_config(text, env={}).config
    return {check.id: check for _, _, check in config.iter_checks()}  # type: ignore[misc]


# -- in this process: Vigie and the floors ---------------------------------------------


def measure_vigie(target: Target, check: HttpCheck, n: int, mode: int | float, loop: str, profile: Path | None = None) -> dict[str, Any]:
    ctx = ProbeContext()
    durations: list[float] = []

    async def one() -> bool:
        result = await measure(check, ctx)
        durations.append(result.duration)
        return result.error is None and result.status == 200 and result.body == b"OK\n"

    async def main() -> dict[str, Any]:
        await drive(WARMUP, min(mode, WARMUP) if isinstance(mode, int) else 1, one)
        durations.clear()
        # CPU time of this thread, not wall time: on a shared machine a send() that wakes
        # the server would otherwise be charged for the time the server then runs.
        profiler = cProfile.Profile(time.thread_time) if profile else None
        with measured(target, self_cpu) as m:
            if profiler:
                profiler.enable()
            failures = await asyncio.wait_for(drive(n, mode, one), PROBE_DEADLINE)
            if profiler:
                profiler.disable()
        if profiler and profile:
            profiler.dump_stats(str(profile))
        return row(f"vigie ({loop})", scheme_of(check.url), mode, n, m, failures, durations)

    return run_on(loop, main())


def measure_floor(target: Target, url: str, n: int, mode: int | float, loop: str) -> dict[str, Any]:
    """Fresh connection, fixed request, read to EOF: no parsing, no timing, no result."""
    https = url.startswith("https")
    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    request = f"GET /health HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n".encode()
    context = ssl.create_default_context(cafile=str(target.certs.ca_pem)) if https else None

    async def one() -> bool:
        reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
        try:
            writer.write(request)
            data = await reader.read()
        finally:
            writer.transport.abort()
        return data.startswith(b"HTTP/1.1 200") and data.endswith(b"OK\n")

    async def main() -> dict[str, Any]:
        await drive(WARMUP, min(mode, WARMUP) if isinstance(mode, int) else 1, one)
        with measured(target, self_cpu) as m:
            failures = await asyncio.wait_for(drive(n, mode, one), PROBE_DEADLINE)
        return row(f"{loop} floor", scheme_of(url), mode, n, m, failures, [])

    return run_on(loop, main())


def measure_components(target: Target, check: HttpCheck, n: int = 2000) -> dict[str, float]:
    """CPU µs per call of steps of Vigie's probe, each repeated alone."""
    from probes import _http1, _tls

    port = int(target.https_url.split("/")[2].rsplit(":", 1)[1])
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))
    out: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> None:
        fn()
        t0 = sum(self_cpu())
        for _ in range(n):
            fn()
        out[name] = 1e6 * (sum(self_cpu()) - t0) / n

    timed("build_request, cached (every probe)", lambda: _http1.build_request("GET", check.url, (), None))
    timed("build_request, built anew (first probe of a check)", lambda: _http1.build_request.__wrapped__("GET", check.url, (), None))
    timed("cert_info, remembered (every https probe)", lambda: _tls.cert_info(der))
    timed("certificate parse by cryptography (first https probe)", lambda: _tls._parse(der))
    return out


# -- report ----------------------------------------------------------------------

CLIENTS = (VIGIE, "vigie (asyncio)", "blackbox_exporter", "curl", "uvloop floor", "asyncio floor")


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def report(rows: list[dict[str, Any]], n: int) -> tuple[str, list[dict[str, Any]]]:
    by = {(r["client"], r["scheme"], r["mode"]): r for r in rows}
    ratios: list[dict[str, Any]] = []
    lines: list[str] = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        body = []
        for client in CLIENTS:
            cells = [client]
            for scheme in ("http", "https"):
                r, vigie = by.get((client, scheme, mode)), by.get((VIGIE, scheme, mode))
                ratio = vigie["cpu_ms_per_probe"] / r["cpu_ms_per_probe"] if r and vigie and r["cpu_ms_per_probe"] > 0 else None
                if r and vigie and client != VIGIE:
                    ratios.append({"mode": mode, "scheme": scheme, "reference": client, "vigie_uvloop_over_reference": ratio})
                cells += [fmt(r["cpu_ms_per_probe"]) if r else "—", fmt(ratio, 2) if r and client != VIGIE else ""]
            if any(c not in ("—", "") for c in cells[1:]):
                body.append(cells)
        lines.append(f"CPU ms per probe, {n} probes, {mode} (ratio = Vigie on uvloop ÷ that client)")
        lines.append(table(["client", "http", "ratio", "https", "ratio"], body))
        lines.append("")
    detail = [
        [r["client"], r["scheme"], r["mode"], fmt(r["cpu_ms_per_probe"]), fmt(r["user_ms_per_probe"]), fmt(r["sys_ms_per_probe"]),
         fmt(r["wall_ms_per_probe"]), f"{r['probes_per_s']:.0f}", fmt(r.get("median_probe_duration_ms")),
         fmt(r["server_cpu_ms_per_probe"]), str(r["failures"])]
        for r in rows
    ]
    lines.append("Detail (wall ms per probe = elapsed ÷ N; duration = the probe's own measured time, median)")
    lines.append(table(["client", "scheme", "mode", "cpu ms", "user", "sys", "wall ms", "probes/s", "duration ms", "server cpu ms", "fail"], detail))
    return "\n".join(lines), ratios


def top_of_profile(path: Path, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 probes per variant, one round (smoke run)")
    parser.add_argument("--probes", type=int, default=2000, help="probes per variant (default 2000)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent variant (default 50)")
    parser.add_argument("--rate", type=float, default=10000 / 60, help="steady rate, probes/s (default 166.7: 10,000 checks a minute)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds; each variant's median round is kept (default 3; 1 with --quick)")
    parser.add_argument("--aiohttp-target", action="store_true", help="use the aiohttp target even if nginx is there")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="time single steps and cProfile Vigie's sequential https run on uvloop")
    args = parser.parse_args()
    n = 200 if args.quick else args.probes
    args.repeat = args.repeat or (1 if args.quick else 3)
    if not 1 <= n <= 100_000 or not 1 <= args.concurrency <= 1000 or not 1 <= args.repeat <= 20 or not 1 <= args.rate <= 5000:
        parser.error("--probes must be 1..100000, --concurrency 1..1000, --repeat 1..20, --rate 1..5000")
    started = time.time()
    notes: list[str] = []
    profile_path = Path(tempfile.gettempdir()) / "vigie-probe-cpu.prof" if args.profile else None
    components: dict[str, float] | None = None
    with local_target(workers=args.nginx_workers, force_aiohttp=args.aiohttp_target) as target:
        notes += target.notes
        checks = build_checks(target)
        print(f"target: {target.kind}  {target.http_url}  {target.https_url}", flush=True)
        runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        with contextlib.ExitStack() as stack:
            try:
                base, pid = stack.enter_context(blackbox_exporter(target))
            except FileNotFoundError as exc:
                notes.append(str(exc))
                base, pid = "", 0
            # Rounds interleave every client, so a change in the machine's load
            # during the run touches Vigie and the references alike.
            for rep in range(args.repeat):
                for scheme in ("http", "https"):
                    check, url = checks[scheme], checks[scheme].url
                    modes: tuple[int | float, ...] = (1, args.concurrency, float(args.rate))
                    for mode in modes:
                        print(f"  round {rep + 1}/{args.repeat}: {scheme} {mode_name(mode)} …", flush=True)
                        measures: list[Callable[[], dict[str, Any] | None]] = [
                            partial(measure_vigie, target, check, n, mode, "uvloop"),
                            partial(measure_blackbox, target, base, pid, url, n, mode) if pid else lambda: None,
                            partial(measure_floor, target, url, n, mode, "uvloop"),
                        ]
                        if isinstance(mode, int):  # at a steady rate, the loops' wake-ups dominate: uvloop's alone
                            measures += [
                                partial(measure_vigie, target, check, n, mode, "asyncio"),
                                partial(measure_curl, target, url, n, mode),
                                partial(measure_floor, target, url, n, mode, "asyncio"),
                            ]
                        for one in measures:
                            result = one()
                            if result is not None:
                                runs.setdefault((result["client"], scheme, result["mode"]), []).append(result)
            if pid:
                notes.append(f"blackbox_exporter RSS after the run: {proc_rss_mib(pid):.0f} MiB")
        rows = [median_of(r) for r in runs.values()]
        if profile_path:
            print("  components of Vigie's probe …", flush=True)
            components = measure_components(target, checks["https"])
            print("  vigie https sequential on uvloop under cProfile …", flush=True)
            profiled = measure_vigie(target, checks["https"], n, 1, "uvloop", profile=profile_path)
            notes.append(f"under cProfile the https probe costs {profiled['cpu_ms_per_probe']:.3f} ms CPU (profiler overhead included)")
    text, ratios = report(rows, n)
    print()
    print(text)
    if notes:
        print("\nnotes:\n- " + "\n- ".join(notes))
    if profile_path and components is not None:
        print("\nCPU of single steps of Vigie's probe, each repeated alone (µs per call):")
        print(table(["step", "µs"], [[k, f"{v:.1f}"] for k, v in components.items()]))
        print("\ncProfile (thread CPU time) of Vigie's sequential https probes on uvloop, event-loop thread only:\n")
        print(top_of_profile(profile_path))
    failures = sum(r["failures"] for r in rows)
    path = write_json(
        "probe_cpu",
        {
            "benchmark": "probe_cpu",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "loadavg_at_end": os.getloadavg()},
            "target": target.kind,
            "blackbox_exporter": blackbox_version(),
            "uvloop": uvloop.__version__,
            "probes_per_variant": n,
            "runs_per_variant": args.repeat,
            "concurrency": args.concurrency,
            "steady_rate_per_s": args.rate,
            "elapsed_s": round(time.time() - started, 1),
            "ratios": ratios,
            "components_us": components,
            "rows": rows,
            "notes": notes,
        },
    )
    print(f"\nwritten: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if failures:
        print(f"WARNING: {failures} probes failed; the figures are suspect", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
