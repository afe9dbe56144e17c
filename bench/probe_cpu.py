"""CPU time per HTTP(S) probe on a fresh connection: Vigie beside blackbox_exporter and curl.

    python bench/probe_cpu.py [--quick] [--probes N] [--concurrency C] [--profile]

Target: nginx on 127.0.0.1 (temporary prefix, ``/health`` -> ``OK``, keep-alive
off, TLS session cache off, a trustme certificate), or an aiohttp server in a
separate process when nginx is missing.

Measured in the same run, one after the other, on the same target:

* Vigie: ``probes.http.probe`` on an ``HttpCheck`` built by ``parse_config``,
  N probes in this process, sequentially then C at a time; CPU is this
  process's ``getrusage`` (user + system, every thread: the resolver and
  ``to_thread`` hops are included).
* prometheus-blackbox-exporter (module ``http_2xx``; a new HTTP client without
  keep-alive per probe, so a fresh connection and a full TLS handshake like
  Vigie's): N ``/probe`` requests from an aiohttp client in this process; CPU
  is the exporter process's utime+stime from ``/proc/<pid>/stat``. The
  client's own CPU (asking for the probe, reading the metrics) is *not*
  counted: it is what Prometheus would spend, not the prober.
* curl: one curl process fetching N globbed URLs with ``Connection: close``
  and ``--no-sessionid`` (a new connection and a full handshake each); CPU from
  ``wait4``'s rusage, so start-up is amortised over the N fetches.
* asyncio floor: the least a Python asyncio client can do — ``open_connection``
  (with TLS for https), write a fixed request, read to EOF — in this process:
  the part of Vigie's cost that is Python's and the event loop's, not Vigie's.

Ratios are Vigie ÷ reference (above 1: Vigie spends more CPU per probe).
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
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402

from _targets import (  # noqa: E402
    Target,
    free_port,
    local_target,
    proc_cpu_seconds,
    proc_rss_mib,
    stop,
    table,
    wait_http,
    write_json,
)
from monitor.config import parse_config  # noqa: E402
from monitor.config.model import HttpCheck  # noqa: E402
from probes import http as http_probe  # noqa: E402
from probes.base import ProbeContext  # noqa: E402

WARMUP = 50
PROBE_DEADLINE = 600.0  # seconds: the most any one measured phase may take


def self_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


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
          - id: https
            type: http
            url: "{target.https_url}"
            timeout: 5s
            tls: {{ca_file: "{target.certs.ca_pem}"}}
"""
    config = parse_config(text, env={}).config
    return {check.id: check for _, _, check in config.iter_checks()}  # type: ignore[misc]


async def bounded(n: int, concurrency: int, one: Callable[[], Awaitable[bool]]) -> int:
    """Run ``one`` n times, ``concurrency`` at a time; the number of failures."""
    failures = 0
    semaphore = asyncio.Semaphore(concurrency)

    async def run() -> None:
        nonlocal failures
        async with semaphore:
            if not await one():
                failures += 1

    if concurrency == 1:
        for _ in range(n):
            await run()
    else:
        await asyncio.gather(*(run() for _ in range(n)))
    return failures


@contextmanager
def measured(target: Target, cpu: Callable[[], tuple[float, float]]) -> Iterator[dict[str, float]]:
    """CPU (user, system) of ``cpu()``, CPU of the target server, and wall time across the block."""
    out: dict[str, float] = {}
    server0, cpu0, wall0 = target.cpu_seconds(), cpu(), time.perf_counter()
    yield out
    out["wall"] = time.perf_counter() - wall0
    cpu1 = cpu()
    out["user"], out["sys"] = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    out["cpu"] = out["user"] + out["sys"]
    out["server_cpu"] = target.cpu_seconds() - server0


def row(name: str, scheme: str, concurrency: int, n: int, m: dict[str, float], failures: int, **extra: Any) -> dict[str, Any]:
    return {
        "client": name,
        "scheme": scheme,
        "concurrency": concurrency,
        "probes": n,
        "failures": failures,
        "cpu_ms_per_probe": 1000 * m["cpu"] / n,
        "user_ms_per_probe": 1000 * m["user"] / n,
        "sys_ms_per_probe": 1000 * m["sys"] / n,
        "wall_ms_per_probe": 1000 * m["wall"] / n,
        "probes_per_s": n / m["wall"],
        "server_cpu_ms_per_probe": 1000 * m["server_cpu"] / n,
        **extra,
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU per probe, carrying every run's figure."""
    ordered = sorted(runs, key=lambda r: r["cpu_ms_per_probe"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["cpu_ms_per_probe_runs"] = [round(r["cpu_ms_per_probe"], 4) for r in runs]
    chosen["failures"] = sum(r["failures"] for r in runs)
    return chosen


# -- Vigie -----------------------------------------------------------------------


def measure_vigie(target: Target, check: HttpCheck, n: int, concurrency: int, profile: Path | None = None) -> dict[str, Any]:
    ctx = ProbeContext()
    durations: list[float] = []

    async def one() -> bool:
        result = await http_probe.probe(check, ctx)
        durations.append(result.duration)
        return result.error is None and result.status == 200 and result.body == b"OK\n"

    async def main() -> dict[str, Any]:
        await bounded(WARMUP, min(concurrency, WARMUP), one)
        durations.clear()
        profiler = cProfile.Profile() if profile else None
        with measured(target, self_cpu) as m:
            if profiler:
                profiler.enable()
            failures = await asyncio.wait_for(bounded(n, concurrency, one), PROBE_DEADLINE)
            if profiler:
                profiler.disable()
        if profiler and profile:
            profiler.dump_stats(str(profile))
        durations.sort()
        return row(
            "vigie",
            urlscheme(check.url),
            concurrency,
            n,
            m,
            failures,
            median_probe_duration_ms=1000 * durations[len(durations) // 2],
            profiled=bool(profile),
        )

    return asyncio.run(main())


def urlscheme(url: str) -> str:
    return url.split(":", 1)[0]


def measure_components(target: Target, check: HttpCheck, n: int = 2000) -> dict[str, float]:
    """CPU µs per call of steps Vigie's probe takes that the asyncio floor does not."""
    from probes import _tls

    port = int(check.url.split("/")[2].rsplit(":", 1)[1])
    der = ssl.get_server_certificate(("127.0.0.1", int(target.https_url.split("/")[2].rsplit(":", 1)[1])))
    der_bytes = ssl.PEM_cert_to_DER_cert(der)
    out: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> None:
        fn()
        t0 = sum(self_cpu())
        for _ in range(n):
            fn()
        out[name] = 1e6 * (sum(self_cpu()) - t0) / n

    async def hops() -> None:
        loop = asyncio.get_running_loop()
        await loop.getaddrinfo("127.0.0.1", port)
        t0 = sum(self_cpu())
        for _ in range(n):
            await loop.getaddrinfo("127.0.0.1", port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        out["loop.getaddrinfo('127.0.0.1') on the executor (dns phase)"] = 1e6 * (sum(self_cpu()) - t0) / n
        t0 = sum(self_cpu())
        for _ in range(n):
            await asyncio.to_thread(_tls.make_context, check.tls, alpn=http_probe.HTTP_ALPN)
        out["asyncio.to_thread(make_context) of a cached context (every https probe)"] = 1e6 * (sum(self_cpu()) - t0) / n

    asyncio.run(hops())
    timed("_tls.cert_info(der) (cryptography parse of the leaf)", lambda: _tls.cert_info(der_bytes))
    info = _tls.cert_info(der_bytes)
    assert info is not None
    timed("_tls.hostname_matches(cert, '127.0.0.1')", lambda: _tls.hostname_matches(info, "127.0.0.1"))
    timed("h11 request bytes (_request_bytes)", lambda: http_probe._request_bytes(
        http_probe.h11.Connection(http_probe.h11.CLIENT), http_probe.urlsplit(check.url), "GET", {}, None))
    return out


WHAT_IF = (
    "as is",
    "no thread hop for a cached SSL context",
    "no executor hop to resolve an IP literal",
    "no certificate parse (cert_info)",
    "all three",
)


@contextmanager
def what_if(variant: str) -> Iterator[None]:
    """Temporarily short-cut one step of the probe, in this process only, to price it."""
    from probes import _net, _tls

    saved = asyncio.to_thread, _net.resolve, _tls.cert_info

    async def direct(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def numeric(tracker: Any, host: str, port: int) -> list[tuple[Any, ...]]:
        with tracker.phase("dns"):
            flags = socket.AI_NUMERICHOST
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=flags)

    try:
        if variant in (WHAT_IF[1], WHAT_IF[4]):
            asyncio.to_thread = direct  # type: ignore[assignment]
        if variant in (WHAT_IF[2], WHAT_IF[4]):
            _net.resolve = numeric  # type: ignore[assignment]
        if variant in (WHAT_IF[3], WHAT_IF[4]):
            _tls.cert_info = lambda der: None  # type: ignore[assignment]
        yield
    finally:
        asyncio.to_thread, _net.resolve, _tls.cert_info = saved  # type: ignore[assignment]


def measure_what_if(target: Target, checks: dict[str, HttpCheck], n: int, rounds: int) -> list[dict[str, Any]]:
    """CPU per sequential probe with each step short-cut, interleaved over ``rounds``."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for scheme in ("http", "https"):
            for variant in WHAT_IF:
                with what_if(variant):
                    runs.setdefault((scheme, variant), []).append(measure_vigie(target, checks[scheme], n, 1))
    out = []
    for (scheme, variant), results in runs.items():
        chosen = median_of(results)
        out.append({"scheme": scheme, "variant": variant, "cpu_ms_per_probe": chosen["cpu_ms_per_probe"],
                    "cpu_ms_per_probe_runs": chosen["cpu_ms_per_probe_runs"], "failures": chosen["failures"]})
    return out


# -- asyncio floor ---------------------------------------------------------------


def measure_floor(target: Target, url: str, n: int, concurrency: int) -> dict[str, Any]:
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
        await bounded(WARMUP, min(concurrency, WARMUP), one)
        with measured(target, self_cpu) as m:
            failures = await asyncio.wait_for(bounded(n, concurrency, one), PROBE_DEADLINE)
        return row("asyncio floor", "https" if https else "http", concurrency, n, m, failures)

    return asyncio.run(main())


# -- blackbox_exporter -----------------------------------------------------------

BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config:
        ca_file: {ca}
"""


@contextmanager
def blackbox_exporter(target: Target) -> Iterator[tuple[str, int]]:
    """The Debian prometheus-blackbox-exporter on 127.0.0.1:<free port>; (base URL, pid)."""
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        raise FileNotFoundError("prometheus-blackbox-exporter not installed (apt-get install -y prometheus-blackbox-exporter)")
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-bbe-"))
    config = workdir / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG.format(ca=target.certs.ca_pem))
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "stderr", "wb"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/metrics")
        yield base, proc.pid
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def blackbox_version() -> str:
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter") or ""
    if not binary:
        return "not installed"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def measure_blackbox(target: Target, base: str, pid: int, url: str, n: int, concurrency: int) -> dict[str, Any]:
    probe_url = f"{base}/probe"
    params = {"target": url, "module": "http_2xx"}
    durations: list[float] = []
    duration_re = re.compile(rb"^probe_duration_seconds (\S+)$", re.M)

    async def main() -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> bool:
                async with session.get(probe_url, params=params) as response:
                    body = await response.read()
                match = duration_re.search(body)
                if match:
                    durations.append(float(match.group(1)))
                return b"\nprobe_success 1\n" in body

            await bounded(WARMUP, min(concurrency, WARMUP), one)
            durations.clear()
            with measured(target, lambda: proc_cpu_seconds(pid)) as m:
                failures = await asyncio.wait_for(bounded(n, concurrency, one), PROBE_DEADLINE)
        durations.sort()
        return row(
            "blackbox_exporter",
            urlscheme(url),
            concurrency,
            n,
            m,
            failures,
            median_probe_duration_ms=1000 * durations[len(durations) // 2] if durations else None,
        )

    return asyncio.run(main())


# -- curl ------------------------------------------------------------------------


def measure_curl(target: Target, url: str, n: int, concurrency: int) -> dict[str, Any] | None:
    """One curl process, N globbed URLs; CPU from RUSAGE_CHILDREN once it is reaped."""
    curl = shutil.which("curl")
    if curl is None:
        return None
    args = [curl, "-sS", "--no-sessionid", "--no-keepalive", "-H", "Connection: close"]
    args += ["--cacert", str(target.certs.ca_pem), "-w", "%{http_code}\n", "-o", "/dev/null"]
    if concurrency > 1:
        args += ["--parallel", "--parallel-max", str(concurrency)]
    args.append(f"{url}?n=[1-{n}]")  # a distinct URL per fetch, all in one process
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server0, wall0 = target.cpu_seconds(), time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=PROBE_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    m = {"wall": time.perf_counter() - wall0, "server_cpu": target.cpu_seconds() - server0}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    m["user"], m["sys"] = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    m["cpu"] = m["user"] + m["sys"]
    ok = sum(1 for line in out.split() if line == b"200")
    return row("curl", urlscheme(url), concurrency, n, m, n - ok)


# -- report ----------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def report(rows: list[dict[str, Any]], n: int, concurrency: int) -> tuple[str, list[dict[str, Any]]]:
    by = {(r["client"], r["scheme"], r["concurrency"]): r for r in rows}
    ratio_rows: list[dict[str, Any]] = []
    lines = []
    for conc in (1, concurrency):
        body = []
        for scheme in ("http", "https"):
            vigie = by.get(("vigie", scheme, conc))
            if vigie is None:
                continue
            refs = {ref: by.get((ref, scheme, conc)) for ref in ("blackbox_exporter", "curl", "asyncio floor")}
            ratios = {ref: (vigie["cpu_ms_per_probe"] / r["cpu_ms_per_probe"] if r and r["cpu_ms_per_probe"] > 0 else None) for ref, r in refs.items()}
            ratio_rows.append({"scheme": scheme, "concurrency": conc, **{f"vigie_over_{k.replace(' ', '_')}": v for k, v in ratios.items()}})
            body.append(
                [
                    scheme,
                    fmt(vigie["cpu_ms_per_probe"]),
                    fmt(refs["blackbox_exporter"]["cpu_ms_per_probe"]) if refs["blackbox_exporter"] else "—",
                    fmt(ratios["blackbox_exporter"], 2),
                    fmt(refs["curl"]["cpu_ms_per_probe"]) if refs["curl"] else "—",
                    fmt(ratios["curl"], 2),
                    fmt(refs["asyncio floor"]["cpu_ms_per_probe"]) if refs["asyncio floor"] else "—",
                    fmt(ratios["asyncio floor"], 2),
                ]
            )
        mode = "sequential" if conc == 1 else f"{conc} at a time"
        lines.append(f"CPU ms per probe, {n} probes, {mode} (ratio = Vigie ÷ reference)")
        lines.append(
            table(
                ["scheme", "Vigie", "blackbox", "ratio", "curl", "ratio", "asyncio floor", "ratio"],
                body,
            )
        )
        lines.append("")
    detail = [
        [
            r["client"],
            r["scheme"],
            str(r["concurrency"]),
            fmt(r["cpu_ms_per_probe"]),
            fmt(r["user_ms_per_probe"]),
            fmt(r["sys_ms_per_probe"]),
            fmt(r["wall_ms_per_probe"]),
            f"{r['probes_per_s']:.0f}",
            fmt(r.get("median_probe_duration_ms")),
            fmt(r["server_cpu_ms_per_probe"]),
            str(r["failures"]),
        ]
        for r in rows
    ]
    lines.append("Detail (wall ms per probe = elapsed ÷ N; duration = the probe's own measured time, median)")
    lines.append(
        table(
            ["client", "scheme", "conc", "cpu ms", "user", "sys", "wall ms", "probes/s", "duration ms", "server cpu ms", "fail"],
            detail,
        )
    )
    return "\n".join(lines), ratio_rows


def top_of_profile(path: Path, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    text = out.getvalue()
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(limit)
    return text + out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 probes per variant (smoke run, < 20 s)")
    parser.add_argument("--probes", type=int, default=2000, help="probes per variant (default 2000)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent variant (default 50)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds; each variant's median round is kept (default 3; 1 with --quick)")
    parser.add_argument("--aiohttp-target", action="store_true", help="use the aiohttp target even if nginx is there")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile Vigie's sequential https run, print the top")
    args = parser.parse_args()
    n = 200 if args.quick else args.probes
    args.repeat = args.repeat or (1 if args.quick else 3)
    if not 1 <= n <= 100_000 or not 1 <= args.concurrency <= 1000 or not 1 <= args.repeat <= 20:
        parser.error("--probes must be 1..100000, --concurrency 1..1000, --repeat 1..20")
    started = time.time()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    profile_path = Path(tempfile.gettempdir()) / "vigie-probe-cpu.prof" if args.profile else None
    with local_target(workers=args.nginx_workers, force_aiohttp=args.aiohttp_target) as target:
        notes += target.notes
        checks = build_checks(target)
        print(f"target: {target.kind}  {target.http_url}  {target.https_url}", flush=True)
        reps = args.repeat
        runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        with contextlib.ExitStack() as stack:
            try:
                base, pid = stack.enter_context(blackbox_exporter(target))
            except FileNotFoundError as exc:
                notes.append(str(exc))
                base, pid = "", 0
            # Rounds interleave every client, so a change in the machine's load
            # during the run touches Vigie and the references alike.
            for rep in range(reps):
                for scheme in ("http", "https"):
                    url = checks[scheme].url
                    for conc in (1, args.concurrency):
                        print(f"  round {rep + 1}/{reps}: {scheme} x{conc} …", flush=True)
                        measures: dict[str, Callable[[], dict[str, Any] | None]] = {
                            "vigie": lambda: measure_vigie(target, checks[scheme], n, conc),
                            "asyncio floor": lambda: measure_floor(target, url, n, conc),
                            "curl": lambda: measure_curl(target, url, n, conc),
                        }
                        if pid:
                            measures["blackbox_exporter"] = lambda: measure_blackbox(target, base, pid, url, n, conc)
                        for client, measure in measures.items():
                            result = measure()
                            if result is not None:
                                runs.setdefault((client, scheme, conc), []).append(result)
            if pid:
                notes.append(f"blackbox_exporter RSS after the run: {proc_rss_mib(pid):.0f} MiB")
        rows = [median_of(r) for r in runs.values()]
        if profile_path:
            print("  components of Vigie's probe …", flush=True)
            components = measure_components(target, checks["https"])
            print("  what-if variants …", flush=True)
            what_ifs = measure_what_if(target, checks, n, args.repeat)
            print("  vigie https x1 under cProfile …", flush=True)
            profiled = measure_vigie(target, checks["https"], n, 1, profile=profile_path)
            notes.append(f"under cProfile the https probe costs {profiled['cpu_ms_per_probe']:.3f} ms CPU (profiler overhead included)")
    text, ratios = report(rows, n, args.concurrency)
    print()
    print(text)
    if notes:
        print("\nnotes:\n- " + "\n- ".join(notes))
    if profile_path:
        print("\nCPU of single steps of Vigie's probe, each repeated in isolation (µs per call):")
        print(table(["step", "µs"], [[k, f"{v:.0f}"] for k, v in components.items()]))
        print("\nWhat if (sequential CPU ms per probe with one step short-cut, in this process only):")
        print(table(["scheme", "variant", "cpu ms", "runs"], [[w["scheme"], w["variant"], fmt(w["cpu_ms_per_probe"]), " ".join(f"{x:.3f}" for x in w["cpu_ms_per_probe_runs"])] for w in what_ifs]))
        print("\ncProfile of Vigie's sequential https probes (event-loop thread only):\n")
        print(top_of_profile(profile_path))
    failures = sum(r["failures"] for r in rows)
    path = write_json(
        "probe_cpu",
        {
            "benchmark": "probe_cpu",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "target": target.kind,
            "blackbox_exporter": blackbox_version(),
            "probes_per_variant": n,
            "runs_per_variant": args.repeat,
            "concurrency": args.concurrency,
            "elapsed_s": round(time.time() - started, 1),
            "ratios": ratios,
            "components_us": components if profile_path else None,
            "what_if": what_ifs if profile_path else None,
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
