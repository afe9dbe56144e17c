"""The ETA backtest on every real history and synthetic family, side by side with the obvious answers.

    python bench/eta.py [--seeds 10] [--out bench/results/eta.json]

For each real history in ``tests/fixtures/outages/`` (rebuilt by ``bench/eta_histories.py``) and each
synthetic family (seed 2024, the one docs/eta.md quotes), the "fixed points" row of
``vigie eta backtest``: Vigie beside the pooled empirical distribution, the global median and each service's own median, and
whether issue 14's bar is met (coverage 78–82 % with 8–12 % of misses on each side; MedAE and MAE
below the global median's; interval score below the pooled interval's). Then the synthetic families
over ``--seeds`` other seeds, to show how much of a figure is the draw. Prints Markdown tables (the
ones in docs/eta.md) and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from monitor.backtest import METHODS, Report, backtest, history_from_csv, minutes, share, synthetic_history  # noqa: E402
from monitor.calibration import FIXED_POINTS  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "outages"
REAL = ("github", "cloud", "cua")
POINTS = {label for label, _ in FIXED_POINTS}
COMPANY = ("alone", "with others down")
SYNTHETIC = ("lognormal", "mixture", "pareto")


def row_json(report: Report, label: str) -> dict[str, object]:
    """One row of the backtest: its number of cases and each method's scores."""
    row = report.row(label)
    return {"cases": row.cases} | {m: asdict(s) for m, s in row.scores.items()}


def run(name: str, seed: int = 2024) -> dict[str, object]:
    started = time.perf_counter()
    history = history_from_csv(str(FIXTURES / f"{name}.csv")) if name in REAL else synthetic_history(name, seed)
    report = backtest(history, name)
    fixed = report.row("fixed points")
    scores = {m: fixed.scores[m] for m in METHODS}
    vigie, pooled, median = scores["vigie"], scores["pooled"], scores["global median"]
    assert vigie.coverage is not None and vigie.below is not None and vigie.above is not None
    assert vigie.interval_score is not None and pooled.interval_score is not None
    checks = {
        "coverage 78-82 %": 0.78 <= vigie.coverage <= 0.82,
        "8-12 % below": 0.08 <= vigie.below <= 0.12,
        "8-12 % above": 0.08 <= vigie.above <= 0.12,
        "MedAE < global median's": vigie.medae < median.medae,
        "MAE < global median's": vigie.mae < median.mae,
        "interval score < pooled's": vigie.interval_score < pooled.interval_score,
    }
    return {
        "history": name,
        "seed": seed if name in SYNTHETIC else None,
        "outages": report.outages,
        "services": report.services,
        "operators": report.operators,
        "cases": fixed.cases,
        "no_estimate": fixed.no_estimate,
        "scores": {m: asdict(s) for m, s in scores.items()},
        "by_point": {r.label: asdict(r.scores["vigie"]) | {"cases": r.cases} for r in report.rows if r.label in POINTS and "vigie" in r.scores},
        "coverage_by_year": {str(y): c for y, (_, c) in report.by_year.items()},
        "by_incident": row_json(report, "by incident"),
        "by_company": {label: row_json(report, label) for label in COMPANY},
        "checks": checks,
        "met": all(checks.values()),
        "seconds": round(time.perf_counter() - started, 1),
    }


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| history | cases | method | coverage | below | above | MedAE | MAE | interval score | bar met |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        scores = r["scores"]
        assert isinstance(scores, dict)
        for method in METHODS:
            s = scores[method]
            first = method == METHODS[0]
            failed = [k for k, ok in r["checks"].items() if not ok]  # type: ignore[union-attr]
            verdict = ("yes" if r["met"] else "no: " + ", ".join(failed)) if first else ""
            lines.append(
                f"| {r['history'] if first else ''} | {r['cases'] if first else ''} | {method} | {share(s['coverage'])} | "
                f"{share(s['below'])} | {share(s['above'])} | {minutes(s['medae'])} | {minutes(s['mae'])} | {minutes(s['interval_score'])} | {verdict} |"
            )
    return "\n".join(lines)


def span(results: list[dict[str, object]], key: str) -> str:
    values = [r["scores"]["vigie"][key] for r in results]  # type: ignore[index]
    return f"{share(min(values))} – {share(max(values))}"


def passed(results: list[dict[str, object]], check: str) -> int:
    return sum(bool(r["checks"][check]) for r in results)  # type: ignore[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="other seeds of each synthetic family (default 10: 0-9)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "eta.json")
    args = parser.parse_args(argv)
    jobs = [(name, 2024) for name in REAL + SYNTHETIC] + [(name, seed) for name in SYNTHETIC for seed in range(args.seeds)]
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(run, *zip(*jobs)))
    main_results, spread = results[: len(REAL + SYNTHETIC)], results[len(REAL + SYNTHETIC):]
    print(table(main_results))
    print()
    print("Counting each incident once (one case per operator, start and point):")
    print()
    print("| history | cases | Vigie: coverage | below | above | MedAE | MAE | interval score | pooled: coverage | interval score | global median: MedAE | MAE |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in main_results:
        if r["history"] not in REAL:
            continue
        b = r["by_incident"]
        v, p, g = b["vigie"], b["pooled"], b["global median"]  # type: ignore[index]
        print(f"| {r['history']} | {b['cases']} | {share(v['coverage'])} | {share(v['below'])} | {share(v['above'])} | {minutes(v['medae'])} | "  # type: ignore[index]
              f"{minutes(v['mae'])} | {minutes(v['interval_score'])} | {share(p['coverage'])} | {minutes(p['interval_score'])} | {minutes(g['medae'])} | {minutes(g['mae'])} |")
    print()
    print("Alone, or while another service of the same operator was down too (at the moment of the estimate):")
    print()
    print("| history | outages ran | cases | Vigie: coverage | below | above | interval score | pooled: coverage | interval score |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in main_results:
        for label in COMPANY:
            b = r["by_company"][label]  # type: ignore[index]
            if not b["cases"] or "vigie" not in b:
                print(f"| {r['history']} | {label} | {b['cases']} | — | — | — | — | — | — |")
                continue
            v, p = b["vigie"], b["pooled"]
            print(f"| {r['history']} | {label} | {b['cases']} | {share(v['coverage'])} | {share(v['below'])} | {share(v['above'])} | "
                  f"{minutes(v['interval_score'])} | {share(p['coverage'])} | {minutes(p['interval_score'])} |")
    print()
    print("| family | seeds | bar met | coverage | below | above | MedAE < global median | IS < pooled |")
    print("| --- | ---: | ---: | --- | --- | --- | ---: | ---: |")
    for name in SYNTHETIC:
        rs = [r for r in spread if r["history"] == name]
        print(f"| {name} | {len(rs)} | {sum(bool(r['met']) for r in rs)} | {span(rs, 'coverage')} | {span(rs, 'below')} | "
              f"{span(rs, 'above')} | {passed(rs, 'MedAE < global median' + chr(39) + 's')} | "
              f"{passed(rs, 'interval score < pooled' + chr(39) + 's')} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"histories": main_results, "seeds": spread}, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
