"""Step 5 of the cycle: who is to be tested on which day, for what, in which pooled tube."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from .context import Context
from .orders import NO_TEXT

PLAN_COLUMNS = ("plan_id", "date", "person_id", "purpose", "pool_id", "place_id")


def _plans(
    table: ir.Table,
    *,
    date: ir.DateValue,
    person_id: ir.StringValue,
    purpose: ir.StringValue | str,
    pool_id: ir.Value = NO_TEXT,
    place_id: ir.Value = NO_TEXT,
    suffix: ir.StringValue | str = "",
) -> ir.Table:
    purpose_expr = ibis.literal(purpose) if isinstance(purpose, str) else purpose
    plan_id = purpose_expr + ":" + person_id + ":" + date.cast("string") + suffix
    return table.select(
        plan_id=plan_id,
        date=date,
        person_id=person_id,
        purpose=purpose_expr,
        pool_id=pool_id,
        place_id=place_id,
    )


def _union(parts: list[ir.Table]) -> ir.Table:
    result = parts[0]
    for part in parts[1:]:
        result = result.union(part, distinct=False)
    return result


def order_test_days(ctx: Context, orders: ir.Table) -> ir.Table:
    """The test days of quarantine and monitoring orders (day 1 is the day the order starts),
    as many tests a day as the protocol asks, up to the day the order ends."""
    contact = ctx.in_force.contact
    schedules = [
        ("contact.close", contact.test_days, "quarantine_test"),
        ("contact.home", contact.home_test_days, "home_test"),
        ("contact.secondary", ctx.in_force.secondary.test_days, "secondary_test"),
    ]
    parts = []
    for rule, days, purpose in schedules:
        rows = orders.filter(orders.rule == rule)
        for day in days:
            moment = rows.start + ibis.interval(days=day - 1)
            due = rows.filter(
                ctx.local_date(moment)
                <= ctx.local_date(ibis.coalesce(rows.released_at, rows.planned_end, moment))
            )
            due_moment = due.start + ibis.interval(days=day - 1)
            for n in range(1, contact.tests_per_day + 1 if rule == "contact.close" else 2):
                parts.append(
                    _plans(
                        due,
                        date=ctx.local_date(due_moment),
                        person_id=due.person_id,
                        purpose=f"{purpose}_day_{day}",
                        suffix=f":{n}",
                    )
                )
    if not parts:
        return _empty(orders)
    return _union(parts)


def release_tests(ctx: Context, orders: ir.Table) -> ir.Table:
    """A release test today for everyone in isolation or hospital for a day or more."""
    open_cases = orders.filter(
        orders.kind.isin(["isolation", "hospital"])
        & orders.released_at.isnull()
        & (orders.start <= ctx.now - ibis.interval(days=1))
    )
    return _plans(
        open_cases,
        date=ctx.local_date(ctx.now),
        person_id=open_cases.person_id,
        purpose="release_test",
    )


def loop_members_present(ctx: Context, orders: ir.Table) -> ir.Table:
    """Loop members inside the loop at `as_of`: arrived (or never flown in), not departed
    since, and not in isolation or hospital; with the place they were last seen at."""
    persons = ctx.events("persons").filter(lambda p: p.loop_id.notnull())
    arrivals = (
        ctx.events("arrivals").group_by("person_id").agg(arrived_at=lambda t: t.arrived_at.max())
    )
    departures = (
        ctx.events("departures")
        .group_by("person_id")
        .agg(departed_at=lambda t: t.departed_at.max())
    )
    isolated = (
        orders.filter(orders.kind.isin(["isolation", "hospital"]) & orders.released_at.isnull())
        .select("person_id")
        .distinct()
    )
    visits = ctx.events("visits").semi_join(persons, "person_id")
    w = ibis.window(group_by="person_id", order_by=[ibis.desc("start"), "place_id"])
    last_seen = visits.mutate(n=ibis.row_number().over(w))
    last_seen = last_seen.filter(last_seen.n == 0).select("person_id", last_place="place_id")
    joined = (
        persons.select("person_id", "loop_id")
        .left_join(arrivals, "person_id")
        .select("person_id", "loop_id", "arrived_at")
        .left_join(departures, "person_id")
        .select("person_id", "loop_id", "arrived_at", "departed_at")
    )
    present = joined.filter(
        joined.departed_at.isnull()
        | (joined.arrived_at.notnull() & (joined.arrived_at > joined.departed_at))
    )
    present = present.anti_join(isolated, "person_id")
    return present.left_join(last_seen, "person_id").select(
        "person_id", "loop_id", "arrived_at", "last_place"
    )


def loop_screening(ctx: Context, present: ir.Table) -> ir.Table:
    """Today's daily PCR list of a closed loop: everyone inside it, by where they are."""
    if not ctx.in_force.screening.loop_daily:
        return _empty(present)
    return _plans(
        present,
        date=ctx.local_date(ctx.now),
        person_id=present.person_id,
        purpose="loop_screening",
        place_id=present.last_place,
    )


def missed_tests(ctx: Context, present: ir.Table) -> ir.Table:
    """Loop members with no sample for the protocol's hours: they are called for a test."""
    if not ctx.in_force.screening.loop_daily:
        return present.filter(ibis.literal(False)).select("person_id", since="arrived_at")
    hours = ctx.in_force.screening.missed_test_hours
    cutoff = ctx.now - ibis.interval(hours=hours)
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull())
    last = samples.group_by("person_id").agg(last_sample=lambda t: t.collected_at.max())
    joined = present.left_join(last, "person_id").drop("person_id_right")
    inside_since = ibis.coalesce(joined.arrived_at, joined.last_sample)
    missed = joined.filter(
        (joined.last_sample.isnull() | (joined.last_sample < cutoff))
        & inside_since.notnull()
        & (inside_since < cutoff)
    )
    return missed.select("person_id", since=ibis.coalesce(missed.last_sample, missed.arrived_at))


def pharmacy_signals(ctx: Context) -> ir.Table:
    """Buyers of fever, cough or anti-infective medicine not tested since: a test within the
    protocol's hours of the purchase."""
    pharmacy = ctx.in_force.pharmacy
    purchases = ctx.events("purchases")
    if not pharmacy.enabled:
        return _empty(purchases)
    recent = purchases.filter(
        purchases.category.isin(list(pharmacy.categories))
        & (purchases.bought_at >= ctx.now - ibis.interval(hours=pharmacy.test_within_h))
    )
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull())
    tested = (
        recent.join(samples, "person_id")
        .filter(lambda t: t.collected_at >= t.bought_at)
        .select("person_id", "bought_at")
        .distinct()
    )
    due = recent.anti_join(tested, ["person_id", "bought_at"])
    due = due.group_by("person_id").agg(bought_at=lambda t: t.bought_at.min())
    return _plans(
        due, date=ctx.local_date(due.bought_at), person_id=due.person_id, purpose="pharmacy_signal"
    )


def pool_retests(ctx: Context, orders: ir.Table) -> ir.Table:
    """Single-tube re-tests for members of a positive pooled tube not yet cleared."""
    held = orders.filter((orders.rule == "pool.positive_pool") & orders.released_at.isnull())
    return _plans(
        held, date=ctx.local_date(held.start), person_id=held.person_id, purpose="pool_retest"
    )


def antigen_confirmations(ctx: Context, readings: ir.Table) -> ir.Table:
    """A PCR for each antigen positive the protocol wants confirmed and has no PCR since."""
    if not ctx.in_force.pcr.antigen_needs_pcr:
        return _empty(readings)
    antigen = readings.filter(readings.reading == "antigen_positive")
    pcr = readings.filter(readings.test == "pcr").select("person_id", pcr_at="collected_at")
    confirmed = (
        antigen.join(pcr, "person_id")
        .filter(lambda t: t.pcr_at >= t.collected_at)
        .select("result_id")
        .distinct()
    )
    due = antigen.anti_join(confirmed, "result_id")
    return _plans(
        due,
        date=ctx.local_date(due.reported_at),
        person_id=due.person_id,
        purpose="antigen_confirmation",
    )


def dorfman_tests_per_person(pool_size: int, prevalence: Any) -> Any:
    """Expected tests per person with pools of `pool_size` at `prevalence`: one test per
    pool, plus every member again when the pool is positive (Dorfman 1943,
    E = 1/k + 1 - (1-p)^k). Works on a number and on an Ibis expression alike."""
    return 1 / pool_size + 1 - (1 - prevalence) ** pool_size


def mass_testing(ctx: Context, areas: ir.Table, cases: ir.Table) -> ir.Table:
    """Mass-testing rounds for the areas at risk at `as_of`: one round a day for the
    protocol's rounds from the day after designation, everyone who lives there, in pooled
    tubes whose size follows the estimated prevalence (the district's cases of the last 7
    days over its population): the larger size where Dorfman's formula says it needs fewer
    tests per person."""
    pool = ctx.in_force.pool
    persons = ctx.events("persons")
    if not pool.mass_testing or pool.rounds == 0:
        return _empty(persons)
    active = areas.filter(areas.end.isnull()).select("area_id", "start").distinct()
    places = ctx.events("places").filter(lambda p: p.kind == "home")
    homes = places.select(
        "place_id", area_id="place:" + ibis.coalesce(places.parent_id, places.place_id)
    )
    # Filter to homes before the distinct: a city has billions of visits, few of them logged
    # at a home.
    seen = ctx.events("visits").join(homes, "place_id")
    seen = seen.select("person_id", "place_id", *(c for c in homes.columns if c != "place_id"))
    seen = seen.distinct()
    by_place = seen.select("person_id", "area_id").distinct()
    by_household = persons.select("person_id", area_id="household:" + persons.household_id)
    by_district = persons.select("person_id", area_id="district:" + persons.district)
    residents = (
        by_place.union(by_household, distinct=False)
        .union(by_district, distinct=False)
        .join(active, "area_id")
    )
    residents = residents.join(persons.select("person_id", "household_id", "district"), "person_id")
    recent = cases.filter(cases.confirmed_at >= ctx.now - ibis.interval(days=7)).join(
        persons.select("person_id", "district"), "person_id"
    )
    per_district = recent.group_by("district").agg(recent_cases=lambda t: t.count())
    population = persons.group_by("district").agg(population=lambda t: t.count())
    prevalence = population.left_join(per_district, "district").select(
        "district", prevalence=lambda t: t.recent_cases.fill_null(0).cast("float64") / t.population
    )
    residents = residents.join(prevalence, "district")
    prevalence_now = residents.prevalence
    larger_pays = dorfman_tests_per_person(pool.max_size, prevalence_now) < (
        dorfman_tests_per_person(pool.default_size, prevalence_now)
    )
    residents = residents.mutate(
        size=ibis.cases((larger_pays, pool.max_size), else_=pool.default_size)
    )
    # The tubes are the same each round (neighbours by household): number them once.
    w = ibis.window(group_by="area_id", order_by=["household_id", "person_id"])
    numbered = residents.mutate(n=ibis.row_number().over(w))
    numbered = numbered.mutate(tube=(numbered.n // numbered.size).cast("int64").cast("string"))
    parts = []
    for round_ in range(1, pool.rounds + 1):
        dated = numbered.mutate(day=ctx.local_date(numbered.start + ibis.interval(days=round_)))
        pool_id = "MT:" + dated.area_id + ":" + dated.day.cast("string") + ":" + dated.tube
        parts.append(
            _plans(dated, date=dated.day, person_id=dated.person_id,
                   purpose="mass_testing", pool_id=pool_id, suffix=":" + dated.area_id)
        )  # fmt: skip
    return _union(parts)


def _empty(table: ir.Table) -> ir.Table:
    return table.filter(ibis.literal(False)).select(
        plan_id=NO_TEXT,
        date=ibis.null("date"),
        person_id=NO_TEXT,
        purpose=NO_TEXT,
        pool_id=NO_TEXT,
        place_id=NO_TEXT,
    )


def follow_up_plans(ctx: Context, missed: ir.Table) -> ir.Table:
    """A test today for each loop member who missed the daily one."""
    return _plans(
        missed, date=ctx.local_date(ctx.now), person_id=missed.person_id, purpose="missed_test"
    )
