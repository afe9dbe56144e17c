"""Local targets for the benchmarks: nginx (or an aiohttp server in its own process), with TLS.

Everything listens on 127.0.0.1 on ports picked by the OS, lives in a temporary
directory, and is stopped by the context manager even when the benchmark fails.
Only processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HEALTH_BODY = b"OK\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port that was free a moment ago (loopback only; the race is harmless here)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of one process, all its threads, from /proc/<pid>/stat (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields 14 and 15 of the line (1-based) are index 11 and 12 after the ")" of the command
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (nginx's workers)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def wait_http(url: str, timeout: float = 10.0, context: object | None = None) -> None:
    """Poll ``url`` until it answers (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as response:  # type: ignore[arg-type]
                response.read()
                return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s: {last}")


@dataclass
class Certs:
    ca_pem: Path
    cert_chain_pem: Path
    key_pem: Path


def make_certs(directory: Path) -> Certs:
    """A trustme CA and a server certificate for 127.0.0.1 and localhost."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    certs = Certs(directory / "ca.pem", directory / "server-chain.pem", directory / "server-key.pem")
    ca.cert_pem.write_to_path(str(certs.ca_pem))
    server.private_key_pem.write_to_path(str(certs.key_pem))
    with certs.cert_chain_pem.open("wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    return certs


@dataclass
class Target:
    """A running local HTTP(S) server serving ``/health`` -> ``OK``."""

    kind: str  # "nginx" or "aiohttp (fallback: nginx not installed)"
    http_url: str
    https_url: str
    certs: Certs
    pid: int
    workdir: Path
    notes: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """CPU of the server: master plus workers (nginx) or the one process (aiohttp)."""
        total = 0.0
        for pid in [self.pid, *children_pids(self.pid)]:
            with contextlib.suppress(OSError):
                total += sum(proc_cpu_seconds(pid))
        return total


NGINX_CONF = """\
{user}
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_timeout 0;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{http_port} backlog=4096;
        listen 127.0.0.1:{https_port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        root {prefix}/www;
    }}
}}
"""


def _start_nginx(workdir: Path, certs: Certs, workers: int) -> Target:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (workdir / "www").mkdir()
    (workdir / "tmp").mkdir()
    (workdir / "www" / "health").write_bytes(HEALTH_BODY)
    http_port, https_port = free_port(), free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "",
            workers=workers,
            prefix=workdir,
            http_port=http_port,
            https_port=https_port,
            cert=certs.cert_chain_pem,
            key=certs.key_pem,
        )
    )
    proc = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "nginx.stderr", "wb"),
    )
    target = Target(
        "nginx",
        f"http://127.0.0.1:{http_port}/health",
        f"https://127.0.0.1:{https_port}/health",
        certs,
        proc.pid,
        workdir,
        [f"nginx {workers} worker(s), keepalive off, TLS session cache and tickets off"],
    )
    target._proc = proc  # type: ignore[attr-defined]
    return target


def _start_aiohttp(workdir: Path, certs: Certs) -> Target:
    http_port, https_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BENCH_DIR / "_aiohttp_target.py"),
            str(http_port),
            str(https_port),
            str(certs.cert_chain_pem),
            str(certs.key_pem),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "aiohttp.stderr", "wb"),
    )
    target = Target(
        "aiohttp (fallback: nginx not installed)",
        f"http://127.0.0.1:{http_port}/health",
        f"https://127.0.0.1:{https_port}/health",
        certs,
        proc.pid,
        workdir,
        ["aiohttp server in a separate process (nginx not found)"],
    )
    target._proc = proc  # type: ignore[attr-defined]
    return target


@contextlib.contextmanager
def local_target(workers: int = 1, force_aiohttp: bool = False) -> Iterator[Target]:
    """nginx on 127.0.0.1 (http and https), or the aiohttp fallback; stopped on exit."""
    import ssl

    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    os.chmod(workdir, 0o755)
    certs = make_certs(workdir)
    use_nginx = not force_aiohttp and (shutil.which("nginx") or Path("/usr/sbin/nginx").exists())
    target = _start_nginx(workdir, certs, workers) if use_nginx else _start_aiohttp(workdir, certs)
    proc: subprocess.Popen[bytes] = target._proc  # type: ignore[attr-defined]
    try:
        wait_http(target.http_url)
        wait_http(target.https_url, context=ssl.create_default_context(cafile=str(certs.ca_pem)))
        yield target
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process we started (by its pid), SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def write_json(name: str, data: object) -> Path:
    import json

    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table, columns right-aligned but the first."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    out = []
    for i, row in enumerate([headers, *rows]):
        cells = [str(c).ljust(w) if j == 0 else str(c).rjust(w) for j, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
