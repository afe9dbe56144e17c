"""Running a real ``vigie run`` for a benchmark: config, process, scrapes, CPU and RSS of all its processes."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from _targets import ROOT, children_pids, free_port, proc_cpu_seconds, proc_rss_mib, stop, wait_http

VIGIE = [sys.executable, "-m", "monitor"]


def fleet_yaml(fleet_url: str, operators: int, services: int, checks: int, interval: str, *,
               extra: str = "", hook: str | None = None, thresholds: tuple[int, int] = (2, 1)) -> str:
    """``operators × services × checks`` http checks on the simulated fleet (service n at /svc/n/…)."""
    lines = [
        "site: {title: \"Vigie — banc d'essai\", base_url: \"http://127.0.0.1\"}",
        f"defaults: {{interval: {interval}, timeout: 5s, failure_threshold: {thresholds[0]}, "
        f"success_threshold: {thresholds[1]}}}",
        "scheduler: {max_concurrency: 256}",
        "operators:",
    ]
    n = 0
    for o in range(operators):
        lines += [f"  - id: op{o}", f"    name: Opérateur {o}", "    services:"]
        for s in range(services):
            profession = ("opticien", "pharmacien", "audioprothesiste")[n % 3]
            lines += [f"      - id: s{s}", f"        name: {{fr: \"Service {s}\", en: \"Service {s}\"}}",
                      f"        professions: [{profession}]", "        checks:"]
            for c in range(checks):
                lines.append(f"          - {{id: c{c}, type: http, url: \"{fleet_url}/svc/{n}/c{c}\", "
                             "conditions: [\"status == 200\"]}")
            n += 1
    text = "\n".join(lines) + "\n" + extra
    if hook:
        text += ("alerts:\n  channels:\n    - {id: bench-hook, type: webhook, url: \"" + hook
                 + "\", secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}\n")
    return text


class Vigie:
    """A ``vigie run`` process: its URL, and its CPU and memory with its children (the local prober)."""

    def __init__(self, workdir: Path, config: str, *, nofile: int | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "config.yaml").write_text(config, encoding="utf-8")
        self.db = workdir / "vigie.db"
        self.nofile = nofile
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "vigie.log"

    def start(self, timeout: float = 120.0) -> None:
        command = [*VIGIE, "run", "-c", str(self.workdir / "config.yaml"), "--db", str(self.db),
                   "--listen", f"127.0.0.1:{self.port}"]
        if self.nofile is not None:
            command = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--", *command]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("VIGIE_ADMIN_TOKEN", None)
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "wb"))
        wait_http(self.url + "/healthz", timeout=timeout)

    def pids(self) -> list[int]:
        assert self.proc is not None
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children_pids(pid)
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += sum(proc_cpu_seconds(pid))
        return total

    def rss_mib(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += proc_rss_mib(pid)
        return total

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=30) as response:
            return response.read().decode()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, grace=30.0)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running(workdir: Path, config: str, **options: object) -> Iterator[Vigie]:
    vigie = Vigie(workdir, config, **options)  # type: ignore[arg-type]
    try:
        vigie.start()
        yield vigie
    finally:
        vigie.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a scrape (labels must all match), or None."""
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else "")) and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] == name:
                return float(value)
    return None


def histogram(text: str, name: str, **labels: str) -> dict[float, float]:
    """``le`` -> cumulative count of one histogram series."""
    found: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            le = re.search(r'le="([^"]+)"', line)
            if le:
                found[float(le.group(1))] = float(line.rpartition(" ")[2])
    return found


def waited(condition: object, timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False
