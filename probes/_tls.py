"""TLS helpers shared by the http, tcp and tls probes.

SSL contexts built from ``TlsOptions``, the leaf certificate read with
``cryptography`` (so it works when verification is off), and verification
failures turned into precise, human-readable reasons.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from monitor.config.model import TlsOptions
from probes.base import CertInfo

# OpenSSL X509_V_ERR_* codes (stable across OpenSSL versions) and how we word them.
_VERIFY_REASONS: dict[int, str] = {
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in chain",
    20: "unknown CA (unable to get local issuer certificate)",
    21: "unknown CA (unable to verify the first certificate)",
    23: "certificate has been revoked",
    24: "invalid CA certificate",
    26: "certificate is not valid for server authentication",
}
HOSTNAME_MISMATCH_CODES = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH


class TlsConfigError(ValueError):
    """The TLS options cannot be turned into a context (e.g. an unreadable ca_file)."""


def make_context(
    options: TlsOptions | None, *, verify: bool | None = None, alpn: tuple[str, ...] = ()
) -> ssl.SSLContext:
    """An SSL context for a client probe; ``verify`` overrides ``options.verify``.

    ``ca_file`` adds to the system trust store rather than replacing it.
    May read files (call it off the loop unless ``cached_context`` found it).
    Raises TlsConfigError when the CA file cannot be loaded.
    """
    key = _key(options, verify, alpn)
    context = _CONTEXTS.get(key)
    if context is None:
        context = _build(key)
        if len(_CONTEXTS) >= 64:
            _CONTEXTS.clear()
        _CONTEXTS[key] = context
    return context


def cached_context(
    options: TlsOptions | None, *, verify: bool | None = None, alpn: tuple[str, ...] = ()
) -> ssl.SSLContext | None:
    """The context ``make_context`` already built for these options, if any."""
    return _CONTEXTS.get(_key(options, verify, alpn))


# Loading the system trust store reads files and costs milliseconds; contexts
# are immutable once built, so they are shared. The CA file's mtime is part of
# the key so that a rotated file is picked up.
_ContextKey = tuple[bool, str | None, float, tuple[str, ...]]
_CONTEXTS: dict[_ContextKey, ssl.SSLContext] = {}


def _key(options: TlsOptions | None, verify: bool | None, alpn: tuple[str, ...]) -> _ContextKey:
    options = options or TlsOptions()
    if verify is None:
        verify = options.verify
    ca_file = options.ca_file if verify else None
    mtime = 0.0
    if ca_file:
        try:
            mtime = os.stat(ca_file).st_mtime
        except OSError as exc:
            raise TlsConfigError(f"TLS: cannot read ca_file {ca_file!r}: {exc.strerror}") from None
    return verify, ca_file, mtime, alpn


def _build(key: _ContextKey) -> ssl.SSLContext:
    verify, ca_file, _, alpn = key
    if verify:
        ctx = ssl.create_default_context()
        if ca_file:
            try:
                ctx.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TlsConfigError(f"TLS: cannot load ca_file {ca_file!r}: {exc}") from None
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def cert_info(der: bytes | None) -> CertInfo | None:
    """Parse a DER leaf certificate; None when absent or unreadable.

    A server presents the same certificate probe after probe, and parsing it
    costs more CPU than the rest of an HTTP exchange: parses are remembered by
    the certificate's bytes (each caller gets its own copy).
    """
    if not der:
        return None
    known = _PARSED.get(der, _UNKNOWN)
    if known is _UNKNOWN:
        known = _parse(der)
        if len(_PARSED) >= 1024:
            _PARSED.clear()
        _PARSED[der] = known
    if known is None:
        return None
    assert isinstance(known, CertInfo)
    return CertInfo(known.subject, known.issuer, known.not_before, known.not_after, list(known.sans), known.serial)


_UNKNOWN = object()
_PARSED: dict[bytes, object] = {}


def _parse(der: bytes) -> CertInfo | None:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*ext.get_values_for_type(x509.DNSName)]
        sans += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    except (x509.ExtensionNotFound, ValueError):
        pass
    return CertInfo(
        subject=_common_name(cert.subject),
        issuer=_common_name(cert.issuer),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        sans=sans,
        serial=format(cert.serial_number, "X"),
    )


def _common_name(name: x509.Name) -> str:
    """The CN, else the organisation (some CAs have no CN), else the whole name."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string()


def describe_ssl_error(exc: ssl.SSLError, hostname: str) -> str:
    """'TLS: certificate has expired', 'TLS: hostname mismatch, …', 'TLS: handshake failed: …'."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in HOSTNAME_MISMATCH_CODES:
            return f"TLS: hostname mismatch, certificate is not valid for {hostname!r}"
        reason = _VERIFY_REASONS.get(code) or (exc.verify_message or str(exc)).rstrip(".")
        return f"TLS: {reason}"
    reason = (exc.reason or "").lower().replace("_", " ")
    return f"TLS: handshake failed: {reason or exc}"


def hostname_matches(cert: CertInfo, hostname: str) -> bool:
    """Whether ``hostname`` is covered by the certificate's SANs (RFC 6125, wildcard leftmost only).

    Only used to *report* a fact when OpenSSL stopped at another error first;
    OpenSSL itself does the authoritative check during the handshake.
    """
    try:
        ip = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        ip = None
    for san in cert.sans:
        if ip is not None:
            try:
                if ipaddress.ip_address(san) == ip:
                    return True
            except ValueError:
                continue
        elif _dns_match(san.lower(), hostname.lower().rstrip(".")):
            return True
    return False


def _dns_match(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return pattern == host


def session_facts(ssl_object: Any) -> dict[str, Any]:
    """Cipher and ALPN of an established TLS session, for ``details``."""
    facts: dict[str, Any] = {}
    if ssl_object is None:
        return facts
    cipher = ssl_object.cipher()
    if cipher:
        facts["tls_cipher"] = cipher[0]
    alpn = ssl_object.selected_alpn_protocol()
    if alpn:
        facts["tls_alpn"] = alpn
    return facts
