"""A closed loop's movements and daily screening coverage, for its manager: who came in, who
left, how many were inside each report day, and how many of those were tested that day.

A member is inside from the report day of their arrival (or, with no arrival on record, of
their first sample: staff living in the loop) until the report day they depart, which no
longer counts. Each query returns a few rows per loop and day, never one per person; the
people still to test today are the one list of persons, and it is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis.expr.types as ir

from ringfence.control.context import Context
from ringfence.control.cycle import fetch
from ringfence.control.why import last_run
from ringfence.store import Store, StoreError

from .daily import TESTS_INSIDE_PURPOSES, _days
from .tally import share
from .window import ReportWindow, report_day, report_window

UNTESTED_SHOWN = 500
"""The people inside but not yet tested that a page lists (the count is always whole)."""


def _members(ctx: Context) -> ir.Table:
    persons = ctx.events("persons").filter(lambda p: p.loop_id.notnull())
    return persons.select("person_id", "loop_id")


def _screening(ctx: Context, window: ReportWindow) -> ir.Table:
    """Members' PCR samples that count as tests inside the loop, by report day."""
    samples = ctx.events("samples").filter(
        lambda s: (
            s.person_id.notnull() & (s.test == "pcr") & s.purpose.isin(list(TESTS_INSIDE_PURPOSES))
        )
    )
    return samples.select("person_id", day=report_day(ctx, window, samples.collected_at))


def stays(ctx: Context, window: ReportWindow) -> ir.Table:
    """Each member's first and last report day inside (null: still inside, or never seen)."""
    members = _members(ctx)
    arrivals = ctx.events("arrivals")
    arrived = arrivals.group_by("person_id").agg(
        arrival_day=report_day(ctx, window, arrivals.arrived_at).min()
    )
    screened = _screening(ctx, window)
    first_test = screened.group_by("person_id").agg(first_test_day=screened.day.min())
    departures = ctx.events("departures")
    left = departures.group_by("person_id").agg(
        departure_day=report_day(ctx, window, departures.departed_at).max()
    )
    joined = (
        members.left_join(arrived, "person_id")
        .drop("person_id_right")
        .left_join(first_test, "person_id")
        .drop("person_id_right")
        .left_join(left, "person_id")
        .drop("person_id_right")
    )
    return joined.select(
        "person_id", "loop_id", entry_day=joined.arrival_day.fill_null(joined.first_test_day),
        exit_day=joined.departure_day,
    )  # fmt: skip


def movement_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Members entering and leaving, by loop and report day."""
    s = stays(ctx, window)
    entering = (
        s.filter(s.entry_day.notnull())
        .group_by("loop_id", day=s.entry_day)
        .agg(entries=s.person_id.count())
    )
    leaving = (
        s.filter(s.exit_day.notnull())
        .group_by("loop_id", day=s.exit_day)
        .agg(exits=s.person_id.count())
    )
    return entering.outer_join(leaving, ["loop_id", "day"]).select(
        loop_id=entering.loop_id.fill_null(leaving.loop_id),
        day=entering.day.fill_null(leaving.day),
        entries=entering.entries.fill_null(0),
        exits=leaving.exits.fill_null(0),
    )


def tested_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Members tested inside the loop while inside it, by loop and report day (people, not
    samples: two samples of one person on a day test one person)."""
    s = stays(ctx, window)
    screened = _screening(ctx, window).distinct()
    inside = screened.join(s, "person_id").filter(
        lambda t: (t.day >= t.entry_day) & (t.exit_day.isnull() | (t.day < t.exit_day))
    )
    return inside.group_by("loop_id", "day").agg(tested=inside.person_id.count())


def untested_on(ctx: Context, window: ReportWindow, day: date) -> ir.Table:
    """The members inside on report day `day` with no test inside that day."""
    s = stays(ctx, window)
    inside = s.filter((s.entry_day <= day) & (s.exit_day.isnull() | (s.exit_day > day))).select(
        "person_id", "loop_id"
    )
    screened = _screening(ctx, window)
    tested = screened.filter(screened.day == day).select("person_id").distinct()
    # A left join and a null test, not an anti-join: the same SQL on every engine.
    joined = inside.left_join(tested.mutate(tested=True), "person_id")
    return joined.filter(joined.tested.isnull()).select("loop_id", person_id=joined.person_id)


@dataclass(frozen=True)
class LoopCoverage:
    """One loop's daily movements and coverage, to the report day of the last cycle run."""

    loop_id: str
    day: date
    days: list[dict[str, Any]]
    untested: int
    untested_people: list[str]


def loop_coverage(store: Store, as_of: datetime | None = None) -> list[LoopCoverage]:
    """Every loop's days, from its first entry to the report day of the last cycle run
    (which must be the run at `as_of`, if given)."""
    run = last_run(store)
    if run.protocol is None:
        raise StoreError(f"the protocol of the last cycle run ({run.protocol_name}) is not found")
    if as_of is not None and abs((as_of - run.as_of).total_seconds()) >= 1:
        raise StoreError("the decisions on this database were not made at that instant")
    ctx = Context(run.protocol, run.as_of)
    window = report_window(run.protocol, run.as_of)
    moves = _days(fetch(store, movement_days(ctx, window)))
    tested = _days(fetch(store, tested_days(ctx, window)))
    untested = fetch(store, untested_on(ctx, window, window.day))
    loops = sorted({str(r["loop_id"]) for r in moves})
    return [_one_loop(loop_id, window.day, moves, tested, untested) for loop_id in loops]


def _one_loop(
    loop_id: str,
    last: date,
    moves: list[dict[str, Any]],
    tested: list[dict[str, Any]],
    untested: list[dict[str, Any]],
) -> LoopCoverage:
    entered = {r["day"]: int(r["entries"]) for r in moves if r["loop_id"] == loop_id}
    left = {r["day"]: int(r["exits"]) for r in moves if r["loop_id"] == loop_id}
    tests = {r["day"]: int(r["tested"]) for r in tested if r["loop_id"] == loop_id}
    first = min(entered) if entered else last
    days, inside = [], 0
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        # Inside on a day: entered by then, not yet departed (a departure day no longer counts).
        inside += entered.get(day, 0) - left.get(day, 0)
        days.append({
            "day": day.isoformat(), "entered": entered.get(day, 0), "departed": left.get(day, 0),
            "inside": inside, "tested": tests.get(day, 0),
            "coverage": share(tests.get(day, 0), inside),
        })  # fmt: skip
    people = sorted(str(r["person_id"]) for r in untested if r["loop_id"] == loop_id)
    return LoopCoverage(loop_id, last, days, len(people), people[:UNTESTED_SHOWN])
