"""What the ETA calibration costs the writer per refresh, as the history grows.

    python bench/eta_calibration.py

The keeper replays past outages' estimates (`monitor.calibration.calibration_for`) with the budget
`monitor.recovery.CALIBRATION_BUDGET` at every 30 s refresh, until the calibration window is
read. For synthetic log-normal histories of 480, 2,400 and 10,200 outages: how many refreshes
that takes, and the time of one refresh (median and max). The work of a refresh should not
grow with the history; only the number of refreshes does.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monitor.backtest import synthetic_history  # noqa: E402
from monitor.calibration import Calibration, PitMemo, calibration_for  # noqa: E402
from monitor.recovery import CALIBRATION_BUDGET  # noqa: E402


def main() -> int:
    print(f"budget: {CALIBRATION_BUDGET:,} past outages read per refresh")
    print("| outages | refreshes until the window is read | ms per refresh: median | max |")
    print("| ---: | ---: | ---: | ---: |")
    for per_service in (80, 400, 1700):
        history = synthetic_history("lognormal", 1, per_service)
        memo: PitMemo = {}
        times = []
        while True:
            started = time.perf_counter()
            found = calibration_for(history, memo, CALIBRATION_BUDGET)
            times.append(time.perf_counter() - started)
            if found.count >= Calibration.WINDOW or len(memo) >= len(history):
                break
        print(f"| {len(history):,} | {len(times)} | {statistics.median(times) * 1000:.0f} | {max(times) * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
