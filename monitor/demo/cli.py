"""`vigie demo`: the whole product against the simulated fleet, narrated in French."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.cli import EXIT_OK, EXIT_USAGE, serve
from monitor.demo.field import Field
from monitor.demo.fleet import DEMO_AGENTS, PARTNER, DemoFleet
from monitor.demo.history import seed_past
from monitor.demo.sinks import MailSink, WebhookSink, alerts_config
from monitor.durations import parse_duration
from monitor.events import REPORTS_SURGE
from monitor.judge import Flip
from monitor.statuses import NOT_KNOWN
from monitor.storage import EtaRecord, Store
from monitor.words import Sentences
from monitor.words.narrator import eta_line, flip_line, incident_line


class Narrator:
    """Prints what a professional would want to know, as it happens (an engine listener).

    Listeners are told on the event loop once a change is committed; what the
    sentence needs from the database is read on a reader, in arrival order.
    """

    def __init__(self, out: Any = sys.stdout) -> None:
        self.out = out
        self.service: Any = None  # monitor.service.Service, once started
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, kind: str, payload: Any) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._tell_all())
        self._queue.put_nowait((kind, payload))

    async def _tell_all(self) -> None:
        while True:
            kind, payload = await self._queue.get()
            try:
                await self._tell(kind, payload)
            except Exception as exc:  # noqa: BLE001 - the narration must never stop the demo
                print(f"(narration: {exc})", file=self.out)

    async def _tell(self, kind: str, payload: Any) -> None:
        if kind == "vantage":
            state = "ne voit plus les opérateurs : ses résultats sont mis de côté (alerte à l'exploitation seulement)" \
                if payload.isolated else "voit de nouveau les opérateurs"
            found = self.service.config.location(payload.location) if self.service is not None else None
            self._say(payload.at, f"Lieu de mesure {found.name['fr'] if found else payload.location} : {state}")
        elif kind == REPORTS_SURGE and self.service is not None and self.service.engine is not None:
            row = self.service.engine.surges.rows.get(payload)
            if row is not None:
                level = Sentences("fr", self.service.config.site.timezone).reports_level(row.level)
                self._say(row.at, f"Signalements sur {self._service_label(payload)} : {level} "
                                  f"({row.count} en une heure ; alerte « reports.surge » à l'exploitation)")
        elif kind == "flip" and isinstance(payload, Flip) and payload.kind == "service" and payload.from_status != NOT_KNOWN:
            why = payload.why[0] if payload.why else None
            self._say(payload.at, flip_line(self._service_label(payload.key), payload.to_status, why))
        elif kind == "eta" and self.service is not None:
            for incident_id in payload:
                record = await self.service.query(lambda store, i=incident_id: store.latest_eta(i))
                if record is not None:
                    self._say(record.at, eta_line(incident_id, eta_words(record, self.service.config.site.timezone)))
        elif kind.startswith("incident.") and self.service is not None:
            incident = await self.service.query(lambda store: store.incident(payload))
            if incident is not None:
                self._say(incident.updated_at, incident_line(incident.id, kind, incident.title["fr"]))

    def _service_label(self, key: str) -> str:
        engine = self.service.engine if self.service is not None else None
        if engine is None:
            return key
        first = engine.services[key][0]
        target = engine.targets[first]
        return f"{target.operator.name} — {target.service.name['fr']}"

    def _say(self, at: float, text: str) -> None:
        # the site's time zone, as the sentences' own times ("vers 14 h 40"), whatever the machine's is
        zone = ZoneInfo(self.service.config.site.timezone) if self.service is not None else None
        print(f"[{datetime.fromtimestamp(at, zone).strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)


def eta_words(record: EtaRecord, tz: str = "Europe/Paris") -> str:
    """An ETA as the incident's page says it (`Sentences.recovery`), at the moment it was computed."""
    eta = None if record.source == "none" else {
        "expected_at": record.expected_at, "low": record.low, "high": record.high,
        "source": record.source, "basis": record.basis, "service_basis": record.service_basis,
    }
    said = Sentences("fr", tz).recovery(eta, record.at, unknown=True)
    return said[1] if said else ""


# Every change these log, the narrator tells in French: on the console they would say it twice.
NARRATED = ("vigie.engine", "vigie.reports")


def quiet_logs(log_format: str, verbose: bool) -> None:
    """Keep the console to the narration: without ``-v``, no SMTP chatter, no change told twice.

    JSON lines are for a log pipeline, not for the console: they keep the engine's lines.
    """
    if verbose:
        return
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    if log_format == "text":
        for name in NARRATED:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger("vigie.alerts").setLevel(logging.WARNING)  # the sinks print each delivery as it arrives


def zone_words(tz: str) -> str:
    """'heure de Paris (Europe/Paris)': the demo says once in which zone its times are."""
    city = tz.rsplit("/", 1)[-1].replace("_", " ")
    return f"heure de {city} ({tz})" if "/" in tz else tz


def cmd_demo(listen: tuple[str, int], db: str | None, cycle_text: str, log_format: str = "text", verbose: bool = False) -> int:
    try:
        cycle = parse_duration(cycle_text)
    except ValueError as exc:
        print(f"vigie demo: --cycle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if cycle < 60:
        print("vigie demo: --cycle must be at least 1m", file=sys.stderr)
        return EXIT_USAGE
    quiet_logs(log_format, verbose)
    asyncio.run(run_demo(listen, db, cycle))
    return EXIT_OK


async def start_agents(fleet: DemoFleet, central: str, workdir: Path) -> list[asyncio.subprocess.Process]:
    """The demo's agents as processes of their own (``vigie agent``), each probing from its loopback address."""
    agents = []
    for location, address in fleet.agents.items():
        env = {**os.environ, "VIGIE_AGENT_SECRET": fleet.secrets[location]}
        agents.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "agent", "--central", central, "--location", location,
            "--spool", str(workdir / f"spool-{location}"), "--source-address", address,
            env=env, stdin=asyncio.subprocess.DEVNULL,
        ))
    return agents


async def stop_agents(agents: list[asyncio.subprocess.Process]) -> None:
    for agent in agents:
        if agent.returncode is None:
            agent.terminate()
    for agent in agents:
        try:
            await asyncio.wait_for(agent.wait(), 10)
        except TimeoutError:
            agent.kill()


async def run_demo(listen: tuple[str, int], db: str | None, cycle: float) -> None:
    from monitor.config.model import Config
    from monitor.service import SERVICE, create_app

    workdir = Path(tempfile.mkdtemp(prefix="vigie-demo-"))
    zone = os.environ.get("TZ")
    host, port = listen
    mail, hook = MailSink(), WebhookSink()
    await mail.start()
    await hook.start()
    agents: list[asyncio.subprocess.Process] = []
    field: asyncio.Task[None] | None = None
    try:
        async with DemoFleet(workdir=workdir, cycle=cycle, agents=DEMO_AGENTS) as fleet:
            settings = fleet.config_dict(base_url=f"http://{host}:{port}")
            settings["alerts"] = alerts_config(mail, hook)
            config = Config.model_validate(settings)
            # the demo, its log lines and its agents' speak the page's zone, whatever the machine's is
            os.environ["TZ"] = config.site.timezone
            time.tzset()
            (workdir / "config.yaml").write_text(fleet.config_yaml(base_url=f"http://{host}:{port}"), encoding="utf-8")
            narrator = Narrator()
            db_path = db or workdir / "vigie-demo.db"
            store = Store(db_path)
            seeded = seed_past(store, fleet, time.time())
            store.close()
            app = create_app(config, db_path, on_engine=[narrator])
            narrator.service = app[SERVICE]
            print("Vigie — démonstration : une flotte simulée d'opérateurs de tiers payant tourne en local.")
            print(fleet.scenario.describe())
            print(f"Heures : {zone_words(config.site.timezone)}, comme sur la page publique.")
            print(f"Configuration utilisée : {workdir / 'config.yaml'} (dossier temporaire, supprimé à l'arrêt)")
            print(f"Base de données : {db_path}{'' if db else ' (temporaire)'} "
                  f"({seeded} pannes passées fictives pour estimer les délais)")
            print(f"Page publique : http://{host}:{port}/ (en anglais : http://{host}:{port}/?lang=en)")
            print(
                f"Alertes : courriels vers le serveur SMTP local 127.0.0.1:{mail.port}, "
                f"webhooks signés vers {hook.url} — chaque réception s'affiche ci-dessous"
            )
            print(
                f"Santé : http://{host}:{port}/healthz · métriques : http://{host}:{port}/metrics · Ctrl-C pour arrêter",
                flush=True,
            )
            print(
                "Lieux de mesure : le serveur central et deux agents (processus « vigie agent » à part) : "
                + ", ".join(f"{loc} depuis {addr}" for loc, addr in fleet.agents.items())
                + " ; un contrôle n'est en panne que si la majorité des lieux le voit en panne.",
                flush=True,
            )
            print(
                f"Au-delà des tests : « {PARTNER['name']} » transmet ses comptes de PEC réussies et échouées "
                "(flux signé), et des opticiens signalent ce qu'ils vivent (bouton « Je n’arrive pas à utiliser ce "
                "service »).",
                flush=True,
            )
            print("Les services démarrent ; chaque changement d'état s'affiche ci-dessous.\n", flush=True)
            agents = await start_agents(fleet, f"http://{host}:{port}", workdir)
            field = asyncio.create_task(Field(fleet, f"http://{host}:{port}").run())
            await serve(app, host, port)
    finally:
        if field is not None:
            field.cancel()
        await stop_agents(agents)
        await hook.stop()
        await mail.stop()
        if zone is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = zone
        time.tzset()
        shutil.rmtree(workdir, ignore_errors=True)  # the config, the agents' spools, the database unless --db
