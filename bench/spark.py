"""The whole control cycle on DuckDB and on Apache Spark (local mode) over the same events.

The synthetic city of `ringfence.examples.generate` is ingested once into a DuckDB store
(setup, not timed; the store of `bench/cycle.py`, shared), and the
store's event tables are written once as a Parquet lake with `ringfence.store.lake.export_lake`
(setup, not timed). Then, each in a fresh process so that its peak RSS is its own:

The city is generated and ingested by the functions of `bench/cycle.py` when missing.

* ``duckdb``: `run_cycle(store, load_protocol("zero-covid-2022"), as_of)` on a fresh copy of
  the store;
* ``spark``: `run_cycle(SparkLake(lake, spark_session("local[2]")), ...)` on the lake: the
  same Ibis expressions compiled to Spark SQL, each step written to the lake as Parquet. The
  peak RSS includes Spark's JVM (the child waits for it to exit).

Both give their decision counts (cases, contacts, orders, ...), which must be equal. The
`as_of` is the end of the generated period, as in `bench/cycle.py`.

Usage: ``python bench/spark.py [--persons 1000000] [--days 14] [--visits 10000000]
[--runs 1] [--engines duckdb spark] [--driver-memory 12g] [--partitions 16] [--timeout 3600]
[--workdir bench/data] [--markdown FILE]``; DuckDB's working memory is `$RINGFENCE_MEMORY_LIMIT`
(1GB unless set), beyond which it spills to disk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from harness import city_name, run_child, save_results

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / "data"
DEFAULT_SEED = 20220110
START = date(2022, 1, 10)
PROTOCOL = "zero-covid-2022"


def _child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    from cycle import _act_generate, _act_store

    actions = {"generate": _act_generate, "store": _act_store, "export": _export,
               "duckdb": _duckdb, "spark": _spark}  # fmt: skip
    out = actions[spec["action"]](spec)
    Path(spec["result"]).write_text(json.dumps(out, default=str))


def _export(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.store import open_store
    from ringfence.store.lake import export_lake

    t0 = time.perf_counter()
    with open_store(spec["db"], read_only=True) as store:
        rows = export_lake(store, spec["lake"])
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def _as_of(spec: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(spec["as_of"])


def _duckdb(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.control import run_cycle
    from ringfence.protocol import load_protocol
    from ringfence.store import open_store

    store = open_store(spec["db"])
    t0 = time.perf_counter()
    report = run_cycle(store, load_protocol(PROTOCOL), _as_of(spec))
    seconds = time.perf_counter() - t0
    mass = _mass_testing(store.fetchall)
    store.close()
    return {"seconds": seconds, "counts": report.counts, "steps": report.step_seconds,
            "mass_testing": mass}  # fmt: skip


MASS_TESTING_SQL = {
    # One row per mass-testing round (a district on a day): swabs, pooled tubes, positive
    # tubes, and the single-tube re-tests of positive tubes' members.
    "rounds": """
        SELECT p.district, CAST(s.collected_at + INTERVAL 8 HOUR AS DATE) AS day,
               count(*) AS swabs, count(DISTINCT s.pool_id) AS tubes,
               count(DISTINCT CASE WHEN r.outcome = 'positive' THEN s.pool_id END)
                   AS positive_tubes
        FROM samples s JOIN persons p USING (person_id)
        LEFT JOIN results r ON r.pool_id = s.pool_id
        WHERE s.pool_id IS NOT NULL GROUP BY ALL ORDER BY day""",
    "retests": "SELECT count(*) FROM samples WHERE purpose = 'mass' AND pool_id IS NULL",
    "cases_found_by_mass_testing": "SELECT count(*) FROM cases WHERE found_by = 'mass_testing'",
    # The cycle's own next rounds: people planned into pools (Dorfman's size from prevalence).
    "planned": """
        SELECT purpose, count(*) AS people, count(DISTINCT pool_id) AS tubes
        FROM test_plans WHERE purpose IN ('mass_testing', 'pool_retest') GROUP BY ALL""",
}


def _mass_testing(fetchall: Any) -> dict[str, Any]:
    """The mass-testing rounds in the events and the cycle's plans for the next ones, by
    `fetchall(sql)` on either engine (the SQL is the same), rows sorted."""
    return {name: sorted(list(map(str, row)) for row in fetchall(sql))
            for name, sql in MASS_TESTING_SQL.items()}  # fmt: skip


def _spark(spec: dict[str, Any]) -> dict[str, Any]:
    from ringfence.control import run_cycle
    from ringfence.protocol import load_protocol
    from ringfence.store.lake import SparkLake, spark_session

    t0 = time.perf_counter()
    session = spark_session(
        spec["master"],
        {"spark.driver.memory": spec["driver_memory"],
         "spark.sql.shuffle.partitions": str(spec["partitions"]),
         "spark.local.dir": spec["scratch"]},
    )  # fmt: skip
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    with SparkLake(spec["lake"], session) as lake:
        report = run_cycle(lake, load_protocol(PROTOCOL), _as_of(spec))
        seconds = time.perf_counter() - t1
        for name in ("cases", "test_plans"):
            lake.decisions(name).createOrReplaceTempView(name)
        mass = _mass_testing(lambda sql: [tuple(r) for r in session.sql(sql).collect()])
    # Stop the JVM and wait for it, so that this process's peak RSS includes Spark's.
    gateway = session.sparkContext._gateway
    session.stop()
    if gateway is not None:
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.stdin.close()
            process.wait(timeout=120)
    return {"seconds": seconds, "startup": started, "counts": report.counts,
            "steps": report.step_seconds, "mass_testing": mass}  # fmt: skip


class Bench:
    """One invocation: the city, its store and lake, and the runs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir.resolve()
        self.per_day = args.visits / (args.persons * args.days)
        city = city_name(args.persons, args.days, self.per_day, args.seed)
        self.base = self.workdir / "stores" / f"{city}.duckdb"
        self.lake = self.workdir / "lakes" / city
        self.runs = self.workdir / "runs"
        end = START + timedelta(days=args.days)
        self.as_of = datetime(end.year, end.month, end.day, tzinfo=ZoneInfo("Asia/Shanghai"))
        self.results: list[dict[str, Any]] = []
        self.setup: dict[str, Any] = {}
        self._n = 0

    def child(self, spec: dict[str, Any], label: str) -> dict[str, Any]:
        self._n += 1
        stem = self.runs / f"spark-{self._n:03d}-{label}"
        spec = {**spec, "result": str(stem) + ".result.json", "as_of": self.as_of.isoformat()}
        Path(str(stem) + ".spec.json").write_text(json.dumps(spec))
        command = [sys.executable, __file__, "--child", str(stem) + ".spec.json"]
        outcome = run_child(command, self.workdir, dict(os.environ), Path(str(stem) + ".log"),
                            Path(spec["result"]), self.args.timeout)  # fmt: skip
        return {"label": label, "out": outcome.out, "peak_mb": outcome.peak_mb,
                "error": outcome.error, "wall": outcome.wall}  # fmt: skip

    def must(self, spec: dict[str, Any], label: str) -> dict[str, Any]:
        done = self.child(spec, label)
        if done["out"] is None:
            raise SystemExit(f"{label} failed: {done['error']}")
        return dict(done["out"])

    def prepare(self) -> None:
        for folder in (self.workdir, self.runs, self.lake.parent):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.base.exists():
            data = self.workdir / self.base.stem
            if not (data / "visits.parquet").exists():
                print("setup: generating the city (bench/cycle.py's generator) …", flush=True)
                self.must({"action": "generate", "out": str(data), "persons": self.args.persons,
                           "days": self.args.days, "seed": self.args.seed,
                           "visits_per_person_day": self.per_day}, "generate")  # fmt: skip
            print("setup: ingesting every table into a DuckDB store …", flush=True)
            self.base.parent.mkdir(parents=True, exist_ok=True)
            self.setup["store"] = self.must({"action": "store", "db": str(self.base),
                                             "data": str(data)}, "store")  # fmt: skip
        if "spark" in self.args.engines and not (self.lake / "visits.parquet").exists():
            print("setup: the store's events as a Parquet lake …", flush=True)
            self.setup["export"] = self.must({"action": "export", "db": str(self.base),
                                              "lake": str(self.lake)}, "export")  # fmt: skip
        self.setup["visits"] = self._visits()

    def _visits(self) -> int:
        from ringfence.store import open_store

        with open_store(self.base, read_only=True) as store:
            return int(store.fetchall("SELECT count(*) FROM visits")[0][0])

    def run(self) -> None:
        self.prepare()
        for round_ in range(self.args.runs):
            if "duckdb" in self.args.engines:
                copy = self.workdir / "stores" / "spark-bench-copy.duckdb"
                shutil.copyfile(self.base, copy)
                print(f"round {round_ + 1}: DuckDB …", flush=True)
                self.results.append(self.child({"action": "duckdb", "db": str(copy)}, "duckdb"))
                copy.unlink()
            if "spark" not in self.args.engines:
                continue
            shutil.rmtree(self.lake / "decisions", ignore_errors=True)
            print(f"round {round_ + 1}: Spark {self.args.master} …", flush=True)
            scratch = self.workdir / "spark-scratch"
            scratch.mkdir(exist_ok=True)
            self.results.append(self.child({
                "action": "spark", "lake": str(self.lake), "master": self.args.master,
                "driver_memory": self.args.driver_memory, "partitions": self.args.partitions,
                "scratch": str(scratch),
            }, "spark"))  # fmt: skip
            shutil.rmtree(scratch, ignore_errors=True)
            for r in self.results[-len(self.args.engines):]:
                print(f"  {r['label']}: {_describe(r)}", flush=True)

    def markdown(self) -> str:
        a = self.args
        lines = [
            f"### The whole cycle, DuckDB and Spark {a.master}: {a.persons:,} persons, "
            f"{self.setup['visits']:,} visits",
            "",
            f"Command: `python bench/spark.py --persons {a.persons} --days {a.days} --visits "
            f"{a.visits} --runs {a.runs} --driver-memory {a.driver_memory} --partitions "
            f"{a.partitions} --engines {' '.join(a.engines)}`. {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, "
            f"measured {datetime.now(UTC):%Y-%m-%d}.",
            "",
            "| engine | cycle (s) | peak RSS (MB) | cases | contacts | orders | test plans |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.results:
            out = r["out"]
            if out is None:
                lines.append(f"| {r['label']} | failed: {r['error'][:80]} | | | | | |")
                continue
            c = out["counts"]
            lines.append(
                f"| {r['label']} | {out['seconds']:.1f} | {r['peak_mb']:,.0f} | {c['cases']:,} "
                f"| {c['contacts']:,} | {c['orders']:,} | {c['test_plans']:,} |"
            )
        counts = [json.dumps(r["out"]["counts"], sort_keys=True) for r in self.results if r["out"]]
        lines += ["", "Decision counts equal on both engines: "
                  + ("**yes**" if counts and len(set(counts)) == 1 else "**no**"), ""]  # fmt: skip
        masses = {json.dumps(r["out"].get("mass_testing"), sort_keys=True)
                  for r in self.results if r["out"]}  # fmt: skip
        if self.results and self.results[0]["out"]:
            mass = self.results[0]["out"].get("mass_testing") or {}
            lines += [
                f"Mass testing (events and the cycle's next rounds), {self.results[0]['label']}: "
                f"rounds {mass.get('rounds')}; single-tube re-tests {mass.get('retests')}; "
                f"cases found by mass testing {mass.get('cases_found_by_mass_testing')}; "
                f"planned {mass.get('planned')}. The same on every engine run: "
                + ("**yes**" if len(masses) == 1 else "**no**"),
                "",
            ]
        return "\n".join(lines)


def _describe(r: dict[str, Any]) -> str:
    if r["out"] is None:
        return f"failed: {r['error'][:300]}"
    return (f"{r['out']['seconds']:.1f} s, peak {r['peak_mb']:,.0f} MB, "
            f"contacts {r['out']['counts']['contacts']:,}")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--visits", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--engines", nargs="+", choices=("duckdb", "spark"),
                        default=["duckdb", "spark"])
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--markdown", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    args = parse_args(argv)
    bench = Bench(args)
    started = datetime.now(UTC)
    bench.run()
    text = bench.markdown()
    print()
    print(text)
    record = {"command": "python bench/spark.py " + " ".join(sys.argv[1:]),
              "setup": bench.setup, "results": bench.results}  # fmt: skip
    save_results(bench.workdir, "spark", started, record, text, args.markdown)


if __name__ == "__main__":
    main()
