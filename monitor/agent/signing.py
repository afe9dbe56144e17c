"""Signed agent requests: Standard Webhooks headers with the location's secret, and their check on the central.

Every request of a ``vigie agent`` carries ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature`` (the spec's HMAC-SHA256 over ``id.timestamp.body``,
made by the ``standardwebhooks`` library) and ``vigie-location``, which tells
the central whose secret to check it with. A GET signs an empty body. A
results POST uses its batch id as ``webhook-id``: the same on every retry.

The central checks the timestamp against its own clock (``REPLAY_WINDOW``)
before the signature, so that a request captured and sent again later is
refused even though its signature is good; within the window, the batch id
makes a replay harmless (409).
"""

from __future__ import annotations

import base64
import hmac
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

LOCATION_HEADER = "vigie-location"
REPLAY_WINDOW = 300.0  # seconds either side of the central's clock, the spec's usual tolerance


class SignatureError(ValueError):
    """A request whose signature headers are missing, wrong or out of the replay window (a 401)."""


def sign(secret: str, location: str, body: bytes, now: float, message_id: str | None = None) -> dict[str, str]:
    """The headers that sign ``body`` for ``location`` at ``now`` (epoch seconds)."""
    message_id = message_id or f"msg_{secrets.token_hex(8)}"
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(now, UTC), body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(now)),
        "webhook-signature": signature,
        LOCATION_HEADER: location,
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, sender: str = "location") -> tuple[str, float]:
    """Check a request's signature; returns (webhook-id, the sender's timestamp) or raises `SignatureError`.

    ``sender`` names whose secret it is in the refusals (a location's, a partner's).
    """
    get = headers.get
    message_id, stamp, signatures = get("webhook-id"), get("webhook-timestamp"), get("webhook-signature")
    if not (message_id and stamp and signatures):
        raise SignatureError("unsigned request: webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        sent_at = float(int(stamp))
    except ValueError:
        raise SignatureError("webhook-timestamp: expected integer epoch seconds") from None
    if abs(sent_at - now) > REPLAY_WINDOW:
        raise SignatureError(
            f"webhook-timestamp is {sent_at - now:+.0f} s from the central's clock, outside the replay window "
            f"of ±{REPLAY_WINDOW:.0f} s (a replayed request, or the sender's clock is wrong)"
        )
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise SignatureError("the body is not UTF-8") from None
    expected = Webhook(secret).sign(message_id, datetime.fromtimestamp(sent_at, UTC), text).split(",", 1)[1]
    expected_bytes = base64.b64decode(expected)
    for versioned in signatures.split(" "):
        version, _, value = versioned.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(expected_bytes, given):
            return message_id, sent_at
    raise SignatureError(f"bad signature: not made with this {sender}'s secret")
