"""What backs a service's status: Vigie's own probes, from one place or several, partners' outcome feeds,
heartbeats, and professionals' reports while they stand above their baseline.

The pages, the JSON API, the Atom feed, the emails and the webhooks all name
these the same way (``SIGNALS``, in this order; words in `monitor.words.signals`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from monitor.config.signals import is_probed

SIGNALS = ("probes", "locations", "feeds", "heartbeats", "reports")


def signals_of(service: Any, reported: bool, unknown: Collection[str] = ()) -> tuple[str, ...]:
    """The signals behind ``service`` (a config `Service`); ``reported`` while its reports are above baseline.

    Checks in ``unknown`` (their ids) say nothing now — a feed gone silent — so they back nothing.
    """
    checks = [check for check in service.checks if check.id not in unknown]
    types = {check.type for check in checks}
    probed = [check for check in checks if is_probed(check)]
    found = []
    if probed:
        found.append("probes")
        if any(len(check.locations or ()) > 1 for check in probed):
            found.append("locations")
    if "feed" in types:
        found.append("feeds")
    if "push" in types:
        found.append("heartbeats")
    if reported:
        found.append("reports")
    return tuple(found)
