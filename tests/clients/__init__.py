"""Third-party clients that the tests run against the real app (issue 12): none of them written here.

`.ci/run` installs them: ``npm ci`` in this directory (``statuspage.io`` and
``mailparser``, pinned by ``package-lock.json``) and a venv of its own in
``venv/`` for ``statuspage-prometheus-exporter`` (``exporter-requirements.txt``:
it brings its own apscheduler and prometheus-client pins, kept apart from
Vigie's). A test needing one that is absent is skipped on a developer's
machine and fails in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXPORTER = HERE / "venv" / "bin" / "statuspage-prometheus-exporter"


def _missing(what: str) -> None:
    message = f"{what} is not installed: run .ci/run (or see tests/clients/__init__.py)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def node_script(name: str) -> list[str]:
    """The command that runs ``tests/clients/{name}`` with Node, its packages installed."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        _missing("Node.js")
    if not (HERE / "node_modules" / "statuspage.io").is_dir() or not (HERE / "node_modules" / "mailparser").is_dir():
        _missing("the npm clients (npm ci in tests/clients)")
    return [str(node), str(HERE / name)]


def exporter() -> Path:
    """statuspage-prometheus-exporter's console script, in its own venv."""
    if not EXPORTER.is_file():
        _missing("statuspage-prometheus-exporter (tests/clients/venv)")
    return EXPORTER


async def run(command: list[str], stdin: bytes = b"", env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 60.0) -> bytes:
    """Run a client without blocking the loop (the app under test answers it on this loop); its stdout."""
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{command[0]} did not finish within {timeout}s") from None
    assert process.returncode == 0, f"{' '.join(command)} failed ({process.returncode}): {err.decode()[-2000:]}"
    return out
