"""An agent's spool: every batch on disk before it is sent, so that neither a central down for hours nor a crash loses it.

Layout of the spool directory::

    00000000000000000042.json    a batch, as sent (Batch.to_wire JSON); the name's number is the send order
    .tmp-00000000000000000043    a batch being written (a crash may leave one: ignored, then removed)
    assignment.json              the last assignment received, so that an agent started while the central
                                 is down still probes
    rejected/                    batches the central refused for good (a 4xx other than 409), each with a
                                 ``.why`` file saying what it answered

A batch is written to a temporary file, fsync'd, renamed into place and the
directory fsync'd: a batch file is whole or absent. The spool is bounded by
bytes (``MAX_BYTES``); past it the oldest batches go, counted in ``dropped``
and logged, as the intake does on the central.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("vigie.agent")
MAX_BYTES = 256 * 1024 * 1024  # a day of 500 checks every 10 s is about 1 GB; 30 minutes well under 64 MB
ASSIGNMENT = "assignment.json"
_DIGITS = 20


class SpoolError(OSError):
    """The spool directory cannot be used (missing rights, not a directory)."""


class Spool:
    def __init__(self, path: str | Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.rejected_dir = self.path / "rejected"
        try:
            self.rejected_dir.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".writable"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpoolError(f"cannot use the spool directory {self.path}: {exc.strerror or exc}") from None
        for leftover in self.path.glob(".tmp-*"):  # a write a crash interrupted: that batch was never spooled
            leftover.unlink(missing_ok=True)
        files = self.pending()
        self._sequence = int(files[-1].stem) if files else 0
        self.bytes = sum(f.stat().st_size for f in files)
        self.dropped = 0  # batches dropped because the spool was full
        self.dropped_results = 0

    def pending(self) -> list[Path]:
        """The spooled batches, in send order."""
        return sorted(p for p in self.path.glob("*.json") if p.stem.isdigit() and len(p.stem) == _DIGITS)

    def put(self, wire: dict[str, Any]) -> Path:
        """Write one batch durably; the oldest batches go first if the spool would pass its bound."""
        data = json.dumps(wire, separators=(",", ":")).encode()
        self._make_room(len(data))
        self._sequence += 1
        name = f"{self._sequence:0{_DIGITS}d}"
        final = self.path / f"{name}.json"
        _write_atomically(self.path / f".tmp-{name}", final, data)
        self.bytes += len(data)
        return final

    def _make_room(self, size: int) -> None:
        files = self.pending()
        while files and self.bytes + size > self.max_bytes:
            oldest = files.pop(0)
            lost = _count_results(oldest)
            self.bytes -= oldest.stat().st_size
            oldest.unlink()
            self.dropped += 1
            self.dropped_results += lost
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.error(
                    "spool full (%d bytes): %d oldest batches (%d results) dropped so far",
                    self.max_bytes, self.dropped, self.dropped_results,
                )

    def delete(self, path: Path) -> None:
        """A batch the central has (2xx, or 409: it had it already)."""
        try:
            self.bytes -= path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass

    def reject(self, path: Path, why: str) -> Path:
        """Keep a batch the central refused for good in ``rejected/``, with why; it is not sent again."""
        target = self.rejected_dir / path.name
        (self.rejected_dir / f"{path.stem}.why").write_text(why + "\n", encoding="utf-8")
        try:
            self.bytes -= path.stat().st_size
            os.replace(path, target)
        except FileNotFoundError:
            pass  # dropped meanwhile by a full spool
        return target

    def save_assignment(self, wire: dict[str, Any]) -> None:
        data = json.dumps(wire, separators=(",", ":")).encode()
        _write_atomically(self.path / f".tmp-{ASSIGNMENT}", self.path / ASSIGNMENT, data)

    def load_assignment(self) -> Any:
        """The last assignment saved, or None (never saved, or unreadable)."""
        try:
            return json.loads((self.path / ASSIGNMENT).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("the cached assignment %s is unreadable (%s): ignored", self.path / ASSIGNMENT, exc)
            return None


def _write_atomically(temporary: Path, final: Path, data: bytes) -> None:
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must survive a power cut
    finally:
        os.close(directory)


def _count_results(path: Path) -> int:
    try:
        return len(json.loads(path.read_bytes()).get("results") or [])
    except (OSError, ValueError, AttributeError):
        return 0
