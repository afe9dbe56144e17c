"""The agent's spool: batches on disk in send order, written whole or not at all, bounded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from monitor.agent.spool import Spool, SpoolError


def batch(n: int, results: int = 1) -> dict[str, object]:
    return {"type": "results", "batch": f"lyon-a-{n}", "results": [{"key": "a/b/c", "at": float(i)} for i in range(results)]}


def ids(spool: Spool) -> list[str]:
    return [json.loads(p.read_bytes())["batch"] for p in spool.pending()]


def test_it_gives_back_batches_in_the_order_they_were_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(1, 13):  # past 9 and 10: the order is numeric, not that of short names
        spool.put(batch(n))
    assert ids(spool) == [f"lyon-a-{n}" for n in range(1, 13)]


def test_it_continues_the_order_after_a_restart(tmp_path: Path) -> None:
    Spool(tmp_path).put(batch(1))
    again = Spool(tmp_path)
    again.put(batch(2))
    assert ids(again) == ["lyon-a-1", "lyon-a-2"]


def test_it_ignores_and_removes_a_half_written_batch_left_by_a_crash(tmp_path: Path) -> None:
    Spool(tmp_path).put(batch(1))
    (tmp_path / ".tmp-00000000000000000002").write_bytes(b'{"type": "resul')  # killed mid-write
    spool = Spool(tmp_path)
    assert ids(spool) == ["lyon-a-1"] and not list(tmp_path.glob(".tmp-*"))


def test_it_writes_through_a_temporary_file_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path)
    renames: list[tuple[str, str]] = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((Path(a).name, Path(b).name)), real(a, b)))
    path = spool.put(batch(1))
    assert renames == [(".tmp-" + path.stem, path.name)]


def test_it_drops_the_oldest_batches_past_its_bound_and_counts_them(tmp_path: Path) -> None:
    size = len(json.dumps(batch(1, 10), separators=(",", ":")))
    spool = Spool(tmp_path, max_bytes=3 * size + size // 2)
    for n in range(1, 6):
        spool.put(batch(n, 10))
    assert ids(spool) == ["lyon-a-3", "lyon-a-4", "lyon-a-5"]
    assert (spool.dropped, spool.dropped_results) == (2, 20) and spool.bytes <= spool.max_bytes


def test_it_moves_a_refused_batch_to_rejected_with_why(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.put(batch(1))
    kept = spool.reject(path, "422 check a/b/c is not assigned to 'lyon'")
    assert spool.pending() == [] and kept.exists()
    assert "422" in (tmp_path / "rejected" / f"{path.stem}.why").read_text()


def test_it_keeps_the_last_assignment(tmp_path: Path) -> None:
    Spool(tmp_path).save_assignment({"type": "assignment", "version": "v1"})
    assert Spool(tmp_path).load_assignment() == {"type": "assignment", "version": "v1"}


def test_it_refuses_a_spool_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="cannot use the spool directory"):
        Spool(tmp_path / "file" / "spool")
