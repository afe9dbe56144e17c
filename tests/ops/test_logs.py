"""Structured logs: JSON lines that parse, carry check ids, and never show a secret or an address."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from monitor.logs import redact, setup_logging
from tests.ops.conftest import Demo, wait_for


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("json", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_it_writes_one_json_object_a_line_with_the_check(json_log: io.StringIO) -> None:
    logging.getLogger("vigie.engine").info("check %s: %s -> %s", "almerys/pec-optique/portail", "up", "down")
    [line] = lines(json_log)
    assert line["level"] == "info" and line["logger"] == "vigie.engine"
    assert line["message"] == "check almerys/pec-optique/portail: up -> down"
    assert (line["check"], line["operator"], line["service"]) == ("almerys/pec-optique/portail", "almerys", "pec-optique")
    assert line["time"].endswith("+00:00")


def test_it_keeps_extra_fields(json_log: io.StringIO) -> None:
    logging.getLogger("vigie.alerts").warning("delivery failed", extra={"channel": "webhook-fnof", "attempt": 3})
    [line] = lines(json_log)
    assert line["channel"] == "webhook-fnof" and line["attempt"] == 3


@pytest.mark.parametrize(
    "secret, shown",
    [
        ("to alice.martin@gmail.com", "to ***@gmail.com"),
        ("Authorization: Bearer s3cr3t-t0ken-value", "Authorization: Bearer ***"),
        ("authorization=Basic dXNlcjpwYXNz", "authorization=Basic ***"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret whsec_***"),
        ("smtp://vigie:hunter2@mail.example.org:587", "smtp://***@mail.example.org:587"),
        ("GET /confirm?token=abcdef123&lang=fr", "GET /confirm?token=***&lang=fr"),
        ("password: 'p4ss'", "password: '***'"),
    ],
)
def test_it_masks_secrets_and_addresses(json_log: io.StringIO, secret: str, shown: str) -> None:
    assert redact(secret) == shown
    assert redact(shown) == shown  # masking twice changes nothing
    logging.getLogger("vigie.alerts").error("sending %s failed", secret, extra={"detail": secret})
    [line] = lines(json_log)
    assert line["message"] == f"sending {shown} failed" and line["detail"] == shown


def test_it_masks_tracebacks(json_log: io.StringIO) -> None:
    try:
        raise ValueError("rejected recipient bob@example.org with whsec_abcdef")
    except ValueError:
        logging.getLogger("vigie.alerts").exception("delivery crashed")
    [line] = lines(json_log)
    assert "bob@" not in line["exception"] and "whsec_abcdef" not in line["exception"]
    assert "***@example.org" in line["exception"] and "ValueError" in line["exception"]


def test_it_writes_text_lines_by_default() -> None:
    stream = io.StringIO()
    handler = setup_logging(stream=stream)
    try:
        logging.getLogger("vigie.site").warning("subscriber %s confirmed", "claire@example.fr")
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("WARNING vigie.site: subscriber ***@example.fr confirmed")


def test_it_logs_json_lines_with_check_ids_from_the_running_demo(demo: Demo) -> None:
    def flips_logged() -> list[dict] | None:
        parsed = [json.loads(line) for line in demo.stderr.read_text().splitlines() if line.strip()]
        flips = [p for p in parsed if p["logger"] == "vigie.engine" and p["message"].startswith("check ")]
        return parsed if flips else None

    parsed = wait_for("a check flip logged by the demo", flips_logged, 30, demo.process)
    assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed)
    flip = next(p for p in parsed if p["logger"] == "vigie.engine" and p["message"].startswith("check "))
    assert flip["message"].startswith(f"check {flip['check']}:")
    assert flip["check"] == f"{flip['operator']}/{flip['service']}/{flip['check'].rsplit('/', 1)[1]}"
