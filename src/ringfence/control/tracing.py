"""Step 2 of the cycle: every contact of every case, and the contacts of those contacts.

Exposure is shared time: two people at the same place at once, or near each other by a
proximity record, inside the case's exposure window. Shared intervals are merged per pair
before they are summed, so an overlap counted twice in the data is counted once here: the
minutes are the measure of the union of the moments the two shared.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ringfence.schema.events import PLACE_KINDS

from .context import Context, number_islands, seconds

INTERVAL_COLUMNS = ("person_id", "index_id", "place_id", "s", "e", "household")


def exposure_windows(ctx: Context, cases: ir.Table, readings: ir.Table) -> ir.Table:
    """Each case's exposure window: from the look-back before onset or the first positive
    sample (the earlier of the two), or from the last negative of a case found by serial
    screening when the protocol says so; until the case was confirmed and isolated."""
    lookback = ctx.param("contact.lookback_days").cast("int64").as_interval("D")
    from_sample = cases.collected_at - lookback
    from_onset = ctx.local_midnight(cases.onset) - lookback
    has_onset = cases.onset.notnull() & (cases.onset <= ctx.local_date(cases.confirmed_at))
    start = ibis.cases((has_onset, ibis.least(from_onset, from_sample)), else_=from_sample)
    windows = cases.select(
        "person_id", "confirmed_at", "collected_at", start=start,
        by_screening=cases.purpose == "screening",
    )  # fmt: skip
    # Only serial screening moves the start: a negative taken for another reason (a
    # diagnostic test hours after a shared meal) says nothing about the days before it.
    negatives = readings.filter(
        (readings.reading == "negative") & (readings.purpose == "screening")
    ).select("person_id", negative_at=readings.collected_at)
    last_negative = (
        windows.join(negatives, "person_id")
        .filter(lambda t: t.negative_at < t.collected_at)
        .group_by("person_id")
        .agg(last_negative=lambda t: t.negative_at.max())
    )
    joined = windows.left_join(last_negative, "person_id")
    use_negative = (
        ctx.param("contact.from_last_negative").cast("boolean")
        & joined.last_negative.notnull()
        & joined.by_screening.fill_null(False)
    )
    start = ibis.cases(
        (use_negative, ibis.greatest(joined.start, joined.last_negative)), else_=joined.start
    )
    return joined.select(
        index_id=joined.person_id,
        index_person=joined.person_id,
        window_start=start,
        window_end=joined.confirmed_at,
        case_confirmed_at=joined.confirmed_at,
    )


def presence(ctx: Context, spaces: bool = False) -> ir.Table:
    """Who was where, when: visits keyed by place, or with `spaces` by the enclosing space
    (the parent of the place: the floor of a room, the train of a carriage)."""
    visits = ctx.events("visits")
    visits = visits.mutate(end=ibis.least(visits.end, ctx.now))
    if not spaces:
        return visits.select("person_id", "place_id", "start", "end", key=visits.place_id)
    places = ctx.events("places").filter(lambda p: p.parent_id.notnull())
    keyed = visits.join(places.select("place_id", "parent_id"), "place_id")
    return keyed.select("person_id", "place_id", "start", "end", key=keyed.parent_id)


def contact_presence(ctx: Context) -> ir.Table:
    """Presence at the places where being there with a case can make a close contact (the
    protocol's `contact.presence_place_kinds`): in a loop whose members wear badges, a venue
    of a hundred people is not a contact, a proximity record within the distance is."""
    where = presence(ctx)
    kinds = ctx.in_force.contact.presence_place_kinds
    if set(PLACE_KINDS) <= set(kinds):
        return where
    places = ctx.events("places").filter(lambda p: p.kind.isin(list(kinds)))
    return where.semi_join(places, where.place_id == places.place_id)


def index_spans(windows: ir.Table, where: ir.Table) -> ir.Table:
    """The index people's presence clipped to their windows: where they could expose others."""
    joined = windows.join(where, windows.index_person == where.person_id)
    joined = joined.filter((joined.start < joined.window_end) & (joined.end > joined.window_start))
    return joined.select(
        "index_id",
        "index_person",
        "key",
        index_place=joined.place_id,
        s=ibis.greatest(joined.start, joined.window_start),
        e=ibis.least(joined.end, joined.window_end),
    )


def shared_intervals(spans: ir.Table, where: ir.Table, other_place: bool = False) -> ir.Table:
    """Intervals in which someone else was present with an index span (same key, overlapping).

    The join is an equi-join on the key with the overlap as a filter, the cases' spans
    (few) against everyone's presence (many): the plan that measured fastest.
    """
    joined = spans.join(
        where,
        [
            spans.key == where.key,
            where.start < spans.e,
            where.end > spans.s,
            where.person_id != spans.index_person,
        ],
    )
    if other_place:
        joined = joined.filter(joined.place_id != joined.index_place)
    return joined.select(
        "person_id",
        "index_id",
        "place_id",
        s=ibis.greatest(joined.start, joined.s),
        e=ibis.least(joined.end, joined.e),
        household=ibis.literal(False),
    )


def proximity_intervals(ctx: Context, windows: ir.Table) -> ir.Table:
    """Intervals an index person spent within the protocol's distance of someone else."""
    near = ctx.events("proximity")
    distance = ctx.param("contact.distance_m").cast("float64")
    near = near.filter(near.distance_m.isnull() | (near.distance_m <= distance))
    both_ways = near.select("person_id", "other_person_id", "start", "end").union(
        near.select(
            person_id=near.other_person_id,
            other_person_id=near.person_id,
            start=near.start,
            end=near.end,
        ),
        distinct=False,
    )
    joined = windows.join(both_ways, windows.index_person == both_ways.person_id)
    joined = joined.filter((joined.start < joined.window_end) & (joined.end > joined.window_start))
    return joined.select(
        person_id=joined.other_person_id,
        index_id=joined.index_id,
        place_id=ibis.null("string"),
        s=ibis.greatest(joined.start, joined.window_start),
        e=ibis.least(joined.end, joined.window_end),
        household=ibis.literal(False),
    )


def household_intervals(ctx: Context, windows: ir.Table) -> ir.Table:
    """The index person's household members, exposed for the whole window."""
    persons = ctx.events("persons").select("person_id", "household_id")
    index = windows.join(persons, windows.index_person == persons.person_id).select(
        "index_id", "index_person", "household_id", "window_start", "window_end"
    )
    members = index.join(persons, "household_id").filter(lambda t: t.person_id != t.index_person)
    return members.select(
        "person_id",
        "index_id",
        place_id=ibis.null("string"),
        s=members.window_start,
        e=members.window_end,
        household=ibis.literal(True),
    )


def merge_exposure(intervals: ir.Table) -> ir.Table:
    """Per (person, index): first and last exposure, the seconds in the union of the
    intervals, the places, and whether the two share a household.

    Gaps and islands: intervals sorted by start join the island before them unless they
    begin after everything before them has ended.
    """
    by = ["person_id", "index_id"]
    intervals = intervals.filter(intervals.e > intervals.s)
    numbered = number_islands(intervals, by, ["s", "e", "place_id"], "s", "e", "island")
    islands = numbered.group_by([*by, "island"]).agg(
        s=numbered.s.min(),
        e=numbered.e.max(),
        household=numbered.household.any(),
    )
    # Collected, then sorted: Spark has no ordered aggregate, and every engine sorts an array.
    places = (
        intervals.filter(intervals.place_id.notnull())
        .group_by(by)
        .agg(place_ids=lambda t: t.place_id.collect(distinct=True).sort())
    )
    # Every list has a place (nulls were left out): quoted by joining with `", "` inside quotes.
    places = places.mutate(places_json='"' + places.place_ids.join('", "') + '"')
    totals = islands.group_by(by).agg(
        first_exposure=islands.s.min(),
        last_exposure=islands.e.max(),
        exposed_seconds=seconds(islands.e, islands.s).sum(),
        household=islands.household.any(),
    )
    return totals.left_join(places, by).select(
        "person_id", "index_id", "first_exposure", "last_exposure", "exposed_seconds",
        "household", "place_ids", "places_json",
    )  # fmt: skip


def contact_rows(
    merged: ir.Table,
    windows: ir.Table,
    kind: ir.StringValue | str,
    rule: str,
    min_seconds: ir.NumericValue | None,
) -> ir.Table:
    """Contact rows from merged exposure: those at or above the threshold (household always)."""
    qualifies = merged.household
    if min_seconds is not None:
        qualifies = qualifies | (merged.exposed_seconds >= min_seconds)
    kept = merged.filter(qualifies)
    joined = kept.join(windows.select("index_id", "case_confirmed_at").distinct(), "index_id")
    return joined.select(
        "person_id",
        case_person_id=joined.index_id,
        kind=kind if not isinstance(kind, str) else ibis.literal(kind),
        first_exposure=joined.first_exposure,
        last_exposure=joined.last_exposure,
        minutes=joined.exposed_seconds.cast("float64") / 60,
        place_ids=joined.place_ids,
        places_json=joined.places_json.fill_null(""),
        case_confirmed_at=joined.case_confirmed_at,
        rule=ibis.literal(rule),
    )


def close_contacts(ctx: Context, windows: ir.Table) -> ir.Table:
    """Close contacts (shared place or proximity ≥ the protocol's minutes) and household
    contacts of each case."""
    where = contact_presence(ctx)
    spans = index_spans(windows, where)
    shared = shared_intervals(spans, where).union(proximity_intervals(ctx, windows), distinct=False)
    min_seconds = ctx.param("contact.min_minutes").cast("float64") * 60
    close = contact_rows(
        merge_exposure(shared), windows, "close", "contact.min_minutes", min_seconds
    )
    if not ctx.in_force.contact.household:
        return close
    household = contact_rows(
        merge_exposure(household_intervals(ctx, windows)),
        windows,
        "household",
        "contact.household",
        None,
    )
    return close.union(household, distinct=False)


def same_space_contacts(
    ctx: Context, windows: ir.Table, close: ir.Table, where: ir.Table
) -> ir.Table:
    """People in a sibling space of a case (the next room on the floor) during its window,
    who are not already its close contacts. `where` is `presence(ctx, spaces=True)`, kept as
    a table of its own: joined inline, the engine may join every visit to the cases' spans
    on the time inequalities before it joins the spaces (measured: 70 s instead of 1 s on
    10 million visits)."""
    spans = index_spans(windows, where)
    merged = merge_exposure(shared_intervals(spans, where, other_place=True))
    rows = contact_rows(merged, windows, "same_space", "contact.same_space", ibis.literal(1))
    return rows.anti_join(close, ["person_id", "case_person_id"])


def environment_windows(ctx: Context, readings: ir.Table) -> ir.Table:
    """Positive environment samples (a letter, cold-chain goods) as index windows over their
    place: everyone there in the look-back before the sample was exposed."""
    positive = readings.filter(readings.place_id.notnull() & (readings.reading == "positive"))
    lookback = ctx.param("environment.lookback_days").cast("int64").as_interval("D")
    return positive.select(
        index_id="environment:" + positive.sample_id,
        index_person=ibis.null("string"),
        place_id=positive.place_id,
        window_start=positive.collected_at - lookback,
        window_end=positive.collected_at,
        case_confirmed_at=positive.reported_at,
    )


def environment_contacts(ctx: Context, readings: ir.Table) -> ir.Table:
    """Visitors of a place with a positive environment sample, in its look-back window."""
    windows = environment_windows(ctx, readings)
    spans = windows.select(
        "index_id",
        index_person=ibis.literal("", type="string"),
        key=windows.place_id,
        index_place=windows.place_id,
        s=windows.window_start,
        e=windows.window_end,
    )
    merged = merge_exposure(shared_intervals(spans, presence(ctx)))
    return contact_rows(
        merged, windows, "environment", "environment.lookback_days", ibis.literal(1)
    )


def secondary_windows(close: ir.Table) -> ir.Table:
    """Each close or household contact as an index: from their first exposure until their
    quarantine (when the case was confirmed), for the case they are a contact of."""
    index = close.filter(close.kind.isin(["close", "household"]))
    return index.select(
        index_id=index.case_person_id,
        index_person=index.person_id,
        window_start=index.first_exposure,
        window_end=index.case_confirmed_at,
        case_confirmed_at=index.case_confirmed_at,
    )


def secondary_spans(ctx: Context, windows: ir.Table) -> ir.Table:
    """Where the close contacts were in their windows, at the closed spaces where people
    live, work, study or eat together (the protocol's `secondary.place_kinds`): not a market
    or a metro line, where one person meets thousands."""
    kinds = list(ctx.in_force.secondary.place_kinds)
    closed = ctx.events("places").filter(lambda p: p.kind.isin(kinds)).select("place_id")
    spans = index_spans(windows, presence(ctx))
    return spans.semi_join(closed, spans.index_place == closed.place_id)


def secondary_contacts(
    ctx: Context, windows: ir.Table, spans: ir.Table, cases: ir.Table
) -> ir.Table:
    """People who shared a closed space with a close contact between the contact's first
    exposure and their quarantine, or who live with them: the case's secondary contacts.
    `spans` (from `secondary_spans`) is kept as a table of its own, so that the join with
    everyone's visits is a hash join on the place."""
    shared = shared_intervals(spans, presence(ctx)).union(
        household_intervals(ctx, windows), distinct=False
    )
    min_seconds = ctx.param("secondary.min_minutes").cast("float64") * 60
    rows = contact_rows(
        merge_exposure(shared), windows, "secondary", "secondary.min_minutes", min_seconds
    )
    already = windows.select(person_id="index_person", case_person_id="index_id")
    rows = rows.anti_join(already, ["person_id", "case_person_id"])
    rows = rows.filter(rows.person_id != rows.case_person_id)
    # Someone already a case is nobody's secondary contact; someone who becomes one later
    # stays one (found under control), and becoming a case ends their quarantine.
    earlier = cases.select(own_person="person_id", own_confirmed_at="confirmed_at")
    # One case per person: the left join keeps one row per contact row (an anti-join with a
    # range condition is not valid SQL on PostgreSQL).
    joined = rows.left_join(earlier, rows.person_id == earlier.own_person)
    joined = joined.filter(
        joined.own_confirmed_at.isnull() | (joined.own_confirmed_at > joined.case_confirmed_at)
    )
    return joined.drop("own_person", "own_confirmed_at")
