"""A GET never waits for the snapshot's rebuild: it is answered from the previous state meanwhile."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from monitor import admin
from status_site import state
from status_site.keys import SITE
from tests.conftest import until
from tests.status_site.conftest import Site

MESSAGE = {"fr": "Cause identifiée : un routeur en panne", "en": "Cause identified: a broken router"}


class Gate:
    """Wraps ``build_snapshot``: once closed, a rebuild waits on its reader thread until the gate opens."""

    def __init__(self, build: Any) -> None:
        self.build = build
        self.closed = False
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.passed = threading.Event()  # a blocked rebuild went on

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            self.entered.set()
            self.opened.wait(timeout=30)  # a bound, so that a failing test fails instead of hanging
            self.passed.set()
        return self.build(*args, **kwargs)


async def test_it_answers_a_get_from_the_previous_state_while_the_rebuild_is_blocked(
    outage: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = outage
    incident = (await site.read(lambda store: store.open_incidents()))[0]
    response, before = await site.get("/")
    assert response.status == 200 and MESSAGE["fr"] not in before
    gate = Gate(state.build_snapshot)
    monkeypatch.setattr(state, "build_snapshot", gate)
    gate.closed = True

    # a visible change, committed by the writer: the site is told, and its rebuild starts and blocks
    await site.service.command(lambda engine: admin.update_incident(engine, incident.id, MESSAGE, status="identified"))
    await until(gate.entered.is_set)
    response, during = await site.get("/")
    assert not gate.passed.is_set()  # the GET completed while the rebuild was still blocked
    assert response.status == 200 and MESSAGE["fr"] not in during

    gate.opened.set()
    await site.app[SITE].fresh()
    response, after = await site.get("/")
    assert response.status == 200 and MESSAGE["fr"] in after
