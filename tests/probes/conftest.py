"""Shared fixtures for the probe tests: real certificates and real servers.

Every test here runs twice: on asyncio's own event loop and on uvloop's, the
one the prober process uses; their transports differ in what they report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gzip
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme
import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probes.base import ProbeContext

UTC = dt.UTC


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


# --- certificates --------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Vigie Test CA")


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def good_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost", "::1", common_name="vigie-test.localhost")


@pytest.fixture(scope="session")
def good_tls(good_cert: trustme.LeafCert) -> ssl.SSLContext:
    return _server_context(good_cert)


@pytest.fixture(scope="session")
def expired_tls(ca: trustme.CA) -> ssl.SSLContext:
    cert = ca.issue_cert(
        "127.0.0.1",
        "localhost",
        not_before=dt.datetime(2020, 1, 1, tzinfo=UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=UTC),
    )
    return _server_context(cert)


@pytest.fixture(scope="session")
def wrong_host_tls(ca: trustme.CA) -> ssl.SSLContext:
    return _server_context(ca.issue_cert("wrong.example"))


@pytest.fixture(scope="session")
def named_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A certificate valid only for api.operator.example (for server_name)."""
    return _server_context(ca.issue_cert("api.operator.example"))


@pytest.fixture(scope="session")
def untrusted_ca_tls() -> ssl.SSLContext:
    """Issued by a CA the probe does not trust."""
    return _server_context(trustme.CA().issue_cert("127.0.0.1", "localhost"))


@pytest.fixture(scope="session")
def self_signed_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A leaf certificate that signs itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.localhost")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("self-signed")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


@pytest.fixture(scope="session")
def ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) here")


@pytest.fixture
def ctx() -> ProbeContext:
    return ProbeContext()


# --- an ordinary, well-behaved HTTP application --------------------------------


async def _index(request: web.Request) -> web.Response:
    response = web.Response(text="OK from Vigie test", headers={"X-Operator": "Almerys"})
    response.headers.add("X-Multi", "a")
    response.headers.add("X-Multi", "b")
    return response


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "path": request.path_qs,
            "headers": dict(request.headers),
            "body": (await request.read()).decode("utf-8", "replace"),
        }
    )


async def _bytes(request: web.Request) -> web.Response:
    return web.Response(body=b"b" * int(request.match_info["n"]))


async def _gzip(request: web.Request) -> web.Response:
    return web.Response(body=gzip.compress(b"compressed OK " * 100), headers={"Content-Encoding": "gzip"})


@functools.cache
def _bomb() -> bytes:
    # 16 MiB of zeros in 16 KB: what a decompression bomb looks like (made once, at start-up).
    return gzip.compress(bytes(16 * 1024 * 1024), 6)


async def _gzip_bomb(request: web.Request) -> web.Response:
    return web.Response(body=_bomb(), headers={"Content-Encoding": "gzip"})


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for part in (b"first ", b"second ", b"third"):
        await response.write(part)
    await response.write_eof()
    return response


async def _deflate(request: web.Request) -> web.Response:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(b"deflated OK " * 100) + raw.flush()
    return web.Response(body=body, headers={"Content-Encoding": "deflate"})


async def _redirect(request: web.Request) -> web.Response:
    hops = int(request.match_info["n"])
    if hops == 0:
        return web.Response(text="arrived")
    raise web.HTTPFound(f"/redirect/{hops - 1}")


async def _loop(request: web.Request) -> web.Response:
    other = "b" if request.match_info["side"] == "a" else "a"
    raise web.HTTPMovedPermanently(f"/loop/{other}")


async def _see_other(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/echo")


async def _elsewhere(request: web.Request) -> web.Response:
    # Same server, another host name: a different origin for the probe.
    raise web.HTTPFound(f"http://localhost:{request.url.port}/echo")


async def _to(request: web.Request) -> web.Response:
    # a hostile server sends the probe wherever it likes: ?url=…
    raise web.HTTPFound(request.query["url"])


def make_app() -> web.Application:
    _bomb()  # not while a probe's deadline runs
    app = web.Application()
    app.router.add_get("/", _index)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/bytes/{n}", _bytes)
    app.router.add_get("/gzip", _gzip)
    app.router.add_get("/deflate", _deflate)
    app.router.add_get("/gzip-bomb", _gzip_bomb)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/redirect/{n}", _redirect)
    app.router.add_get("/loop/{side}", _loop)
    app.router.add_post("/see-other", _see_other)
    app.router.add_get("/elsewhere", _elsewhere)
    app.router.add_get("/to", _to)
    return app


@pytest.fixture
async def start_site() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start the test app; returns its base URL (``http://127.0.0.1:PORT``)."""
    runners: list[web.AppRunner] = []

    async def start(ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> str:
        runner = web.AppRunner(make_app(), access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        netloc = f"[{host}]" if ":" in host else host
        return f"{scheme}://{netloc}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http_url(start_site: Callable[..., Awaitable[str]]) -> str:
    return await start_site()


@pytest.fixture
async def https_url(start_site: Callable[..., Awaitable[str]], good_tls: ssl.SSLContext) -> str:
    return await start_site(good_tls)
