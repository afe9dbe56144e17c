"""A real SMTP server (aiosmtpd) in its own process, for the email tests.

``SmtpServer.start(directory, mode=…)`` runs this file as a child process on
127.0.0.1, port 0; the child prints its port, then writes every message it
accepts to ``directory`` as ``NNNN.eml`` (written to a temporary name and
renamed, so a reader never sees half a message). Modes:

- ``accept``: takes everything; ``tls=implicit|starttls`` with a cert/key,
  ``user``/``password`` to require AUTH (LOGIN/PLAIN);
- ``refuse``: answers ``550 5.1.1`` to every RCPT;
- ``tempfail``: answers ``451 4.3.0`` to every RCPT;
- ``drop``: closes the connection when the message's DATA begins;
- ``silent``: a raw socket that accepts connections and never says a word.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

# -- the child process ----------------------------------------------------------------


class Handler:
    def __init__(self, directory: Path, mode: str) -> None:
        self.directory = directory
        self.mode = mode
        self.count = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.mode == "refuse":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if self.mode == "tempfail":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.mode == "drop":
            server.transport.close()
            return "421 closing"
        self.count += 1
        name = f"{os.getpid()}-{self.count:04d}"
        temporary = self.directory / f".{name}.tmp"
        envelope_lines = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        temporary.write_bytes(envelope_lines.encode() + envelope.original_content)
        temporary.rename(self.directory / f"{name}.eml")
        return "250 Message accepted"


async def _silent(sock: socket.socket) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(never_answer, sock=sock)
    async with server:
        await server.serve_forever()


async def _serve(args: argparse.Namespace) -> None:
    from aiosmtpd.smtp import SMTP, AuthResult

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(sock.getsockname()[1], flush=True)
    if args.mode == "silent":
        await _silent(sock)
        return
    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    handler = Handler(Path(args.directory), args.mode)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = auth_data.login.decode() == args.user and auth_data.password.decode() == args.password
        return AuthResult(success=ok, handled=False)

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="smtp.test",
            tls_context=context if args.tls == "starttls" else None,
            require_starttls=args.tls == "starttls",
            authenticator=authenticate if args.user else None,
            auth_required=bool(args.user),
            auth_require_tls=args.tls != "none",
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, sock=sock, ssl=context if args.tls == "implicit" else None)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--mode", default="accept", choices=["accept", "refuse", "tempfail", "drop", "silent"])
    parser.add_argument("--tls", default="none", choices=["none", "starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


# -- the test side --------------------------------------------------------------------


@dataclass
class SmtpServer:
    """A handle on the child: its port, and the messages it received."""

    process: subprocess.Popen[str]
    port: int
    directory: Path
    seen: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, directory: Path, mode: str = "accept", tls: str = "none", cert: Path | None = None,
              key: Path | None = None, user: str | None = None, password: str | None = None) -> SmtpServer:
        directory.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, str(directory), "--mode", mode, "--tls", tls]
        if cert and key:
            command += ["--cert", str(cert), "--key", str(key)]
        if user:
            command += ["--user", user, "--password", password or ""]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            process.kill()
            raise RuntimeError(f"SMTP server did not start: {line!r}")
        return cls(process, int(line), directory)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first, parsed with the `email` package."""
        return [_parse(path) for path in sorted(self.directory.glob("*.eml"))]

    async def next_message(self, timeout: float = 5.0) -> EmailMessage:
        """The next message not returned yet (a real server: it may take a moment to land)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in sorted(self.directory.glob("*.eml")):
                if path.name not in self.seen:
                    self.seen.add(path.name)
                    return _parse(path)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no message arrived within {timeout}s")


def _parse(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


if __name__ != "__main__":  # the child process does not need pytest (and starts faster without it)
    import pytest

    @pytest.fixture
    def smtp_servers(tmp_path: Path) -> Iterator[Callable[..., SmtpServer]]:
        """Start SMTP servers (``smtp_servers(mode=…, tls=…)``); each is stopped after the test."""
        started: list[SmtpServer] = []

        def start(**options: Any) -> SmtpServer:
            server = SmtpServer.start(tmp_path / f"smtp-{len(started)}", **options)
            started.append(server)
            return server

        yield start
        for server in started:
            server.stop()


if __name__ == "__main__":
    main()
