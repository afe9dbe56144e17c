"""The email channel against a real SMTP server (aiosmtpd in its own process), parsed with `email`."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trustme

from alerts.channels.base import ChannelContext, TransportError
from alerts.channels.email import EmailChannel, SubscriberMailer
from alerts.subscriptions import Choices, Subscriptions
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.config.model import Config
from monitor.events import build_event
from monitor.storage import Store
from monitor.storage.database import Database
from monitor.storage.outbox import Delivery
from tests.alerts.smtp_server import SmtpServer, smtp_servers  # noqa: F401 - a fixture

PARIS = ZoneInfo("Europe/Paris")
STARTED = datetime(2026, 11, 30, 14, 5, tzinfo=PARIS).timestamp()
PEC_FR = "Demande de prise en charge optique"
SECRET = "s3cr3t-Pa55word"

CONFIG = """
site: {{base_url: "https://statut.example.org"}}
operators:
  - id: almerys
    name: "{operator}"
    services:
      - id: pec-optique
        name: {{fr: "{service}", en: "Optical pre-authorisation"}}
        professions: [opticien]
        checks: [{{id: api, type: http, url: "http://127.0.0.1:9/"}}]
      - id: pec-audio
        name: {{fr: "Demande de prise en charge audio", en: "Hearing-aid pre-authorisation"}}
        professions: [audioprothesiste]
        checks: [{{id: api, type: http, url: "http://127.0.0.1:9/"}}]
alerts:
  smtp: {{host: 127.0.0.1, port: {port}, from: "vigie@statut.example.org", timeout: 1s{smtp}}}
  channels:
    - {{id: fnof, type: email, to: ["alertes@fnof.example"]}}
    - {{id: english, type: email, to: ["alerts@federation.example", "duty@federation.example"], language: en}}
"""


def make_config(port: int, smtp: str = "", operator: str = "Almerys", service: str = PEC_FR, **env: str) -> Config:
    text = CONFIG.format(port=port, smtp=smtp, operator=operator, service=service.replace('"', '\\"'))
    return parse_config(text, env=env).config


class World:
    """A store with an incident in it, and the deliveries of its events."""

    def __init__(self, config: Config, store: Store, clock: FakeClock) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.ctx = ChannelContext(config, clock, {})

    def incident(self, services: tuple[str, ...] = ("almerys/pec-optique",), message: str | None = None) -> int:
        incident_id = self.store.open_incident(
            "almerys", list(services), STARTED, {"fr": "Almerys : PEC indisponible", "en": "Almerys: PEC unavailable"},
            {"fr": message or "Panne détectée automatiquement par Vigie.", "en": message or "Outage detected by Vigie."},
        )
        return incident_id

    def estimate(self, incident_id: int) -> None:
        at = lambda h, m: datetime(2026, 11, 30, h, m, tzinfo=PARIS).timestamp()  # noqa: E731
        self.store.record_eta(incident_id, STARTED + 60, "estimate", at(15, 40), at(14, 50), at(17, 30), 23, "service")

    def delivery(self, kind: str, subject_id: int, channel: str = "fnof") -> Delivery:
        event = build_event(self.store, self.config, kind, subject_id, self.clock.now())
        assert event is not None
        event_id = self.store.record_event(event.type, event.at, event.operator_id, event.services, event.data, [channel])
        return next(d for d in self.store.deliveries(channel=channel) if d.event.id == event_id)

    def channel(self, channel_id: str = "fnof") -> EmailChannel:
        spec = next(c for c in self.config.alerts.channels if c.id == channel_id)
        return EmailChannel(spec, self.ctx)


@pytest.fixture
def world(tmp_path: Path, smtp_servers: Callable[..., SmtpServer]) -> Callable[..., tuple[World, SmtpServer]]:
    stores: list[Store] = []

    def make(server_options: dict[str, Any] | None = None, smtp: str = "", **config: Any) -> tuple[World, SmtpServer]:
        server = smtp_servers(**(server_options or {}))
        store = Store(tmp_path / f"vigie-{len(stores)}.db")
        stores.append(store)
        return World(make_config(server.port, smtp, **config), store, FakeClock(STARTED + 25 * 60)), server

    yield make
    for store in stores:
        store.close()


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def flat(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


async def test_it_sends_a_french_multipart_alert_by_default(world: Any) -> None:
    w, server = world()
    incident_id = w.incident()
    w.estimate(incident_id)
    await w.channel().send(w.delivery("incident.opened", incident_id))
    message = await server.next_message()
    assert message["Subject"] == f"[Vigie] Almerys — {PEC_FR} : panne"
    text, html = parts(message)
    for body in (flat(text), flat(unescape(html))):
        assert "Almerys" in body and PEC_FR in body
        assert "Depuis le 30 novembre 2026 à 14 h 05" in body
        assert "Panne détectée automatiquement par Vigie." in body
        assert "Rétablissement estimé vers 15 h 40 (entre 14 h 50 et 17 h 30, d’après 23 pannes passées)" in body
        assert f"https://statut.example.org/incidents/{incident_id}" in body
    assert "<img" not in html and "src=" not in html  # no remote images


async def test_it_sets_the_headers_receivers_rely_on(world: Any) -> None:
    w, server = world()
    incident_id = w.incident()
    delivery = w.delivery("incident.opened", incident_id)
    await w.channel().send(delivery)
    message = await server.next_message()
    assert message["Message-ID"] == f"<vigie.{delivery.event.id}.fnof@statut.example.org>"
    assert message["From"] == "vigie@statut.example.org"
    assert message["To"] == "alertes@fnof.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime.timestamp() == pytest.approx(w.clock.now())
    assert message["List-Unsubscribe"] is None  # a configured channel: its owner edits the config
    assert message["X-Envelope-To"] == "alertes@fnof.example"


async def test_it_keeps_the_message_id_across_retries(world: Any) -> None:
    w, server = world()
    delivery = w.delivery("incident.opened", w.incident())
    channel = w.channel()
    await channel.send(delivery)
    w.clock.advance(120)
    await channel.send(delivery)
    first, second = await server.next_message(), await server.next_message()
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"] != second["Date"]


async def test_it_writes_english_for_an_english_channel(world: Any) -> None:
    w, server = world()
    incident_id = w.incident()
    w.estimate(incident_id)
    await w.channel("english").send(w.delivery("incident.opened", incident_id, "english"))
    message = await server.next_message()
    assert message["Subject"] == "[Vigie] Almerys — Optical pre-authorisation: outage"
    assert message["To"] == "alerts@federation.example, duty@federation.example"
    text, html = parts(message)
    for body in (flat(text), flat(unescape(html))):
        assert "Since November 30, 2026 at 2:05 PM" in body
        assert "Estimated recovery around 3:40 PM (between 2:50 PM and 5:30 PM, based on 23 past outages)" in body
        assert f"https://statut.example.org/incidents/{incident_id}?lang=en" in body
        assert PEC_FR not in body


async def test_it_joins_several_services_and_says_resolved(world: Any) -> None:
    w, server = world()
    incident_id = w.incident(("almerys/pec-optique", "almerys/pec-audio"))
    w.store.add_incident_update(incident_id, STARTED + 3600, "resolved", {"fr": "Tout est rétabli.", "en": "All good."})
    w.store.db.execute("UPDATE incidents SET status = 'resolved', resolved_at = ? WHERE id = ?", (STARTED + 3600, incident_id))
    await w.channel().send(w.delivery("incident.resolved", incident_id))
    message = await server.next_message()
    assert message["Subject"] == f"[Vigie] Almerys — Demande de prise en charge audio et {PEC_FR} : rétabli"
    text, _ = parts(message)
    assert "Incident résolu le 30 novembre 2026 à 15 h 05" in flat(text) and "Tout est rétabli." in text


async def test_it_gives_the_eta_the_operator_announced(world: Any) -> None:
    w, server = world()
    incident_id = w.incident()
    sixteen = datetime(2026, 11, 30, 16, 0, tzinfo=PARIS).timestamp()
    w.store.record_eta(incident_id, STARTED + 60, "operator", sixteen)
    await w.channel().send(w.delivery("incident.updated", incident_id))
    text, html = parts(await server.next_message())
    assert "Rétablissement annoncé par l’opérateur : 16 h 00" in flat(text)
    assert "Rétablissement annoncé par l’opérateur : 16 h 00" in flat(html)


@pytest.mark.parametrize(
    "kind, status, words",
    [
        ("maintenance.scheduled", "scheduled", "maintenance prévue"),
        ("maintenance.started", "in_progress", "maintenance en cours"),
        ("maintenance.ended", "completed", "maintenance terminée"),
        ("maintenance.ended", "cancelled", "maintenance annulée"),  # called off before it started
    ],
)
async def test_it_words_maintenance_subjects(world: Any, kind: str, status: str, words: str) -> None:
    w, server = world()
    starts = datetime(2026, 12, 1, 2, 0, tzinfo=PARIS).timestamp()
    window = w.store.add_maintenance(["almerys/pec-optique"], starts, starts + 7200,
                                     {"fr": "Mise à jour", "en": "Upgrade"}, {"fr": "Coupure de 2 h.", "en": "2 h cut."},
                                     w.clock.now())
    w.store.set_maintenance_status(window, status, w.clock.now())
    await w.channel().send(w.delivery(kind, window))
    message = await server.next_message()
    assert message["Subject"] == f"[Vigie] Almerys — {PEC_FR} : {words}"
    text, html = parts(message)
    assert "Début : 1er décembre 2026 à 2 h 00" in flat(text) and "Fin prévue : 1er décembre 2026 à 4 h 00" in flat(text)
    assert "Coupure de 2 h." in text and "Coupure de 2 h." in html


async def test_it_escapes_hostile_text_and_keeps_headers_single_line(world: Any) -> None:
    hostile = '<script>alert("x")</script>'
    w, server = world(operator="Almerys <b>gras</b>", service="PEC\\r\\nBcc: victim@example.org")
    await w.channel().send(w.delivery("incident.opened", w.incident(message=hostile)))
    message = await server.next_message()
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    assert message["Subject"] == "[Vigie] Almerys <b>gras</b> — PEC Bcc: victim@example.org : panne"
    assert message["X-Envelope-To"] == "alertes@fnof.example"
    text, html = parts(message)
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>gras</b>" not in html
    assert hostile in text  # plain text is shown as text, not interpreted


async def test_it_speaks_starttls_with_auth_and_a_password_from_the_environment(
    world: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    options = {"tls": "starttls", "cert": tmp_path / "server.pem", "key": tmp_path / "server.pem",
               "user": "vigie", "password": SECRET}
    smtp = f', starttls: true, username: vigie, password: "${{SMTP_PASSWORD}}", ca_file: "{tmp_path / "ca.pem"}"'
    caplog.set_level(logging.DEBUG)
    w, server = world(options, smtp=smtp, SMTP_PASSWORD=SECRET)
    assert w.config.alerts.smtp.password == SECRET
    await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert (await server.next_message())["Subject"].endswith(": panne")
    # a wrong password is retried (the config is at fault, not the message) and never shown
    bad = World(make_config(server.port, smtp.replace("SMTP_PASSWORD", "WRONG"), WRONG="not-" + SECRET), w.store, w.clock)
    with pytest.raises(TransportError) as failure:
        await bad.channel().send(w.delivery("incident.updated", 1))
    assert not failure.value.permanent and "authentication" in str(failure.value)
    assert SECRET not in str(failure.value) and SECRET not in caplog.text


async def test_it_speaks_implicit_tls(world: Any, tmp_path: Path) -> None:
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    options = {"tls": "implicit", "cert": tmp_path / "server.pem", "key": tmp_path / "server.pem"}
    w, server = world(options, smtp=f', tls: true, ca_file: "{tmp_path / "ca.pem"}"')
    await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert (await server.next_message())["Auto-Submitted"] == "auto-generated"
    # the same server without trusting its CA: a TLS failure, retried
    untrusted, _ = world(options, smtp=", tls: true")
    with pytest.raises(TransportError) as failure:
        await untrusted.channel().send(untrusted.delivery("incident.opened", untrusted.incident()))
    assert not failure.value.permanent


async def test_it_makes_a_550_refusal_permanent_and_masks_the_address(world: Any) -> None:
    w, _ = world({"mode": "refuse"})
    with pytest.raises(TransportError) as failure:
        await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert failure.value.permanent and "550" in str(failure.value)
    assert "alertes@fnof.example" not in str(failure.value) and "a***@f***.example" in str(failure.value)


async def test_it_retries_a_451_answer(world: Any) -> None:
    w, _ = world({"mode": "tempfail"})
    with pytest.raises(TransportError) as failure:
        await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert not failure.value.permanent and "451" in str(failure.value)


async def test_it_retries_a_server_that_never_answers_within_the_timeout(world: Any) -> None:
    w, _ = world({"mode": "silent"}, smtp="")
    w.config.alerts.smtp.timeout = 0.5  # type: ignore[union-attr]
    started = time.monotonic()
    with pytest.raises(TransportError) as failure:
        await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert not failure.value.permanent and "unreachable" in str(failure.value)
    assert time.monotonic() - started < 4


async def test_it_retries_a_dropped_connection(world: Any) -> None:
    w, _ = world({"mode": "drop"})
    with pytest.raises(TransportError) as failure:
        await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert not failure.value.permanent


async def test_it_retries_when_no_one_listens(world: Any) -> None:
    w, _ = world()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        w.config.alerts.smtp.port = free.getsockname()[1]  # type: ignore[union-attr]
    with pytest.raises(TransportError) as failure:
        await w.channel().send(w.delivery("incident.opened", w.incident()))
    assert not failure.value.permanent


async def test_it_gives_subscribers_a_one_click_unsubscribe(world: Any) -> None:
    w, server = world()
    subscriptions = Subscriptions(w.store, w.config, w.clock)
    subscriber_id = subscriptions.subscribe("Jeanne@Example.org", "en", Choices(operators=("almerys",)))
    database = Database(w.store.path)  # the mailer reads subscribers through the service's database
    await database.start()
    mailer = EmailChannel.for_subscriber(w.ctx, database)
    assert isinstance(mailer, SubscriberMailer) and mailer.kind == "email"
    incident_id = w.incident()
    pending_alert = w.delivery("incident.opened", incident_id, f"subscriber:{subscriber_id}")
    await mailer.send(pending_alert)  # not confirmed yet: nothing is sent
    w.store.db.execute("UPDATE subscribers SET confirmed_at = ? WHERE id = ?", (w.clock.now(), subscriber_id))
    delivery = w.delivery("incident.updated", incident_id, f"subscriber:{subscriber_id}")
    await mailer.send(delivery)
    message = await server.next_message()
    leave = w.store.subscriber(subscriber_id).leave_token  # type: ignore[union-attr]
    assert message["To"] == "Jeanne@Example.org"
    assert message["Subject"] == "[Vigie] Almerys — Optical pre-authorisation: outage"
    assert message["List-Unsubscribe"] == f"<https://statut.example.org/subscriptions/unsubscribe?token={leave}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == f"<vigie.{delivery.event.id}.subscriber-{subscriber_id}@statut.example.org>"
    assert server.messages()[-1]["Message-ID"] == message["Message-ID"] and len(server.messages()) == 1
    w.store.delete_subscriber(subscriber_id)
    await mailer.send(delivery)  # gone: nothing to send, and no error
    assert len(server.messages()) == 1
    await database.close()


async def test_it_tells_of_a_flapping_service_and_of_a_reminder(world: Any) -> None:
    w, server = world()
    data = {
        "service": {"id": "almerys/pec-optique", "name": {"fr": PEC_FR, "en": "Optical pre-authorisation"},
                    "status": "major_outage", "since": "2026-11-30T13:05:00Z"},
        "operator": {"id": "almerys", "name": "Almerys"},
        "flapping": {"service": "almerys/pec-optique", "state": "instable", "since": "2026-11-30T13:05:00Z",
                     "changes": 5, "window": 1800.0},
    }
    event_id = w.store.record_event("service.flapping", w.clock.now(), "almerys", ("almerys/pec-optique",), data, ["fnof"])
    [delivery] = [d for d in w.store.deliveries(channel="fnof") if d.event.id == event_id]
    await w.channel().send(delivery)
    message = await server.next_message()
    assert message["Subject"] == f"[Vigie] Almerys — {PEC_FR} : instable"
    text, _ = parts(message)
    assert "5 fois en 30 minutes" in flat(text) and "https://statut.example.org/operators/almerys" in text
    incident_id = w.incident()
    reminder = w.delivery("incident.updated", incident_id)
    reminder.event.data["reminder"] = True
    await w.channel().send(reminder)
    assert (await server.next_message())["Subject"] == f"[Vigie] Almerys — {PEC_FR} : panne (rappel)"


def test_it_writes_a_plain_test_message_for_vigie_alerts_test() -> None:
    from alerts.channels.email import alert_view, subject
    from monitor.storage.outbox import EventRow

    event = EventRow(0, "vigie.test", 1_800_000_000.0, None, (), {"message": "Essai depuis vigie alerts test", "test": True})
    for lang, words in (("fr", "[Vigie] Vigie : message de test"), ("en", "[Vigie] Vigie: test message")):
        view = alert_view(event, lang, ZoneInfo("Europe/Paris"), "https://statut.example.org")
        assert subject(view["operator"], view["services"], view["status"], lang) == words
        assert view["message"] == "Essai depuis vigie alerts test"


def surge(w: World, count: int, service: str = "almerys/pec-optique") -> None:
    """``count`` professionals report ``service`` over ten minutes up to now, and the engine judges them."""
    from monitor.engine import Engine

    engine = Engine(w.config, w.store, w.clock)
    for n in range(count):
        w.store.record_report(service, "pec-erreur-technique", f"reporter-{n}", w.clock.now() - 600 + n * 600 / count)
    engine.surges.tick()


async def test_an_incident_alert_says_what_backs_it_and_counts_the_reports(world: Any) -> None:
    w, server = world()
    incident_id = w.incident()
    surge(w, 12)
    delivery = w.delivery("incident.opened", incident_id)
    [service] = delivery.event.data["incident"]["services"]
    assert service["signals"] == ["probes", "reports"] and service["reports"]["count"] == 12  # the webhook's fields
    await w.channel().send(delivery)
    text, html = parts(await server.next_message())
    for body in (flat(text), flat(unescape(html))):
        assert "12 signalements de professionnels depuis 14 h 20" in body
        assert "D’après les tests de Vigie et les signalements des professionnels." in body


async def test_a_reports_surge_is_mailed_in_plain_words(world: Any) -> None:
    w, server = world()
    surge(w, 30)
    [row] = [e for e in w.store.events() if e.type == "reports.surge"]
    event_id = w.store.record_event(row.type, row.at, row.operator_id, row.services, row.data, ["fnof"])
    await w.channel().send(next(d for d in w.store.deliveries(channel="fnof") if d.event.id == event_id))
    message = await server.next_message()
    assert message["Subject"] == f"[Vigie] Almerys — {PEC_FR} : forte hausse des signalements"
    text, _ = parts(message)
    assert "De nombreux professionnels signalent des difficultés depuis 14 h 20 — 30 signalements" in flat(text)
    assert "Les tests de Vigie sur ce service : État inconnu." in flat(text)
