"""Step 3 of the cycle: orders for people — isolation, hospital, quarantine, monitoring —
their release, the guardian who stays with a child, and the manual actions that win."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from .arrivals import inbound, with_vaccination_check
from .context import DAY, Context, epoch_text, json_number, json_text, number_islands, seconds

ORDER_COLUMNS = (
    "person_id", "kind", "start", "planned_end", "released_at", "rule", "parameter",
    "guardian_of", "evidence",
)  # fmt: skip
CONFINING = ("isolation", "hospital", "quarantine_central", "quarantine_home")
NO_TIME = ibis.null("timestamp('UTC')")
FAR_FUTURE = ibis.literal("9999-12-31T00:00:00+00:00", type="timestamp('UTC')")
NO_TEXT = ibis.null("string")


def _order(
    table: ir.Table,
    *,
    person_id: ir.Value,
    kind: ir.Value,
    start: ir.Value,
    planned_end: ir.Value,
    released_at: ir.Value,
    rule: str,
    parameter: str,
    evidence: ir.Value,
) -> ir.Table:
    return table.select(
        person_id=person_id,
        kind=kind,
        start=start,
        planned_end=planned_end,
        released_at=released_at,
        rule=ibis.literal(rule),
        parameter=ibis.literal(parameter),
        guardian_of=NO_TEXT,
        evidence=evidence,
    )


def streak_release(ctx: Context, readings: ir.Table, orders: ir.Table) -> ir.Table:
    """When each case order's release tests were met: the protocol's number of consecutive
    negatives (or Ct at least the release threshold), each at least its gap after the last.

    A run of tests is broken by a test that does not count or by one taken too soon after
    the previous; the release is the report of the test that completes a long enough run.
    """
    tests = readings.filter(readings.test == "pcr").join(
        orders.select("person_id", order_start="start"), "person_id"
    )
    tests = tests.filter(tests.collected_at > tests.order_start)
    order = ["collected_at", "reported_at", "result_id"]
    w = ibis.window(group_by="person_id", order_by=order)
    gap_h = ctx.param("isolation.release_gap_h", at=tests.order_start).cast("int64")
    previous = tests.collected_at.lag().over(w)
    too_soon = (seconds(tests.collected_at, previous) < gap_h * 3_600).fill_null(True)
    tests = tests.mutate(breaks=ibis.cases((~tests.release_ok | too_soon, 1), else_=0))
    tests = tests.mutate(
        run=tests.breaks.sum().over(ibis.cumulative_window(group_by="person_id", order_by=order))
    )
    w_run = ibis.window(group_by=["person_id", "run"], order_by=order)
    runs = tests.mutate(position=ibis.row_number().over(w_run))
    runs = runs.mutate(
        position=runs.position + 1,
        opened_ok=runs.release_ok.first().over(
            ibis.window(group_by=["person_id", "run"], order_by=order)
        ),
    )
    length = ibis.cases(
        (~runs.release_ok, 0), (runs.opened_ok, runs.position), else_=runs.position - 1
    )
    needed = ctx.param("isolation.release_negatives", at=runs.order_start).cast("int64")
    done = runs.filter(length >= needed)
    return done.group_by("person_id").agg(
        negatives_at=done.reported_at.min(),
        evidence=done.result_id.min(),
    )


def daily_release(ctx: Context, readings: ir.Table, orders: ir.Table) -> ir.Table:
    """The alternative release: at least the protocol's days in isolation and every test on
    each of the last consecutive days at least the release Ct (0 days: not offered)."""
    tests = readings.filter(readings.test == "pcr").join(
        orders.select("person_id", order_start="start"), "person_id"
    )
    tests = tests.filter(tests.collected_at > tests.order_start)
    day = ((tests.collected_at.epoch_seconds().cast("int64") + ctx.utc_offset) // DAY).cast("int64")
    days = (
        tests.mutate(day=day)
        .group_by(["person_id", "order_start", "day"])
        .agg(day_ok=lambda t: t.release_ok.all(), last_report=lambda t: t.reported_at.max())
    )
    good = days.filter(days.day_ok)
    w = ibis.window(group_by="person_id", order_by="day")
    good = good.mutate(rank=ibis.row_number().over(w))
    good = good.mutate(island=good.day - good["rank"])
    w_island = ibis.window(group_by=["person_id", "island"], order_by="day")
    good = good.mutate(run=ibis.row_number().over(w_island))
    good = good.mutate(run=good.run + 1)
    min_days = ctx.param("isolation.alt_release_min_days", at=good.order_start).cast("int64")
    consecutive = ctx.param("isolation.alt_release_consecutive_days", at=good.order_start)
    eligible = good.filter(
        (min_days > 0)
        & (good.run >= consecutive.cast("int64"))
        & (seconds(good.last_report, good.order_start) >= min_days * DAY)
    )
    return eligible.group_by("person_id").agg(daily_at=eligible.last_report.min())


def case_orders(ctx: Context, cases: ir.Table, readings: ir.Table, symptoms: ir.Table) -> ir.Table:
    """Isolation for each case, or hospital when it is severe (or symptomatic, where the
    protocol sends every symptomatic case to hospital); released when the tests allow and
    the fever has been gone long enough."""
    at = cases.confirmed_at
    severities = list(ctx.in_force.isolation.hospital_severities)
    to_hospital = cases.severity.isin(severities) | (
        ctx.param("isolation.symptomatic_to_hospital", at=at).cast("boolean")
        & (cases.classification == "confirmed")
    )
    kind = ibis.cases((to_hospital, "hospital"), else_=ctx.param("isolation.order", at=at))
    orders = cases.select("person_id", "case_id", "result_id", start=cases.confirmed_at, kind=kind)
    streak = streak_release(ctx, readings, orders)
    daily = daily_release(ctx, readings, orders)
    last_sick = symptoms.select("person_id", "last_symptom_at")
    joined = (
        orders.left_join(streak, "person_id")
        .select(*orders.columns, "negatives_at", release_result="evidence")
        .left_join(daily, "person_id")
        .select(*orders.columns, "negatives_at", "release_result", "daily_at")
        .left_join(last_sick, "person_id")
    )
    tested_out = ibis.least(joined.negatives_at, joined.daily_at)
    afebrile = ctx.param("isolation.afebrile_days", at=joined.start).cast("int64")
    symptom_free_from = joined.last_symptom_at + afebrile.as_interval("D")
    release = ibis.cases(
        (tested_out.isnull(), NO_TIME),
        (joined.last_symptom_at.isnull(), tested_out),
        else_=ibis.greatest(tested_out, symptom_free_from),
    )
    release = ibis.cases((release <= ctx.now, release), else_=NO_TIME)
    evidence = (
        '{"case": "' + joined.case_id + '", "result": "' + joined.result_id
        + '", "release_result": ' + json_text(joined.release_result) + "}"
    )  # fmt: skip
    return _order(
        joined,
        person_id=joined.person_id,
        kind=joined.kind,
        start=joined.start,
        planned_end=NO_TIME,
        released_at=release,
        rule="isolation.release",
        parameter="isolation.release_negatives",
        evidence=evidence,
    )


def contact_orders(
    ctx: Context, contacts: ir.Table, kinds: list[str], section: str, days_key: str, rule: str
) -> ir.Table:
    """The orders of contacts of `kinds`: the protocol's `{section}.order` for its days
    counted from the last exposure (per person group, amendments re-evaluated), starting when
    the case was confirmed; a new exposure while the order is open restarts its clock (one
    order, a later end). An order whose days had already passed when found is not given."""
    persons = ctx.events("persons").select("person_id", "group")
    rows = contacts.filter(contacts.kind.isin(kinds)).join(persons, "person_id")
    start = rows.case_confirmed_at
    end = ctx.order_end(start, rows.last_exposure, days_key, rows.group)
    kind = ctx.param(f"{section}.order", at=start, group=rows.group)
    rows = rows.mutate(start=start, planned_end=end, order_kind=kind)
    rows = rows.filter((rows.order_kind != "none") & (rows.planned_end > rows.start))
    episodes = merge_episodes(rows)
    return _order(
        episodes,
        person_id=episodes.person_id,
        kind=episodes.order_kind,
        start=episodes.start,
        planned_end=episodes.planned_end,
        released_at=NO_TIME,
        rule=rule,
        parameter=days_key,
        evidence='{"cases": [' + episodes.cases + "]}",
    )


def contact_quarantine(ctx: Context, contacts: ir.Table) -> ir.Table:
    """Close and household contacts: the protocol's order for close contacts."""
    return contact_orders(
        ctx, contacts, ["close", "household"], "contact", "contact.central_days", "contact.close"
    )


def merge_episodes(
    rows: ir.Table, by: tuple[str, ...] = ("person_id", "order_kind"), label: str = "case_person_id"
) -> ir.Table:
    """One order per person (or place) and kind while it stays open: a trigger that starts
    before the running end extends the episode to the later end (the clock restarts).
    `label` names what triggered each row; the episode lists them all."""
    keys = list(by)
    numbered = number_islands(
        rows, keys, ["start", "planned_end", label], "start", "planned_end", "episode"
    )
    quoted = '"' + numbered[label] + '"'
    return numbered.group_by([*keys, "episode"]).agg(
        start=numbered.start.min(),
        planned_end=numbered.planned_end.max(),
        # Sorted after collecting: Spark has no ordered aggregate.
        cases=quoted.collect(distinct=True).sort().join(", "),
    )


def follow_on_home(ctx: Context, quarantine: ir.Table) -> ir.Table:
    """Home monitoring after a centralised quarantine, for the protocol's home days."""
    central = quarantine.filter(quarantine.kind == "quarantine_central")
    days = ctx.param("contact.home_days", at=central.start).cast("int64")
    central = central.filter(days > 0)
    return _order(
        central,
        person_id=central.person_id,
        kind=ibis.literal("quarantine_home"),
        start=central.planned_end,
        planned_end=central.planned_end + days.as_interval("D"),
        released_at=NO_TIME,
        rule="contact.home",
        parameter="contact.home_days",
        evidence=central.evidence,
    )


def monitoring_orders(ctx: Context, contacts: ir.Table, kind: str, section: str) -> ir.Table:
    """Orders for secondary, same-space and environment contacts, from their last exposure."""
    return contact_orders(ctx, contacts, [kind], section, f"{section}.days", f"contact.{kind}")


def indeterminate_orders(ctx: Context, readings: ir.Table) -> ir.Table:
    """A Ct in the indeterminate band: managed as a contact for the protocol's days."""
    rows = readings.filter((readings.reading == "indeterminate") & readings.person_id.notnull())
    days = ctx.param("pcr.indeterminate_management_days", at=rows.collected_at).cast("int64")
    rows = rows.filter(days > 0)
    return _order(
        rows,
        person_id=rows.person_id,
        kind=ibis.literal("contact_management"),
        start=rows.reported_at,
        planned_end=rows.reported_at + days.as_interval("D"),
        released_at=NO_TIME,
        rule="pcr.indeterminate",
        parameter="pcr.indeterminate_management_days",
        evidence='{"result": "' + rows.result_id + '", "ct": ' + json_number(rows.ct_low) + "}",
    )


def held_arrivals(discordant: ir.Table) -> ir.Table:
    """Airport positives with a negative confirmation: held until one more negative."""
    return _order(
        discordant,
        person_id=discordant.person_id,
        kind=ibis.literal("contact_management"),
        start=discordant.held_from,
        planned_end=NO_TIME,
        released_at=discordant.cleared_at,
        rule="arrival.discordant",
        parameter="arrival.discordant_extra_negative",
        evidence='{"result": "' + discordant.result_id + '"}',
    )


def pool_holds(ctx: Context, pools: ir.Table, readings: ir.Table) -> ir.Table:
    """Members of a positive pooled tube: under temporary control until their single-tube
    re-test comes back negative."""
    positive = pools.filter(pools.positive).select(
        "pool_id", "collected_at", pool_result="result_id", pool_reported="reported_at"
    )
    members = (
        ctx.events("samples")
        .filter(lambda s: s.person_id.notnull())
        .select("person_id", "pool_id")
        .join(positive, "pool_id")
    )
    singles = readings.filter(readings.pool_id.isnull() & readings.person_id.notnull()).select(
        "person_id",
        single_collected="collected_at",
        single_reported="reported_at",
        single_reading="reading",
    )
    retests = (
        members.join(singles, "person_id")
        .filter(lambda t: (t.single_collected >= t.collected_at) & (t.single_reading == "negative"))
        .group_by(["person_id", "pool_id"])
        .agg(cleared_at=lambda t: t.single_reported.min())
    )
    held = members.left_join(retests, ["person_id", "pool_id"])
    return _order(
        held,
        person_id=held.person_id,
        kind=ibis.literal("contact_management"),
        start=held.pool_reported,
        planned_end=NO_TIME,
        released_at=held.cleared_at,
        rule="pool.positive_pool",
        parameter="pool.default_size",
        evidence='{"pool": "' + held.pool_id + '", "result": "' + held.pool_result + '"}',
    )


def arrival_quarantine(ctx: Context) -> ir.Table:
    """Arrivals not vaccinated in time: the protocol's longer quarantine (loop members too);
    every other inbound arrival where the protocol quarantines them (not loop members: the
    closed loop takes the place of quarantine)."""
    checked = with_vaccination_check(ctx, inbound(ctx))
    evidence = (
        '{"arrival": '
        + json_text(checked.origin)
        + ', "vaccinated_on": '
        + json_text(checked.vaccinated_on)
        + "}"
    )
    checked = checked.mutate(evidence=evidence)
    late = checked.filter(checked.late)
    days = ctx.param("arrival.unvaccinated_quarantine_days", at=late.arrived_at).cast("int64")
    unvaccinated = _order(
        late, person_id=late.person_id, kind=ibis.literal("quarantine_central"),
        start=late.arrived_at, planned_end=late.arrived_at + days.as_interval("D"),
        released_at=NO_TIME, rule="arrival.unvaccinated",
        parameter="arrival.unvaccinated_quarantine_days", evidence=late.evidence,
    )  # fmt: skip
    members = ctx.events("persons").filter(lambda p: p.loop_id.notnull()).select("person_id")
    city = checked.filter(~checked.late).anti_join(members, "person_id")
    central = ctx.param("arrival.quarantine_central_days", at=city.arrived_at).cast("int64")
    home = ctx.param("arrival.quarantine_home_days", at=city.arrived_at).cast("int64")
    city = city.mutate(central_end=city.arrived_at + central.as_interval("D"), home_days=home)
    city = city.filter(central > 0)
    centralised = _order(
        city, person_id=city.person_id, kind=ibis.literal("quarantine_central"),
        start=city.arrived_at, planned_end=city.central_end, released_at=NO_TIME,
        rule="arrival.inbound", parameter="arrival.quarantine_central_days",
        evidence=city.evidence,
    )  # fmt: skip
    at_home = city.filter(city.home_days > 0)
    monitored = _order(
        at_home, person_id=at_home.person_id, kind=ibis.literal("quarantine_home"),
        start=at_home.central_end,
        planned_end=at_home.central_end + at_home.home_days.as_interval("D"),
        released_at=NO_TIME, rule="arrival.inbound_home",
        parameter="arrival.quarantine_home_days", evidence=at_home.evidence,
    )  # fmt: skip
    return unvaccinated.union(centralised, distinct=False).union(monitored, distinct=False)


def settle(ctx: Context, orders: ir.Table, cases: ir.Table) -> ir.Table:
    """Release what is due: a planned end reached by `as_of` releases the order; becoming a
    case ends any other order (isolation takes over)."""
    confirmed = cases.select("person_id", became_case="confirmed_at")
    joined = orders.left_join(confirmed, "person_id").drop("person_id_right")
    superseded = (
        (joined.kind.notin(["isolation", "hospital"]))
        & joined.became_case.notnull()
        & (joined.became_case > joined.start)
    )
    due = ibis.cases((joined.planned_end <= ctx.now, joined.planned_end), else_=NO_TIME)
    released = ibis.coalesce(joined.released_at, due)
    released = ibis.cases(
        (superseded, ibis.least(ibis.coalesce(released, joined.became_case), joined.became_case)),
        else_=released,
    )
    settled = joined.mutate(released_at=released)
    # Someone already a case is not also put in quarantine for exposure after it.
    settled = settled.filter(
        settled.kind.isin(["isolation", "hospital"])
        | settled.became_case.isnull()
        | (settled.start < settled.became_case)
    )
    return settled.select(*ORDER_COLUMNS)


def with_guardians(ctx: Context, orders: ir.Table) -> ir.Table:
    """A child below the protocol's age is never confined alone: unless an adult of the
    household is confined the same way for all of the child's order already, the first
    adult (by id) is ordered to stay with the child, for the same kind and time."""
    persons = ctx.events("persons").select("person_id", "household_id", "birth_year")
    child_age = ctx.param("contact.child_age").cast("int64")
    children = orders.filter(orders.kind.isin(CONFINING) & orders.guardian_of.isnull()).join(
        persons, "person_id"
    )
    children = children.filter(ctx.as_of.year - children.birth_year < child_age)
    adults = persons.filter(ctx.as_of.year - persons.birth_year >= 18).select(
        guardian="person_id", household_id="household_id"
    )
    candidates = children.join(adults, "household_id")
    confined = orders.filter(orders.kind.isin(CONFINING)).select(
        busy_key=orders.person_id + "|" + orders.kind, busy_start=orders.start,
        busy_end=orders.planned_end, busy_released=orders.released_at,
    )  # fmt: skip
    busy = (
        # One composite key: joined on two, the engine has been seen to hash on the kind
        # alone (a handful of values) and compare every pair of a city's orders.
        candidates.join(confined, candidates.guardian + "|" + candidates.kind == confined.busy_key)
        .filter(
            lambda t: (
                (t.busy_start <= t.start)
                & (
                    ibis.coalesce(t.busy_released, t.busy_end, FAR_FUTURE)
                    >= ibis.coalesce(t.released_at, t.planned_end, FAR_FUTURE)
                )
            )
        )
        .select("person_id", "kind", "start", "guardian")
        .distinct()
    )
    # An adult of the household confined the same way for the whole of the child's order is
    # with the child already; one whose confinement ends sooner would leave the child alone.
    # Per kind: an adult at home with the child is no company in a quarantine hotel.
    accompanied = busy.select("person_id", "kind", "start").distinct()
    free = candidates.anti_join(accompanied, ["person_id", "kind", "start"])
    # An adult who is a case, isolated or in hospital otherwise than the child, cannot be
    # the one who stays with the child.
    cases_confined = orders.filter(orders.kind.isin(["isolation", "hospital"])).select(
        sick_person=orders.person_id, sick_kind=orders.kind, sick_start=orders.start,
        sick_end=ibis.coalesce(orders.released_at, orders.planned_end, FAR_FUTURE),
    )  # fmt: skip
    unavailable = (
        free.join(cases_confined, free.guardian == cases_confined.sick_person)
        .filter(
            lambda t: (t.sick_kind != t.kind) & (t.sick_start <= t.start) & (t.sick_end > t.start)
        )
        .select("person_id", "start", "guardian")
        .distinct()
        .mutate(unavailable=True)
    )
    # A left join and a null test, not an anti-join: within this chain of joins Ibis writes
    # an anti-join as LEFT ANTI JOIN, which PostgreSQL does not have.
    keys = ["person_id", "start", "guardian"]
    free = free.left_join(unavailable, keys)
    free = free.filter(free.unavailable.isnull()).drop(
        "unavailable", *(f"{k}_right" for k in keys)
    )
    w = ibis.window(group_by=["person_id", "kind", "start"], order_by="guardian")
    first = free.mutate(n=ibis.row_number().over(w))
    first = first.filter(first.n == 0)
    guardians = first.select(
        person_id=first.guardian,
        kind=first.kind,
        start=first.start,
        planned_end=first.planned_end,
        released_at=first.released_at,
        rule=ibis.literal("contact.guardian"),
        parameter=ibis.literal("contact.child_age"),
        guardian_of=first.person_id,
        evidence='{"child": "' + first.person_id + '", "child_order_rule": "' + first.rule + '"}',
    )
    return orders.union(guardians, distinct=False)


def with_ids(orders: ir.Table) -> ir.Table:
    """A stable id per order: kind, person, start (and the child, for a guardian)."""
    order_id = orders.kind + ":" + orders.person_id + ":" + epoch_text(orders.start)
    order_id = ibis.cases(
        (orders.guardian_of.notnull(), order_id + ":" + orders.guardian_of), else_=order_id
    )
    return orders.mutate(order_id=order_id, place_id=NO_TEXT)


def apply_actions(ctx: Context, orders: ir.Table) -> ir.Table:
    """Manual actions win over rules: a `release` or `override` of an order (by its id, or
    every open order of a person by the person's id) ends it when the action was taken."""
    actions = ctx.events("actions").filter(lambda a: a.kind.isin(["release", "override", "reopen"]))
    by_order = orders.join(actions, orders.order_id == actions.target).select(
        "order_id", action_at=actions.at, action_id=actions.action_id
    )
    by_person = orders.join(actions, orders.person_id == actions.target).select(
        "order_id", action_at=actions.at, action_id=actions.action_id
    )
    by_place = orders.join(actions, orders.place_id == actions.target).select(
        "order_id", action_at=actions.at, action_id=actions.action_id
    )
    matched = by_order.union(by_person, distinct=False).union(by_place, distinct=False)
    joined = orders.join(matched, "order_id").filter(lambda t: t.action_at >= t.start)
    first = joined.group_by("order_id").agg(
        action_at=joined.action_at.min(), action_id=joined.action_id.min()
    )
    merged = orders.left_join(first, "order_id").drop("order_id_right")
    released = ibis.cases(
        (
            merged.action_at.notnull()
            & (merged.released_at.isnull() | (merged.action_at < merged.released_at)),
            merged.action_at,
        ),
        else_=merged.released_at,
    )
    return merged.mutate(released_at=released)
