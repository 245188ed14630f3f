"""Daily counts by report day, from the decisions and the events: what every report adds up.

Each function is one Ibis query over the store's tables that returns a few rows per report
day (grouped by the dimensions a bulletin splits by), never one row per person: a city of
millions reports from a few thousand rows. Flows are counted on the day they happen; a stock
(people in isolation on a day) is the orders started by then less those ended by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from ringfence.control.cases import read_pools, read_results
from ringfence.control.context import Context, unbound
from ringfence.control.cycle import fetch
from ringfence.protocol import Protocol
from ringfence.schema import TABLES
from ringfence.store import Store

from .window import ReportWindow, report_day, report_window

Rows = list[dict[str, Any]]

CONTACT_RULES = ("contact.close", "contact.home")
"""The orders of close and household contacts: "under medical observation"."""

TESTS_INSIDE_PURPOSES = ("screening", "contact", "release", "diagnostic", "mass")
"""Samples of a loop member that count as tests inside the loop (not arrival, pre-departure)."""


def decisions(name: str) -> ir.Table:
    """A decision table as the last cycle run left it."""
    return unbound(TABLES[name])


def _count_if(condition: ir.BooleanValue) -> ir.IntegerValue:
    return ibis.cases((condition, 1), else_=0).sum()


def _persons(ctx: Context) -> ir.Table:
    persons = ctx.events("persons")
    return persons.select(
        "person_id",
        district=persons.district.fill_null("unknown"),
        loop_id=persons.loop_id,
        group=persons.group.fill_null("unknown"),
    )


def _with(table: ir.Table, other: ir.Table, key: str = "person_id") -> ir.Table:
    """`table` with the columns of `other` matched on `key` (null where none matches)."""
    joined = table.left_join(other, key)
    return joined.drop(f"{key}_right") if f"{key}_right" in joined.columns else joined


def case_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Cases per report day of detection and of conversion, by every dimension reported."""
    cases = decisions("cases")
    c = _with(cases, _persons(ctx))
    return c.group_by(
        day=report_day(ctx, window, c.confirmed_at),
        converted_day=report_day(ctx, window, c.converted_at),
        onset=c.onset,
        classification=c.classification,
        origin=c.origin,
        variant=c.variant.fill_null("unknown"),
        district=c.district.fill_null("unknown"),
        found_by=c.found_by.fill_null("other"),
        severe=c.severity.isin(["severe", "critical"]).fill_null(False),
        loop_id=c.loop_id,
        group=c.group.fill_null("unknown"),
    ).agg(n=c.case_id.count())


def order_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Orders of persons by start and end day, kind and rule, with what the person's case
    (if any) says about treatment: confirmed (and from which day) and severe."""
    orders = decisions("orders").filter(lambda o: o.person_id.notnull())
    cases = decisions("cases").select(
        "person_id",
        case_confirmed_at="confirmed_at",
        case_classification="classification",
        case_converted_at="converted_at",
        case_severity="severity",
    )
    o = _with(_with(orders, cases), _persons(ctx))
    return o.group_by(
        kind=o.kind,
        rule=o.rule,
        start_day=report_day(ctx, window, o.start),
        end_day=report_day(ctx, window, o.released_at),
        loop_id=o.loop_id,
        confirmed_case=(o.case_classification == "confirmed").fill_null(False),
        converted_day=report_day(ctx, window, o.case_converted_at),
        severe=o.case_severity.isin(["severe", "critical"]).fill_null(False),
        # A contact's order that ends because the contact became a case is not a release.
        ended_as_case=(o.released_at == o.case_confirmed_at).fill_null(False),
    ).agg(n=o.order_id.count())


def contact_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """People traced, by the report day they were first found (their case's confirmation):
    per kind of contact, and `any_close` for close or household contacts together."""
    contacts = decisions("contacts")
    cases = decisions("cases")
    index = cases.select(case_person_id="person_id", traced_at="confirmed_at")
    own = cases.select("person_id", own_case_at="confirmed_at")
    traced = _with(_with(contacts.join(index, "case_person_id"), own), _persons(ctx))
    # Someone already a case when traced is not a contact to count (a case's earlier case
    # shows up among its contacts, but is not under observation for it).
    traced = traced.filter(traced.own_case_at.isnull() | (traced.own_case_at > traced.traced_at))
    by_kind = traced.group_by("person_id", "kind", "loop_id").agg(first=traced.traced_at.min())
    close = traced.filter(traced.kind.isin(["close", "household"]))
    any_close = close.group_by("person_id", "loop_id").agg(first=close.traced_at.min())
    any_close = any_close.mutate(kind=ibis.literal("any_close"))
    firsts = by_kind.union(any_close.select(*by_kind.columns), distinct=False)
    return firsts.group_by(
        day=report_day(ctx, window, firsts.first), kind=firsts.kind, loop_id=firsts.loop_id
    ).agg(n=firsts.person_id.count())


def closure_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Closure orders of places by start and end day and the kind of place."""
    orders = decisions("orders").filter(lambda o: (o.kind == "closure") & o.place_id.notnull())
    places = ctx.events("places").select("place_id", place_kind="kind")
    o = _with(orders, places, "place_id")
    return o.group_by(
        place_kind=o.place_kind.fill_null("other"),
        start_day=report_day(ctx, window, o.start),
        end_day=report_day(ctx, window, o.released_at),
    ).agg(n=o.order_id.count())


def risk_area_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Risk areas by level, start and end day."""
    areas = decisions("risk_areas")
    return areas.group_by(
        level=areas.level,
        start_day=report_day(ctx, window, areas.start),
        end_day=report_day(ctx, window, areas.end),
    ).agg(n=areas.area_id.count())


def sample_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Samples of persons by the day they were taken, purpose, test, loop and group; with
    how many pooled tubes they went into."""
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull())
    s = _with(samples, _persons(ctx))
    return s.group_by(
        day=report_day(ctx, window, s.collected_at),
        purpose=s.purpose.fill_null("other"),
        test=s.test,
        loop_id=s.loop_id,
        group=s.group.fill_null("unknown"),
    ).agg(n=s.sample_id.count(), pools=s.pool_id.nunique())


def pool_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Pooled tubes by the day their samples were taken, read positive by the protocol."""
    pools = read_pools(ctx)
    tubes = pools.group_by("pool_id").agg(
        collected_at=pools.collected_at.min(), positive=pools.positive.fill_null(False).any()
    )
    samples = ctx.events("samples").filter(lambda s: s.pool_id.notnull())
    purposes = samples.group_by("pool_id").agg(purpose=samples.purpose.max())
    tubes = _with(tubes, purposes, "pool_id")
    return tubes.group_by(
        day=report_day(ctx, window, tubes.collected_at),
        purpose=tubes.purpose.fill_null("other"),
        positive=tubes.positive,
    ).agg(n=tubes.pool_id.count())


def result_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Single-tube results by report day and the protocol's reading: persons' tests (with
    their loop) and environment samples (with the item, such as a letter)."""
    readings = read_results(ctx)
    samples = ctx.events("samples").select("sample_id", "item")
    r = _with(_with(readings, samples, "sample_id"), _persons(ctx))
    return r.group_by(
        day=report_day(ctx, window, r.reported_at),
        reading=r.reading,
        test=r.test,
        environment=r.person_id.isnull(),
        item=r.item,
        loop_id=r.loop_id,
    ).agg(n=r.result_id.count())


def arrival_days(ctx: Context, window: ReportWindow) -> ir.Table:
    """Arrivals by report day, loop and group."""
    arrivals = ctx.events("arrivals")
    a = _with(arrivals, _persons(ctx))
    return a.group_by(
        day=report_day(ctx, window, a.arrived_at), loop_id=a.loop_id, group=a.group
    ).agg(n=a.person_id.count())


def loop_members(ctx: Context) -> ir.Table:
    """The people of each closed loop, by group."""
    persons = _persons(ctx).filter(lambda p: p.loop_id.notnull())
    return persons.group_by("loop_id", "group").agg(n=persons.person_id.count())


@dataclass(frozen=True)
class ReportData:
    """Everything a bulletin or a situation report is computed from: the daily rows of each
    subject, and the run of the cycle they come from."""

    protocol: Protocol
    as_of: datetime
    window: ReportWindow
    cases: Rows
    orders: Rows
    contacts: Rows
    closures: Rows
    risk_areas: Rows
    samples: Rows
    pools: Rows
    results: Rows
    arrivals: Rows
    members: Rows


QUERIES = {
    "cases": case_days,
    "orders": order_days,
    "contacts": contact_days,
    "closures": closure_days,
    "risk_areas": risk_area_days,
    "samples": sample_days,
    "pools": pool_days,
    "results": result_days,
    "arrivals": arrival_days,
}


def load_report_data(store: Store, protocol: Protocol, as_of: datetime) -> ReportData:
    """Run every daily query against the decisions the cycle made at `as_of`."""
    as_of = as_of.astimezone(UTC)
    ctx = Context(protocol, as_of)
    window = report_window(protocol, as_of)
    rows = {name: _days(fetch(store, query(ctx, window))) for name, query in QUERIES.items()}
    return ReportData(
        protocol=protocol,
        as_of=as_of,
        window=window,
        members=fetch(store, loop_members(ctx)),
        **rows,
    )


def _days(rows: Rows) -> Rows:
    """Engines return DATE columns as dates or datetimes; make every *day* a date."""
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime) and (key == "day" or key.endswith("_day")):
                row[key] = value.date()
    return rows


def first_day(rows: Rows, **where: Any) -> date | None:
    """The earliest report day among `rows` matching `where` (None when there is none)."""
    days = [
        r["day"] for r in rows if r["day"] is not None and all(r[k] == v for k, v in where.items())
    ]
    return min(days) if days else None
