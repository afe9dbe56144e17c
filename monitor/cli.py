"""The `vigie` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor import __version__
from monitor.config.errors import ConfigError
from monitor.durations import format_duration

if TYPE_CHECKING:
    from monitor.config import Config, Loaded

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def load_config(path: str) -> Loaded:
    """Read a config; imported here so that commands without one start at once."""
    from monitor.config.loader import load_config as load

    return load(path)


def default_config() -> str:
    return os.environ.get("VIGIE_CONFIG", "config.yaml")


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT', '[::1]:PORT' or ':PORT' -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


LISTEN = "127.0.0.1:8080"


def logging_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``-v`` and ``--log-format``, before the command or after it (``vigie run --log-format json``)."""
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="debug logs")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=argparse.SUPPRESS if suppress else os.environ.get("VIGIE_LOG_FORMAT", "text"),
        help="logs as text lines or JSON lines (default: $VIGIE_LOG_FORMAT or text)",
    )


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it takes ``-v`` and ``--log-format`` too, as ``vigie run --log-format json``.

    Their defaults are suppressed there, so that a command without them keeps
    what was given before it (``vigie --log-format json run``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        logging_options(self, suppress=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigie", description="Vigie — état du tiers payant: probes, status page, alerts.")
    parser.add_argument("--version", action="version", version=f"vigie {__version__}")
    logging_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", default=None, help="config file (default: $VIGIE_CONFIG or ./config.yaml)")

    p = commands.add_parser("validate", help="check a config file")
    with_config(p)
    p = commands.add_parser("schema", help="print the JSON Schema of config.yaml (for editors)")
    p = commands.add_parser("probe", help="run one check once, now, and explain the result")
    with_config(p)
    p.add_argument("check", metavar="OPERATOR/SERVICE/CHECK")
    p = commands.add_parser("run", help="run the whole service")
    with_config(p)
    p.add_argument("--listen", type=parse_listen, default=LISTEN, metavar="HOST:PORT",
                   help=f"address the status site, API and /metrics are served on (default: {LISTEN})")
    p.add_argument("--db", default="vigie.db", help="SQLite database (default: ./vigie.db)")
    p = commands.add_parser("demo", help="run everything against a simulated fleet on loopback")
    p.add_argument("--listen", type=parse_listen, default=LISTEN, metavar="HOST:PORT",
                   help=f"address the demo's status site is served on (default: {LISTEN})")
    p.add_argument("--db", default=None, help="SQLite database (default: a temporary file, removed on exit)")
    p.add_argument("--cycle", default="4m", help="length of the scripted scenario's loop (default: 4m)")
    p = commands.add_parser("export", help="write the public site as static files (HTML, API, feed, badges)")
    with_config(p)
    p.add_argument("--db", default="vigie.db", help="SQLite database to read (default: ./vigie.db)")
    p.add_argument("--base-path", default="/", metavar="/PATH/",
                   help="URL path OUTDIR is served from, for the links of 404.html (default: /)")
    p.add_argument("outdir", metavar="OUTDIR")
    p = commands.add_parser("eta", help="the recovery-time estimator")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("backtest", help="replay past outages in time order and score the ETAs")
    p.add_argument("-c", "--config", default=None, help="only the services of this config (default: every service)")
    p.add_argument("--db", default="vigie.db", help="SQLite database to read (default: ./vigie.db)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--synthetic", choices=["lognormal", "mixture", "pareto"], help="a reproducible synthetic history instead")
    source.add_argument("--history", metavar="FILE.csv", help="the outages of a file as `vigie history import` reads it, instead")
    p.add_argument("--seed", type=int, default=2024, help="seed of the synthetic history (default: 2024)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = commands.add_parser("history", help="the past outages the estimator learns from")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("import", help="seed past outages from a CSV file: service,started_at,ended_at[,source,note]")
    with_config(p)
    p.add_argument("--db", default="vigie.db", help="SQLite database (default: ./vigie.db)")
    p.add_argument("csv", metavar="FILE.csv")
    p = commands.add_parser("agent", help="a remote probe agent: run one location's checks, report to the central")
    p.add_argument("--central", required=True, metavar="URL", help="the central's URL, e.g. https://statut.example.org")
    p.add_argument("--location", required=True, metavar="ID", help="this agent's location id, as in the central's config")
    p.add_argument("--token-file", metavar="FILE", help="file holding the location's whsec_ secret (default: $VIGIE_AGENT_SECRET)")
    p.add_argument("--spool", metavar="DIR", help="results kept until delivered (default: ./vigie-spool-ID)")
    p.add_argument("--source-address", metavar="ADDR", help="local address the probes are sent from")
    from monitor.client import add_parsers

    add_parsers(commands)  # `incident …`, `maintenance …`: clients of a running instance
    p = commands.add_parser("alerts", help="alert channels and the outbox")
    alerts = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    q = alerts.add_parser("test", help="send a test message through a channel, now")
    with_config(q)
    q.add_argument("channel", metavar="CHANNEL")
    q = alerts.add_parser("outbox", help="show pending (or dead) deliveries from the database")
    with_config(q)
    q.add_argument("--db", default="vigie.db", help="SQLite database (default: ./vigie.db)")
    q.add_argument("--dead", action="store_true", help="only the dead deliveries")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from monitor.logs import setup_logging

    setup_logging(args.log_format, args.verbose)
    try:
        if args.command == "validate":
            return cmd_validate(args.config or default_config())
        if args.command == "schema":
            return cmd_schema()
        if args.command == "probe":
            return cmd_probe(args.config or default_config(), args.check)
        if args.command == "run":
            return cmd_run(args.config or default_config(), args.listen, args.db)
        if args.command == "agent":
            from monitor.agent.remote import cmd_agent

            return cmd_agent(args.central, args.location, args.token_file, args.spool, args.source_address)
        if args.command == "demo":
            from monitor.demo.cli import cmd_demo

            return cmd_demo(args.listen, args.db, args.cycle, args.log_format, args.verbose)
        if args.command == "export":
            from status_site.export import cmd_export

            return cmd_export(args.config or default_config(), args.db, args.outdir, args.base_path)
        if args.command == "eta":
            from monitor.backtest import cmd_backtest

            return cmd_backtest(args.config, args.db, args.synthetic, args.json, args.seed, args.history)
        if args.command == "history":
            from monitor.history_import import cmd_history_import

            return cmd_history_import(args.config or default_config(), args.db, args.csv)
        if args.command == "alerts":
            if args.alerts_command == "test":
                return asyncio.run(cmd_alerts_test(args.config or default_config(), args.channel))
            return cmd_alerts_outbox(args.db, args.dead)
        if args.command in ("incident", "maintenance"):
            from monitor.client import cmd_admin

            return cmd_admin(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:  # e.g. the port is taken
        print(f"vigie {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except sqlite3.DatabaseError as exc:  # not writable, not a database, a newer schema…
        print(f"vigie {args.command}: cannot use the database {getattr(args, 'db', '')!s}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_USAGE


def cmd_validate(path: str) -> int:
    loaded = load_config(path)
    for warning in loaded.warnings:
        print(f"{warning} (warning)", file=sys.stderr)
    print(summary(path, loaded.config))
    return EXIT_OK


def summary(path: str, config: Config) -> str:
    checks = [c for _, _, c in config.iter_checks()]
    services = sum(len(o.services) for o in config.operators)
    types = Counter(c.type for c in checks)
    intervals = [c.interval for c in checks if c.interval is not None]  # all: Config._inherit_defaults filled them
    per_minute = sum(60.0 / interval for interval in intervals)
    lines = [
        f"{path}: OK",
        f"  {count(len(config.operators), 'operator')}, {count(services, 'service')}, {count(len(checks), 'check')} "
        f"({', '.join(f'{kind} {n}' for kind, n in sorted(types.items()))})",
        f"  {per_minute:.1f} probes per minute; {'interval' if len(set(intervals)) == 1 else 'intervals'} "
        + ", ".join(sorted({format_duration(interval) for interval in intervals})),
        f"  {count(len(config.alerts.channels), 'alert channel')}",
    ]
    used = config.location_ids()
    if used != ["local"]:
        counts = Counter(i for c in checks for i in (c.locations or ["local"]))
        lines.append("  locations: " + ", ".join(f"{i} ({count(counts[i], 'check')})" for i in used))
    for operator in config.operators:
        names = ", ".join(s.id for s in operator.services)
        lines.append(f"  - {operator.id} ({operator.name}): {names}")
    return "\n".join(lines)


def count(n: int, thing: str) -> str:
    """``1 check``, ``2 checks``, ``0 checks``: English plurals, for the summaries people read."""
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def cmd_schema() -> int:
    from monitor.config.model import Config

    schema = Config.model_json_schema(by_alias=True)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Vigie config.yaml", **schema}
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_probe(path: str, key: str) -> int:
    from monitor.explain import explain_probe

    config = load_config(path).config
    found = config.find_check(key)
    if found is None:
        known = "\n  ".join(config.check_keys())
        print(f"vigie probe: unknown check {key!r}; known checks:\n  {known}", file=sys.stderr)
        return EXIT_USAGE
    if found[2].type in ("feed", "push"):
        print(f"vigie probe: {key} is a {found[2].type} check: it is judged from what is sent to Vigie, "
              "not probed (docs/feeds.md)", file=sys.stderr)
        return EXIT_USAGE
    passed, text = asyncio.run(explain_probe(found[2]))
    print(text)
    return EXIT_OK if passed else EXIT_FAIL


async def cmd_alerts_test(path: str, channel_id: str) -> int:
    """Send a test message through the real channel (no outbox, no retry) and say how it went."""
    from alerts.channels.base import ChannelContext, TransportError
    from alerts.registry import build_channel
    from monitor.clock import SystemClock
    from monitor.storage.outbox import Delivery, EventRow

    config = load_config(path).config
    spec = next((c for c in config.alerts.channels if c.id == channel_id), None)
    if spec is None:
        known = ", ".join(c.id for c in config.alerts.channels) or "none"
        print(f"vigie alerts test: unknown channel {channel_id!r}; channels: {known}", file=sys.stderr)
        return EXIT_USAGE
    channel = build_channel(spec, ChannelContext(config, SystemClock(), {}))
    if channel is None:
        print(f"vigie alerts test: no {spec.type} channel in this build", file=sys.stderr)
        return EXIT_FAIL
    now = SystemClock().now()
    from monitor.words import alert_test_message

    message = alert_test_message()
    event = EventRow(0, "vigie.test", now, None, (), {"message": message, "test": True})
    try:
        await channel.send(Delivery(0, event, spec.id, "pending", 0, now, None, now))
    except TransportError as exc:
        print(f"{spec.id}: FAILED ({'permanent' if exc.permanent else 'would be retried'}): {exc}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        await channel.close()
    print(f"{spec.id}: test message sent ({spec.type})")
    return EXIT_OK


def cmd_alerts_outbox(db: str, dead_only: bool) -> int:
    """Pending and dead deliveries, oldest first, with their last error."""
    from datetime import datetime

    from monitor.storage import Store

    if not Path(db).exists():
        print(f"vigie alerts outbox: no database at {db}", file=sys.stderr)
        return EXIT_FAIL
    store = Store(db)
    try:
        statuses = ["dead"] if dead_only else ["pending", "dead"]
        rows = [d for status in statuses for d in store.deliveries(status=status, limit=1000)]
        counts = store.outbox_counts()
    finally:
        store.close()
    totals: Counter[str] = Counter()
    for (_, status), n in counts.items():
        totals[status] += n
    print("outbox: " + ", ".join(f"{status} {totals[status]}" for status in ("pending", "delivered", "dead", "suppressed")))

    def when(at: float) -> str:
        return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")

    for d in sorted(rows, key=lambda d: d.id):
        retry = f" next {when(d.next_attempt_at)}" if d.status == "pending" else ""
        error = f" — {d.last_error}" if d.last_error else ""
        print(f"#{d.id} {d.status:<7} {d.channel} {d.event.type} (event {d.event.id}, {when(d.event.at)}) "
              f"attempts {d.attempts}{retry}{error}")
    return EXIT_OK


def cmd_run(path: str, listen: tuple[str, int], db: str) -> int:
    loaded = load_config(path)
    for warning in loaded.warnings:
        print(f"{warning} (warning)", file=sys.stderr)
    from monitor.service import create_app

    app = create_app(loaded.config, db, verbose=logging.getLogger("vigie").isEnabledFor(logging.DEBUG))
    asyncio.run(serve(app, *listen))
    return EXIT_OK


async def serve(app, host: str, port: int, started=None) -> None:
    """Serve ``app`` behind the connection guards (`monitor.serving`) until SIGINT or SIGTERM."""
    from monitor.serving import ServerLimits
    from monitor.serving import serve as serve_guarded
    from status_site.keys import CONFIG, REGISTRY

    limits = ServerLimits.from_config(app[CONFIG].site.limits)
    await serve_guarded(app, host, port, limits, started, registry=app[REGISTRY])
