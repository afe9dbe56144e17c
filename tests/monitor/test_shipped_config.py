"""The shipped config.yaml: the operators opticians' own tools name, public pages only, the unverified said so."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from monitor.clock import FakeClock
from monitor.config import Config, load_config
from monitor.service import create_app

ROOT = Path(__file__).resolve().parents[2]
ADDED = {  # issue 12, item 23: host -> the service that watches it
    "santeclair.fr": "santeclair/site",
    "mysanteclair.fr": "santeclair/portail",
    "actil.com": "actil/site",
    "kalixia-partenaires.fr": "kalixia/partenaires",
}


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_config(ROOT / "config.yaml", env={}).config


def hosts(check: Any) -> list[str]:
    url = getattr(check, "url", None)
    return [name for name in (urlsplit(url).hostname if url else None, getattr(check, "host", None),
                              getattr(check, "name", None)) if name]


def test_it_watches_the_hosts_opticians_tools_name(shipped: Config) -> None:
    watched = {host: f"{o.id}/{s.id}" for o, s, c in shipped.iter_checks() for host in hosts(c)}
    assert {host: watched.get(host) for host in ADDED} == ADDED


def test_it_never_watches_an_integration_or_test_host(shipped: Config) -> None:
    for operator, _service, check in shipped.iter_checks():
        for host in hosts(check):
            assert not any(label.startswith(("int-", "rec-")) for label in host.split(".")), (operator.id, host)


def test_it_marks_the_added_services_unverified(shipped: Config) -> None:
    services = {f"{o.id}/{s.id}": s for o in shipped.operators for s in o.services}
    for key in ADDED.values():
        description = services[key].description
        assert description is not None, key
        assert "pas encore vérifiée" in description["fr"] and "not yet verified" in description["en"], key


async def test_it_says_so_discreetly_on_the_operator_page(shipped: Config, aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(shipped, tmp_path / "v.db", FakeClock(1_780_000_000.0), schedule=False))
    for path, words in (("/operators/santeclair", "pas encore vérifiée auprès de l’opérateur"),
                        ("/operators/actil?lang=en", "not yet verified with the operator")):
        response = await client.get(path)
        html = await response.text()
        assert response.status == 200
        assert f'<p class="description">Adresse relevée dans les outils des opticiens, {words}' in html \
            or f'<p class="description">Address taken from opticians’ tools, {words}' in html, path
