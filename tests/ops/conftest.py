"""A real `vigie demo` in its own process, shared by the ops tests, and the Prometheus tools.

The demo runs with a one-minute scenario so that the scripted outage (Almerys' optical PEC down
from 6 s to 27 s into each cycle) happens while the tests run; its logs are JSON lines.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CYCLE = 60.0  # seconds: the demo scenario's loop
T = TypeVar("T")


def tool(name: str, package: str = "prometheus") -> str:
    """The path of a system tool, or skip — except under CI (``CI=true``), which must install it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must install it")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(what: str, attempt: Callable[[], T | None], timeout: float, process: subprocess.Popen | None = None) -> T:
    """Call ``attempt`` until it returns something other than None, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}")
        try:
            value = attempt()
        except OSError:
            value = None
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still not true after {timeout:g} s")
        time.sleep(0.1)  # polling step, not synchronisation


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Demo:
    url: str
    process: subprocess.Popen
    started: float  # time.time() when the process started
    stderr: Path

    def scrape(self) -> str:
        status, body = http_get(f"{self.url}/metrics")
        assert status == 200
        return body.decode()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {**os.environ, "TMPDIR": str(workdir), "VIGIE_LOG_FORMAT": "json"}
    stderr = workdir / "stderr.log"
    with open(workdir / "stdout.log", "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--log-format", "json", "demo", "--listen", f"127.0.0.1:{port}",
             "--db", str(workdir / "vigie.db"), "--cycle", f"{CYCLE:g}s"],
            cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        )
    started = time.time()
    demo = Demo(f"http://127.0.0.1:{port}", process, started, stderr)
    try:
        wait_for("the demo's /healthz answers 200", lambda: http_get(f"{demo.url}/healthz")[0] == 200 or None, 30, process)
        yield demo
    finally:
        stop(process)


@pytest.fixture(scope="session")
def probed_scrape(demo: Demo) -> str:
    """A scrape taken once every check of the fleet has been probed at least once."""

    def every_check_probed() -> str | None:
        text = demo.scrape()
        configured = sample_value(text, "vigie_checks_configured")
        # one series per check and location: a check counts once it has one, whichever place measured it
        probed = {re.sub(r',?location="[^"]*"', "", line.split(" ")[0])
                  for line in text.splitlines() if line.startswith("vigie_probe_success{")}
        return text if configured and len(probed) == configured else None

    return wait_for("every demo check probed", every_check_probed, 30, demo.process)


def sample_value(text: str, name: str) -> float | None:
    """The value of an unlabelled sample in a text exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None
