"""Real outage histories for the ETA backtest, rebuilt from public archives (issue 14, item 3).

    python bench/eta_histories.py [--mirror-root /work/.mirror] [--out tests/fixtures/outages]

Reads bare git mirrors (``<root>/<owner>+<name>/repo``, from the search tool's ``fetch`` of
``github:<owner>/<name>``); writes one CSV per history in the format of `vigie history import`, every
row checked by the importer's own parser first, and ``SOURCES.md`` (what was kept, dropped, and why).
Same mirrors in, byte-identical files out.

Sources and licences:

- ``github`` — GitHub-Incident-History/GitHub-Incident-History, branch ``main``, ``incidents/*.json``:
  GitHub's status-page incidents (Statuspage API). The Unlicense (public domain).
- ``cua`` and ``cloud`` — atlarge-research/cloud-uptime-archive, the Cloud Uptime Archive
  (arXiv:2504.09476): ``traces/*_operator_reported.csv`` (Atlassian, Discord, GitHub, Slack) and
  ``traces/20{18,19,20}_fixed_infra_cloud.parquet`` (AWS, GCP, Azure). MIT licence.

Left out: atlarge-research/llm-service-analysis (the ICPE'25 artefact: OpenAI, Anthropic and
Character.AI incidents). The repository states no licence (its README points to Zenodo record
14018219, whose licence could not be checked offline), so its data is not copied here.

The ``cloud`` history reads Parquet: it needs pyarrow (``pip install pyarrow``), a bench-only tool,
not one of Vigie's dependencies. Everything else is the standard library and Vigie's own parser.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import json
import math
import re
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from monitor.history_import import MAX_DURATION, parse_outages  # noqa: E402 - the repository's own parser

MAX_SECONDS = MAX_DURATION.total_seconds()  # `vigie history import` refuses longer outages
GITHUB = "GitHub-Incident-History/GitHub-Incident-History"
CUA = "atlarge-research/cloud-uptime-archive"
LICENCES = {
    GITHUB: "The Unlicense (public domain), `main:LICENSE`",
    CUA: "MIT, `HEAD:LICENSE` (© 2025 @Large Research)",
}
# The CUA operator traces count seconds from an origin the repository does not give; matching its GitHub trace
# with GitHub's own incidents puts it here (`cua` checks it again, SOURCES.md gives the figures)
CUA_ORIGIN = 1_558_547_497  # 2019-05-22T17:51:37Z
GITHUB_PLACEHOLDER = "0l2p9nhqnxpd"  # GitHub's component "Visit www.githubstatus.com for more information"


class BuildError(Exception):
    """A mirror is missing or a source is not what this script expects."""


@dataclass(frozen=True, slots=True, order=True)
class Row:
    start: int  # epoch seconds, UTC
    service: str
    end: int
    note: str


@dataclass
class History:
    name: str
    repo: str
    commit: str
    read: str  # what was read, for SOURCES.md
    rows: list[Row] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)  # what was kept or dropped, with counts

    @property
    def source(self) -> str:
        return f"{self.repo.split('/')[1].lower()}@{self.commit[:7]}"



class Mirror:
    def __init__(self, root: Path, repo: str) -> None:
        self.repo = repo
        self.path = root / repo.replace("/", "+") / "repo"
        if not (self.path / "HEAD").exists():
            raise BuildError(f"no mirror of {repo} at {self.path}: bring it with the search tool's fetch, source github:{repo}")

    def git(self, *args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(["git", "-C", str(self.path), *args], input=stdin, capture_output=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"git {' '.join(args)} in {self.path}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def commit(self, rev: str) -> str:
        return self.git("rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()

    def files(self, commit: str, under: str) -> list[str]:
        return sorted(self.git("ls-tree", "-r", "--name-only", commit, "--", under).decode().splitlines())

    def read(self, commit: str, paths: list[str]) -> list[bytes]:
        """Every file's bytes, in one `git cat-file --batch` (a `git show` each would take a process each)."""
        out = self.git("cat-file", "--batch", stdin="".join(f"{commit}:{p}\n" for p in paths).encode())
        blobs, at = [], 0
        for path in paths:  # each: "<sha> blob <size>\n<bytes>\n", or "<name> missing\n"
            end = out.index(b"\n", at)
            head = out[at:end].split()
            if len(head) != 3 or head[1] != b"blob":
                raise BuildError(f"{self.repo}: {path} is not a file at {commit[:7]}")
            blobs.append(out[end + 1 : end + 1 + int(head[2])])
            at = end + 1 + int(head[2]) + 1
        return blobs



def slug(name: str) -> str:
    """A name as a key part: lowercase letters, digits and inner '-' (the config's id rule), at most 63 characters."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:63].rstrip("-") or "unspecified"


def keep(rows: list[Row], history: History, what: str) -> None:
    """Drop non-positive and over-long durations, merge overlaps within a service, and record the counts."""
    too_short = [r for r in rows if r.end <= r.start]
    too_long = [r for r in rows if r.end - r.start > MAX_SECONDS]
    kept = sorted(r for r in rows if 0 < r.end - r.start <= MAX_SECONDS)
    history.decisions.append(f"{len(rows)} {what}; dropped: {len(too_short)} lasting zero seconds or less, {len(too_long)}"
                             f" longer than {MAX_DURATION.days} days (`vigie history import` refuses them).")
    # the importer refuses two outages of one service at once: the service was out over their union
    merged: dict[str, list[Row]] = {}
    unions = 0  # outages merged into an earlier one
    for r in kept:
        same = merged.setdefault(r.service, [])
        if same and r.start < same[-1].end:
            same[-1] = Row(same[-1].start, r.service, max(same[-1].end, r.end), f"{same[-1].note}+{r.note}")
            unions += 1
        else:
            same.append(r)
    history.rows = sorted(r for rs in merged.values() for r in rs)
    history.decisions.append(
        f"{unions} outages overlapped an earlier one of the same service and were merged into it (the union of"
        f" their times; the note joins their ids with '+'): {len(history.rows)} outages remain."
    )


def epoch(text: str) -> float:  # ISO-8601, "Z" or an offset
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def row(service: str, start: float, end: float, note: str) -> Row:
    # whole seconds, outwards, so that a short outage never rounds to nothing
    return Row(math.floor(start), service, math.ceil(end), note)



def github_incidents(root: Path) -> tuple[str, list[dict]]:
    mirror = Mirror(root, GITHUB)
    commit = mirror.commit("main")
    paths = [p for p in mirror.files(commit, "incidents") if p.endswith(".json")]
    return commit, [json.loads(b)["incident"] for b in mirror.read(commit, paths)]


def github(root: Path) -> History:
    commit, incidents = github_incidents(root)
    h = History("github", GITHUB, commit, f"`incidents/*.json` of branch `main` ({len(incidents)} files)")
    # a component is renamed over the years ("Issues, PRs, Dashboard, Projects" became "Issues"): one
    # service per component id, named as the latest incident that lists it names it
    latest: dict[str, tuple[str, str, str]] = {}
    for i in incidents:
        for u in i["incident_updates"]:
            for c in u.get("affected_components") or []:
                latest[c["code"]] = max(latest.get(c["code"], ("", "", "")), (i["started_at"] or i["created_at"], i["id"], c["name"]))
    counts: Counter[str] = Counter()
    years: dict[str, set[str]] = {"zero": set(), "negative": set()}
    rows = []
    for i in incidents:
        counts[f"status {i['status']}"] += 1
        if not i["resolved_at"]:
            counts["unresolved"] += 1
            continue
        start, end = epoch(i["started_at"] or i["created_at"]), epoch(i["resolved_at"])
        if end <= start:
            why = "zero" if end == start else "negative"
            counts[why] += 1
            years[why].add(iso(int(start))[:4])
            counts["imported"] += all(u["created_at"].startswith("2018-12") for u in i["incident_updates"])
            continue
        codes = {c["code"] for u in i["incident_updates"] for c in (u.get("affected_components") or [])}
        counts["placeholder"] += GITHUB_PLACEHOLDER in codes
        codes.discard(GITHUB_PLACEHOLDER)
        counts["unspecified"] += not codes
        services = sorted({slug(latest[c][2]) for c in codes}) or ["unspecified"]
        rows += [row(f"github/{s}", start, end, i["id"]) for s in services]
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k.startswith("status"))
    h.decisions += [
        f"{len(incidents)} incidents ({statuses}); {counts['unresolved']} dropped without `resolved_at`."
        " Start = `started_at` (else `created_at`), end = `resolved_at`.",
        f"{counts['zero']} incidents dropped because `started_at` = `resolved_at` (years {min(years['zero'])}–"
        f"{max(years['zero'])}); {counts['imported']} of them are old incidents whose updates were all written in December"
        " 2018, when GitHub moved its history to Statuspage with one time each (their real times are only in their"
        " updates' text, which this script does not read). "
        f"{counts['negative']} dropped because `started_at` is after `resolved_at` ({', '.join(sorted(years['negative']))}).",
        "One outage per affected component (every component an update lists, whatever its status: most list"
        f" operational → operational). {counts['placeholder']} incidents list the placeholder component \"Visit"
        f" www.githubstatus.com for more information\" (`{GITHUB_PLACEHOLDER}`), which names no service: it is"
        f" ignored. {counts['unspecified']} incidents are left with no component: kept as `github/unspecified`.",
    ]
    keep(rows, h, "outages (incident × component) from the incidents kept")
    return h


def cua(root: Path) -> History:
    mirror = Mirror(root, CUA)
    commit = mirror.commit("HEAD")
    paths = [p for p in mirror.files(commit, "traces") if p.endswith("_operator_reported.csv")]
    h = History("cua", CUA, commit, f"`traces/*_operator_reported.csv` ({len(paths)} files)")
    firsts: dict[str, float] = {}
    times: dict[float, set[str]] = {}  # every start and end after the first rows, and the files that have it
    calm, rows, total = 0, [], 0
    for path, data in zip(paths, mirror.read(commit, paths)):
        stem = path.rsplit("/", 1)[1].removesuffix("_operator_reported.csv")
        operator, _, service = stem.partition("_")
        key = f"{operator.removesuffix('-status')}/{slug(service)}"
        for line, r in enumerate(csv.DictReader(io.StringIO(data.decode())), start=2):
            total += 1
            start, end, status = float(r["start_time"]), float(r["end_time"]), float(r["status"])
            if start == 0:
                firsts[stem] = end
                continue
            times.setdefault(start, set()).add(stem)
            times.setdefault(end, set()).add(stem)
            if status == 0:
                calm += 1
            else:
                rows.append(row(key, CUA_ORIGIN + start, CUA_ORIGIN + end, f"{stem}:{line}"))
    matches, best, chance = origin_matches(root, [r.start - CUA_ORIGIN for r in rows if r.service == "github/global-status"])
    if best != CUA_ORIGIN:
        raise BuildError(f"the CUA GitHub trace now matches GitHub's incidents best for the origin {best}, not {CUA_ORIGIN}")
    shared = Counter(" & ".join(sorted(files)) for files in times.values() if len(files) > 1)
    weeks = {stem: end for stem, end in firsts.items() if end > 7 * 86400}
    slack = [r.end - r.start for r in rows if r.service == "slack/global-status"]
    h.decisions += [
        f"{total} rows. Times are seconds from an origin the repository does not state (the operator traces are made"
        " in its `process_raw_data/crowdsourced_extraction` submodule, absent from the mirror; its game traces"
        f" count from each service's first failure). Origin used: {iso(CUA_ORIGIN)}, found by matching the GitHub"
        f" trace with the `github` source: {matches} of its starts fall within ±{WINDOW} s of a GitHub incident's"
        " `created_at` for that origin, the best of every origin within ±2 h (1 s steps); whole hours away,"
        f" {chance:.2f} on average. The other files are taken to share it, since their times coincide to the second"
        f" ({'; '.join(f'{f}: {n}' for f, n in sorted(shared.items()))}). Calendar dates are therefore estimates;"
        " order, overlaps and durations are the source's.",
        f"{len(firsts)} first rows dropped, one per file: each starts at 0, the start of the collection, so its start"
        f" is not an outage's start (left-censored). {len(weeks)} of them last weeks ({', '.join(sorted(weeks))}:"
        f" {min(weeks.values()) / 86400:.1f} days, to {max(weeks.values()) - min(weeks.values()):.0f} s): the"
        f" collector's initial state; the others' median is {statistics.median(d for f, d in firsts.items() if f not in weeks) / 60:.0f} min.",
        f"{calm} other rows dropped with status 0.0: the status is the share of components affected, 0 means none.",
        "Services: `operator_service` of the file name (`github-status` becomes `github`). Slack's times are to the"
        f" hour: {sum(1 for d in slack if d % 3600 in (0, 1, 3599)) / len(slack):.0%} of its durations are whole hours.",
    ]
    keep(rows, h, "outages kept from those rows")
    return h


WINDOW = 5  # seconds


def origin_matches(root: Path, starts: list[float]) -> tuple[int, int, float]:
    """For the CUA GitHub trace's relative starts: matches at CUA_ORIGIN, the best origin near it, matches by chance."""
    created = sorted(epoch(i["created_at"]) for i in github_incidents(root)[1])

    def hits(origin: int) -> int:  # starts with an incident created within ±WINDOW s of them
        return sum(bisect.bisect_right(created, s + origin + WINDOW) > bisect.bisect_left(created, s + origin - WINDOW) for s in starts)

    best = max(range(CUA_ORIGIN - 7200, CUA_ORIGIN + 7201), key=lambda o: (hits(o), -abs(o - CUA_ORIGIN)))
    return hits(CUA_ORIGIN), best, statistics.mean(hits(CUA_ORIGIN + k * 3600) for k in range(-48, 49) if k)


def cloud(root: Path) -> History:
    mirror = Mirror(root, CUA)
    commit = mirror.commit("HEAD")
    paths = [f"traces/{year}_fixed_infra_cloud.parquet" for year in (2018, 2019, 2020)]
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # no stubs; a bench tool only, Vigie never reads Parquet
    except ImportError:
        raise BuildError("the cloud history reads Parquet: install pyarrow (pip install pyarrow)") from None
    h = History("cloud", CUA, commit, "`traces/2018_fixed_infra_cloud.parquet`, `…2019…`, `…2020…`")
    rows, vendors, severities = [], Counter[str](), Counter[str]()
    for path, data in zip(paths, mirror.read(commit, paths)):
        stem = path.rsplit("/", 1)[1].removesuffix(".parquet").removesuffix("_fixed_infra_cloud")
        for index, r in enumerate(pq.read_table(io.BytesIO(data)).to_pylist()):
            vendors[r["vendor"]] += 1
            severities[str(int(r["status"]))] += 1
            start, end = (r[c].replace(tzinfo=UTC).timestamp() for c in ("event_start_time", "event_end_time"))
            rows.append(row(f"{r['vendor'].lower()}/{slug(r['service_name'] or '')}", start, end, f"{stem}:{index}"))
    h.decisions += [
        f"{len(rows)} provider-reported failure events ({', '.join(f'{v} {n}' for v, n in sorted(vendors.items()))}),"
        " `event_start_time` to `event_end_time`, read as UTC. Every severity is kept (`status`: "
        + ", ".join(f"{s}: {n}" for s, n in sorted(severities.items()))
        + "; the notebooks call 0 small, 1 moderate, 2 severe; Azure's are all -1). Note: `<year>:<row>`, the row's 0-based index in its file.",
        "Services: the slug of `service_name` without the region (AWS reports a service per region). Azure's"
        " names are partly titles (`all`, `Multiple Services`), kept as they are.",
        "Doubt: AWS times are shifted from the Pacific times their descriptions quote, by amounts that vary (rows"
        " checked by hand: 2:41 PM PST stored as 06:41 the next day, UTC+8; 5:00 AM PDT as 22:00, UTC+10; in 2019,"
        " 11:44 PM PST as 15:44 the same day, UTC−16). Durations hold, but AWS outages interleave with GCP's and"
        " Azure's only to within hours. Row `2018:0` (Azure) is dated 2018 while its text says 2017.",
    ]
    keep(rows, h, "events")
    return h


BUILDERS = (github, cua, cloud)



def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def as_csv(h: History) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["service", "started_at", "ended_at", "source", "note"])
    writer.writerows([r.service, iso(r.start), iso(r.end), h.source, r.note] for r in h.rows)
    return out.getvalue()


def check(h: History, text: str) -> None:
    """Every row through `vigie history import`'s own parser, with every service it names known."""
    services = {r.service for r in h.rows}
    _, errors = parse_outages(text, services, ZoneInfo("UTC"), datetime.now(UTC).timestamp(), h.source)
    if errors:
        raise BuildError(f"{h.name}: {len(errors)} rows the importer refuses, first: {errors[0]}")


def span(seconds: float) -> str:
    if seconds >= 3 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 60:.0f} min" if seconds < 10 * 3600 else f"{seconds / 3600:.1f} h"


def summary(h: History) -> str:
    durations = [r.end - r.start for r in h.rows]
    operators = Counter(r.service.split("/")[0] for r in h.rows)
    services = Counter(r.service for r in h.rows)
    lines = [
        f"## `{h.name}.csv`\n",
        f"- Source: [{h.repo}](https://github.com/{h.repo}), commit `{h.commit}`; read: {h.read}.",
        f"- Licence: {LICENCES[h.repo]}",
        f"- `source` column: `{h.source}`; `note`: the source's incident id (or file:row where it has none).",
        *(f"- {d}" for d in h.decisions),
        f"- **{len(h.rows)} outages, {len(services)} services, {len(operators)} operator{'s' * (len(operators) > 1)}** "
        f"({', '.join(f'{o} {n}' for o, n in sorted(operators.items()))}); "
        f"{iso(min(r.start for r in h.rows))[:10]} to {iso(max(r.end for r in h.rows))[:10]}.",
        f"- Duration: median {span(statistics.median(durations))}, 90th percentile"
        f" {span(statistics.quantiles(durations, n=10)[8])}, longest {span(max(durations))}.",
        f"- Services with the most outages: {', '.join(f'`{s}` {n}' for s, n in services.most_common(6))}.\n",
    ]
    return "\n".join(lines)


HEADER = """# Real outage histories (issue 14, item 3)

Written by `python bench/eta_histories.py` from the public repositories below: change the script, not
these files. Each CSV is in the format of `vigie history import` (UTC), with no text from the incidents
(no titles, descriptions or names). Report every history separately: `github` and `cua`'s
`github/global-status` are the same GitHub incidents; `cua` and `cloud` are different kinds of record.

Caveat on `cua`: its operator traces give durations in steps of the archive's collection, about three
hours: 40 % of its outages last 170–190 min, and of the GitHub incidents found in both `cua` and
`github` (start within 5 min), several that GitHub resolved in 13–26 min last 171–180 min in `cua`.
Its durations say when the archive saw an outage end, not when the operator recovered (docs/eta.md).

Left out: atlarge-research/llm-service-analysis (OpenAI, Anthropic, Character.AI incidents): it states
no licence.

"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror-root", type=Path, default=Path("/work/.mirror"), help="where the git mirrors are")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "outages", help="where to write")
    args = parser.parse_args(argv)
    try:
        histories = [build(args.mirror_root) for build in BUILDERS]
        texts = {h.name: as_csv(h) for h in histories}
        for h in histories:
            check(h, texts[h.name])
    except BuildError as exc:
        print(f"eta_histories: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for h in histories:
        (args.out / f"{h.name}.csv").write_text(texts[h.name], encoding="utf-8")
        print(f"{h.name}: {len(h.rows)} outages, {len({r.service for r in h.rows})} services -> {args.out / h.name}.csv")
    (args.out / "SOURCES.md").write_text(HEADER + "\n".join(summary(h) for h in histories), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
