"""The real outage histories in tests/fixtures/outages (built by bench/eta_histories.py) load as `vigie history import` reads them."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

from monitor.eta import Outage
from monitor.history_import import MAX_DURATION, parse_outages
from monitor.keys import Key

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "outages"
HISTORIES = ("github", "cua", "cloud")  # what bench/eta_histories.py writes


def rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((FIXTURES / f"{name}.csv").read_text(encoding="utf-8"))))


def test_it_has_exactly_the_histories_the_builder_writes() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.csv")) == sorted(HISTORIES)


@pytest.mark.parametrize("name", HISTORIES)
def test_it_parses_every_row_with_the_importers_parser(name: str) -> None:
    text = (FIXTURES / f"{name}.csv").read_text(encoding="utf-8")
    services = {r["service"] for r in rows(name)}
    outages, errors = parse_outages(text, services, ZoneInfo("Europe/Paris"), time.time(), "test")
    assert [str(e) for e in errors] == []
    assert len(outages) == len(rows(name)) > 100
    # and they make the backtest's outages
    assert all(Outage(o.service, o.started_at, o.ended_at - o.started_at).duration > 0 for o in outages)


@pytest.mark.parametrize("name", HISTORIES)
def test_it_names_only_valid_service_keys(name: str) -> None:
    for r in rows(name):
        assert Key.service_of(r["service"]) == r["service"]


@pytest.mark.parametrize("name", HISTORIES)
def test_it_keeps_durations_above_zero_and_within_ninety_days(name: str) -> None:
    for r in rows(name):
        started, ended = (datetime.fromisoformat(r[c]) for c in ("started_at", "ended_at"))
        assert started.utcoffset() == timedelta(0) and ended.utcoffset() == timedelta(0), r
        assert timedelta(0) < ended - started <= MAX_DURATION, r


@pytest.mark.parametrize("name", HISTORIES)
def test_it_names_one_source_per_history_and_short_notes(name: str) -> None:
    found = rows(name)
    assert len({r["source"] for r in found}) == 1
    assert all(r["note"] and len(r["note"]) <= 500 for r in found)


def test_it_describes_every_fixture_in_sources_md() -> None:
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    for name in HISTORIES:
        assert f"## `{name}.csv`" in sources
        assert (FIXTURES / f"{name}.csv").stat().st_size < 500_000


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eta_histories", ROOT / "bench" / "eta_histories.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_it_names_the_fetch_source_when_a_mirror_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert builder().main(["--mirror-root", str(tmp_path), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "no mirror of GitHub-Incident-History/GitHub-Incident-History" in error
    assert "source github:GitHub-Incident-History/GitHub-Incident-History" in error
    assert not out.exists()  # nothing written
