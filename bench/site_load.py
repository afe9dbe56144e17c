"""Requests/second of the public site: Vigie's render-once cache beside nginx serving the export.

    python bench/site_load.py [--quick] [--duration 15] [--threads 2] [--connections 50]

In one run, on one machine, all on 127.0.0.1:

1. ``vigie demo`` (the whole service: scheduler, probes of the simulated fleet,
   storage, alerts, the site) in its own process, on a temporary database;
2. ``vigie export`` of that database into a temporary directory, served by
   nginx (one worker by default, sendfile and keep-alive on, gzip off, a temporary config);
3. ``wrk --latency`` against both, after a warm-up: ``/`` (the French
   overview, i.e. the exported ``index.html``) and ``/api/v2/summary.json``,
   each once as a first visit (200) and once revalidated with the ETag the
   server gave (``If-None-Match`` -> 304).

Reported per run: requests/s, p50 and p99 latency, non-2xx/3xx answers,
socket errors, server CPU seconds, bytes read per answer (about the headers
alone when every answer is a 304: Vigie's pages change as the demo runs and
their ages are re-rendered every 30 s, after which the old ETag rightly gets a
200 — the ``304s`` column says how many answers were still 304s); and the ratio
Vigie / nginx. wrk and the
servers share the machine's cores (``os.cpu_count()``, 2 here), so every
figure is a lower bound of what the server alone could do, and the ratio is
the honest part. Results: a table on stdout and ``bench/results/site_load.json``.
Every process started here is stopped by its pid, even when the run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import ROOT, children_pids, free_port, proc_cpu_seconds, stop, table, wait_http, write_json  # noqa: E402

MAX_DURATION = 60  # seconds per wrk run: the whole benchmark stays bounded
PATHS = ("/", "/api/v2/summary.json")
NGINX_CONF = """\
{user}
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    types {{ application/atom+xml atom; }}
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        index index.html;
    }}
}}
"""


@dataclass
class Run:
    server: str  # vigie | nginx
    path: str
    revalidate: bool  # If-None-Match with the server's ETag (304 path)
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int
    server_cpu_s: float
    body_bytes: int  # of the 200 answer
    bytes_per_response: float  # what wrk read per answer: ~headers only when every answer is a 304
    round: int = 0

    @property
    def share_304(self) -> float:
        """Roughly which share of the answers were 304s (the ETag changes when the page does)."""
        if not self.revalidate or not self.body_bytes:
            return 0.0
        return max(0.0, min(1.0, (self.body_bytes - self.bytes_per_response) / self.body_bytes + 0.03))


def parse_latency(text: str) -> float:
    """wrk's '1.23ms' / '850.00us' / '1.02s' -> milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """The figures of one ``wrk --latency`` report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in [^,]+, ([\d.]+)([KMGT]?B) read", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rps and total and p50 and p99):
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)),
        "bytes_per_response": round(float(total.group(2)) * 1024 ** "BKMGT".index(total.group(3)[0])
                                    / max(1, int(total.group(1))), 1),
        "p50_ms": parse_latency(p50.group(1)),
        "p99_ms": parse_latency(p99.group(1)),
        "non_2xx_3xx": int(non_ok.group(1)) if non_ok else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def cpu_of(pid: int) -> float:
    total = 0.0
    for each in [pid, *children_pids(pid)]:
        with contextlib.suppress(OSError):
            total += sum(proc_cpu_seconds(each))
    return total


def fetch(url: str, etag: str | None = None) -> tuple[int, str, bytes]:
    """(status, ETag, body) of one GET, without compression (as wrk asks)."""
    headers = {"Accept-Encoding": "identity"} | ({"If-None-Match": etag} if etag else {})
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("ETag", ""), response.read()
    except urllib.error.HTTPError as exc:  # 304 arrives as an HTTPError
        return exc.code, exc.headers.get("ETag", ""), b""


def wrk(url: str, args: argparse.Namespace, duration: int, headers: dict[str, str]) -> str:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=duration + 30, check=True)
    return done.stdout


def measure(server: str, pid: int, base: str, path: str, revalidate: bool, args: argparse.Namespace,
            round_no: int) -> Run:
    status, etag, body = fetch(base + path)
    if status != 200 or not etag:
        raise RuntimeError(f"{server} {path}: status {status}, ETag {etag!r}")
    headers = {"Accept-Encoding": "identity"}
    if revalidate:
        headers["If-None-Match"] = etag
        check, _, _ = fetch(base + path, etag)
        if check != 304:
            raise RuntimeError(f"{server} {path}: If-None-Match answered {check}, not 304")
    before = cpu_of(pid)
    figures = parse_wrk(wrk(base + path, args, args.duration, headers))
    return Run(server, path, revalidate, server_cpu_s=round(cpu_of(pid) - before, 2), body_bytes=len(body),
               round=round_no, **figures)  # type: ignore[arg-type]


def median_run(runs: list[Run]) -> Run:
    """The round with the median requests/s (the lower middle one for an even count)."""
    return sorted(runs, key=lambda r: r.requests_per_s)[(len(runs) - 1) // 2]


@contextlib.contextmanager
def running(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        try:
            yield proc
        finally:
            stop(proc)


def demo_config(log: Path, timeout: float = 20.0) -> Path:
    """The config file `vigie demo` wrote (it says where on its first lines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"Configuration utilisée : (\S+)", log.read_text(errors="replace"))
        if found:
            return Path(found.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"vigie demo did not start:\n{log.read_text(errors='replace')}")


def versions() -> dict[str, str]:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"python": platform.python_version(), "nginx": nginx, "wrk": wrk_v}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help=f"seconds per wrk run (max {MAX_DURATION})")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk per target before measuring")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds the demo probes before the export")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (max 5); the median round is kept")
    parser.add_argument("--quick", action="store_true", help="5 s runs, 1 s warm-up (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.settle = 5, 1, 4.0
    args.duration = max(1, min(args.duration, MAX_DURATION))
    args.warmup = max(0, min(args.warmup, MAX_DURATION))
    args.rounds = max(1, min(args.rounds, 5))
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"site_load: {tool} is not installed (apt-get install -y wrk nginx-light)", file=sys.stderr)
            return 1

    workdir = Path(tempfile.mkdtemp(prefix="vigie-site-load-"))
    os.chmod(workdir, 0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    vigie_port, nginx_port = free_port(), free_port()
    runs: list[Run] = []
    load_before = os.getloadavg()
    try:
        db = workdir / "demo.db"
        demo_cmd = [sys.executable, "-m", "monitor", "demo", "--listen", f"127.0.0.1:{vigie_port}", "--db", str(db)]
        with running(demo_cmd, workdir / "demo.log", env) as demo:
            config = demo_config(workdir / "demo.log")
            vigie = f"http://127.0.0.1:{vigie_port}"
            wait_http(vigie + "/healthz", timeout=30)
            time.sleep(args.settle)  # let the fleet be probed: the page has statuses, bars and charts

            site = workdir / "site"
            started = time.monotonic()
            export = subprocess.run([sys.executable, "-m", "monitor", "export", "-c", str(config), "--db", str(db),
                                     str(site)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
            export_s = time.monotonic() - started
            if export.returncode != 0:
                raise RuntimeError(f"vigie export failed:\n{export.stderr}")
            (workdir / "tmp").mkdir()
            conf = workdir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "",
                                              workers=args.nginx_workers, prefix=workdir, port=nginx_port, root=site))
            nginx_cmd = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(workdir), "-c", str(conf)]
            with running(nginx_cmd, workdir / "nginx.log") as nginx:
                base_nginx = f"http://127.0.0.1:{nginx_port}"
                wait_http(base_nginx + "/")
                targets = (("vigie", demo.pid, vigie), ("nginx", nginx.pid, base_nginx))
                for _, _, base in targets:  # warm-up: caches filled, connections and JIT-less paths hot
                    if args.warmup:
                        wrk(base + "/", args, args.warmup, {"Accept-Encoding": "identity"})
                for round_no in range(args.rounds):  # interleaved: a change of machine load hits both
                    for path in PATHS:
                        for revalidate in (False, True):
                            for name, pid, base in targets:
                                runs.append(measure(name, pid, base, path, revalidate, args, round_no))
                                print(f"  {round_no} {name:5} {path:24} {'304' if revalidate else '200'}: "
                                      f"{runs[-1].requests_per_s:,.0f} req/s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    every = runs
    runs = [median_run([r for r in every if (r.server, r.path, r.revalidate) == key])
            for key in dict.fromkeys((r.server, r.path, r.revalidate) for r in every)]
    by_key = {(r.server, r.path, r.revalidate): r for r in runs}
    ratios = {
        f"{path} {'304' if reval else '200'}": round(
            by_key[("vigie", path, reval)].requests_per_s / by_key[("nginx", path, reval)].requests_per_s, 3)
        for path in PATHS for reval in (False, True)
    }
    rows = [[r.server, r.path, "304" if r.revalidate else "200", f"{r.requests_per_s:,.0f}", f"{r.p50_ms:.2f}",
             f"{r.p99_ms:.2f}", str(r.non_2xx_3xx + r.socket_errors), f"{r.server_cpu_s:.1f}", f"{r.body_bytes:,}",
             f"{r.bytes_per_response:,.0f}", f"{r.share_304:.0%}" if r.revalidate else "-"] for r in runs]
    print(table(["server", "path", "answer", "req/s", "p50 ms", "p99 ms", "errors", "cpu s", "body B", "read B/answer",
                 "304s"],
                rows))
    print("Vigie / nginx (req/s): " + ", ".join(f"{k}: {v:.2f}" for k, v in ratios.items()))
    command = "python bench/site_load.py " + " ".join(sys.argv[1:])
    path = write_json("site_load", {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command.strip(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "settings": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration,
                     "warmup_s": args.warmup, "nginx_workers": args.nginx_workers, "rounds": args.rounds},
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "export_s": round(export_s, 2),
        "export_summary": export.stdout.strip(),
        "runs": [asdict(r) | {"share_304": round(r.share_304, 3)} for r in runs],  # the median round of each
        "every_round": [asdict(r) | {"share_304": round(r.share_304, 3)} for r in every],
        "ratio_vigie_over_nginx": ratios,
        "note": "wrk, the servers and the demo's probes share the same cores; Vigie is one Python process "
                "that also runs its scheduler and the simulated fleet's probes during the measurement",
    })
    print(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
