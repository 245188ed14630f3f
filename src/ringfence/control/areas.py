"""Step 4 of the cycle: places closed for their cases, and high and medium risk areas."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from .context import Context
from .orders import NO_TEXT, NO_TIME, merge_episodes
from .tracing import index_spans, presence


def place_links(ctx: Context, windows: ir.Table, readings: ir.Table) -> ir.Table:
    """Places of the kinds the protocol closes, linked to a case who was there in the case's
    exposure window, or to a positive environment sample taken there."""
    kinds = list(ctx.in_force.closure.place_kinds)
    places = ctx.events("places").filter(lambda p: p.kind.isin(kinds)).select("place_id")
    spans = index_spans(windows, presence(ctx))
    visited = spans.join(places, spans.index_place == places.place_id)
    by_case = visited.join(
        windows.select("index_id", "case_confirmed_at").distinct(), "index_id"
    ).select(place_id="index_place", trigger="index_id", linked_at="case_confirmed_at")
    environment = readings.filter(readings.place_id.notnull() & (readings.reading == "positive"))
    by_sample = environment.join(places, "place_id").select(
        "place_id", trigger="sample_id", linked_at="reported_at"
    )
    return by_case.union(by_sample, distinct=False).distinct()


def closures(ctx: Context, links: ir.Table) -> ir.Table:
    """Close a place once it has the protocol's number of linked cases within the window;
    it reopens after the protocol's days without another (each new link restarts the clock)."""
    closure = ctx.in_force.closure
    if closure.min_cases == 0:
        return _empty_place_orders(links)
    w = ibis.window(group_by="place_id", order_by=["linked_at", "trigger"])
    counted = links.mutate(earlier=links.linked_at.lag(closure.min_cases - 1).over(w))
    if closure.min_cases > 1:
        window = ibis.interval(days=closure.window_days)
        counted = counted.filter(
            counted.earlier.notnull() & (counted.linked_at - window <= counted.earlier)
        )
    reopen = ctx.param("closure.reopen_after_days", at=counted.linked_at).cast("int64")
    rows = counted.mutate(
        start=counted.linked_at,
        planned_end=counted.linked_at + reopen.as_interval("D"),
        order_kind=ibis.literal("closure"),
    )
    episodes = merge_episodes(rows, by=("place_id", "order_kind"), label="trigger")
    return episodes.select(
        person_id=NO_TEXT,
        place_id=episodes.place_id,
        kind=ibis.literal("closure"),
        start=episodes.start,
        planned_end=episodes.planned_end,
        released_at=NO_TIME,
        rule=ibis.literal("closure.min_cases"),
        parameter=ibis.literal("closure.min_cases"),
        guardian_of=NO_TEXT,
        evidence='{"linked": [' + episodes.cases + "]}",
    )


def _empty_place_orders(links: ir.Table) -> ir.Table:
    return links.filter(ibis.literal(False)).select(
        person_id=NO_TEXT,
        place_id=links.place_id,
        kind=ibis.literal("closure"),
        start=links.linked_at,
        planned_end=NO_TIME,
        released_at=NO_TIME,
        rule=ibis.literal("closure.min_cases"),
        parameter=ibis.literal("closure.min_cases"),
        guardian_of=NO_TEXT,
        evidence=NO_TEXT,
    )


def residences(ctx: Context, cases: ir.Table) -> ir.Table:
    """Where each local case lives: the building (parent) of the home they were seen at, or
    the home itself when it has no parent; the household when no home visit is recorded."""
    places = ctx.events("places")
    homes = places.filter(places.kind == "home").select(
        "place_id", area=ibis.coalesce(places.parent_id, places.place_id)
    )
    persons = ctx.events("persons").select("person_id", "household_id")
    local = cases.filter(cases.origin == "local").select("person_id", "case_id", "confirmed_at")
    # Filter to homes before the distinct: a city has billions of visits, few of them logged
    # at a home.
    seen = ctx.events("visits").join(homes, "place_id")
    seen = seen.select("person_id", "place_id", *(c for c in homes.columns if c != "place_id"))
    seen = seen.distinct()
    seen = seen.select("person_id", area_id="place:" + seen.area)
    households = persons.anti_join(seen, "person_id").select(
        "person_id", area_id="household:" + persons.household_id
    )
    where = seen.union(households, distinct=False)
    joined = local.join(where, "person_id")
    return joined.select(
        "area_id", trigger=joined.case_id, linked_at=joined.confirmed_at
    ).distinct()


def district_triggers(ctx: Context, cases: ir.Table) -> ir.Table:
    """The local cases that bring a district to the protocol's count within its window."""
    needed = ctx.in_force.risk_area.district_medium_cases
    persons = ctx.events("persons").select("person_id", "district")
    local = cases.filter(cases.origin == "local").join(persons, "person_id")
    local = local.select(
        area_id="district:" + local.district, trigger=local.case_id, linked_at=local.confirmed_at
    )
    if needed == 0:
        return local.filter(ibis.literal(False))
    w = ibis.window(group_by="area_id", order_by=["linked_at", "trigger"])
    counted = local.mutate(earlier=local.linked_at.lag(needed - 1).over(w))
    window = ibis.interval(days=ctx.in_force.risk_area.district_window_days)
    return counted.filter(
        counted.earlier.notnull() & (counted.linked_at - window <= counted.earlier)
    ).select("area_id", "trigger", "linked_at")


def risk_areas(ctx: Context, cases: ir.Table) -> ir.Table:
    """High risk for a case's residence until the protocol's days after its last case, then
    medium for the protocol's days; medium for a district with enough local cases. Only
    designations in force by `as_of` are listed; `end` is empty while one still holds."""
    if not ctx.in_force.risk_area.enabled:
        return _no_areas(cases)
    high = _episodes(ctx, residences(ctx, cases), "risk_area.high_days")
    after = ctx.param("risk_area.medium_days", at=high.start).cast("int64")
    w = ibis.window(group_by="area_id", order_by="start")
    following = high.start.lead().over(w)
    medium_end = ibis.least(
        ibis.coalesce(following, high.planned_end + after.as_interval("D")),
        high.planned_end + after.as_interval("D"),
    )
    stepped = high.mutate(medium_end=medium_end)
    rows = [
        stepped.select("area_id", "start", "cases", level=ibis.literal("high"),
                       end=stepped.planned_end, rule=ibis.literal("risk_area.high_days")),
        stepped.filter(stepped.medium_end > stepped.planned_end).select(
            "area_id", "cases", level=ibis.literal("medium"), start=stepped.planned_end,
            end=stepped.medium_end, rule=ibis.literal("risk_area.medium_days"),
        ),
        _episodes(ctx, district_triggers(ctx, cases), "risk_area.district_medium_days").select(
            "area_id", "start", "cases", level=ibis.literal("medium"), end="planned_end",
            rule=ibis.literal("risk_area.district_medium_cases"),
        ),
    ]  # fmt: skip
    areas = rows[0].union(rows[1], distinct=False).union(rows[2], distinct=False)
    areas = areas.filter(areas.start <= ctx.now)
    return areas.mutate(
        end=ibis.cases((areas.end <= ctx.now, areas.end), else_=NO_TIME),
        evidence='{"cases": [' + areas.cases + "]}",
    )


def _episodes(ctx: Context, triggers: ir.Table, days_key: str) -> ir.Table:
    days = ctx.param(days_key, at=triggers.linked_at).cast("int64")
    rows = triggers.mutate(
        start=triggers.linked_at,
        planned_end=triggers.linked_at + days.as_interval("D"),
        order_kind=ibis.literal("area"),
    )
    return merge_episodes(rows, by=("area_id", "order_kind"), label="trigger")


def _no_areas(cases: ir.Table) -> ir.Table:
    return cases.filter(ibis.literal(False)).select(
        area_id=cases.case_id,
        start=cases.confirmed_at,
        cases=NO_TEXT,
        level=ibis.literal("high"),
        end=NO_TIME,
        rule=ibis.literal("risk_area.enabled"),
        evidence=NO_TEXT,
    )
