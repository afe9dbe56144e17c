"""The demo's scenario (pure) and its fleet of simulated operators (real servers on loopback)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.config.model import Config, DnsCheck, HttpCheck, TlsCheck
from monitor.demo.fleet import DemoFleet, secret_variable
from monitor.demo.scenario import Fault, Scenario
from probes import measure
from probes.base import ProbeContext

CYCLE = 100.0
SLOW = 0.2

# The story, written out once more by hand: (target, kind, from %, to %).
STORY = [
    ("almerys/pec-optique", "down", 10, 45),
    ("sp-sante/droits", "slow", 30, 60),
    ("isante/portail", "error_page", 50, 75),
    ("viamedis/portail", "dns_fail", 60, 72),
    ("viamedis/pec-optique", "pec_fail", 60, 92),  # seen through the partner's feed only
    ("reports:viamedis/pec-optique", "reports", 72, 82),
]


# -- the scenario --------------------------------------------------------------------------------


def test_it_starts_with_every_service_fine() -> None:
    assert Scenario(cycle=CYCLE).faults_at(0) == {}


def test_it_plays_the_story_over_a_whole_cycle() -> None:
    scenario = Scenario(cycle=CYCLE)
    for tenth_of_percent in range(1000):
        elapsed = tenth_of_percent * CYCLE / 1000
        expected = {t: kind for t, kind, start, end in STORY if start * 10 <= tenth_of_percent < end * 10}
        got = {target: fault.kind for target, fault in scenario.faults_at(elapsed).items()}
        assert got == expected, f"at {elapsed}s"


def test_it_loops_every_cycle() -> None:
    scenario = Scenario(cycle=CYCLE)
    for elapsed in (0.0, 12.5, 33.3, 55.0, 70.0, 99.9):
        assert scenario.faults_at(elapsed + 3 * CYCLE) == scenario.faults_at(elapsed)


def test_it_scales_with_the_cycle() -> None:
    assert Scenario(cycle=240).faults_at(24.0) == {"almerys/pec-optique": Fault("down")}
    assert Scenario(cycle=240).faults_at(23.9) == {}


def test_it_makes_the_slow_service_slow_but_within_the_timeout() -> None:
    fault = Scenario().fault(0.4 * 240, "sp-sante/droits")
    assert fault is not None and fault.kind == "slow" and 1 < fault.delay < 2
    assert Scenario(slow_delay=SLOW).fault(0.4 * 240, "sp-sante/droits") == Fault("slow", delay=SLOW)


def test_it_fails_viamedis_portal_dns_with_nxdomain() -> None:
    fault = Scenario(cycle=CYCLE).fault(70, "viamedis/portail")
    assert fault == Fault("dns_fail", rcode="NXDOMAIN")


def test_it_tells_the_story_in_french() -> None:
    steps = Scenario(cycle=CYCLE).timeline()
    assert [(s.start, s.end) for s in steps] == [
        (10, 45), (30, 60), (50, 75), (60, 72), (60, 92), (72, 82), (0, CYCLE)]
    assert "Almerys" in steps[0].what and "503" in steps[0].what
    assert "SP Santé" in steps[1].what and "lenteur" in steps[1].what
    assert "erreur technique" in steps[2].what
    assert "Viamedis — portail" in steps[3].what and "DNS" in steps[3].what
    assert "Viamedis — PEC optique" in steps[4].what and "flux du partenaire" in steps[4].what
    assert "30 opticiens signalent" in steps[5].what
    assert "Kalixia" in steps[6].what and "10 jours" in steps[6].what
    assert Scenario().describe().splitlines()[1].startswith("  0:24 → 1:48  Almerys")


def test_it_refuses_an_empty_cycle() -> None:
    with pytest.raises(ValueError):
        Scenario(cycle=0)


# -- the fleet -----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    # Near the real time: TLS checks the certificates against the real clock.
    return FakeClock(start=time.time())


@pytest.fixture
async def fleet(clock: FakeClock, tmp_path: Path) -> AsyncIterator[DemoFleet]:
    async with DemoFleet(clock=clock, workdir=tmp_path, cycle=CYCLE, slow_delay=SLOW) as running:
        yield running


@pytest.fixture
async def client(fleet: DemoFleet) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=str(fleet.ca_file))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


def http_url(config: Config, key: str) -> str:
    found = config.find_check(key)
    assert found is not None and isinstance(found[2], HttpCheck)
    return found[2].url


async def fetch(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as response:
        return response.status, await response.text()


async def test_it_builds_a_complete_config(fleet: DemoFleet) -> None:
    config = fleet.config()
    assert config.site.title == "Vigie — démonstration"
    assert (config.defaults.interval, config.defaults.timeout) == (5.0, 2.0)
    assert (config.defaults.failure_threshold, config.defaults.success_threshold) == (3, 2)
    assert [(o.id, o.name) for o in config.operators] == [
        ("viamedis", "Viamedis"),
        ("almerys", "Almerys"),
        ("sp-sante", "SP Santé"),
        ("isante", "iSanté"),
        ("kalixia", "Kalixia"),
    ]
    for _operator, service, check in config.iter_checks():
        assert service.name["fr"] and service.name["en"] and service.professions
        assert check.interval == (10.0 if check.type == "feed" else 5.0)
        if isinstance(check, (HttpCheck, TlsCheck)):
            assert check.tls.ca_file == str(fleet.ca_file)
    for operator in config.operators:
        portal = next(s for s in operator.services if s.id == "portail")
        assert [c.id for c in portal.checks] == ["api", "dns", "certificat"]
        dns_check = portal.checks[1]
        assert isinstance(dns_check, DnsCheck)
        assert dns_check.resolver == f"127.0.0.1:{fleet.dns.port}"
        assert [c.text for c in dns_check.conditions] == ["dns.rcode == NOERROR", "dns.answers contains '127.0.0.1'"]
        cert = portal.checks[2].conditions[0]
        assert (cert.text, cert.severity) == ("cert_expires_in > 14d", "notice")
    pec = config.find_check("almerys/pec-optique/api")
    assert pec is not None
    assert [(c.text, c.severity) for c in pec[2].conditions] == [
        ("status == 200", "down"),
        ("body contains 'OK'", "down"),
        ("response_time < 1s", "degraded"),
    ]
    assert pec[1].professions == ["opticien"]


async def test_it_answers_ok_everywhere_at_first(fleet: DemoFleet, client: aiohttp.ClientSession) -> None:
    config = fleet.config()
    http_checks = [c for _, _, c in config.iter_checks() if isinstance(c, HttpCheck)]
    answers = await asyncio.gather(*(fetch(client, c.url) for c in http_checks))
    for check, (status, body) in zip(http_checks, answers):
        assert status == 200, check.url
        if check.url.endswith("/portail/"):
            assert "Espace professionnel" in body and "erreur technique" not in body
        else:
            assert "OK" in body


async def test_it_takes_almerys_pec_optique_down_then_back(
    fleet: DemoFleet, clock: FakeClock, client: aiohttp.ClientSession
) -> None:
    url = http_url(fleet.config(), "almerys/pec-optique/api")
    clock.advance(0.2 * CYCLE)
    assert await fetch(client, url) == (503, "Service indisponible")
    other = http_url(fleet.config(), "almerys/pec-audio/api")
    assert (await fetch(client, other))[0] == 200
    clock.advance(0.3 * CYCLE)
    assert (await fetch(client, url))[0] == 200


async def test_it_slows_sp_sante_droits(
    fleet: DemoFleet, clock: FakeClock, client: aiohttp.ClientSession
) -> None:
    url = http_url(fleet.config(), "sp-sante/droits/api")
    clock.advance(0.4 * CYCLE)
    began = time.monotonic()
    status, body = await fetch(client, url)
    assert time.monotonic() - began >= SLOW
    assert status == 200 and "OK" in body


async def test_it_serves_an_error_page_on_isante_portal(
    fleet: DemoFleet, clock: FakeClock, client: aiohttp.ClientSession
) -> None:
    url = http_url(fleet.config(), "isante/portail/api")
    clock.advance(0.6 * CYCLE)
    status, body = await fetch(client, url)
    assert status == 200
    assert "Une erreur technique est survenue, veuillez réessayer" in body
    assert "Espace professionnel" in body


async def test_it_fails_viamedis_portal_dns_then_heals_it(fleet: DemoFleet, clock: FakeClock) -> None:
    config = fleet.config()

    async def ask(operator: str) -> tuple[str | None, list[str]]:
        found = config.find_check(f"{operator}/portail/dns")
        assert found is not None and isinstance(found[2], DnsCheck)
        result = await measure(found[2], ProbeContext(clock=clock))
        assert result.error is None
        return result.dns_rcode, result.dns_answers

    assert await ask("viamedis") == ("NOERROR", ["127.0.0.1"])
    clock.advance(0.7 * CYCLE)
    assert await ask("viamedis") == ("NXDOMAIN", [])
    assert await ask("almerys") == ("NOERROR", ["127.0.0.1"])
    clock.advance(0.2 * CYCLE)
    assert await ask("viamedis") == ("NOERROR", ["127.0.0.1"])


async def test_it_gives_kalixia_a_certificate_expiring_in_ten_days(fleet: DemoFleet, clock: FakeClock) -> None:
    context = ssl.create_default_context(cafile=str(fleet.ca_file))

    async def not_after(operator: str) -> float:
        _, writer = await asyncio.open_connection("127.0.0.1", fleet.ports[operator], ssl=context)
        try:
            cert = writer.get_extra_info("peercert")
        finally:
            writer.close()
        return ssl.cert_time_to_seconds(cert["notAfter"])

    days = (await not_after("kalixia") - clock.now()) / 86400
    assert 9.9 < days <= 10
    assert (await not_after("almerys") - clock.now()) / 86400 > 300


async def test_it_writes_a_yaml_config_that_round_trips(fleet: DemoFleet) -> None:
    text = fleet.config_yaml()
    assert text.startswith("# ") and fleet.partner_secret not in text  # secrets are ${ENV} in the file
    again = parse_config(text, env={secret_variable("logiciel-optique"): fleet.partner_secret}).config
    config = fleet.config()
    assert again.check_keys() == config.check_keys()
    assert again.model_dump() == config.model_dump()


async def test_it_refuses_a_config_before_it_starts(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        DemoFleet(workdir=tmp_path).config()


async def test_it_cleans_up_its_own_workdir_on_the_real_clock() -> None:
    async with DemoFleet() as fleet:
        assert fleet.ca_file.exists()
        assert fleet.faults() == {}
        workdir = fleet.workdir
    assert not workdir.exists()
    assert not fleet.started


async def test_it_cuts_the_network_of_one_agent_only_while_its_episode_lasts(clock: FakeClock, tmp_path: Path) -> None:
    agents = {"lyon": "127.0.0.2", "paris": "127.0.0.3"}
    async with DemoFleet(clock=clock, workdir=tmp_path, cycle=CYCLE, slow_delay=SLOW, agents=agents) as fleet:
        config = fleet.config()
        assert [loc.id for loc in config.locations] == ["lyon", "paris"]
        [(_, _, check)] = [(o, s, c) for o, s, c in config.iter_checks() if (o.id, s.id, c.id) == ("kalixia", "pec-audio", "api")]
        assert check.locations == ["local", "lyon", "paris"] and check.quorum == 2
        assert "${VIGIE_DEMO_SECRET_LYON}" in fleet.config_yaml() and fleet.secrets["lyon"] not in fleet.config_yaml()

        async def outcome(address: str) -> str:
            result = await measure(check, ProbeContext(clock=clock, source_address=address))
            return "reset" if result.error else str(result.status)

        clock.advance(0.25 * CYCLE)  # Lyon's episode: 20 % to 40 % of the cycle
        assert await outcome("127.0.0.2") == "reset"
        assert await outcome("127.0.0.3") == "200" and await outcome("127.0.0.1") == "200"
        clock.advance(0.20 * CYCLE)
        assert await outcome("127.0.0.2") == "200"
