"""What mail readers take from Vigie's headers (issue 12, item 17): the unsubscribe link and the language.

Read back as raw bytes from a real SMTP server (aiosmtpd) and parsed by npm
``mailparser``, a parser nobody here wrote, as mail clients and providers parse.
"""

from __future__ import annotations

import json
from typing import Any

from alerts.channels.email import EmailChannel
from alerts.subscriptions import Choices, Subscriptions
from monitor.storage.database import Database
from tests import clients
from tests.alerts.smtp_server import SmtpServer, smtp_servers  # noqa: F401 - a fixture
from tests.alerts.test_email import world  # noqa: F401 - a fixture


async def subscriber_mail(w: Any, server: SmtpServer, language: str) -> tuple[bytes, str]:
    """An alert to a confirmed subscriber of ``language``, as the relay received it; and their leave token."""
    subscriber_id = Subscriptions(w.store, w.config, w.clock).subscribe(
        "jeanne@example.org", language, Choices(operators=("almerys",)))
    w.store.db.execute("UPDATE subscribers SET confirmed_at = ? WHERE id = ?", (w.clock.now(), subscriber_id))
    database = Database(w.store.path)
    await database.start()
    try:
        mailer = EmailChannel.for_subscriber(w.ctx, database)
        await mailer.send(w.delivery("incident.opened", w.incident(), f"subscriber:{subscriber_id}"))
    finally:
        await database.close()
    await server.next_message()
    raw = sorted(server.directory.glob("*.eml"))[-1].read_bytes()
    return raw, w.store.subscriber(subscriber_id).leave_token


def header_lines(raw: bytes, name: str) -> list[bytes]:
    """The physical lines of header ``name`` (its first line and any continuation)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(head) if line.lower().startswith(name.lower().encode() + b":"))
    end = start + 1
    while end < len(head) and head[end][:1] in (b" ", b"\t"):
        end += 1
    return head[start:end]


async def test_it_sends_list_unsubscribe_as_a_plain_url_on_one_line(world: Any) -> None:
    w, server = world()
    raw, leave = await subscriber_mail(w, server, "fr")
    url = f"https://statut.example.org/subscriptions/unsubscribe?token={leave}"
    assert header_lines(raw, "List-Unsubscribe") == [f"List-Unsubscribe: <{url}>".encode()]
    assert b"=?utf-8?" not in b"".join(header_lines(raw, "List-Unsubscribe"))
    assert header_lines(raw, "List-Unsubscribe-Post") == [b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"]


async def test_it_says_the_language_of_the_mail(world: Any) -> None:
    w, server = world()
    french, _ = await subscriber_mail(w, server, "fr")
    assert header_lines(french, "Content-Language") == [b"Content-Language: fr"]
    english, _ = await subscriber_mail(w, server, "en")
    assert header_lines(english, "Content-Language") == [b"Content-Language: en"]


async def test_it_gives_mailparser_the_one_click_unsubscribe_link(world: Any) -> None:
    command = clients.node_script("mailparser.js")
    w, server = world()
    raw, leave = await subscriber_mail(w, server, "en")
    parsed = json.loads(await clients.run(command, stdin=raw))
    assert parsed["unsubscribe"]["url"] == f"https://statut.example.org/subscriptions/unsubscribe?token={leave}"
    assert parsed["unsubscribePost"] == "List-Unsubscribe=One-Click"
    assert parsed["language"] == "en"
    assert parsed["subject"] == "[Vigie] Almerys — Optical pre-authorisation: outage"
