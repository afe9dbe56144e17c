"""Seed past outages from a CSV file (e.g. transcribed from published incident reports).

Columns: ``service`` (``operator/service``, as in the config), ``started_at``,
``ended_at`` (ISO-8601; without an offset, a time is read in the site's time
zone, Europe/Paris by default), and optionally ``source`` and ``note``. Comma-
or semicolon-separated, UTF-8 with or without a BOM (as Excel writes it), or
Windows-1252.

Every row is checked before anything is written, and every bad row is told
with its line number and reason; one bad row and nothing is imported. An
outage already known (same service and start) is skipped, so importing the
same file twice adds nothing. The parsing and checking are pure; only
`cmd_history_import` touches files and the database.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REQUIRED = ("service", "started_at", "ended_at")
OPTIONAL = ("source", "note")
MAX_DURATION = timedelta(days=90)
MAX_TEXT = 500  # characters of a source or a note
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class PastOutage:
    line: int
    service: str
    started_at: float
    ended_at: float
    source: str
    note: str


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def shown(text: str, limit: int = 60) -> str:
    """A value from the file, quoted and cut short, control characters escaped: text, never markup or commands."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return repr(cut)


def decode(data: bytes) -> str:
    """UTF-8 (a BOM, as Excel writes it, is dropped), else Windows-1252 (Excel's plain "CSV")."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """An ISO-8601 time; one without an offset is a wall-clock time in ``zone``."""
    value = text.strip()
    if not value:
        raise ValueError("is empty")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not a date and time (ISO-8601, e.g. 2024-03-05T14:10:00+01:00)") from None
    if when.tzinfo is not None:
        return when
    local = when.replace(tzinfo=zone)
    # a clock change makes some wall-clock times ambiguous (autumn) or nonexistent (spring)
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        again = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        what = "does not exist" if again != when else "is ambiguous"
        raise ValueError(f"{shown(value)} {what} in {zone.key} (clock change): give its UTC offset")
    return local


def parse_outages(
    text: str, services: Collection[str], zone: ZoneInfo, now: float, default_source: str
) -> tuple[list[PastOutage], list[RowError]]:
    """Read and check every row; return the outages and the errors (line numbers as an editor shows them)."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [RowError(1, "the file is empty: expected a header line " + ",".join(REQUIRED + OPTIONAL))]
    except csv.Error as exc:
        return [], [RowError(1, f"not a CSV file: {exc}")]
    errors: list[RowError] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing:
        errors.append(RowError(1, f"missing column(s) {', '.join(missing)}; expected " + ",".join(REQUIRED + OPTIONAL)))
    if unknown:
        errors.append(RowError(1, f"unknown column(s) {', '.join(shown(c) for c in unknown)}"))
    if errors:
        return [], errors

    outages: list[PastOutage] = []
    seen: dict[tuple[str, float], int] = {}
    line = 1
    try:
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue  # blank lines, as spreadsheets leave them
            if len(fields) != len(header):
                errors.append(RowError(line, f"expected {len(header)} fields, found {len(fields)}"))
                continue
            row = dict(zip(header, fields))
            found = check_row(line, row, services, zone, now, default_source)
            if isinstance(found, RowError):
                errors.append(found)
                continue
            key = (found.service, found.started_at)
            if key in seen:
                errors.append(RowError(line, f"duplicate of line {seen[key]} (same service and start)"))
                continue
            seen[key] = line
            outages.append(found)
    except csv.Error as exc:  # e.g. an unclosed quote
        errors.append(RowError(reader.line_num or line, f"unreadable CSV: {exc}"))
    errors += overlaps(outages)
    return outages, sorted(errors, key=lambda e: e.line)


def check_row(
    line: int, row: dict[str, str], services: Collection[str], zone: ZoneInfo, now: float, default_source: str
) -> PastOutage | RowError:
    service = row["service"].strip()
    if service not in services:
        return RowError(line, f"unknown service {shown(service)}: expected operator/service as in the config")
    times = []
    for column in ("started_at", "ended_at"):
        try:
            times.append(parse_time(row[column], zone))
        except ValueError as exc:
            return RowError(line, f"{column} {exc}")
    started, ended = times
    if ended <= started:
        return RowError(line, f"ended_at {ended.isoformat()} is not after started_at {started.isoformat()}")
    if ended - started > MAX_DURATION:
        return RowError(line, f"lasts {(ended - started).days} days, more than {MAX_DURATION.days}: check the dates")
    if ended.timestamp() > now:
        return RowError(line, f"ended_at {ended.isoformat()} is in the future: only ended outages can be imported")
    source, note = (row.get(c, "").strip() for c in OPTIONAL)
    for column, value in (("source", source), ("note", note)):
        if len(value) > MAX_TEXT:
            return RowError(line, f"{column} is longer than {MAX_TEXT} characters")
        if any(ord(c) < 32 and c not in "\t\n" for c in value):
            return RowError(line, f"{column} contains control characters")
    return PastOutage(line, service, started.timestamp(), ended.timestamp(), source or default_source, note)


def overlaps(outages: list[PastOutage]) -> list[RowError]:
    """Two outages of one service at the same time would count one outage twice."""
    errors = []
    last: dict[str, PastOutage] = {}
    for outage in sorted(outages, key=lambda o: (o.service, o.started_at)):
        previous = last.get(outage.service)
        if previous is not None and outage.started_at < previous.ended_at:
            errors.append(RowError(outage.line, f"overlaps line {previous.line} (same service)"))
        if previous is None or outage.ended_at > previous.ended_at:
            last[outage.service] = outage
    return errors


def cmd_history_import(config_path: str, db: str, csv_path: str) -> int:
    """`vigie history import FILE.csv`: check every row, then add them all or none."""
    import time

    from monitor.config import load_config
    from monitor.storage import Store

    config = load_config(config_path).config
    services = set(config.service_keys())
    try:
        data = Path(csv_path).read_bytes()
    except OSError as exc:
        print(f"vigie history import: cannot read {csv_path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    outages, errors = parse_outages(
        decode(data), services, ZoneInfo(config.site.timezone), time.time(), f"import:{Path(csv_path).name}"
    )
    if errors:
        for error in errors:
            print(f"{csv_path}:{error}", file=sys.stderr)
        print(f"vigie history import: {len(errors)} bad row(s); nothing imported", file=sys.stderr)
        return EXIT_USAGE
    store = Store(db)
    try:
        added = 0
        with store.transaction():
            for source in sorted({o.source for o in outages}):
                rows = [(o.service, o.started_at, o.ended_at) for o in outages if o.source == source]
                added += store.import_outages(rows, source)
    finally:
        store.close()
    print(f"{added} past outage(s) added, {len(outages) - added} skipped (already known), from {csv_path}")
    return EXIT_OK
