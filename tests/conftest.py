"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from monitor.clock import FakeClock
from monitor.storage import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "vigie.db")
    yield store
    store.close()
