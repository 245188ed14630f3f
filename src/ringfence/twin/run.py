"""The closed loop of control: each simulated day the world's events go into a store through
the real ingest, the real control cycle decides under a real protocol, and the world obeys.

With no protocol the world runs alone (no events written, no store): the epidemic as it
would be without control, and the twin's own speed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ringfence.control import run_cycle
from ringfence.examples.generate import write_table
from ringfence.protocol import Protocol
from ringfence.schema import EVENT_TABLES, ingest_order
from ringfence.store import Store, ingest_files, open_store
from ringfence.store.ingest import default_settings

from .scenario import Scenario
from .world import AWAY_KINDS, HOME_KINDS, DayCounts, Plan, World, agent_of, place_of

Progress = Callable[[int, int], None]
CONFINING = (*AWAY_KINDS, *HOME_KINDS)


class TwinError(RuntimeError):
    """The twin emitted events the ingest refused: a bug in the twin, never the data."""


@dataclass
class RunResult:
    """One simulated run: the day-by-day counts and what they add up to."""

    scenario: str
    protocol: str
    seed: int
    persons: int
    days: list[DayCounts]
    infections: int
    detected: int
    cycle_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The numbers a protocol comparison puts side by side."""
        new = [d.new_infections for d in self.days]
        peak = max(new) if new else 0
        infectious = [d.infectious for d in self.days]
        last = max((d.day for d, i in zip(self.days, infectious, strict=True) if i), default=-1)
        return {
            "infections": self.infections,
            "cases_detected": self.detected,
            "infections_missed": self.infections - self.detected,
            "peak_daily_infections": peak,
            "peak_day": new.index(peak) if peak else None,
            "days_to_zero": last + 1 if last + 1 < len(self.days) else None,
            "person_days_isolation": sum(d.isolated for d in self.days),
            "person_days_quarantine": sum(d.quarantined for d in self.days),
            "samples": sum(d.samples for d in self.days),
            "tubes": sum(d.tubes for d in self.days),
            "place_days_closed": sum(d.places_closed for d in self.days),
            "children_separated": sum(d.children_separated for d in self.days),
        }

    def to_json(self) -> dict[str, Any]:
        """The run as JSON-ready data."""
        return {
            "scenario": self.scenario, "protocol": self.protocol, "seed": self.seed,
            "persons": self.persons, "summary": self.summary(),
            "days": [asdict(d) for d in self.days], "cycle_seconds": round(self.cycle_seconds, 3),
        }  # fmt: skip


def simulate(
    scenario: Scenario,
    protocol: Protocol | None,
    seed: int,
    workdir: Path | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run `scenario` for its days under `protocol` (None: no control) from `seed`."""
    world = World(scenario, seed)
    if protocol is None:
        for day in range(scenario.days):
            world.step(day, record=False)
            if progress is not None:
                progress(day + 1, scenario.days)
        return _result(world, "none", 0, 0.0)
    with tempfile.TemporaryDirectory(prefix="rf-twin-", dir=workdir) as folder:
        work = Path(folder)
        with open_store(work / "twin.duckdb", create=True, timezone=scenario.timezone) as store:
            seconds = _controlled(world, protocol, store, work, progress)
            detected = int(store.fetchall("SELECT count(*) FROM cases")[0][0])
    return _result(world, protocol.name, detected, seconds)


def _result(world: World, protocol: str, detected: int, seconds: float) -> RunResult:
    infected = int(np.count_nonzero(~np.isnan(world.infections.infected)))
    return RunResult(world.scenario.name, protocol, world.seed, world.people.count,
                     world.counts, infected, detected, seconds)  # fmt: skip


def _controlled(world: World, protocol: Protocol, store: Store, work: Path,
                progress: Progress | None) -> float:  # fmt: skip
    """Every day: the world acts, its events are stored, the cycle decides, the world
    obeys. Returns the seconds spent in the cycle."""
    import time

    spent = 0.0
    done: set[str] = set()
    for day in range(world.scenario.days):
        events = world.step(day)
        as_of = world.end_of_day(day)
        store_events(store, events, work / f"day-{day:04d}", as_of)
        started = time.perf_counter()
        run_cycle(store, protocol, as_of)
        spent += time.perf_counter() - started
        world.obey(*orders_in_force(store, as_of, done))
        if progress is not None:
            progress(day + 1, world.scenario.days)
    return spent


def store_events(store: Store, events: dict[str, dict[str, Any]], folder: Path,
                 clock: datetime) -> None:  # fmt: skip
    """Write the day's events as Parquet and ingest them with the real checks; the twin
    never emits a row the ingest refuses."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = default_settings(store, clock=clock + timedelta(hours=1))
    for table in ingest_order(list(EVENT_TABLES)):
        columns = events.get(table.name)
        if not columns:
            continue
        write_table(folder, table.name, columns, fmt="parquet")
        report = ingest_files(store, table.name, [folder / f"{table.name}.parquet"],
                              settings=settings, write_rejects=False, actor="twin")  # fmt: skip
        if report.rejected_count:
            first = report.rejections[0]
            raise TwinError(f"the twin wrote {report.rejected_count} {table.name} rows the "
                            f"ingest refused, e.g. {first.field}: {first.reason}")  # fmt: skip


def orders_in_force(store: Store, as_of: datetime, done: set[str]
                    ) -> tuple[dict[int, str], set[int], Plan]:  # fmt: skip
    """The orders the world obeys after the run at `as_of`: confinement by agent (the most
    confining order wins), closed places, and the tests not yet taken, for tomorrow."""
    open_now = ("start <= ? AND (released_at IS NULL OR released_at > ?) "
                "AND (planned_end IS NULL OR planned_end > ?)")  # fmt: skip
    marks = ", ".join("?" * len(CONFINING))
    confinements: dict[int, str] = {}
    for person, kind in store.fetchall(
        f"SELECT person_id, kind FROM orders WHERE person_id IS NOT NULL AND kind IN ({marks}) "
        f"AND {open_now}", (*CONFINING, as_of, as_of, as_of),
    ):  # fmt: skip
        agent = agent_of(str(person))
        if confinements.get(agent) not in AWAY_KINDS:
            confinements[agent] = str(kind)
    closures = {
        place_of(str(place))
        for (place,) in store.fetchall(
            f"SELECT place_id FROM orders WHERE kind = 'closure' AND {open_now}",
            (as_of, as_of, as_of),
        )
    }
    tomorrow = (as_of + timedelta(days=1)).astimezone(_zone(store)).date()
    rows = store.fetchall(
        "SELECT plan_id, person_id, purpose, pool_id FROM test_plans WHERE date <= ? "
        "ORDER BY plan_id", (tomorrow,),
    )  # fmt: skip
    fresh = [r for r in rows if r[0] not in done]
    done.update(str(r[0]) for r in fresh)
    plan = Plan(
        np.asarray([agent_of(str(r[1])) for r in fresh], dtype=np.int64),
        [str(r[2]) for r in fresh],
        [str(r[3]) if r[3] else "" for r in fresh],
    )
    return confinements, closures, plan


def _zone(store: Store) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(store.timezone)
