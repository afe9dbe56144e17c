"""The demo fleet: simulated tiers-payant operators on loopback, failing on cue.

``vigie demo`` and the tests run the whole product against it, with no network
and no config file::

    async with DemoFleet(workdir=Path("/tmp/vigie-demo")) as fleet:
        config = fleet.config()       # a complete, validated Config
        print(fleet.config_yaml())    # the same, to read and copy

Each operator is one HTTPS server on 127.0.0.1 (certificates from a private
trustme CA whose PEM is written to ``workdir``); one DNS server answers for
``portail.<operator>.demo``. The :class:`~monitor.demo.scenario.Scenario` decides
on every request what goes wrong, from the time elapsed since :meth:`start`
on the fleet's clock, so a test with a ``FakeClock`` picks the moment it wants.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import html
import secrets
import shutil
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name
import trustme
import yaml
from aiohttp import web

from monitor.clock import Clock, SystemClock
from monitor.config.model import PROFESSIONS, Config
from monitor.demo.dns_server import DnsServer
from monitor.demo.scenario import DOWN_BODY, ERROR_PAGE_MESSAGE, PARTNER_SERVICES, SLOW_DELAY, Fault, Scenario

HOST = "127.0.0.1"
# the demo's agents and the loopback address each probes from (Linux routes all of 127/8 to lo)
DEMO_AGENTS = {"lyon": "127.0.0.2", "paris": "127.0.0.3"}
AGENT_NAMES = {"lyon": {"fr": "Lyon (agent)", "en": "Lyon (agent)"}, "paris": {"fr": "Paris (agent)", "en": "Paris (agent)"}}
# the opticians' software: it sends Vigie its counts of PECs that went through or failed (``monitor.demo.field``)
PARTNER = {"id": "logiciel-optique", "name": "Logiciel d'optique (démonstration)"}
FEED_WINDOW = 10  # seconds: the partner's windows
DNS_ZONE = "demo"
DAY = 86400.0
CA_FILE_NAME = "vigie-demo-ca.pem"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: dict[str, str]
    professions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    id: str
    name: str
    services: tuple[str, ...]

    @property
    def portal_host(self) -> str:
        return f"portail.{self.id}.{DNS_ZONE}"


SERVICES: dict[str, ServiceSpec] = {
    "pec-optique": ServiceSpec(
        {"fr": "Demande de prise en charge optique", "en": "Optical pre-authorisation"}, ("opticien",)
    ),
    "pec-audio": ServiceSpec(
        {"fr": "Demande de prise en charge audio", "en": "Hearing-aid pre-authorisation"},
        ("audioprothesiste",),
    ),
    "droits": ServiceSpec(
        {"fr": "Consultation des droits (IDB, Visiodroits)", "en": "Rights check (IDB, Visiodroits)"},
        ("pharmacien", "medecin"),
    ),
    "paiements": ServiceSpec(
        {"fr": "Paiements et retours de liquidation", "en": "Payments and remittance advice"}, PROFESSIONS
    ),
    "portail": ServiceSpec({"fr": "Espace professionnel", "en": "Professional portal"}, PROFESSIONS),
}

OPERATORS: tuple[OperatorSpec, ...] = (
    OperatorSpec("viamedis", "Viamedis", ("pec-optique", "pec-audio", "droits", "paiements", "portail")),
    OperatorSpec("almerys", "Almerys", ("pec-optique", "pec-audio", "droits", "paiements", "portail")),
    OperatorSpec("sp-sante", "SP Santé", ("droits", "paiements", "portail")),
    OperatorSpec("isante", "iSanté", ("pec-optique", "droits", "paiements", "portail")),
    OperatorSpec("kalixia", "Kalixia", ("pec-optique", "pec-audio", "portail")),
)

LOGIN_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{name} — Espace professionnel</title></head>
<body><h1>{name} — Espace professionnel</h1>
<form method="post" action="/portail/connexion">
<label>Identifiant <input name="identifiant" autocomplete="username"></label>
<label>Mot de passe <input type="password" name="mot_de_passe" autocomplete="current-password"></label>
<button type="submit">Se connecter</button></form>
<p><a href="/portail/mot-de-passe-oublie">Mot de passe oublié ?</a></p>
</body></html>
"""
ERROR_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{name} — Espace professionnel</title></head>
<body><h1>{name} — Espace professionnel</h1>
<p class="erreur">{message}</p>
</body></html>
"""


def secret_variable(location: str) -> str:
    """The environment variable the demo's config names for a location's secret."""
    return f"VIGIE_DEMO_SECRET_{location.upper().replace('-', '_')}"


class DemoFleet:
    """Five simulated operators (HTTPS) and their DNS server, scripted by a :class:`Scenario`.

    ``slow_delay`` is how long a "slow" service takes to answer (tests set it small).
    ``clock`` defaults to the real one: in the demo the story plays in real time.
    A ``FakeClock`` should start near the real time (``FakeClock(time.time())``),
    since certificates are issued relative to it and TLS checks them in real time.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        workdir: Path | None = None,
        cycle: float = 240.0,
        interval: str = "5s",
        slow_delay: float = SLOW_DELAY,
        agents: dict[str, str] | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        # location id -> the loopback address its agent probes from (its "network")
        self.agents = dict(agents or {})
        self.secrets = {location: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode() for location in self.agents}
        self.partner_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.scenario = Scenario(cycle=cycle, slow_delay=slow_delay, agents=bool(self.agents))
        self.interval = interval
        self.operators = OPERATORS
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="vigie-demo-"))
        self.ca_file = self.workdir / CA_FILE_NAME
        self.ports: dict[str, int] = {}
        self.cert_not_after: dict[str, float] = {}
        self.dns = DnsServer(host=HOST, before_query=self._apply_dns_faults)
        self._runners: list[web.AppRunner] = []
        self._started_at: float | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Issue the certificates, start the DNS server and one HTTPS server per operator."""
        if self._started_at is not None:
            raise RuntimeError("the demo fleet is already started")
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            ca = trustme.CA(organization_name="Vigie démonstration")
            ca.cert_pem.write_to_path(str(self.ca_file))
            await self.dns.start()
            for operator in self.operators:
                self.dns.set_record(operator.portal_host, "A", [HOST])
                await self._serve(operator, ca)
        except BaseException:
            await self.stop()
            raise
        self._started_at = self.clock.monotonic()

    async def stop(self) -> None:
        """Stop every server; remove the working directory if the fleet made it."""
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        await self.dns.stop()
        self._started_at = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> DemoFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def started(self) -> bool:
        return self._started_at is not None

    def elapsed(self) -> float:
        """Seconds on the fleet's clock since :meth:`start` (0 before)."""
        if self._started_at is None:
            return 0.0
        return self.clock.monotonic() - self._started_at

    def faults(self) -> dict[str, Fault]:
        """The scenario's faults in force now, by "operator/service"."""
        return self.scenario.faults_at(self.elapsed())

    def base_url(self, operator: str) -> str:
        """``https://127.0.0.1:<port>`` of one operator's server."""
        return f"https://{HOST}:{self._port(operator)}"

    # -- the configuration ------------------------------------------------------------------

    def config_dict(self, base_url: str | None = None) -> dict[str, Any]:
        """The demo's config.yaml as plain data (durations as strings, as in the file)."""
        site: dict[str, Any] = {"title": "Vigie — démonstration", "languages": ["fr", "en"]}
        if base_url:
            site["base_url"] = base_url
        config: dict[str, Any] = {
            "site": site,
            "defaults": {
                "interval": self.interval,
                "timeout": "2s",
                "failure_threshold": 3,
                "success_threshold": 2,
            },
            "partners": [{**PARTNER, "secret": self.partner_secret}],
            "operators": [self._operator_dict(operator) for operator in self.operators],
        }
        if self.agents:
            config["locations"] = [
                {"id": location, "name": AGENT_NAMES.get(location, {"fr": location}), "secret": self.secrets[location]}
                for location in self.agents
            ]
        return config

    def config(self, base_url: str | None = None) -> Config:
        """The demo's complete, validated configuration."""
        return Config.model_validate(self.config_dict(base_url))

    def config_yaml(self, base_url: str | None = None) -> str:
        """The demo's configuration as YAML, to read and copy."""
        header = (
            "# Configuration de la démonstration Vigie, générée par `vigie demo`.\n"
            "# Les ports changent à chaque lancement ; le reste sert de modèle.\n"
        )
        data = self.config_dict(base_url)
        for place in data.get("locations", []) + data["partners"]:  # secrets never sit in the file
            place["secret"] = "${" + secret_variable(place["id"]) + "}"
        body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        return header + body

    def _operator_dict(self, operator: OperatorSpec) -> dict[str, Any]:
        base, tls = self.base_url(operator.id), {"ca_file": str(self.ca_file)}
        services = []
        for service_id in operator.services:
            spec = SERVICES[service_id]
            is_portal = service_id == "portail"
            conditions: list[Any] = ["status == 200"]
            if is_portal:
                conditions += ["body contains 'Espace professionnel'", "body not contains 'erreur technique'"]
            else:
                conditions.append("body contains 'OK'")
            conditions.append({"condition": "response_time < 1s", "severity": "degraded"})
            url = f"{base}/portail/" if is_portal else f"{base}/{service_id}/health"
            checks: list[dict[str, Any]] = [
                {"id": "api", "type": "http", "url": url, "tls": dict(tls), "conditions": conditions}
            ]
            if self.agents:  # the http checks are seen from every place, a majority deciding
                checks[0]["locations"] = ["local", *self.agents]
            if f"{operator.id}/{service_id}" in PARTNER_SERVICES:  # no public surface: seen through the partner only
                checks = [{"id": "flux", "type": "feed", "partner": PARTNER["id"], "interval": f"{FEED_WINDOW}s",
                           "conditions": ["volume >= 10", "error_rate < 20%"]}]
            if is_portal:
                checks.append(
                    {
                        "id": "dns",
                        "type": "dns",
                        "name": operator.portal_host,
                        "record_type": "A",
                        "resolver": f"{HOST}:{self._dns_port()}",
                        "conditions": ["dns.rcode == NOERROR", f"dns.answers contains '{HOST}'"],
                    }
                )
                checks.append(
                    {
                        "id": "certificat",
                        "type": "tls",
                        "host": HOST,
                        "port": self._port(operator.id),
                        "tls": dict(tls),
                        "conditions": [{"condition": "cert_expires_in > 14d", "severity": "notice"}],
                    }
                )
            services.append(
                {
                    "id": service_id,
                    "name": dict(spec.name),
                    "professions": list(spec.professions),
                    "checks": checks,
                }
            )
        return {"id": operator.id, "name": operator.name, "url": f"{base}/portail/", "services": services}

    def _port(self, operator: str) -> int:
        if operator not in self.ports:
            raise RuntimeError("the demo fleet is not started: no ports yet")
        return self.ports[operator]

    def _dns_port(self) -> int:
        if not self.dns.port:
            raise RuntimeError("the demo fleet is not started: no ports yet")
        return self.dns.port

    # -- the servers ------------------------------------------------------------------------

    def _issue(self, ca: trustme.CA, operator: OperatorSpec) -> trustme.LeafCert:
        now = self.clock.now()
        days = self.scenario.cert_expiry_days.get(operator.id, 365.0)
        not_after = now + days * DAY
        # Valid from before both clocks' "now", so that a FakeClock a little ahead still works.
        not_before = min(now, time.time()) - DAY
        self.cert_not_after[operator.id] = not_after
        return ca.issue_cert(
            HOST,
            "localhost",
            operator.portal_host,
            common_name=operator.portal_host,
            organization_name=operator.name,
            not_before=dt.datetime.fromtimestamp(not_before, tz=dt.UTC),
            not_after=dt.datetime.fromtimestamp(not_after, tz=dt.UTC),
        )

    async def _serve(self, operator: OperatorSpec, ca: trustme.CA) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._issue(ca, operator).configure_cert(context)
        # A short shutdown: a "slow" answer in flight must not hold up the end of the demo.
        runner = web.AppRunner(self._app(operator), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, HOST, 0, ssl_context=context)
        await site.start()
        self.ports[operator.id] = runner.addresses[0][1]

    def _app(self, operator: OperatorSpec) -> web.Application:
        name = html.escape(operator.name)

        async def health(request: web.Request) -> web.StreamResponse:
            service = request.match_info["service"]
            if service not in operator.services:
                raise web.HTTPNotFound(text="Service inconnu")
            faulted = await self._apply_fault(operator, service, name)
            if faulted is not None:
                return faulted
            return web.json_response({"status": "OK", "operator": operator.id, "service": service})

        async def portal(request: web.Request) -> web.StreamResponse:
            faulted = await self._apply_fault(operator, "portail", name)
            if faulted is not None:
                return faulted
            return web.Response(text=LOGIN_PAGE.format(name=name), content_type="text/html")

        @web.middleware
        async def network(request: web.Request, handler: Any) -> web.StreamResponse:
            """An agent whose network is lost gets its connection reset, whatever it asks."""
            lost = {self.agents[loc] for loc in self.scenario.lost_locations(self.elapsed()) if loc in self.agents}
            if lost and request.remote in lost and request.transport is not None:
                request.transport.abort()
                raise web.HTTPServiceUnavailable()  # never written: the connection is gone
            return await handler(request)

        app = web.Application(middlewares=[network])
        app.router.add_get("/{service}/health", health)
        if "portail" in operator.services:
            app.router.add_get("/portail/", portal)
        return app

    async def _apply_fault(self, operator: OperatorSpec, service: str, name: str) -> web.Response | None:
        """The answer a fault imposes, or None to answer normally (after any delay)."""
        fault = self.scenario.fault(self.elapsed(), f"{operator.id}/{service}")
        if fault is None:
            return None
        if fault.kind == "down":
            return web.Response(status=503, text=DOWN_BODY)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault.kind == "error_page":
            page = ERROR_PAGE.format(name=name, message=html.escape(ERROR_PAGE_MESSAGE))
            return web.Response(text=page, content_type="text/html")
        return None

    def _apply_dns_faults(self, asked: dns.name.Name) -> None:
        """Called by the DNS server before each answer: fail the names the scenario fails now."""
        faults = self.faults()
        for operator in self.operators:
            fault = faults.get(f"{operator.id}/portail")
            if fault is not None and fault.kind == "dns_fail":
                self.dns.fail(operator.portal_host, fault.rcode)
            else:
                self.dns.heal(operator.portal_host)
