"""Reports from professionals ("signalements"): a fixed list of symptoms, and who reported — without knowing who.

A reporter is recognised only by a keyed hash of (network prefix, user agent,
day), with a secret drawn at random for each day and held in memory for two
days at most: the raw address and user agent are never written anywhere, and
once the secret of a day is gone nobody — Vigie included — can tell whose a key
was. A reporter counts once per service and hour.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

HOUR = 3600
DAY = 86400
KEEP_REPORTERS = 2 * DAY  # how long a reporter's key is kept beside the counts (the 48 h)

# the symptoms a professional can pick: (id, French, English); no free text
SYMPTOMS: dict[str, dict[str, str]] = {
    "pec-erreur-technique": {"fr": "PEC refusée « erreur technique »", "en": "Pre-authorisation refused: \"technical error\""},
    "portail-inaccessible": {"fr": "Portail inaccessible", "en": "Portal unreachable"},
    "tres-lent": {"fr": "Très lent", "en": "Very slow"},
    "paiements-absents": {"fr": "Paiements absents", "en": "Payments missing"},
    "droits-introuvables": {"fr": "Droits impossibles à consulter", "en": "Rights cannot be checked"},
}


def network_prefix(address: str) -> str:
    """The /24 of an IPv4 address, the /48 of an IPv6 one: a neighbourhood, not a person."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "?"
    length = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


@dataclass
class ReporterKeys:
    """Today's and yesterday's secrets, in memory only; older ones are forgotten."""

    _secrets: dict[int, bytes] = field(default_factory=dict)

    def key(self, address: str, user_agent: str, now: float) -> str:
        day = int(now // DAY)
        for old in [d for d in self._secrets if d < day - 1]:
            del self._secrets[old]
        secret = self._secrets.setdefault(day, secrets.token_bytes(32))
        text = f"{network_prefix(address)}\n{user_agent[:300]}\n{day}".encode("utf-8", "replace")
        return hmac.new(secret, text, hashlib.blake2b).hexdigest()[:32]
