"""Digital twin benchmark: the twin's speed and memory side by side with Covasim.

Measured, each in a fresh child process with its own peak RSS (`os.wait4`), rounds interleaved
(every round runs every measurement once, one seed per round, the same seed for every model):

* ``twin``: `simulate(city-small scaled to --persons × --days, None, seed)`, the world alone
  (no events written, no store). Init (building the `World`: people, places, seeds) is timed
  once on its own in the same process before the timed run, which then runs from scratch;
* ``covasim-hybrid`` / ``covasim-random``: `cv.Sim(pop_size, n_days, pop_type, pop_infected=10,
  rand_seed=seed)` with no interventions, `sim.initialize()` and `sim.run()` timed apart;
* ``covasim-tt``: the hybrid sim with `cv.test_prob(symp_prob=0.1, asymp_prob=0.01,
  test_delay=1)` and `cv.contact_tracing(trace_probs=0.5, trace_time=2)`;
* ``twin-control``: `simulate(city-small at --control-persons × --control-days, the
  zero-covid-2022 protocol, seed)`: the real ingest and the real control cycle every simulated
  day; the seconds per simulated day are extrapolated to --days (marked as such);
* the same with each older Covasim given by --covasim-old-python, when given.

Untimed small runs of each model come first (Covasim compiles its Numba functions on first
use and caches them on disk). Then, once each: the controlled twin at --control-big-persons ×
--control-big-days (if not 0); the twin alone at 1 M, 5 M and 20 M agents for a few days (the
20 M run only if the 1 M and 5 M runs project it to fit in the memory the machine has free,
with an address-space limit as a guard); the epidemics over --validity-seeds seeds for the
twin and Covasim (final infections, peak day); the `homogeneous` scenario against the
final-size equation z = 1 - exp(-R0 z); and a cProfile of the twin alone at --persons × --days.

Covasim runs in its own Python (--covasim-python, a virtualenv with `pip install
covasim==4.0.1`), so it cannot change ringfence's dependencies; without it the peer is skipped.
The code measured is a snapshot of `src/ringfence` taken at the start (bench/harness.py).

Usage: ``python bench/twin.py [--covasim-python .venv-covasim/bin/python]
[--covasim-old-python .venv-covasim316/bin/python] [--rounds 3] [--quick] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import Outcome, last_line, run_child, save_results, scrub, snapshot_code

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / "data" / "twin"
SCENARIO = "city-small"
PROTOCOL = "zero-covid-2022"
SEED_INFECTIONS = 10
"""Covasim's `pop_infected`: the same as city-small's `seed_infections`."""
HOMOGENEOUS_R0 = 2.0
"""R0 of the bundled `homogeneous` scenario (24 h × beta_per_hour × mean infectious days)."""
MB = 1024 * 1024
GB = 1024 * MB
MEMORY_HEADROOM_GB = 3.0
"""Memory left free for the rest of the machine when deciding whether 20 M agents fit."""


# ----------------------------------------------------------------------------------------
# Children: each measurement in a fresh process. Nothing of ringfence or Covasim is imported
# at the top, because Covasim's children run in Covasim's own Python without ringfence.
# ----------------------------------------------------------------------------------------


def _child_main(spec_path: str) -> None:
    """Entry point of a child: read the spec, do the action, write the result JSON."""
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("address_space_gb"):
        # A guard for the big memory runs: an allocation past the limit raises MemoryError in
        # this process instead of pushing the whole machine into the OOM killer.
        import resource

        limit = int(spec["address_space_gb"] * GB)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "twin": _act_twin,
        "twin_control": _act_twin_control,
        "covasim": _act_covasim,
        "validity_twin": _act_validity_twin,
        "validity_covasim": _act_validity_covasim,
        "homogeneous": _act_homogeneous,
        "profile": _act_profile,
    }
    out = actions[spec["action"]](spec)
    Path(spec["result"]).write_text(json.dumps(out, default=str))


def _scenario(spec: dict[str, Any], name: str = SCENARIO) -> Any:
    import dataclasses

    from ringfence.twin import load_scenario

    return dataclasses.replace(load_scenario(name), persons=spec["persons"], days=spec["days"])


def _twin_epidemic(result: Any) -> dict[str, Any]:
    """The numbers of a twin run that a validity check compares."""
    summary = result.summary()
    return {
        "infections": int(result.infections),
        "peak_day": summary["peak_day"],
        "peak_daily_infections": summary["peak_daily_infections"],
        "new_infections": [d.new_infections for d in result.days],
    }


def _act_twin(spec: dict[str, Any]) -> dict[str, Any]:
    """The twin alone: init timed apart (a World built and dropped), then `simulate` whole."""
    t0 = time.perf_counter()
    from ringfence.twin import simulate
    from ringfence.twin.world import World

    imported = time.perf_counter() - t0
    scenario = _scenario(spec)
    init = None
    if spec.get("time_init", True):
        t0 = time.perf_counter()
        world = World(scenario, spec["seed"])
        init = time.perf_counter() - t0
        del world
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        marks.append(time.perf_counter())
        if spec.get("verbose"):
            print(f"day {done}/{total} {marks[-1] - t0:.1f} s", flush=True)

    t0, cpu0 = time.perf_counter(), time.process_time()
    result = simulate(scenario, None, spec["seed"], progress=progress)
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    days = [b - a for a, b in zip([t0, *marks[:-1]], marks, strict=True)]
    return {
        "import_s": imported,
        "init_s": init,
        "total_s": total,
        "cpu_s": cpu,
        "run_s": total - init if init is not None else None,
        "day_s": days,
        **_twin_epidemic(result),
    }


def _act_twin_control(spec: dict[str, Any]) -> dict[str, Any]:
    """The twin under the protocol: the real ingest and control cycle every simulated day."""
    t0 = time.perf_counter()
    from ringfence.protocol import load_protocol
    from ringfence.twin import simulate

    imported = time.perf_counter() - t0
    scenario = _scenario(spec)
    protocol = load_protocol(spec["protocol"])
    workdir = Path(spec["scratch"])
    workdir.mkdir(parents=True, exist_ok=True)
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        marks.append(time.perf_counter())
        print(f"day {done}/{total} {marks[-1] - t0:.1f} s", flush=True)

    t0, cpu0 = time.perf_counter(), time.process_time()
    result = simulate(scenario, protocol, spec["seed"], workdir=workdir, progress=progress)
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    days = [b - a for a, b in zip([t0, *marks[:-1]], marks, strict=True)]
    summary = result.summary()
    return {
        "import_s": imported,
        "total_s": total,
        "cpu_s": cpu,
        "cycle_s": result.cycle_seconds,
        "day_s": days,
        "detected": result.detected,
        "samples": summary["samples"],
        "person_days_quarantine": summary["person_days_quarantine"],
        "person_days_isolation": summary["person_days_isolation"],
        **_twin_epidemic(result),
    }


def _covasim_sim(spec: dict[str, Any], seed: int) -> Any:
    import covasim as cv

    interventions = []
    if spec.get("test_trace"):
        interventions = [
            cv.test_prob(symp_prob=0.1, asymp_prob=0.01, test_delay=1),
            cv.contact_tracing(trace_probs=0.5, trace_time=2),
        ]
    return cv.Sim(
        pop_size=spec["persons"], n_days=spec["days"], pop_type=spec["pop_type"],
        pop_infected=SEED_INFECTIONS, rand_seed=seed, interventions=interventions, verbose=0,
    )  # fmt: skip


def _covasim_epidemic(sim: Any) -> dict[str, Any]:
    r = sim.results
    new = [int(x) for x in r["new_infections"].values]
    peak = max(new)
    return {
        "infections": int(r["cum_infections"].values[-1]),
        "peak_day": new.index(peak) if peak else None,
        "peak_daily_infections": peak,
        "new_infections": new,
        "tests": int(r["cum_tests"].values[-1]),
        "diagnoses": int(r["cum_diagnoses"].values[-1]),
        "quarantined": int(r["cum_quarantined"].values[-1]),
    }


def _act_covasim(spec: dict[str, Any]) -> dict[str, Any]:
    """Covasim: import, `initialize()` (population and contact layers) and `run()` timed apart."""
    t0 = time.perf_counter()
    import covasim as cv

    imported = time.perf_counter() - t0
    sim = _covasim_sim(spec, spec["seed"])
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    sim.initialize()
    init = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run()
    run = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "version": cv.__version__, "import_s": imported, "init_s": init, "run_s": run,
        "total_s": init + run, "cpu_s": cpu, **_covasim_epidemic(sim),
    }  # fmt: skip


def _act_validity_twin(spec: dict[str, Any]) -> dict[str, Any]:
    """The twin's epidemic over many seeds (untimed), one process."""
    from ringfence.twin import simulate

    scenario = _scenario(spec)
    runs = []
    for seed in spec["seeds"]:
        runs.append(_twin_epidemic(simulate(scenario, None, seed)))
        print(f"seed {seed}: {runs[-1]['infections']:,} infections", flush=True)
    return {"runs": runs}


def _act_validity_covasim(spec: dict[str, Any]) -> dict[str, Any]:
    """Covasim's epidemic over many seeds (untimed), one process."""
    import covasim as cv

    runs = []
    for seed in spec["seeds"]:
        sim = _covasim_sim(spec, seed)
        sim.run()
        runs.append(_covasim_epidemic(sim))
    return {"version": cv.__version__, "runs": runs}


def _act_homogeneous(spec: dict[str, Any]) -> dict[str, Any]:
    """The well-mixed scenario at its own size and length, over a few seeds."""
    from ringfence.twin import load_scenario, simulate

    scenario = load_scenario("homogeneous")
    runs = [_twin_epidemic(simulate(scenario, None, seed)) for seed in spec["seeds"]]
    return {"persons": scenario.persons, "days": scenario.days,
            "seed_infections": scenario.seed_infections, "runs": runs}  # fmt: skip


def _act_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """cProfile of the twin (alone, or under the protocol when the spec names one): the
    functions with the most time of their own, and own time summed by package."""
    import cProfile
    import pstats

    from ringfence.twin import simulate

    scenario = _scenario(spec)
    protocol = None
    if spec.get("protocol"):
        from ringfence.protocol import load_protocol

        protocol = load_protocol(spec["protocol"])
        Path(spec["scratch"]).mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    simulate(scenario, protocol, spec["seed"], workdir=Path(spec.get("scratch", ".")))
    profiler.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(profiler)
    rows = []
    packages: dict[str, float] = {}
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"where": _short(filename, line, name), "calls": calls,
                     "tottime": tottime, "cumtime": cumtime})  # fmt: skip
        package = _package(filename, name)
        packages[package] = packages.get(package, 0.0) + tottime
    rows.sort(key=lambda r: -r["tottime"])
    by_cum = sorted(rows, key=lambda r: -r["cumtime"])
    return {"total_s": total, "top_own": rows[:15], "top_cumulative": by_cum[:40],
            "own_by_package": dict(sorted(packages.items(), key=lambda kv: -kv[1]))}  # fmt: skip


PACKAGES = ("ringfence/twin", "ringfence/control", "ringfence/store", "ringfence", "ibis",
            "sqlglot", "pyarrow", "numpy", "duckdb")  # fmt: skip
"""The packages own time is summed by (the first that matches a function's file wins)."""


def _package(filename: str, name: str) -> str:
    """The package a profiled function belongs to; C methods by the object they belong to."""
    if filename == "~":
        for package in ("duckdb", "pyarrow", "numpy"):
            if package in name.lower():
                return package
        return "builtins (C)"
    path = Path(filename).as_posix()
    for package in PACKAGES:
        if f"/{package}/" in path:
            return package
    return "other Python"


def _short(filename: str, line: int, name: str) -> str:
    """A profile row's place without this machine's paths: `ringfence/twin/world.py:_visits`."""
    if filename == "~":
        return name
    parts = Path(filename).parts
    for anchor in ("ringfence", "ibis", "sqlglot", "duckdb", "numpy", "pyarrow"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            return f"{'/'.join(parts[index:])}:{line}({name})"
    return f"{Path(filename).name}:{line}({name})"


# ----------------------------------------------------------------------------------------
# The parent: rounds of measurements, the memory runs, validity, the report
# ----------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measurement: which, which round, what the child returned, its peak RSS."""

    name: str
    round: int
    out: dict[str, Any] | None
    peak_mb: float
    wall_s: float
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Peer:
    """A Covasim installation to measure: a label and its Python."""

    label: str
    python: str
    version: str = "?"


class Bench:
    """One benchmark invocation: its work directory, children and results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir.resolve()
        self.runs_dir = self.workdir / "runs"
        self.logs = self.workdir / "logs"
        self.env = dict(os.environ)
        self.script = str(Path(__file__).resolve())
        self.code: dict[str, Any] = {}
        self.results: list[Run] = []
        self.once: dict[str, Any] = {}
        self.skipped: list[str] = []
        self.peers: list[Peer] = []
        self._sequence = 0
        self.started = time.perf_counter()

    # -- children -----------------------------------------------------------------------
    def say(self, text: str) -> None:
        """A progress line, with the minutes since the start."""
        print(f"[{(time.perf_counter() - self.started) / 60:5.1f} min] {text}", flush=True)

    def child(self, spec: dict[str, Any], label: str, python: str | None = None,
              timeout: float | None = None) -> Outcome:  # fmt: skip
        """Run `spec` in a fresh process of `python` (ringfence's by default)."""
        self._sequence += 1
        stem = f"{self._sequence:03d}-{label}"
        spec_path = self.runs_dir / f"{stem}.spec.json"
        result_path = self.runs_dir / f"{stem}.result.json"
        log_path = self.logs / f"{stem}.log"
        spec = {**spec, "result": self.rel(result_path)}
        spec_path.write_text(json.dumps(spec))
        command = [python or sys.executable, self.script, "--child", self.rel(spec_path)]
        env = self.env
        if python is not None:
            # The peer's Python must not see the snapshot of ringfence (nor need it).
            env = {k: v for k, v in self.env.items() if k != "PYTHONPATH"}
        outcome = run_child(command, self.workdir, env, log_path, result_path, timeout)
        spec_path.unlink()
        return outcome

    def measure(self, name: str, round_: int, spec: dict[str, Any], python: str | None = None,
                timeout: float | None = None) -> Run:  # fmt: skip
        """One timed child; its run is kept whether it succeeded or not."""
        outcome = self.child(spec, f"{name}-r{round_}", python, timeout)
        run = Run(name, round_, outcome.out, outcome.peak_mb, outcome.wall, outcome.error)
        self.results.append(run)
        if run.out is None:
            self.say(f"{name} round {round_} FAILED: {last_line(run.error)}")
        else:
            self.say(f"{name} round {round_}: {_brief(run)}")
        return run

    def rel(self, path: Path) -> str:
        """`path` relative to the work directory, where every child runs."""
        return os.path.relpath(path, self.workdir)

    # -- setup --------------------------------------------------------------------------
    def prepare(self) -> None:
        for folder in (self.workdir, self.runs_dir, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.code, copy, snapshot = snapshot_code(
            self.workdir, Path(__file__).resolve(), "twin", self.args.no_snapshot
        )
        if copy is not None and snapshot is not None:
            self.script = self.rel(copy)
            self.env["PYTHONPATH"] = os.pathsep.join(
                [snapshot, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        for label, python in (("covasim", self.args.covasim_python),
                              ("covasim-old", self.args.covasim_old_python)):  # fmt: skip
            if not python:
                if label == "covasim":
                    self.skipped.append(
                        "Covasim: no --covasim-python given, so the peer is not measured "
                        "(make a virtualenv with `pip install covasim==4.0.1` and pass its python)"
                    )
                continue
            probe = subprocess.run(
                [python, "-c", "import covasim; print(covasim.__version__)"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if probe.returncode != 0:
                self.skipped.append(f"{label}: its Python cannot import covasim: "
                                    f"{last_line(scrub(probe.stderr))}")  # fmt: skip
                continue
            version = probe.stdout.strip().splitlines()[-1]
            self.peers.append(Peer(f"covasim {version}", python, version))
        self.say(f"code {self.code.get('src_sha256')}; peers: "
                 f"{', '.join(p.label for p in self.peers) or 'none'}")  # fmt: skip

    # -- the plan -----------------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        self.prepare()
        size = {"persons": a.persons, "days": a.days}
        control = {"persons": a.control_persons, "days": a.control_days,
                   "protocol": PROTOCOL, "scratch": "scratch"}  # fmt: skip
        self.warmup()
        for round_ in range(a.rounds):
            seed = a.seed + round_
            self.measure("twin", round_, {"action": "twin", "seed": seed, **size})
            for peer in self.peers:
                base = {"action": "covasim", "seed": seed, **size}
                self.measure(f"{peer.label} hybrid", round_,
                             {**base, "pop_type": "hybrid"}, peer.python)  # fmt: skip
                self.measure(f"{peer.label} random", round_,
                             {**base, "pop_type": "random"}, peer.python)  # fmt: skip
                self.measure(f"{peer.label} hybrid test+trace", round_,
                             {**base, "pop_type": "hybrid", "test_trace": True},
                             peer.python)  # fmt: skip
            if round_ < a.control_rounds:
                spec = {"action": "twin_control", "seed": seed, **control}
                self.measure("twin-control", round_, spec, timeout=a.control_timeout)
        if a.control_big_persons:
            spec = {"action": "twin_control", "seed": a.seed, **control,
                    "persons": a.control_big_persons, "days": a.control_big_days}  # fmt: skip
            self.measure("twin-control-big", 0, spec, timeout=a.control_timeout)
        self.memory()
        if a.validity_seeds:
            self.validity()
        if not a.no_profile:
            self.profile()

    def warmup(self) -> None:
        """Untimed small runs first: Covasim's Numba functions compile on first use and are
        cached on disk, and the snapshot's bytecode is written; no timed run pays for either."""
        self.say("warm-up (untimed)")
        small = {"persons": 5_000, "days": 5, "seed": self.args.seed}
        self.child({"action": "twin", **small}, "warmup-twin")
        for peer in self.peers:
            for pop_type in ("hybrid", "random"):
                spec = {"action": "covasim", "pop_type": pop_type, "test_trace": True, **small}
                self.child(spec, f"warmup-{peer.version}-{pop_type}", peer.python)

    def memory(self) -> None:
        """The twin alone at millions of agents for a few days: peak RSS and bytes per agent;
        20 M only if the smaller runs project it to fit in the memory free now."""
        a = self.args
        points: list[tuple[int, float]] = []
        for persons in a.memory_persons:
            if persons >= max(a.memory_persons) and len(points) >= 2:
                slope, base = _fit(points)
                projected = (base + slope * persons) / 1024
                free = _available_gb()
                self.once["memory_projection"] = {"persons": persons, "projected_gb": projected,
                                                  "available_gb": free}  # fmt: skip
                if projected > free - MEMORY_HEADROOM_GB:
                    self.skipped.append(
                        f"the twin at {persons:,} agents: projected peak RSS {projected:.1f} GB "
                        f"does not fit in the {free:.1f} GB free less {MEMORY_HEADROOM_GB:g} GB"
                    )
                    self.say(self.skipped[-1])
                    continue
            guard = max(4.0, _available_gb() - MEMORY_HEADROOM_GB)
            run = self.measure(f"twin {persons:,}", 0, {
                "action": "twin", "seed": a.seed, "persons": persons, "days": a.memory_days,
                "time_init": True, "verbose": True, "address_space_gb": guard,
            })  # fmt: skip
            run.extra["address_space_gb"] = guard
            if run.out is not None:
                points.append((persons, run.peak_mb))

    def validity(self) -> None:
        """The epidemics compared, untimed: final infections and peak day over many seeds,
        and the homogeneous scenario against the final-size equation."""
        a = self.args
        seeds = list(range(a.seed, a.seed + a.validity_seeds))
        size = {"persons": a.persons, "days": a.days, "seeds": seeds}
        self.say(f"validity: the twin over {len(seeds)} seeds")
        out = self.child({"action": "validity_twin", **size}, "validity-twin")
        self.once["validity_twin"] = out.out or {"error": last_line(out.error)}
        for peer in self.peers:
            self.say(f"validity: {peer.label} over {len(seeds)} seeds")
            for pop_type in ("hybrid", "random"):
                out = self.child({"action": "validity_covasim", "pop_type": pop_type, **size},
                                 f"validity-{peer.version}-{pop_type}", peer.python)  # fmt: skip
                self.once[f"validity {peer.label} {pop_type}"] = out.out or {
                    "error": last_line(out.error)
                }
        self.say("validity: the homogeneous scenario")
        out = self.child({"action": "homogeneous", "seeds": seeds[: a.homogeneous_seeds]},
                         "homogeneous")  # fmt: skip
        self.once["homogeneous"] = out.out or {"error": last_line(out.error)}

    def profile(self) -> None:
        a = self.args
        self.say(f"profile: the twin alone at {a.persons:,} × {a.days} days under cProfile")
        out = self.child({"action": "profile", "seed": a.seed, "persons": a.persons,
                          "days": a.days}, "profile")  # fmt: skip
        self.once["profile"] = out.out or {"error": last_line(out.error)}
        if a.profile_control_days:
            self.say(f"profile: the twin under {PROTOCOL} at {a.control_persons:,} × "
                     f"{a.profile_control_days} days under cProfile")  # fmt: skip
            spec = {
                "action": "profile",
                "seed": a.seed,
                "persons": a.control_persons,
                "days": a.profile_control_days,
                "protocol": PROTOCOL,
                "scratch": "scratch",
            }
            out = self.child(spec, "profile-control")  # fmt: skip
            self.once["profile_control"] = out.out or {"error": last_line(out.error)}

    # -- summary ------------------------------------------------------------------------
    def ok(self, name: str) -> list[Run]:
        return [r for r in self.results if r.name == name and r.out is not None]

    def failed(self) -> list[Run]:
        return [r for r in self.results if r.out is None]

    def paired(self, a: str, b: str, key: str) -> float | None:
        """The median over rounds of `a`'s `key` over `b`'s, within each round."""
        ratios = []
        for run in self.ok(a):
            other = [r for r in self.ok(b) if r.round == run.round]
            if other and other[0].out and run.out and other[0].out[key]:
                ratios.append(run.out[key] / other[0].out[key])
        return statistics.median(ratios) if ratios else None

    def environment(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "python": platform.python_version(),
            "numpy": version("numpy"),
            "pyarrow": version("pyarrow"),
            "duckdb": version("duckdb"),
            "ibis": version("ibis-framework"),
            "peers": [asdict(p) | {"python": "(own virtualenv)"} for p in self.peers],
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB, 1),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
            "code": self.code,
        }

    def markdown(self) -> str:
        a = self.args
        ad = a.persons * a.days
        lines = [
            f"Workload: {a.persons:,} agents × {a.days} days, {SEED_INFECTIONS} seed infections; "
            f"{a.rounds} rounds, round r uses seed {a.seed} + r for every model.",
            "",
            "| measurement | runs | init s | run s | init+run s | CPU s (init+run) | "
            "agent-days/s (run) | agent-days/s (init+run) | agent-days per CPU s | peak RSS MB "
            "| twin ÷ this, agent-days/s (paired, run) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        names = ["twin"] + [
            f"{p.label} {kind}" for p in self.peers
            for kind in ("hybrid", "random", "hybrid test+trace")
        ]  # fmt: skip
        for name in names:
            runs = self.ok(name)
            if not runs:
                continue
            init = _median(runs, "init_s")
            run_s = _median(runs, "run_s")
            total = _median(runs, "total_s")
            cpu = _median(runs, "cpu_s")
            rss = statistics.median(r.peak_mb for r in runs)
            # this run's seconds over the twin's, within a round: the twin's speed over this
            ratio = self.paired(name, "twin", "run_s") if name != "twin" else None
            shown = f"{ratio:.2f}" if ratio else "–"
            lines.append(
                f"| {name} | {len(runs)} | {init:.2f} | {run_s:.2f} | {total:.2f} | {cpu:.2f} | "
                f"{ad / run_s / 1e6:.2f} M | {ad / total / 1e6:.2f} M | {ad / cpu / 1e6:.2f} M | "
                f"{rss:,.0f} | {shown} |"
            )
        lines += ["", *self._control_lines(), "", *self._memory_lines(), "",
                  *self._validity_lines(), "", *self._profile_lines()]  # fmt: skip
        for run in self.failed():
            lines.append(f"- FAILED: {run.name} round {run.round}: {last_line(run.error)} "
                         f"(peak RSS {run.peak_mb:,.0f} MB)")  # fmt: skip
        if self.skipped:
            lines += ["", "Skipped:", *(f"- {s}" for s in self.skipped)]
        return "\n".join(lines) + "\n"

    def _control_lines(self) -> list[str]:
        a = self.args
        lines = [
            "| with control | runs | persons × days | total s | CPU s | s per simulated day "
            "(median day) | of which cycle s/day | extrapolated to "
            f"{a.days} days | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in ("twin-control", "twin-control-big"):
            runs = self.ok(name)
            if not runs:
                continue
            out = runs[0].out or {}
            persons = a.control_big_persons if name.endswith("big") else a.control_persons
            days = len(out["day_s"])
            total = _median(runs, "total_s")
            per_day = statistics.median(statistics.median(r.out["day_s"]) for r in runs if r.out)
            cycle = _median(runs, "cycle_s") / days
            lines.append(
                f"| twin + {PROTOCOL} cycle | {len(runs)} | {persons:,} × {days} | {total:.1f} | "
                f"{_median(runs, 'cpu_s'):.1f} | {total / days:.2f} ({per_day:.2f}) | "
                f"{cycle:.2f} | "
                f"{total / days * a.days:.0f} s (extrapolated) | "
                f"{statistics.median(r.peak_mb for r in runs):,.0f} |"
            )
        for peer in self.peers:
            runs = self.ok(f"{peer.label} hybrid test+trace")
            if runs:
                lines.append(
                    f"| {peer.label} hybrid test+trace | {len(runs)} | {a.persons:,} × {a.days} | "
                    f"{_median(runs, 'total_s'):.2f} | {_median(runs, 'cpu_s'):.2f} | "
                    f"{_median(runs, 'total_s') / a.days:.3f} | – | – | "
                    f"{statistics.median(r.peak_mb for r in runs):,.0f} |"
                )
        return lines

    def _memory_lines(self) -> list[str]:
        a = self.args
        lines = ["| twin alone | days | init s | run s per day | agent-days/s (run) | "
                 "peak RSS MB | bytes per agent (peak RSS / agents) |",
                 "|---|---|---|---|---|---|---|"]  # fmt: skip
        points = []
        for persons in a.memory_persons:
            for run in self.ok(f"twin {persons:,}"):
                out = run.out or {}
                # The run without init (the first day's mark also holds building the World).
                day = out["run_s"] / len(out["day_s"])
                lines.append(
                    f"| {persons:,} agents | {len(out['day_s'])} | {out['init_s']:.1f} | "
                    f"{day:.2f} | {persons * len(out['day_s']) / out['run_s'] / 1e6:.2f} M | "
                    f"{run.peak_mb:,.0f} | {run.peak_mb * MB / persons:,.0f} |"
                )
                points.append((persons, run.peak_mb))
        if len(points) >= 2:
            slope, base = _fit(points)
            projected = (base + slope * 20_000_000) / 1024
            lines += ["", f"Marginal memory (least squares over those runs): {slope * MB:,.0f} "
                      f"bytes per agent over a base of {base:,.0f} MB; projected peak RSS at "
                      f"20,000,000 agents: {projected:.1f} GB."]  # fmt: skip
        return lines

    def _validity_lines(self) -> list[str]:
        a = self.args
        if not a.validity_seeds:
            return []
        lines = [f"Epidemics at {a.persons:,} × {a.days} days (untimed, seeds {a.seed}–"
                 f"{a.seed + a.validity_seeds - 1}):", "",
                 "| model | seeds | final infections median (min–max) | attack rate | "
                 "peak day median (min–max) | peak daily infections median |",
                 "|---|---|---|---|---|---|"]  # fmt: skip
        entries = [("ringfence twin, city-small", self.once.get("validity_twin", {}))]
        for peer in self.peers:
            for kind in ("hybrid", "random"):
                entries.append((f"{peer.label} {kind}",
                                self.once.get(f"validity {peer.label} {kind}", {})))  # fmt: skip
        for label, data in entries:
            runs = data.get("runs")
            if not runs:
                lines.append(f"| {label} | – | FAILED: {data.get('error', '?')} | | | |")
                continue
            inf = [r["infections"] for r in runs]
            peaks = [r["peak_day"] if r["peak_day"] is not None else -1 for r in runs]
            lines.append(
                f"| {label} | {len(runs)} | {statistics.median(inf):,.0f} ({min(inf):,}–"
                f"{max(inf):,}) | {statistics.median(inf) / a.persons:.1%} | "
                f"{statistics.median(peaks):g} ({min(peaks)}–{max(peaks)}) | "
                f"{statistics.median(r['peak_daily_infections'] for r in runs):,.0f} |"
            )
        hom = self.once.get("homogeneous", {})
        if hom.get("runs"):
            z = final_size(HOMOGENEOUS_R0)
            sizes = [r["infections"] / hom["persons"] for r in hom["runs"]]
            lines += ["", f"Homogeneous scenario ({hom['persons']:,} agents, {hom['days']} days, "
                      f"{hom['seed_infections']} seeds, R0 = {HOMOGENEOUS_R0:g}), "
                      f"{len(sizes)} seeds: final size {statistics.mean(sizes):.4f} mean "
                      f"({min(sizes):.4f}–{max(sizes):.4f}); the final-size equation "
                      f"z = 1 − exp(−R0 z) gives {z:.4f}."]  # fmt: skip
        return lines

    def _profile_lines(self) -> list[str]:
        if self.args.no_profile:
            return []
        a = self.args
        lines: list[str] = []
        for key, title in (("profile", f"the twin alone, {a.persons:,} × {a.days} days"),
                           ("profile_control", f"the twin under {PROTOCOL}, "
                            f"{a.control_persons:,} × {a.profile_control_days} days")):  # fmt: skip
            prof = self.once.get(key)
            if prof is None:
                continue
            if "top_own" not in prof:
                lines += [f"Profile of {title}: FAILED: {prof.get('error', '?')}", ""]
                continue
            packages = ", ".join(f"{k} {v:.2f} s" for k, v in prof["own_by_package"].items()
                                 if v >= 0.01)  # fmt: skip
            lines += [f"cProfile of {title} ({prof['total_s']:.1f} s under the profiler), by "
                      "time in the function itself (array operations count in the function "
                      f"that issues them). Own time by package: {packages}.", "",
                      "| function | calls | own s | cumulative s |",
                      "|---|---|---|---|"]  # fmt: skip
            for row in prof["top_own"][:12]:
                lines.append(f"| `{row['where']}` | {row['calls']:,} | {row['tottime']:.2f} | "
                             f"{row['cumtime']:.2f} |")  # fmt: skip
            lines.append("")
        return lines


def _brief(run: Run) -> str:
    out = run.out or {}
    parts = [f"{k} {out[k]:.2f} s" for k in ("init_s", "run_s", "total_s", "cycle_s")
             if out.get(k) is not None]  # fmt: skip
    parts.append(f"{out.get('infections', 0):,} infections")
    return ", ".join(parts) + f", peak RSS {run.peak_mb:,.0f} MB"


def _median(runs: list[Run], key: str) -> float:
    values = [r.out[key] for r in runs if r.out and r.out.get(key) is not None]
    return statistics.median(values) if values else math.nan


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares line through (agents, MB): MB per agent and the base MB."""
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return slope, my - slope * mx


def _available_gb() -> float:
    """MemAvailable from /proc/meminfo, in GB (the whole machine's RAM where it is missing)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB


def final_size(r0: float) -> float:
    """The root z > 0 of z = 1 - exp(-R0 z) (0 when R0 <= 1), by fixed-point iteration."""
    if r0 <= 1:
        return 0.0
    z = 0.5
    for _ in range(200):
        z = 1 - math.exp(-r0 * z)
    return z


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--covasim-python", help="the Python of a virtualenv with covasim")
    parser.add_argument("--covasim-old-python", help="another Covasim version's Python, too")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--control-persons", type=int, default=20_000)
    parser.add_argument("--control-days", type=int, default=14)
    parser.add_argument("--control-rounds", type=int, default=2,
                        help="the first this many rounds include a controlled run")  # fmt: skip
    parser.add_argument("--control-big-persons", type=int, default=100_000,
                        help="one more controlled run at this size (0: none)")  # fmt: skip
    parser.add_argument("--control-big-days", type=int, default=7)
    parser.add_argument("--control-timeout", type=float, default=900.0)
    parser.add_argument("--memory-persons", type=int, nargs="*",
                        default=[1_000_000, 5_000_000, 20_000_000])  # fmt: skip
    parser.add_argument("--memory-days", type=int, default=3)
    parser.add_argument("--validity-seeds", type=int, default=20)
    parser.add_argument("--homogeneous-seeds", type=int, default=5)
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    parser.add_argument(
        "--profile-control-days",
        type=int,
        default=3,
        help="profile the controlled twin for this many days (0: not)",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: small sizes, one round, few seeds")  # fmt: skip
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="logs, scratch stores and results (default: bench/data/twin)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="import src/ringfence live instead of a copy taken at the start",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.persons, args.days, args.rounds = 10_000, 10, 1
        args.control_persons, args.control_days, args.control_big_persons = 2_000, 2, 0
        args.memory_persons, args.memory_days = [20_000, 50_000, 100_000], 2
        args.validity_seeds, args.homogeneous_seeds = 2, 1
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; print the tables and write them, with every run, to the workdir."""
    args = parse_args(argv)
    bench = Bench(args)
    started = datetime.now(UTC)
    bench.run()
    text = bench.markdown()
    print()
    print(text)
    record = {
        "command": "python bench/twin.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "environment": bench.environment(),
        "runs": [asdict(r) for r in bench.results],
        "once": bench.once,
        "skipped": bench.skipped,
    }
    save_results(bench.workdir, "twin", started, record, text, args.markdown)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child_main(sys.argv[2])
    else:
        main()
