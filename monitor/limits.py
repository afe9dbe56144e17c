"""Operating-system limits a long-running Vigie process adjusts for itself."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("vigie")


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard one; return (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # a container may refuse: work within the soft limit
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, hard, exc)
    return soft, hard
