"""`vigie history import`: every row checked, all or nothing, with each bad row's line and reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.cli import main
from monitor.history_import import decode, parse_outages
from monitor.storage import Store

PARIS = ZoneInfo("Europe/Paris")
SERVICES = {"almerys/pec", "almerys/droits", "viamedis/portail"}
NOW = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
HEADER = "service,started_at,ended_at,source,note\n"
CONFIG = """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC optique
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/pec"}]
      - id: droits
        name: Droits
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/droits"}]
  - id: viamedis
    name: Viamedis
    services:
      - id: portail
        name: Portail
        checks: [{id: web, type: http, url: "http://127.0.0.1:9/portail"}]
"""
GOOD = HEADER + (
    "almerys/pec,2024-03-05T14:10:00+01:00,2024-03-05T16:40:00+01:00,rapport d'incident Almerys,\n"
    "almerys/droits,2024-07-01 09:00,2024-07-01 09:45,,heure de Paris sans décalage\n"
    "viamedis/portail,2024-11-20T08:00:00Z,2024-11-21T08:00:00Z,presse,\"panne, longue\"\n"
)


def parse(text: str) -> tuple[list, list[str]]:
    outages, errors = parse_outages(text, SERVICES, PARIS, NOW, "import:test.csv")
    return outages, [str(e) for e in errors]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_it_reads_offsets_utc_and_paris_wall_clock_times() -> None:
    outages, errors = parse(GOOD)
    assert errors == []
    assert [(o.line, o.service, o.started_at, o.ended_at - o.started_at) for o in outages] == [
        (2, "almerys/pec", ts("2024-03-05T13:10:00+00:00"), 150 * 60),
        (3, "almerys/droits", ts("2024-07-01T07:00:00+00:00"), 45 * 60),  # summer: Paris is UTC+2
        (4, "viamedis/portail", ts("2024-11-20T08:00:00+00:00"), 86400),
    ]
    assert [o.source for o in outages] == ["rapport d'incident Almerys", "import:test.csv", "presse"]
    assert outages[2].note == "panne, longue"


def test_it_reads_an_excel_csv_with_a_bom_semicolons_and_crlf() -> None:
    text = "\ufeffService;Started_at;Ended_at\r\nalmerys/pec;05/03/2024;x\r\n".replace(
        "05/03/2024;x", "2024-03-05 14:10;2024-03-05 16:40"
    )
    outages, errors = parse(decode(text.encode("utf-8")))
    assert errors == [] and [(o.service, o.ended_at - o.started_at) for o in outages] == [("almerys/pec", 9000)]
    latin = "service;started_at;ended_at;note\nalmerys/pec;2024-03-05 14:10;2024-03-05 16:40;arrêt prévu\n"
    outages, errors = parse(decode(latin.encode("cp1252")))
    assert errors == [] and outages[0].note == "arrêt prévu"


BAD_ROWS = [
    ("unknown/svc,2024-03-05T14:10:00+01:00,2024-03-05T15:00:00+01:00,,", "line 2: unknown service 'unknown/svc'"),
    ("almerys,2024-03-05T14:10:00+01:00,2024-03-05T15:00:00+01:00,,", "line 2: unknown service 'almerys'"),
    ("almerys/pec,5 mars 2024,2024-03-05T15:00:00+01:00,,", "line 2: started_at '5 mars 2024' is not a date and time"),
    ("almerys/pec,2024-03-05T14:10:00+01:00,,,", "line 2: ended_at is empty"),
    ("almerys/pec,2024-03-05T14:10:00+01:00,2024-03-05T14:00:00+01:00,,", "line 2: ended_at 2024-03-05T14:00:00+01:00 is not after started_at"),
    ("almerys/pec,2024-03-05T14:10:00+01:00,2024-03-05T14:10:00+01:00,,", "is not after started_at"),
    ("almerys/pec,2024-01-01T00:00:00+01:00,2024-06-01T00:00:00+02:00,,", "line 2: lasts 151 days, more than 90"),
    ("almerys/pec,2024-12-31T23:00:00+01:00,2025-01-02T00:00:00+01:00,,", "line 2: ended_at 2025-01-02T00:00:00+01:00 is in the future"),
    ("almerys/pec,2024-03-31 02:30,2024-03-31 04:00,,", "line 2: started_at '2024-03-31 02:30' does not exist in Europe/Paris (clock change)"),
    ("almerys/pec,2024-10-27 02:30,2024-10-27 04:00,,", "line 2: started_at '2024-10-27 02:30' is ambiguous in Europe/Paris"),
    ("almerys/pec,2024-03-05T14:10:00+01:00", "line 2: expected 5 fields, found 2"),
    ("almerys/pec,2024-03-05T14:10:00+01:00,2024-03-05T15:00:00+01:00,x,y,z", "line 2: expected 5 fields, found 6"),
    ("almerys/pec,2024-03-05T14:10:00+01:00,2024-03-05T15:00:00+01:00," + "x" * 501 + ",", "line 2: source is longer than 500 characters"),
    ("almerys/pec,2024-03-05T14:10:00+01:00,2024-03-05T15:00:00+01:00,\x1b[31mrouge\x1b[0m,", "line 2: source contains control characters"),
    ("<script>alert(1)</script>,2024-03-05,2024-03-06,,", "line 2: unknown service '<script>alert(1)</script>'"),
    ("\x1b[2J/pec,2024-03-05,2024-03-06,,", "line 2: unknown service '\\x1b[2J/pec'"),  # escaped, not sent to the terminal
    ("almerys/pec,\"2024-03-05,2024-03-06,,", "line 2: unreadable CSV"),
]


@pytest.mark.parametrize("row, message", BAD_ROWS, ids=[m.split(": ", 1)[-1][:40] for _, m in BAD_ROWS])
def test_it_rejects_a_bad_row_with_its_line_and_reason(row: str, message: str) -> None:
    outages, errors = parse(HEADER + row + "\n")
    assert len(errors) == 1 and message in errors[0], errors


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "line 1: the file is empty"),
        ("service,start,end\n", "line 1: missing column(s) started_at, ended_at"),
        ("service,started_at,ended_at,comment\n", "line 1: unknown column(s) 'comment'"),
    ],
)
def test_it_rejects_a_bad_header(text: str, message: str) -> None:
    assert parse(text)[1] == [message] or message in parse(text)[1][0]


def test_it_finds_duplicates_and_overlaps_between_rows() -> None:
    text = HEADER + (
        "almerys/pec,2024-03-05T14:00:00+01:00,2024-03-05T15:00:00+01:00,,\n"
        "almerys/droits,2024-03-05T14:30:00+01:00,2024-03-05T15:00:00+01:00,,\n"  # another service: fine
        "\n"
        "almerys/pec,2024-03-05T14:00:00+01:00,2024-03-05T14:20:00+01:00,,\n"
        "almerys/pec,2024-03-05 14:30,2024-03-05T16:00:00+01:00,,\n"
    )
    assert parse(text)[1] == ["line 5: duplicate of line 2 (same service and start)", "line 6: overlaps line 2 (same service)"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_imports_every_row_once_and_skips_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, db = write(tmp_path, "config.yaml", CONFIG), tmp_path / "v.db"
    path = write(tmp_path, "pannes.csv", GOOD)
    code, out, err = run(capsys, "history", "import", "-c", str(config), "--db", str(db), str(path))
    assert code == 0, err
    assert "3 past outage(s) added, 0 skipped (already known)" in out
    code, out, _ = run(capsys, "history", "import", "-c", str(config), "--db", str(db), str(path))
    assert code == 0 and "0 past outage(s) added, 3 skipped (already known)" in out
    store = Store(db)
    past = store.outage_history(NOW)
    rows = list(store.db.query("SELECT service, source FROM past_outages ORDER BY started_at"))
    store.close()
    assert [(o.service, o.duration) for o in past] == [("almerys/pec", 9000), ("almerys/droits", 2700), ("viamedis/portail", 86400)]
    assert [r["source"] for r in rows] == ["rapport d'incident Almerys", "import:pannes.csv", "presse"]


def test_it_imports_nothing_and_exits_2_when_any_row_is_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, db = write(tmp_path, "config.yaml", CONFIG), tmp_path / "v.db"
    path = write(
        tmp_path,
        "pannes.csv",
        GOOD + "inconnu/x,2024-03-05,2024-03-06,,\n" + "almerys/pec,2024-04-01,hier,,\n",
    )
    code, out, err = run(capsys, "history", "import", "-c", str(config), "--db", str(db), str(path))
    assert code == 2 and out == ""
    assert f"{path}:line 5: unknown service 'inconnu/x'" in err
    assert f"{path}:line 6: ended_at 'hier' is not a date and time" in err
    assert "2 bad row(s); nothing imported" in err
    store = Store(db)
    assert store.outage_history(NOW) == []
    store.close()


def test_it_stores_hostile_text_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, db = write(tmp_path, "config.yaml", CONFIG), tmp_path / "v.db"
    hostile = "'); DROP TABLE past_outages; -- <img src=x onerror=alert(1)>"
    path = write(tmp_path, "p.csv", HEADER + f'almerys/pec,2024-03-05,2024-03-06,"{hostile}",\n')
    code, _, err = run(capsys, "history", "import", "-c", str(config), "--db", str(db), str(path))
    assert code == 0, err
    store = Store(db)
    assert [r["source"] for r in store.db.query("SELECT source FROM past_outages")] == [hostile]
    store.close()


def test_it_says_so_when_the_file_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, "config.yaml", CONFIG)
    code, _, err = run(capsys, "history", "import", "-c", str(config), "--db", str(tmp_path / "v.db"), str(tmp_path / "absent.csv"))
    assert code == 2 and "cannot read" in err and not (tmp_path / "v.db").exists()


def test_it_refuses_past_outages_of_something_that_is_no_service(tmp_path) -> None:
    import pytest

    from monitor.keys import InvalidKey
    from monitor.storage import Store

    store = Store(tmp_path / "v.db")
    with pytest.raises(InvalidKey):
        store.import_outages([("almerys/pec", 1.0, 2.0), ("vantage:lyon", 1.0, 2.0)], source="test")
    assert store.outage_history(10.0) == []  # nothing of that import kept: judging can still read the history
