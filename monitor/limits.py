"""Operating-system limits a long-running Vigie process adjusts for itself (the core and the local prober)."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("vigie")


def raise_nofile_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        log.info("open files: soft limit %s, hard limit %s", soft, "unlimited" if hard == resource.RLIM_INFINITY else hard)
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("open files: cannot raise the soft limit %s to the hard limit %s: %s", soft, hard, exc)
        return soft
    log.info("open files: soft limit %s raised to the hard limit %s", soft, hard)
    return hard
