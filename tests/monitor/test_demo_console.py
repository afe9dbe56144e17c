"""What `vigie demo` prints on a terminal: French narration in Paris time, no chatter, nothing left behind.

One real demo (one-minute scenario) runs until it has told the scripted outage and an email alert
has gone through its SMTP sink, then gets Ctrl-C as a terminal sends it, to the whole process group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
NARRATED = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] ", re.M)
OUTAGE_TOLD = re.compile(r"^\[[\d:]{8}\] Almerys — Demande de prise en charge optique : panne", re.M)


def told_and_mailed(out: str) -> bool:
    """The scripted outage narrated, and an email alert through the SMTP sink (aiosmtpd has spoken)."""
    return bool(OUTAGE_TOLD.search(out)) and "✉ courriel reçu" in out


@dataclass
class Console:
    out: str
    err: str
    tmpdir: Path
    started: datetime
    ended: datetime
    code: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Console:
    tmpdir = tmp_path_factory.mktemp("demo-console")
    out_path, err_path = tmpdir / "stdout.txt", tmpdir / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("VIGIE_LOG_FORMAT", "TZ")}
    env["TMPDIR"] = str(tmpdir)
    started = datetime.now(PARIS)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "demo", "--listen", f"127.0.0.1:{free_port()}", "--cycle", "1m"],
            cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not told_and_mailed(out_path.read_text(encoding="utf-8")):
            if process.poll() is not None:
                pytest.fail(f"the demo exited with {process.returncode}: {err_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail("the scripted outage was not told, or no email reached the SMTP sink, in 120 s")
            time.sleep(0.2)  # polling step, not synchronisation
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Console(out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8"), tmpdir,
                   started, datetime.now(PARIS), code)


def test_it_prints_no_smtp_chatter(console: Console) -> None:
    assert "mail.log" not in console.err


def test_it_tells_each_change_once_in_french(console: Console) -> None:
    assert "vigie.engine" not in console.err and "vigie.reports" not in console.err
    assert len(OUTAGE_TOLD.findall(console.out)) == 1  # once, by the narrator (the email's subject, printed by the sink, says it too)
    assert " -> " not in console.out + console.err  # the engine's English 'up -> down'


def test_it_says_once_that_its_times_are_paris_time(console: Console) -> None:
    assert console.out.count("Europe/Paris") == 1
    assert "Heures : heure de Paris (Europe/Paris)" in console.out


def test_it_narrates_in_paris_time(console: Console) -> None:
    times = NARRATED.findall(console.out)
    assert times
    for hours, minutes, seconds in times:
        said = console.started.replace(hour=int(hours), minute=int(minutes), second=int(seconds), microsecond=0)
        if said < console.started - timedelta(seconds=1):
            said += timedelta(days=1)  # the run crossed midnight
        assert console.started - timedelta(seconds=1) <= said <= console.ended


def test_it_logs_with_the_paris_offset(console: Console) -> None:
    logged = [line for line in console.err.splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", line)]
    assert logged
    for line in logged:
        at = datetime.fromisoformat(line[:29])
        assert at.utcoffset() == at.astimezone(PARIS).utcoffset(), line


def test_it_stops_cleanly_on_ctrl_c(console: Console) -> None:
    assert console.code == 0
    assert "Traceback" not in console.err


def test_it_removes_its_temporary_directory_on_ctrl_c(console: Console) -> None:
    used = re.search(r"Configuration utilisée : (\S+)/config\.yaml", console.out)
    assert used and Path(used[1]).parent == console.tmpdir
    assert not Path(used[1]).exists()
    assert not list(console.tmpdir.glob("vigie-demo-*"))
