"""The command line as people type it: options after the command, help, summaries, config mistakes, Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.cli import main

ONE_OF_EACH = """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {fr: "PEC optique", en: "Optical pre-authorisation"}
        checks:
          - {id: portail, type: http, url: "https://opticien.example/"}
alerts:
  smtp: {host: 127.0.0.1, from: "vigie@example.org"}
  channels:
    - {id: fnof, type: email, to: ["alertes@fnof.example"]}
"""


class Hole:
    """A TCP server that accepts every connection and never answers: probes against it stay in flight."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def hole() -> AsyncIterator[Hole]:
    hole = Hole()
    hole.server = await asyncio.start_server(hole._hold, "127.0.0.1", 0)
    yield hole
    for writer in hole.writers:
        writer.transport.abort()
    hole.server.close()
    await hole.server.wait_closed()


def stuck_config(tmp_path: Path, port: int) -> Path:
    """Every kind of network probe against the hole, with a deadline far beyond the test."""
    path = tmp_path / "config.yaml"
    path.write_text(f"""
site: {{base_url: "http://127.0.0.1:8080"}}
defaults: {{interval: 1s, timeout: 60s}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {{fr: "PEC optique", en: "Optical pre-authorisation"}}
        checks:
          - {{id: page, type: http, url: "http://127.0.0.1:{port}/"}}
          - {{id: page-tls, type: http, url: "https://127.0.0.1:{port}/"}}
          - {{id: certificat, type: tls, host: 127.0.0.1, port: {port}}}
          - {{id: port, type: tcp, host: 127.0.0.1, port: {port}, expect: "220"}}
""")
    return path


async def until(condition, what: str, process: asyncio.subprocess.Process, timeout: float = 30) -> None:
    """Poll ``condition`` (a real event seen from outside), failing if the process dies first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if process.returncode is not None:
            pytest.fail(f"{what}: vigie exited with {process.returncode}")
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: still not true after {timeout:g} s")
        await asyncio.sleep(0.1)  # polling step, not synchronisation


async def run_until_sigint(tmp_path: Path, hole: Hole, *options: str) -> tuple[int, str]:
    """`vigie run` with probes stuck in flight, then Ctrl-C as a terminal sends it (to the whole group)."""
    config = stuck_config(tmp_path, hole.port)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "-c", str(config), "--db", str(tmp_path / "vigie.db"),
        "--listen", "127.0.0.1:0", *options,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stderr is not None
    err = bytearray()

    async def collect() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            err.extend(chunk)

    reading = asyncio.create_task(collect())
    try:
        # the four checks' connections are open and unanswered: their probes are in flight
        await until(lambda: hole.accepted >= 4, "four probes in flight", process)
        os.killpg(process.pid, signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
        await reading
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, err.decode()


async def test_it_stops_cleanly_on_ctrl_c_with_probes_in_flight(tmp_path: Path, hole: Hole) -> None:
    code, err = await run_until_sigint(tmp_path, hole)
    assert code == 0
    assert "Traceback" not in err and "CancelledError" not in err
    assert " ERROR " not in err, err


async def test_it_takes_the_log_format_after_the_command(tmp_path: Path, hole: Hole) -> None:
    code, err = await run_until_sigint(tmp_path, hole, "--log-format", "json")
    lines = [line for line in err.splitlines() if line.startswith("{")]
    assert code == 0 and lines
    assert any(json.loads(line)["message"].startswith("listening on http://127.0.0.1:") for line in lines)


def test_it_still_takes_the_log_format_before_the_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from monitor.cli import build_parser

    args = build_parser().parse_args(["--log-format", "json", "-v", "run"])
    assert (args.log_format, args.verbose) == ("json", True)  # the command's own options, left out, undo nothing


def test_it_explains_listen_and_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        help_text = " ".join(capsys.readouterr().out.split())
        assert "--listen HOST:PORT address" in help_text and "(default: 127.0.0.1:8080)" in help_text


def test_it_counts_one_of_each_in_the_singular(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ONE_OF_EACH)
    assert main(["validate", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  1 operator, 1 service, 1 check (http 1)\n" in out
    assert "\n  1 alert channel\n" in out and "channels" not in out


def test_it_suggests_the_key_that_was_meant(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ONE_OF_EACH.replace('url: "https://opticien.example/"', 'url: "https://opticien.example/", timout: 5s'))
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"{path}:9:73: operators.almerys.services.pec-optique.checks.portail.timout: unknown key "
                   "(did you mean 'timeout'?)\n")


def test_it_suggests_nothing_for_a_key_unlike_any(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("site: {colour: red}\n" + ONE_OF_EACH)
    assert main(["validate", "-c", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}:1:8: site.colour: unknown key\n"


def test_it_suggests_keys_of_the_check_type_at_hand(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ONE_OF_EACH.replace("{id: portail, type: http, url: \"https://opticien.example/\"}",
                                        "{id: dns, type: dns, name: opticien.example, record_typ: A}"))
    assert main(["validate", "-c", str(path)]) == 2
    assert "record_typ: unknown key (did you mean 'record_type'?)" in capsys.readouterr().err
