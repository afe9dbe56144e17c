"""`vigie incident …` and `vigie maintenance …`: a small client of a running instance's admin API.

The commands only speak HTTP (`/api/admin/…`, bearer token from
``$VIGIE_ADMIN_TOKEN`` or ``--token-file``); the running service validates and
writes. Times the user types go through `parse_time`, which the admin API uses
too, so "16:00" means the same thing on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from monitor.statuses import INCIDENT_STATUSES, OPEN_INCIDENT_STATUSES, IncidentStatus
from monitor.words import Sentences

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 15.0  # seconds for one request
_CLOCK_TIME = re.compile(r"(\d{1,2})[:hH](\d{2})?")


def parse_time(text: str, now: float, tz: str | tzinfo = "Europe/Paris") -> float:
    """'HH:MM' (or '16h', '16h30') -> the next such time in ``tz``; ISO-8601 with an offset -> itself.

    Returns epoch seconds; raises ValueError with a message fit for a user.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    text = text.strip()
    clock_time = _CLOCK_TIME.fullmatch(text)
    if clock_time:
        hour, minute = int(clock_time.group(1)), int(clock_time.group(2) or 0)
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} is not a time of day")
        today = datetime.fromtimestamp(now, zone).date()
        for day in (today, today + timedelta(days=1)):
            at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()
            if at > now:
                return at
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither HH:MM nor an ISO-8601 time such as 2026-12-01T22:00+01:00") from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} needs a UTC offset, e.g. {when.isoformat(timespec='minutes')}+01:00")
    return when.timestamp()


class ClientError(Exception):
    """What the user is told on stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


class AdminClient:
    """Calls a running Vigie's admin API and returns the decoded JSON."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # a proxy from the environment must not swallow requests to this machine
        handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
        self.opener = urllib.request.build_opener(*handlers)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ClientError(_server_error(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach Vigie at {self.url}: {reason}") from None
        except ValueError:
            raise ClientError(f"{self.url} did not answer with JSON: is it a Vigie instance?") from None


def _server_error(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        message = f"{error['message']} ({exc.code})"
        details = "".join(f"\n  {d.get('field') or 'body'}: {d['message']}" for d in error.get("details") or [])
        return message + details
    except Exception:  # noqa: BLE001 - not our JSON: say what the server said
        return f"HTTP {exc.code} {exc.reason}"


# -- the command line --------------------------------------------------------------


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add `incident` and `maintenance` with their subcommands to `vigie`'s parser."""

    def connection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=None, help=f"the running Vigie (default: $VIGIE_URL or {DEFAULT_URL})")
        p.add_argument("--token-file", default=None, help="file holding the admin token (default: $VIGIE_ADMIN_TOKEN)")

    def texts(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("--message", required=required, help="message in French")
        p.add_argument("--message-en", default=None, help="message in English")

    incident = commands.add_parser("incident", help="open, update, resolve or list incidents on a running Vigie")
    actions = incident.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("open", help="open a manual incident")
    connection(p)
    p.add_argument("operator", metavar="OPERATOR")
    p.add_argument("--services", required=True, help="comma-separated OPERATOR/SERVICE (or SERVICE of OPERATOR)")
    p.add_argument("--title", required=True, help="title in French")
    p.add_argument("--title-en", default=None, help="title in English")
    texts(p)
    p.add_argument("--status", choices=[s.value for s in OPEN_INCIDENT_STATUSES], default=IncidentStatus.INVESTIGATING.value)
    p.add_argument("--eta", default=None, help="announced recovery: HH:MM (Paris time) or ISO-8601 with offset")
    p = actions.add_parser("update", help="post an update: message, status, announced ETA; reopen or take over")
    connection(p)
    p.add_argument("id", type=int, metavar="ID")
    texts(p)
    p.add_argument("--status", choices=[s.value for s in INCIDENT_STATUSES], default=None)
    eta = p.add_mutually_exclusive_group()
    eta.add_argument("--eta", default=None, help="announced recovery: HH:MM (Paris time) or ISO-8601 with offset")
    eta.add_argument("--clear-eta", action="store_true", help="withdraw the announced ETA")
    p.add_argument("--take-over", action="store_true", help="Vigie stops resolving this incident on its own")
    p = actions.add_parser("resolve", help="resolve an incident")
    connection(p)
    p.add_argument("id", type=int, metavar="ID")
    texts(p)
    p = actions.add_parser("list", help="list open incidents")
    connection(p)
    p.add_argument("--all", action="store_true", help="resolved ones too")

    maintenance = commands.add_parser("maintenance", help="plan, list or cancel maintenance windows on a running Vigie")
    actions = maintenance.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("add", help="plan a maintenance window")
    connection(p)
    p.add_argument("--services", required=True, help="comma-separated OPERATOR/SERVICE")
    p.add_argument("--start", required=True, help="ISO-8601 with offset (or HH:MM, Paris time)")
    p.add_argument("--end", required=True, help="ISO-8601 with offset (or HH:MM, Paris time)")
    p.add_argument("--title", required=True, help="title in French")
    p.add_argument("--title-en", default=None, help="title in English")
    texts(p)
    p = actions.add_parser("list", help="list windows not over yet")
    connection(p)
    p.add_argument("--all", action="store_true", help="past and cancelled ones too")
    p = actions.add_parser("cancel", help="cancel a window (or end one in progress now)")
    connection(p)
    p.add_argument("id", type=int, metavar="ID")


def cmd_admin(args: argparse.Namespace) -> int:
    """Run `vigie incident …` / `vigie maintenance …`; errors are one line on stderr, never a traceback."""
    try:
        client = AdminClient(args.url or os.environ.get("VIGIE_URL") or DEFAULT_URL, _token(args.token_file))
        print(COMMANDS[args.command, args.action](client, args))
        return EXIT_OK
    except ClientError as exc:
        print(f"vigie {args.command} {args.action}: {exc}", file=sys.stderr)
        return exc.code


def _token(token_file: str | None) -> str:
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise ClientError(f"cannot read the token file: {exc}", EXIT_USAGE) from None
    else:
        token = os.environ.get("VIGIE_ADMIN_TOKEN", "").strip()
    if not token:
        raise ClientError("no admin token: set VIGIE_ADMIN_TOKEN or pass --token-file", EXIT_USAGE)
    return token


def _checked_time(text: str, option: str) -> str:
    """Refuse a malformed time before asking the server; the server resolves it with its own clock."""
    try:
        parse_time(text, time.time())
    except ValueError as exc:
        raise ClientError(f"{option}: {exc}", EXIT_USAGE) from None
    return text


def _texts(fr: str, en: str | None) -> dict[str, str]:
    return {"fr": fr} if en is None else {"fr": fr, "en": en}


def _services(text: str, operator: str | None = None) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if operator is not None:
        names = [s if "/" in s else f"{operator}/{s}" for s in names]
    return names


def incident_open(client: AdminClient, args: argparse.Namespace) -> str:
    body: dict[str, Any] = {
        "operator": args.operator,
        "services": _services(args.services, args.operator),
        "title": _texts(args.title, args.title_en),
        "message": _texts(args.message, args.message_en),
        "status": args.status,
    }
    if args.eta is not None:
        body["eta"] = _checked_time(args.eta, "--eta")
    return "opened " + show_incident(client.call("POST", "/api/admin/incidents", body))


def incident_update(client: AdminClient, args: argparse.Namespace) -> str:
    body: dict[str, Any] = {"message": _texts(args.message, args.message_en)}
    if args.status is not None:
        body["status"] = args.status
    if args.eta is not None:
        body["eta"] = _checked_time(args.eta, "--eta")
    if args.clear_eta:
        body["clear_eta"] = True
    if args.take_over:
        body["take_over"] = True
    return "updated " + show_incident(client.call("POST", f"/api/admin/incidents/{args.id}/updates", body))


def incident_resolve(client: AdminClient, args: argparse.Namespace) -> str:
    body = {"message": _texts(args.message, args.message_en)}
    return "resolved " + show_incident(client.call("POST", f"/api/admin/incidents/{args.id}/resolve", body))


def incident_list(client: AdminClient, args: argparse.Namespace) -> str:
    incidents = client.call("GET", "/api/admin/incidents?status=" + ("all" if args.all else "open"))["incidents"]
    if not incidents:
        return "no incidents" if args.all else "no open incidents"
    return "\n".join(show_incident(i) for i in incidents)


def maintenance_add(client: AdminClient, args: argparse.Namespace) -> str:
    body = {
        "services": _services(args.services),
        "starts_at": _checked_time(args.start, "--start"),
        "ends_at": _checked_time(args.end, "--end"),
        "title": _texts(args.title, args.title_en),
        "message": _texts(args.message, args.message_en),
    }
    return "scheduled " + show_maintenance(client.call("POST", "/api/admin/maintenances", body))


def maintenance_list(client: AdminClient, args: argparse.Namespace) -> str:
    windows = client.call("GET", "/api/admin/maintenances?status=" + ("all" if args.all else "upcoming"))
    if not windows["maintenances"]:
        return "no maintenance windows"
    return "\n".join(show_maintenance(m) for m in windows["maintenances"])


def maintenance_cancel(client: AdminClient, args: argparse.Namespace) -> str:
    return "cancelled " + show_maintenance(client.call("POST", f"/api/admin/maintenances/{args.id}/cancel", {}))


COMMANDS = {
    ("incident", "open"): incident_open,
    ("incident", "update"): incident_update,
    ("incident", "resolve"): incident_resolve,
    ("incident", "list"): incident_list,
    ("maintenance", "add"): maintenance_add,
    ("maintenance", "list"): maintenance_list,
    ("maintenance", "cancel"): maintenance_cancel,
}


# -- showing what the server answered ------------------------------------------------


ENGLISH = Sentences("en", "UTC")  # only its words: times are the server's, shown as it gave them


def _safe(text: str) -> str:
    """Text from the server as printable characters: an escape sequence must not drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _at(iso: str | None) -> str:
    """The server's ISO time (in the site's time zone) as 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M") if iso else "-"


def show_incident(incident: dict[str, Any]) -> str:
    kind = "automatic" if incident["auto"] else "manual"
    lines = [f"incident #{incident['id']} [{incident['status']}] {_safe(incident['title']['fr'])} ({incident['operator']}, {kind})"]
    lines.append("  services: " + ", ".join(s["service"] for s in incident["services"]))
    times = f"  started {_at(incident['started_at'])}"
    if incident["resolved_at"]:
        times += f", resolved {_at(incident['resolved_at'])}"
    eta = incident.get("eta")
    if incident["announced_eta"]:
        times += f", ETA announced {_at(incident['announced_eta'])}"
    elif eta and eta.get("expected_at"):
        rests_on = ENGLISH.basis(int(eta.get("basis") or 0), eta.get("service_basis"))  # the page's words, in English
        times += f", ETA estimated {_at(eta['expected_at'])} (from {rests_on})"
    lines.append(times)
    if incident["updates"]:
        latest = incident["updates"][0]
        lines.append(f"  latest update {_at(latest['at'])} [{latest['status']}]: {_safe(latest['message']['fr'])}")
    return "\n".join(lines)


def show_maintenance(window: dict[str, Any]) -> str:
    return (
        f"maintenance #{window['id']} [{window['status']}] {_safe(window['title']['fr'])}\n"
        f"  {_at(window['starts_at'])} → {_at(window['ends_at'])} on {', '.join(window['services'])}"
    )
