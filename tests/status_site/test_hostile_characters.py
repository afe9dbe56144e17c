"""Control and bidi characters from an operator's name or an incident's text never reach a page or a mail raw: they
read as U+FFFD, visibly (issue 13, item 6)."""

from __future__ import annotations

import html

from alerts.views import alert_view
from monitor.words.languages import neutralize
from tests.status_site.conftest import MakeSite

# a right-to-left override that would show "exe.gnp" as "png.exe", an isolate, a terminal escape, a NUL
HOSTILE = "Alme\u202eexe.gnp\u202c\u2066rys\u2069 \x1b[31m\x00"
RAW = ("\u202e", "\u202c", "\u2066", "\u2069", "\x1b", "\x00")


async def test_no_control_or_bidi_character_reaches_the_pages(make_site: MakeSite) -> None:
    site = await make_site(almerys=HOSTILE.replace("\\", "\\\\").encode("unicode_escape").decode())
    await site.all_up()
    await site.fail("almerys/pec-optique")
    [incident] = await site.read(lambda store: [i.id for i in store.open_incidents()])
    for path in ("/", "/operators/almerys", "/history", f"/incidents/{incident}"):
        _, body = await site.get(path)
        assert not [c for c in RAW if c in body], path
        assert "Alme\ufffdexe.gnp" in html.unescape(body), path


def test_markup_stays_markup_and_plain_text_is_left_alone() -> None:
    from markupsafe import Markup

    assert neutralize("Almerys : PEC indisponible") == "Almerys : PEC indisponible"
    cleaned = neutralize(Markup("<b>A\u202eB</b>"))
    assert isinstance(cleaned, Markup) and cleaned == Markup("<b>A\ufffdB</b>")
    assert neutralize("ligne 1\nligne 2\tfin") == "ligne 1\nligne 2\tfin"
    assert neutralize(42) == 42


def test_no_control_or_bidi_character_reaches_a_mail() -> None:
    from alerts.channels.email import TEMPLATES

    event_data = {"incident": {"id": "1", "status": "investigating", "title": {"fr": HOSTILE}, "services": [],
                               "started_at": "2026-11-30T13:05:00Z", "url": "https://x/incidents/1",
                               "latest_update": {"status": "investigating", "message": {"fr": HOSTILE}, "at": None}},
                  "operator": {"id": "almerys", "name": HOSTILE}}

    class Event:
        type, at, operator_id, services, data = "incident.opened", 1_796_000_000.0, "almerys", (), event_data

    from zoneinfo import ZoneInfo

    view = alert_view(Event(), "fr", ZoneInfo("Europe/Paris"))  # type: ignore[arg-type]
    from monitor.words.alerts import mail_words

    for name in ("incident.txt", "incident.html"):
        body = TEMPLATES.get_template(name).render({**view, "lang": "fr", "w": mail_words("fr"), "subject": "s",
                                                    "unsubscribe_url": None})
        assert not [c for c in RAW if c in body], name
        assert "\ufffd" in body
