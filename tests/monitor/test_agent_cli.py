"""`vigie agent`'s options: every bad one is a clear message and exit 2, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def agent(*args: str) -> list[str]:
    return ["agent", "--central", "http://127.0.0.1:9", "--location", "lyon", *args]


def test_it_refuses_a_central_that_is_not_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--central", "statut.example.org", "--location", "lyon"]) == 2
    assert "--central 'statut.example.org': expected the central's URL" in capsys.readouterr().err


def test_it_refuses_to_start_without_a_secret(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIE_AGENT_SECRET", raising=False)
    assert main(agent()) == 2
    assert "no secret: give --token-file FILE or set $VIGIE_AGENT_SECRET" in capsys.readouterr().err


def test_it_refuses_a_token_file_readable_by_others(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token = tmp_path / "lyon.secret"
    token.write_text(SECRET)
    token.chmod(0o644)
    assert main(agent("--token-file", str(token))) == 2
    assert "readable by others (mode -rw-r--r--): chmod 600 it" in capsys.readouterr().err


def test_it_refuses_a_secret_that_is_not_a_whsec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token = tmp_path / "lyon.secret"
    token.write_text("hunter2")
    token.chmod(0o600)
    assert main(agent("--token-file", str(token))) == 2
    assert "not a Standard Webhooks secret" in capsys.readouterr().err


def test_it_refuses_a_spool_directory_it_cannot_write(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_AGENT_SECRET", SECRET)
    (tmp_path / "file").write_text("")
    assert main(agent("--spool", str(tmp_path / "file" / "spool"))) == 2
    assert "cannot use the spool directory" in capsys.readouterr().err


def test_it_refuses_the_centrals_own_location(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_AGENT_SECRET", SECRET)
    assert main(["agent", "--central", "http://127.0.0.1:9", "--location", "local"]) == 2
    assert "not 'local'" in capsys.readouterr().err


def test_it_refuses_a_source_address_that_is_not_an_address(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_AGENT_SECRET", SECRET)
    assert main(agent("--source-address", "lyon.example")) == 2
    assert "--source-address 'lyon.example': expected an IP address" in capsys.readouterr().err
