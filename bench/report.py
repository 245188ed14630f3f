"""Report benchmark: the daily bulletin and the situation report against a peer's pandas script.

The synthetic city of `ringfence.examples.generate` (default 1,000,000 persons, 14 days, about
10 M visits) is written once as Parquet, ingested once into a DuckDB store (the same files
as bench/cycle.py's, shared with it), and the control cycle is run once on a copy of that
store, as of the end of the period under ``zero-covid-2022`` (setup, untimed, each step in a
fresh process; everything is kept in the work directory and reused by later runs with the same
parameters; the cycled store is redone when `src/ringfence` changes). Then, in ONE fresh
process holding the store open read-only, round-robin, each call timed alone with
`time.perf_counter` after an untimed `gc.collect()`:

* ``bulletin``: `daily_bulletin(store)`: the report's daily queries (Ibis compiled to SQL) and
  the bulletin assembled from their rows;
* ``sitrep``: `situation_report(store)`: the same, plus the series, the charts' Vega-Lite specs
  and the transmission chains;
* ``render_*``: `render_bulletin(bulletin, fmt)` for json, markdown, html and pdf, and
  `render_sitrep(report, fmt)` for html and pdf, on the bulletin and report of the same round;
* ``peer``: what the users of Go.Data, SORMAS or DHIS2 do, as they have no bulletin: export the
  line lists (``SELECT *`` of the decision tables `cases`, `contacts`, `orders` and of
  `persons`, through ``store.con.execute(...).df()``), then compute the bulletin's headline
  counts with pandas (new cases of the window by classification, origin, district and
  variant; cumulative since the first case; people in isolation, treatment and quarantine at
  the window's end; close contacts new and under observation), by the definitions of
  `ringfence.report.bulletin` and `ringfence.report.stocks`. Export and computation are
  timed apart as well;
* ``peer_cols``: the same, exporting only the columns the counts need.

The first round is an untimed warm-up (its times are reported as "first call"). Before the
timed rounds, the peer's counts are compared with the bulletin's, count by count, and each
split (by district, by variant) is checked to add up to the city's count on both sides.

Afterwards, each in a fresh process whose peak RSS is taken with `os.wait4`: the bulletin, the
situation report and the peer once each, and two processes that only import what they import
and open the store (the floors under those peaks). Unless ``--no-breakdown``, one more process
times the parts once: each daily query, the chains' queries, the charts, the PDF's typesetting.

Usage: ``python bench/report.py [--persons 1000000] [--days 14] [--visits 10000000]
[--runs 5] [--warmup 1] [--no-breakdown] [--no-rss] [--workdir bench/data] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import harness
from harness import Outcome, last_line, remove_db, run_child, save_results, snapshot_code

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / "data"
DEFAULT_SEED = 20220110
PROTOCOL = "zero-covid-2022"
START = date(2022, 1, 10)
"""The generator's first day (its default)."""
ZONE = "Asia/Shanghai"

BULLETIN_FORMATS = ("json", "markdown", "html", "pdf")
SITREP_FORMATS = ("html", "pdf")
LABELS = {
    "bulletin": "ringfence `daily_bulletin(store)`",
    "sitrep": "ringfence `situation_report(store)` (with the chains)",
    **{f"render_bulletin_{f}": f"`render_bulletin(…, {f!r})`" for f in BULLETIN_FORMATS},
    **{f"render_sitrep_{f}": f"`render_sitrep(…, {f!r})`" for f in SITREP_FORMATS},
    "peer": "peer: export 4 tables (`SELECT *`) to pandas, then the counts",
    "peer_cols": "peer: export the needed columns only, then the counts",
}
MEASUREMENTS = tuple(LABELS)
PEERS = ("peer", "peer_cols")

# ----------------------------------------------------------------------------------------
# The peer: line lists exported to pandas, counted as a data analyst would count them
# ----------------------------------------------------------------------------------------

PEER_TABLES = ("cases", "contacts", "orders", "persons")
PEER_COLUMNS = {
    "cases": [
        "person_id",
        "confirmed_at",
        "classification",
        "converted_at",
        "origin",
        "variant",
        "severity",
        "found_by",
    ],
    "contacts": ["person_id", "case_person_id", "kind"],
    "orders": ["person_id", "kind", "start", "released_at", "rule"],
    "persons": ["person_id", "district", "loop_id"],
}
CITY_ORIGINS = ("local", "imported")
"""Cases in the community; closed loops report apart."""
ISOLATION = ("isolation", "hospital")
QUARANTINE = ("quarantine_central", "quarantine_home", "contact_management")
CONTACT_RULES = ("contact.close", "contact.home")
"""Orders of close and household contacts: "under medical observation"."""
SEVERE = ("severe", "critical")
OPEN_KEYS = ("by_district", "by_variant", "found_by", "new_by_kind")
"""Dictionaries keyed by data (a district, a variant): compared over both sides' keys."""
NEW_KEYS = (
    "total",
    "confirmed",
    "asymptomatic",
    "local",
    "imported",
    "converted_from_asymptomatic",
)


def export_tables(con: Any, columns: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The line lists as pandas DataFrames: every column, or only `columns` of each table."""
    frames = {}
    for table in PEER_TABLES:
        wanted = "*" if columns is None else ", ".join(f'"{c}"' for c in columns[table])
        frames[table] = con.execute(f'SELECT {wanted} FROM "{table}"').df()
    return frames


def peer_counts(
    t: dict[str, Any], start: datetime, end: datetime, zone: str, cutoff: timedelta
) -> dict[str, Any]:
    """The bulletin's headline counts from the exported line lists, with pandas.

    The window is [start, end) (UTC). New cases are the community's cases (origin local or
    imported) confirmed in it; "confirmed" counts those not asymptomatic at detection (not
    classified asymptomatic, never converted) plus the conversions of the window, also within
    a district or a variant. Cumulative counts run from the report day of the first case: the
    local date of (its confirmation − `cutoff`) + 1. Stocks are the orders of people outside
    the closed loops started before `end` and not released before it. A close contact is new
    when the first case they were traced from (as close or household contact) was confirmed
    in the window, counting no one who was a case already when traced.
    """
    import pandas as pd

    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    persons = t["persons"][["person_id", "district", "loop_id"]]
    cases = t["cases"].merge(persons, on="person_id", how="left")
    cases["district"] = cases["district"].fillna("unknown")
    cases["variant"] = cases["variant"].fillna("unknown")
    cases["found_by"] = cases["found_by"].fillna("other")
    city = cases[cases["origin"].isin(CITY_ORIGINS)]
    found = city[city["confirmed_at"].ge(lo) & city["confirmed_at"].lt(hi)]
    converted = city[city["converted_at"].ge(lo) & city["converted_at"].lt(hi)]

    def new(found: Any, converted: Any) -> dict[str, int]:
        silent = found["classification"].eq("asymptomatic") | found["converted_at"].notna()
        return {
            "total": len(found),
            "confirmed": int((~silent).sum()) + len(converted),
            "asymptomatic": int(silent.sum()),
            "local": int(found["origin"].eq("local").sum()),
            "imported": int(found["origin"].eq("imported").sum()),
            "converted_from_asymptomatic": len(converted),
        }

    def new_by(column: str) -> dict[str, dict[str, int]]:
        values = sorted(set(found[column]) | set(converted[column]))
        blocks = {
            str(v): new(found[found[column] == v], converted[converted[column] == v])
            for v in values
        }
        return {v: b for v, b in blocks.items() if any(b.values())}

    upto = city[city["confirmed_at"].lt(hi)]
    first = upto["confirmed_at"].min()
    since = (first.tz_convert(zone) - cutoff).date() + timedelta(days=1)

    def cumulative(rows: Any) -> dict[str, int]:
        confirmed = rows["classification"].eq("confirmed") & (
            rows["converted_at"].isna() | rows["converted_at"].lt(hi)
        )
        return {
            "total": len(rows),
            "confirmed": int(confirmed.sum()),
            "asymptomatic": int((~confirmed).sum()),
            "local": int(rows["origin"].eq("local").sum()),
            "imported": int(rows["origin"].eq("imported").sum()),
        }

    by_variant = {str(v): cumulative(rows) for v, rows in upto.groupby("variant")}

    orders = t["orders"]
    orders = orders[orders["person_id"].notna()][
        ["person_id", "kind", "start", "released_at", "rule"]
    ]
    orders = orders.merge(persons[["person_id", "loop_id"]], on="person_id", how="left")
    orders = orders[orders["loop_id"].isna()]
    now = orders[
        orders["start"].lt(hi) & (orders["released_at"].isna() | orders["released_at"].ge(hi))
    ]
    isolated = now[now["kind"].isin(ISOLATION)]
    treated = isolated.merge(
        t["cases"][["person_id", "classification", "converted_at", "severity"]],
        on="person_id",
        how="inner",
    )
    treated = treated[
        treated["classification"].eq("confirmed")
        & (treated["converted_at"].isna() | treated["converted_at"].lt(hi))
    ]
    kinds = now["kind"].value_counts()

    def kind(name: str) -> int:
        return int(kinds.get(name, 0))

    index = t["cases"][["person_id", "confirmed_at"]]
    traced = t["contacts"][["person_id", "case_person_id", "kind"]].merge(
        index.rename(columns={"person_id": "case_person_id", "confirmed_at": "traced_at"}),
        on="case_person_id",
    )
    traced = traced.merge(
        index.rename(columns={"confirmed_at": "own_case_at"}), on="person_id", how="left"
    )
    # Someone who was a case already when traced is not a contact to count.
    traced = traced[traced["own_case_at"].isna() | traced["own_case_at"].gt(traced["traced_at"])]
    outside = persons.loc[persons["loop_id"].isna(), ["person_id"]]
    traced = traced.merge(outside, on="person_id", how="inner")
    firsts = traced.groupby(["person_id", "kind"], as_index=False)["traced_at"].min()
    firsts = firsts[firsts["traced_at"].ge(lo) & firsts["traced_at"].lt(hi)]
    close = traced[traced["kind"].isin(("close", "household"))]
    first_close = close.groupby("person_id")["traced_at"].min()

    return {
        "new": {
            **new(found, converted),
            "by_district": new_by("district"),
            "by_variant": new_by("variant"),
            "found_under_control": int(found["found_by"].eq("under_control").sum()),
            "found_by": {
                str(k): int(v) for k, v in sorted(found["found_by"].value_counts().items())
            },
        },
        "cumulative": {"since": since.isoformat(), **cumulative(upto), "by_variant": by_variant},
        "under_treatment": {
            "total": len(treated),
            "severe": int(treated["severity"].isin(SEVERE).sum()),
        },
        "in_isolation": {
            "total": sum(kind(k) for k in ISOLATION),
            "facility": kind("isolation"),
            "hospital": kind("hospital"),
        },
        "in_quarantine": {
            "total": sum(kind(k) for k in QUARANTINE),
            "central": kind("quarantine_central"),
            "home": kind("quarantine_home"),
            "contact_management": kind("contact_management"),
        },
        "health_monitoring": kind("health_monitoring"),
        "contacts": {
            "new": int((first_close.ge(lo) & first_close.lt(hi)).sum()),
            "under_observation": int(now["rule"].isin(CONTACT_RULES).sum()),
            "new_by_kind": {
                str(k): int(v) for k, v in sorted(firsts["kind"].value_counts().items()) if v
            },
        },
    }


# ----------------------------------------------------------------------------------------
# Agreement
# ----------------------------------------------------------------------------------------


def compare(bulletin: dict[str, Any], peer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every count the peer computes, beside the bulletin's: (path, ringfence, peer, same).
    Data-keyed dictionaries (`OPEN_KEYS`) are compared over the keys of both sides."""
    rows: list[dict[str, Any]] = []

    def walk(ours: Any, theirs: Any, path: tuple[str, ...]) -> None:
        if isinstance(ours, dict) or isinstance(theirs, dict):
            mine = ours if isinstance(ours, dict) else {}
            other = theirs if isinstance(theirs, dict) else {}
            # A block only one side has (a district) is compared key by key against nothing.
            keys = list(other or mine)
            if path and path[-1] in OPEN_KEYS:
                keys = sorted({*keys, *mine})
            for key in keys:
                walk(mine.get(key), other.get(key), (*path, key))
            return
        rows.append(
            {"path": ".".join(path), "ringfence": ours, "peer": theirs, "same": ours == theirs}
        )

    walk(bulletin, peer, ())
    return rows


def split_sums(report: dict[str, Any]) -> list[dict[str, Any]]:
    """For each split of the new cases (by district, by variant) and each count: the sum over
    the blocks and the city's count, which should be equal."""
    out = []
    for split in ("by_district", "by_variant"):
        blocks = report["new"].get(split, {})
        for key in NEW_KEYS:
            total = sum(int(b.get(key, 0)) for b in blocks.values())
            out.append(
                {"split": split, "count": key, "sum_of_blocks": total, "city": report["new"][key]}
            )
    return out


def without_run(bulletin: dict[str, Any]) -> dict[str, Any]:
    """The bulletin without the moment it was issued (which differs on every call)."""
    return {k: v for k, v in bulletin.items() if k != "issued_at"}


# ----------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------


def _child_main(spec_path: str) -> None:
    """Entry point of a child: read the spec, do the action, write the result JSON."""
    spec = json.loads(Path(spec_path).read_text())
    actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "generate": _act_generate,
        "store": _act_store,
        "cycle": _act_cycle,
        "timed": _act_timed,
        "rss": _act_rss,
        "breakdown": _act_breakdown,
    }
    out = actions[spec["action"]](spec)
    Path(spec["result"]).write_text(json.dumps(out, default=str))


def _say(text: str) -> None:
    """A progress line the parent echoes while it waits."""
    print(f"progress: {text}", flush=True)


def _as_of(spec: dict[str, Any]) -> datetime:
    """The cycle's `as_of` of a spec."""
    return datetime.fromisoformat(spec["as_of"])


def _act_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """The synthetic city as Parquet files."""
    from ringfence.examples.generate import generate

    t0 = time.perf_counter()
    rows = generate(
        Path(spec["out"]),
        persons=spec["persons"],
        days=spec["days"],
        seed=spec["seed"],
        visits_per_person_day=spec["visits_per_person_day"],
        fmt="parquet",
        start=START,
    )
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def _act_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Every generated table into a new store, in the order references need (as
    bench/cycle.py does, whose store this is)."""
    from ringfence.examples import EXAMPLE_TABLES
    from ringfence.store import ingest_files, open_store

    store = open_store(spec["db"], create=True)
    out: dict[str, Any] = {}
    try:
        for name in EXAMPLE_TABLES:
            t0 = time.perf_counter()
            report = ingest_files(store, name, [Path(spec["data"]) / f"{name}.parquet"])
            out[name] = {
                "seconds": time.perf_counter() - t0,
                "rows_read": report.rows_read,
                "added": report.added,
                "rejected": report.rejected_count,
            }
        store.execute("CHECKPOINT")
    finally:
        store.close()
    return out


def _act_cycle(spec: dict[str, Any]) -> dict[str, Any]:
    """`run_cycle` once on the copy of the store the reports will read."""
    from ringfence.control.cycle import run_cycle
    from ringfence.protocol import load_protocol
    from ringfence.store import open_store

    store = open_store(spec["db"])
    try:
        t0 = time.perf_counter()
        report = run_cycle(store, load_protocol(PROTOCOL), _as_of(spec))
        seconds = time.perf_counter() - t0
        store.execute("CHECKPOINT")
    finally:
        store.close()
    return {"seconds": seconds, "counts": report.counts, "run_id": report.run_id}


@dataclass
class Window:
    """The bulletin's window as the peer is told it: UTC bounds, report day, zone, cut-off."""

    start: datetime
    end: datetime
    day: date
    zone: str
    cutoff: timedelta

    @classmethod
    def at(cls, as_of: datetime) -> Window:
        """`ringfence.report.report_window` under the protocol at `as_of`."""
        from ringfence.protocol import load_protocol
        from ringfence.report import report_window

        w = report_window(load_protocol(PROTOCOL), as_of)
        hours, minutes = (int(p) for p in w.cutoff.split(":"))
        return cls(w.start, w.end, w.day, w.timezone, timedelta(hours=hours, minutes=minutes))

    def to_spec(self) -> dict[str, Any]:
        """The window as JSON for a child's spec."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "day": self.day.isoformat(),
            "zone": self.zone,
            "cutoff_s": self.cutoff.total_seconds(),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Window:
        """The window back from a child's spec."""
        return cls(
            datetime.fromisoformat(spec["start"]),
            datetime.fromisoformat(spec["end"]),
            date.fromisoformat(spec["day"]),
            spec["zone"],
            timedelta(seconds=spec["cutoff_s"]),
        )


def peer_connect(db: str) -> Any:
    """The peer's own DuckDB connection, configured as ringfence's (UTC, the same memory
    limit, no downloads; DuckDB wants the last setting before the time zone)."""
    import duckdb

    config = {
        "autoinstall_known_extensions": "false",
        "TimeZone": "UTC",
        "memory_limit": os.environ.get("RINGFENCE_MEMORY_LIMIT", "1GB"),
    }
    return duckdb.connect(db, read_only=True, config=config)


def _peer_call(
    con: Any, window: Window, columns: dict[str, list[str]] | None
) -> Callable[[], tuple[dict[str, Any], dict[str, float]]]:
    """The peer's script as a call: export, then count; returns the counts and the split."""

    def call() -> tuple[dict[str, Any], dict[str, float]]:
        t0 = time.perf_counter()
        frames = export_tables(con, columns)
        t1 = time.perf_counter()
        counts = peer_counts(frames, window.start, window.end, window.zone, window.cutoff)
        t2 = time.perf_counter()
        return counts, {"export_s": t1 - t0, "compute_s": t2 - t1}

    return call


def _act_timed(spec: dict[str, Any]) -> dict[str, Any]:
    """Every measurement in this one process, round-robin; the answers checked first."""
    from ringfence.report import daily_bulletin, render_bulletin, render_sitrep, situation_report
    from ringfence.store import open_store

    window = Window.from_spec(spec["window"])
    store = open_store(spec["db"], read_only=True)
    made: dict[str, Any] = {}

    def bulletin() -> dict[str, Any]:
        made["bulletin"] = daily_bulletin(store)
        return {}

    def sitrep() -> dict[str, Any]:
        made["sitrep"] = situation_report(store)
        return {}

    def renderer(what: str, fmt: str) -> Callable[[], dict[str, Any]]:
        def call() -> dict[str, Any]:
            if what == "bulletin":
                out = render_bulletin(made["bulletin"], fmt)
            else:
                out = render_sitrep(made["sitrep"], fmt)
            return {"bytes": len(out.encode() if isinstance(out, str) else out)}

        return call

    peers = {
        "peer": _peer_call(store.con, window, None),
        "peer_cols": _peer_call(store.con, window, PEER_COLUMNS),
    }

    def peer(name: str) -> Callable[[], dict[str, Any]]:
        def call() -> dict[str, Any]:
            counts, split = peers[name]()
            made[name] = counts
            return split

        return call

    calls: dict[str, Callable[[], dict[str, Any]]] = {
        "bulletin": bulletin,
        **{f"render_bulletin_{f}": renderer("bulletin", f) for f in BULLETIN_FORMATS},
        "sitrep": sitrep,
        **{f"render_sitrep_{f}": renderer("sitrep", f) for f in SITREP_FORMATS},
        "peer": peer("peer"),
        "peer_cols": peer("peer_cols"),
    }
    runs: list[dict[str, Any]] = []
    answers: dict[str, Any] = {}
    rounds = spec["warmup"] + spec["runs"]
    consistent = {"bulletin": True, "peer": True, "peer_cols": True}
    for round_ in range(rounds):
        warmup = round_ < spec["warmup"]
        for name, call in calls.items():
            gc.collect()
            t0 = time.perf_counter()
            extra = call()
            seconds = time.perf_counter() - t0
            runs.append(
                {
                    "name": name,
                    "round": round_,
                    "warmup": warmup,
                    "seconds": seconds,
                    "extra": extra,
                }
            )
            _say(
                f"round {round_ + 1}/{rounds} {'warm-up' if warmup else 'timed'} {name}: "
                f"{seconds:.3f} s"
            )
        if round_ == 0:
            # Before any timed round: do the two answers agree?
            answers = _check(store.con, made, window)
            _say(
                f"agreement: {sum(r['same'] for r in answers['rows'])} of "
                f"{len(answers['rows'])} counts equal"
            )
            first_bulletin = without_run(made["bulletin"])
            first_peer = made["peer"]
        else:
            consistent["bulletin"] &= without_run(made["bulletin"]) == first_bulletin
            consistent["peer"] &= made["peer"] == first_peer
            consistent["peer_cols"] &= made["peer_cols"] == first_peer
    store.close()
    return {"runs": runs, "answers": answers, "consistent": consistent}


def _check(con: Any, made: dict[str, Any], window: Window) -> dict[str, Any]:
    """Untimed: the peer's counts beside the bulletin's, the splits' sums on both sides, the
    two peer variants against each other, and the size of the export in pandas."""
    frames = export_tables(con)
    export_mb = sum(float(f.memory_usage(deep=True).sum()) for f in frames.values()) / 2**20
    return {
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "day": window.day.isoformat(),
        },
        "rows": compare(made["bulletin"], made["peer"]),
        "peer_variants_agree": made["peer"] == made["peer_cols"],
        "sums_ringfence": split_sums(made["bulletin"]),
        "sums_peer": split_sums(made["peer"]),
        "export_rows": {name: len(f) for name, f in frames.items()},
        "export_mb": export_mb,
        "bulletin": made["bulletin"],
        "peer": made["peer"],
    }


def _act_rss(spec: dict[str, Any]) -> dict[str, Any]:
    """One call in a fresh process (its peak RSS is taken by the parent), or, for the
    baselines, only the imports and the open store."""
    what = spec["what"]
    if what in ("baseline_peer", "peer"):
        import pandas  # noqa: F401

        con = peer_connect(spec["db"])
        t0 = time.perf_counter()
        if what == "peer":
            _peer_call(con, Window.from_spec(spec["window"]), None)()
        seconds = time.perf_counter() - t0
        con.close()
        return {"seconds": seconds}
    from ringfence.report import daily_bulletin, situation_report
    from ringfence.store import open_store

    store = open_store(spec["db"], read_only=True)
    t0 = time.perf_counter()
    if what == "bulletin":
        daily_bulletin(store)
    elif what == "sitrep":
        situation_report(store)
    seconds = time.perf_counter() - t0
    store.close()
    return {"seconds": seconds}


CHAIN_QUERIES = (
    "cases",
    "links between cases",
    "contacts per case",
    "place names",
    "contacts as nodes",
)
"""The queries of `transmission_chains`, in the order it runs them."""


def _act_breakdown(spec: dict[str, Any]) -> dict[str, Any]:
    """One pass over the parts: each daily query of the bulletin, the chains' queries, the
    charts (the chains chart also without Altair's schema validation), and the situation
    report's PDF with and without the chains chart."""
    import dataclasses

    import ibis

    from ringfence.control.context import Context
    from ringfence.control.cycle import fetch
    from ringfence.report import chains, charts, daily, render, sitrep
    from ringfence.report.bulletin import build_bulletin, bulletin_data
    from ringfence.report.window import report_window
    from ringfence.store import open_store

    store = open_store(spec["db"], read_only=True)
    data, run = bulletin_data(store)
    ctx = Context(data.protocol, data.as_of)
    window = report_window(data.protocol, data.as_of)
    now = datetime.now(UTC)
    out: dict[str, Any] = {"queries": []}
    for name, query in [*daily.QUERIES.items(), ("loop_members", None)]:
        t0 = time.perf_counter()
        expr = daily.loop_members(ctx) if query is None else query(ctx, window)
        sql = ibis.to_sql(expr, dialect="duckdb")
        t1 = time.perf_counter()
        rows = store.fetch_records(sql)
        t2 = time.perf_counter()
        out["queries"].append(
            {"name": name, "compile_s": t1 - t0, "run_s": t2 - t1, "rows": len(rows)}
        )
    t0 = time.perf_counter()
    build_bulletin(data, issued_at=now, run=run)
    out["build_bulletin_s"] = time.perf_counter() - t0

    timed: list[dict[str, Any]] = []

    def timed_fetch(s: Any, expr: Any) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        rows = fetch(s, expr)
        timed.append({"seconds": time.perf_counter() - t0, "rows": len(rows)})
        return rows

    chains.fetch = timed_fetch  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        found = chains.transmission_chains(store, window.timezone)
        out["chains_s"] = time.perf_counter() - t0
    finally:
        chains.fetch = fetch
    out["chain_queries"] = [
        {"name": CHAIN_QUERIES[i] if i < len(CHAIN_QUERIES) else f"query {i + 1}", **q}
        for i, q in enumerate(timed)
    ]
    out["chains_size"] = {
        "clusters": len(found.clusters),
        "sporadic": found.sporadic,
        "nodes": len(found.nodes),
        "edges": len(found.edges),
    }
    t0 = time.perf_counter()
    report = sitrep.build_situation_report(data, found, issued_at=now, run=run)
    out["build_sitrep_s"] = time.perf_counter() - t0
    largest = [c["cluster_id"] for c in found.clusters[: sitrep.CHART_CLUSTERS]]
    t0 = time.perf_counter()
    charts.chains_chart(found.nodes, found.edges, largest, "Clusters")
    out["chains_chart_s"] = time.perf_counter() - t0
    out["chains_chart_cases"] = sum(c["size"] for c in found.clusters[: sitrep.CHART_CLUSTERS])
    out["chains_chart_clusters"] = len(largest)
    out["svg"] = []
    for chart in report.charts:
        t0 = time.perf_counter()
        svg = chart.svg()
        out["svg"].append(
            {"name": chart.name, "seconds": time.perf_counter() - t0, "bytes": len(svg)}
        )
    lean = dataclasses.replace(report, charts=[c for c in report.charts if c.name != "chains"])
    for label, which in (("with the chains chart", report), ("without it", lean)):
        t0 = time.perf_counter()
        html = render.sitrep_html(which, interactive=False)
        t1 = time.perf_counter()
        pdf = render.pdf_from_html(html)
        t2 = time.perf_counter()
        out.setdefault("pdf", []).append(
            {
                "label": label,
                "html_s": t1 - t0,
                "weasyprint_s": t2 - t1,
                "html_bytes": len(html),
                "pdf_bytes": len(pdf),
            }
        )
    store.close()
    return out


# ----------------------------------------------------------------------------------------
# The parent: setup, the timed process, the RSS processes, the report
# ----------------------------------------------------------------------------------------


def _echo_progress(line: str) -> None:
    """Print a child's progress lines as they come."""
    if line.startswith("progress: "):
        print("  " + line.removeprefix("progress: "), flush=True)


class Bench:
    """One benchmark invocation: its work directory, setup and results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir.resolve()
        self.per_day = args.visits / (args.persons * args.days)
        city = harness.city_name(args.persons, args.days, self.per_day, args.seed)
        self.data = self.workdir / city
        self.base = self.workdir / "stores" / f"{city}.duckdb"
        end = START + timedelta(days=args.days)
        self.as_of = datetime(end.year, end.month, end.day, tzinfo=ZoneInfo(ZONE))
        self.cycled = self.workdir / "stores" / f"report-{city}-asof{end:%Y%m%d}.duckdb"
        self.runs_dir = self.workdir / "runs"
        self.logs = self.workdir / "logs"
        self.setup: dict[str, Any] = {}
        self.timed: dict[str, Any] = {}
        self.rss: dict[str, dict[str, Any]] = {}
        self.breakdown: dict[str, Any] = {}
        self.code: dict[str, Any] = {}
        self.env = dict(os.environ)
        self.script = str(Path(__file__).resolve())
        self._sequence = 0

    # -- children -----------------------------------------------------------------------
    def child(self, spec: dict[str, Any], label: str, timeout: float | None = None) -> Outcome:
        """Run `spec` in a fresh process, echoing its progress lines; kill it after
        `timeout` seconds."""
        self._sequence += 1
        stem = f"report-{self._sequence:03d}-{label}"
        spec_path = self.runs_dir / f"{stem}.spec.json"
        result_path = self.runs_dir / f"{stem}.result.json"
        log_path = self.logs / f"{stem}.log"
        spec_path.write_text(json.dumps({**spec, "result": self.rel(result_path)}))
        command = [sys.executable, self.script, "--child", self.rel(spec_path)]
        outcome = run_child(
            command, self.workdir, self.env, log_path, result_path, timeout, _echo_progress
        )
        spec_path.unlink()
        return outcome

    def must(self, spec: dict[str, Any], label: str) -> tuple[dict[str, Any], float]:
        """Run `spec` in a fresh process; stop the benchmark if it fails."""
        outcome = self.child(spec, label)
        if outcome.out is None:
            raise SystemExit(f"{label} failed: {last_line(outcome.error)}\n{outcome.error}")
        return outcome.out, outcome.peak_mb

    def rel(self, path: Path) -> str:
        """`path` relative to the work directory, where every child runs."""
        return os.path.relpath(path, self.workdir)

    # -- setup --------------------------------------------------------------------------
    def pin_code(self) -> None:
        """Measure one version of ringfence from start to end (see `harness.snapshot_code`).
        A caller that pinned the code already (bench/web_load.py builds its city here) sets
        `code` and `env` first and keeps them."""
        if self.code:
            return
        self.code, copy, snapshot = snapshot_code(
            self.workdir, Path(__file__).resolve(), "report", self.args.no_snapshot
        )
        if copy is None or snapshot is None:
            return
        self.script = self.rel(copy)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
        )

    def prepare(self) -> None:
        """Setup, untimed: the city, the store, the cycle's decisions (each reused)."""
        for folder in (self.workdir, self.runs_dir, self.logs, self.base.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.pin_code()
        marker = self.data / "rows.json"
        if marker.exists():
            self.setup["generate"] = {**json.loads(marker.read_text()), "reused": True}
        else:
            print(
                f"setup: generating {self.args.persons:,} persons × {self.args.days} days, "
                f"{self.per_day:.4g} visits per person-day …",
                flush=True,
            )
            out, _ = self.must(
                {
                    "action": "generate",
                    "out": self.rel(self.data),
                    "persons": self.args.persons,
                    "days": self.args.days,
                    "seed": self.args.seed,
                    "visits_per_person_day": self.per_day,
                },
                "generate",
            )
            marker.write_text(json.dumps(out))
            self.setup["generate"] = out
        store_marker = self.base.with_name(self.base.name + ".json")
        if store_marker.exists() and self.base.exists():
            self.setup["store"] = {**json.loads(store_marker.read_text()), "reused": True}
        else:
            print("setup: ingesting every table into a DuckDB store …", flush=True)
            remove_db(self.base)
            out, peak = self.must(
                {"action": "store", "db": self.rel(self.base), "data": self.rel(self.data)},
                "store",
            )
            out = {"tables": out, "peak_rss_mb": peak}
            store_marker.write_text(json.dumps(out))
            self.setup["store"] = out
        cycle_marker = self.cycled.with_name(self.cycled.name + ".json")
        previous = json.loads(cycle_marker.read_text()) if cycle_marker.exists() else {}
        if self.cycled.exists() and previous.get("src_sha256") == self.code["src_sha256"]:
            self.setup["cycle"] = {**previous, "reused": True}
        else:
            print(
                f"setup: the cycle as of {self.as_of.isoformat()} ({PROTOCOL}) on a copy of "
                "the store …",
                flush=True,
            )
            remove_db(self.cycled)
            shutil.copyfile(self.base, self.cycled)
            out, peak = self.must(
                {"action": "cycle", "db": self.rel(self.cycled), "as_of": self.as_of.isoformat()},
                "cycle",
            )
            out = {**out, "peak_rss_mb": peak, "src_sha256": self.code["src_sha256"]}
            cycle_marker.write_text(json.dumps(out))
            self.setup["cycle"] = out
        self.setup["store_bytes"] = self.cycled.stat().st_size
        counts = self.setup["cycle"]["counts"]
        print(
            f"  {counts['cases']:,} cases, {counts['contacts']:,} contacts, "
            f"{counts['orders']:,} orders",
            flush=True,
        )

    # -- measurements -------------------------------------------------------------------
    def run(self) -> None:
        """Setup, then the timed process, the fresh-process peaks and the breakdown."""
        self.prepare()
        spec = {
            "db": self.rel(self.cycled),
            "as_of": self.as_of.isoformat(),
            "window": Window.at(self.as_of).to_spec(),
        }
        print(
            f"timed: {self.args.warmup} warm-up + {self.args.runs} timed rounds in one process …",
            flush=True,
        )
        self.timed, self.setup["timed_process_peak_mb"] = self.must(
            {**spec, "action": "timed", "runs": self.args.runs, "warmup": self.args.warmup},
            "timed",
        )
        if not self.args.no_rss:
            for what in ("baseline_ringfence", "bulletin", "sitrep", "baseline_peer", "peer"):
                print(f"peak RSS in a fresh process: {what} …", end=" ", flush=True)
                outcome = self.child({**spec, "action": "rss", "what": what}, f"rss-{what}")
                self.rss[what] = {
                    "peak_mb": outcome.peak_mb,
                    "error": outcome.error,
                    "seconds": (outcome.out or {}).get("seconds"),
                }
                print(
                    f"{outcome.peak_mb:,.0f} MB" if not outcome.error else outcome.error, flush=True
                )
        if not self.args.no_breakdown:
            print("breakdown: the parts, once …", flush=True)
            outcome = self.child({**spec, "action": "breakdown"}, "breakdown")
            self.breakdown = outcome.out or {"error": outcome.error}

    def cleanup(self) -> None:
        """Remove the copy of this script from the work directory."""
        if self.script != str(Path(__file__).resolve()):
            (self.workdir / self.script).unlink(missing_ok=True)

    # -- reporting ----------------------------------------------------------------------
    def samples(self, name: str, key: str | None = None, warmup: bool = False) -> list[float]:
        """The seconds of `name` in the timed rounds (or its warm-up), or one part of them."""
        return [
            r["seconds"] if key is None else r["extra"][key]
            for r in self.timed.get("runs", [])
            if r["name"] == name and r["warmup"] == warmup
        ]

    def median(self, name: str, key: str | None = None) -> float:
        """The median seconds of `name` (or of one part of it) over the timed rounds."""
        return statistics.median(self.samples(name, key))

    def paired(self, a: str, b: str) -> float:
        """Median over the timed rounds of a's seconds / b's seconds in the same round."""
        return statistics.median(
            x / y for x, y in zip(self.samples(a), self.samples(b), strict=True)
        )

    def summary(self) -> dict[str, Any]:
        """Per measurement: runs, median, min and max seconds, the first call's seconds."""
        out = {}
        for name in MEASUREMENTS:
            times = self.samples(name)
            first = self.samples(name, warmup=True)
            out[name] = {
                "runs": len(times),
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "first_s": first[0] if first else None,
            }
        for peer in PEERS:
            out[peer]["export_median_s"] = self.median(peer, "export_s")
            out[peer]["compute_median_s"] = self.median(peer, "compute_s")
        return out

    def markdown(self, command: str) -> str:
        """The results section, in Markdown."""
        env = environment()
        gen = self.setup["generate"]
        cycle = self.setup["cycle"]
        counts = cycle["counts"]
        answers = self.timed["answers"]
        window = answers["window"]
        rows = gen["rows"]
        zone = ZoneInfo(ZONE)

        def local(text: str) -> str:
            return datetime.fromisoformat(text).astimezone(zone).strftime("%Y-%m-%d %H:%M")

        lines = [
            f"Command: `{command}`",
            "",
            f"City: {self.args.persons:,} persons × {self.args.days} days, seed "
            f"{self.args.seed}: {rows['visits']:,} visits, {rows['samples']:,} samples, "
            f"{rows['results']:,} results. The cycle ran once as of {self.as_of.isoformat()} "
            f"(the end of the period) under {PROTOCOL}: {counts['cases']:,} cases, "
            f"{counts['contacts']:,} contacts, {counts['orders']:,} orders, "
            f"{counts['risk_areas']:,} risk areas (setup, untimed; the cycle took "
            f"{cycle['seconds']:.0f} s"
            + (", reused" if cycle.get("reused") else "")
            + f"). Store {self.setup['store_bytes'] / 1e9:.2f} GB. Bulletin window "
            f"{local(window['start'])} to {local(window['end'])} ({ZONE}), report day "
            f"{window['day']}.",
            "",
            f"Code: commit {self.code.get('commit', '?')}"
            + ("" if self.code.get("src_matches_commit", True) else " with uncommitted changes")
            + f", src/ringfence hash {self.code.get('src_sha256', '?')}"
            + (
                " (imported from a snapshot taken at the start)"
                if self.code.get("snapshot")
                else ""
            )
            + f". Python {env['python']}, DuckDB {env['duckdb']}, Ibis {env['ibis']}, pandas "
            f"{env['pandas']}, pyarrow {env['pyarrow']}, Altair {env['altair']}, vl-convert "
            f"{env['vl-convert-python']}, WeasyPrint {env['weasyprint']}; {env['cpus']} CPUs, "
            f"{env['memory_gb']} GB, {env['platform']}; DuckDB memory limit "
            f"{env['ringfence_memory_limit']}.",
            "",
            f"Method: one process holds the store open (read-only) and calls everything "
            f'round-robin: {self.args.warmup} untimed warm-up round(s) ("first call"), then '
            f"{self.args.runs} timed rounds; each call timed alone with `time.perf_counter` "
            "after an untimed `gc.collect()`. Times are medians; the renderers work on the "
            "bulletin and report of the same round. The peer's time includes its export (a "
            "Go.Data/SORMAS/DHIS2 user must export the line lists before counting). A ratio is "
            "the peer's median over the row's, in brackets the median of the per-round ratios; "
            "the peer computes only the bulletin's headline counts, so its ratio to the "
            "situation report is for scale.",
            "",
            "| measurement | runs | first call s | median s (min–max) | peer ÷ this | "
            "peer (needed columns) ÷ this |",
            "|---|---|---|---|---|---|",
        ]
        s = self.summary()
        for name in MEASUREMENTS:
            m = s[name]
            ratios = ["", ""]
            if name in ("bulletin", "sitrep"):
                ratios = [
                    f"{s[p]['median_s'] / m['median_s']:.2f} ({self.paired(p, name):.2f})"
                    for p in PEERS
                ]
            first = "–" if m["first_s"] is None else f"{m['first_s']:.3f}"
            lines.append(
                f"| {LABELS[name]} | {m['runs']} | {first} | {m['median_s']:.3f} "
                f"({m['min_s']:.3f}–{m['max_s']:.3f}) | {ratios[0]} | {ratios[1]} |"
            )
        b, sr = s["bulletin"]["median_s"], s["sitrep"]["median_s"]
        lines += [
            "",
            "Of the peer's time, exporting takes "
            + "; ".join(
                f"{s[p]['export_median_s']:.2f} s and counting {s[p]['compute_median_s']:.2f} s "
                f"({'every column' if p == 'peer' else 'the needed columns'})"
                for p in PEERS
            )
            + f". The full export is {sum(answers['export_rows'].values()):,} rows ("
            + ", ".join(f"{k} {v:,}" for k, v in answers["export_rows"].items())
            + f"), {answers['export_mb']:,.0f} MB in pandas. From the store to a document "
            f"(sums of medians): the bulletin as PDF "
            f"{b + s['render_bulletin_pdf']['median_s']:.2f} s, the situation report as HTML "
            f"{sr + s['render_sitrep_html']['median_s']:.2f} s and as PDF "
            f"{sr + s['render_sitrep_pdf']['median_s']:.2f} s.",
        ]
        lines += self._agreement_lines()
        lines += self._rss_lines()
        lines += self._breakdown_lines()
        return "\n".join(lines) + "\n"

    def _agreement_lines(self) -> list[str]:
        """The agreement check: the counts that differ and the splits' sums."""
        answers = self.timed["answers"]
        rows = answers["rows"]
        differ = [r for r in rows if not r["same"]]
        consistent = self.timed["consistent"]
        lines = [
            "",
            f"**Agreement** (checked before the timed rounds): {len(rows) - len(differ)} of "
            f"{len(rows)} counts equal between the bulletin and the peer"
            + (" — they agree." if not differ else ".")
            + " The peer's two variants give "
            + ("the same counts" if answers["peer_variants_agree"] else "DIFFERENT counts")
            + "; every timed round gave the same answer as the first: bulletin "
            + ("yes" if consistent["bulletin"] else "NO")
            + ", peer "
            + ("yes" if consistent["peer"] and consistent["peer_cols"] else "NO")
            + ".",
        ]
        if differ:
            lines += ["", "| count | ringfence | peer |", "|---|---|---|"]
            lines += [
                f"| `{r['path']}` | {_value(r['ringfence'])} | {_value(r['peer'])} |"
                for r in differ
            ]
        uneven = [
            (mine, theirs)
            for mine, theirs in zip(answers["sums_ringfence"], answers["sums_peer"], strict=True)
            if mine["sum_of_blocks"] != mine["city"] or theirs["sum_of_blocks"] != theirs["city"]
        ]
        if uneven:
            lines += [
                "",
                "Splits that do not add up to the city's count (sum over the blocks / the "
                "city's count):",
                "",
                "| split | count | ringfence | peer |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| {m['split']} | {m['count']} | {m['sum_of_blocks']:,} / {m['city']:,} | "
                f"{t['sum_of_blocks']:,} / {t['city']:,} |"
                for m, t in uneven
            ]
        else:
            lines += ["", "Every split of the new cases adds up to the city's count, both sides."]
        shown = (
            "new.total",
            "new.confirmed",
            "new.asymptomatic",
            "cumulative.total",
            "in_isolation.total",
            "in_quarantine.total",
            "contacts.new",
            "contacts.under_observation",
        )
        values = {r["path"]: r for r in rows}
        lines += [
            "",
            "Headline counts (ringfence = peer): "
            + ", ".join(f"{p} {_value(values[p]['ringfence'])}" for p in shown if p in values)
            + ".",
        ]
        return lines

    def _rss_lines(self) -> list[str]:
        """The fresh-process peaks."""
        if not self.rss:
            return []
        lines = [
            "",
            "**Peak RSS**, each in a fresh process (`os.wait4`), one call after its imports "
            f"and opening the store. The timed process peaked at "
            f"{self.setup['timed_process_peak_mb']:,.0f} MB over all its rounds.",
            "",
            "| process | peak RSS MB | above its floor MB | seconds (cold) |",
            "|---|---|---|---|",
        ]
        floors = {
            "bulletin": "baseline_ringfence",
            "sitrep": "baseline_ringfence",
            "peer": "baseline_peer",
        }
        names = {
            "baseline_ringfence": "floor: imports `ringfence.report`, opens the store",
            "bulletin": "`daily_bulletin(store)`",
            "sitrep": "`situation_report(store)`",
            "baseline_peer": "floor: imports pandas and DuckDB, connects to the store",
            "peer": "peer (`SELECT *` export + counts)",
        }
        for what, r in self.rss.items():
            if r["error"]:
                lines.append(f"| {names[what]} | failed: {last_line(r['error'])} | | |")
                continue
            floor = self.rss.get(floors.get(what, ""), {}).get("peak_mb")
            above = "–" if floor is None else f"{r['peak_mb'] - floor:,.0f}"
            secs = "–" if what.startswith("baseline") else f"{r['seconds']:.2f}"
            lines.append(f"| {names[what]} | {r['peak_mb']:,.0f} | {above} | {secs} |")
        return lines

    def _breakdown_lines(self) -> list[str]:
        """The one-pass breakdown of the parts."""
        d = self.breakdown
        if not d:
            return []
        if "error" in d:
            return ["", f"Breakdown failed: {last_line(d['error'])}"]
        queries = d["queries"]
        total = sum(q["compile_s"] + q["run_s"] for q in queries)
        lines = [
            "",
            f"**Where the time goes** (one pass, not a median). The bulletin's "
            f"{len(queries)} queries: {total:.2f} s (compiling "
            f"{sum(q['compile_s'] for q in queries):.2f} s); assembling the bulletin from their "
            f"rows {d['build_bulletin_s']:.3f} s.",
            "",
            "| query | run s | rows |",
            "|---|---|---|",
        ]
        for q in sorted(queries, key=lambda q: -q["run_s"]):
            lines.append(f"| {q['name']} | {q['run_s']:.3f} | {q['rows']:,} |")
        size = d["chains_size"]
        lines += [
            "",
            f"The situation report adds `transmission_chains` {d['chains_s']:.2f} s ("
            + ", ".join(
                f"{q['name']} {q['seconds']:.2f} s ({q['rows']:,} rows)" for q in d["chain_queries"]
            )
            + f"; {size['clusters']:,} clusters, {size['sporadic']:,} sporadic cases, a graph of "
            f"{size['nodes']:,} nodes and {size['edges']:,} edges) and "
            f"`build_situation_report` {d['build_sitrep_s']:.2f} s, of which the chains "
            f"chart's spec (`charts.chains_chart`, the {d['chains_chart_clusters']} largest "
            f"clusters, {d['chains_chart_cases']:,} cases) {d['chains_chart_s']:.2f} s. "
            "SVG per chart: "
            + ", ".join(
                f"{c['name']} {c['seconds']:.2f} s ({c['bytes'] / 1e3:,.0f} kB)" for c in d["svg"]
            )
            + ". The PDF: "
            + "; ".join(
                f"{p['label']}, page {p['html_s']:.2f} s ({p['html_bytes'] / 1e6:.1f} MB) + "
                f"WeasyPrint {p['weasyprint_s']:.2f} s"
                for p in d["pdf"]
            )
            + ".",
        ]
        return lines


def _value(value: Any) -> str:
    """A count as the tables print it."""
    if value is None:
        return "(none)"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _version(package: str) -> str:
    """An installed package's version."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """Versions and the machine."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        **{
            p: _version(p)
            for p in (
                "duckdb",
                "ibis-framework",
                "pandas",
                "pyarrow",
                "altair",
                "vl-convert-python",
                "weasyprint",
            )
        },
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "ringfence_memory_limit": os.environ.get("RINGFENCE_MEMORY_LIMIT", "1GB (default)"),
    }
    env["ibis"] = env.pop("ibis-framework")
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument(
        "--visits",
        type=int,
        help="visits to generate, about (default: 10 per person over 14 days, as "
        "bench/cycle.py: 10,000,000 for 1 M persons)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=5, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--no-rss", action="store_true", help="skip the fresh-process peaks")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the one-pass parts")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="generated data, stores and logs (default: bench/data)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the section to this file")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="import src/ringfence live instead of a copy taken at the start",
    )
    args = parser.parse_args(argv)
    if args.visits is None:
        args.visits = round(args.persons * 10)
    if args.runs < 1 or args.warmup < 1:
        parser.error("--runs and --warmup must be at least 1 (the check uses the warm-up)")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; print the section and write it, with every run, to the workdir."""
    args = parse_args(argv)
    bench = Bench(args)
    started = datetime.now(UTC)
    try:
        bench.run()
    finally:
        bench.cleanup()
    command = "python bench/report.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = bench.markdown(command.strip())
    print()
    print(text)
    record = {
        "command": command,
        "environment": environment(),
        "code": bench.code,
        "as_of": bench.as_of.isoformat(),
        "setup": bench.setup,
        "summary": bench.summary(),
        "timed": bench.timed,
        "rss": bench.rss,
        "breakdown": bench.breakdown,
    }
    save_results(bench.workdir, "report", started, record, text, args.markdown)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child_main(sys.argv[2])
    else:
        main()
