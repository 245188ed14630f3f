"""A place as a tracer or an epidemiologist looks at it: whether it is closed and why, the
cases that were there, the people traced through it, its environment samples, and who
visited it lately."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import ibis

from ringfence.control.cases import read_results
from ringfence.control.context import Context, unbound
from ringfence.control.cycle import fetch
from ringfence.control.why import last_run
from ringfence.schema import TABLES
from ringfence.store import Store, StoreError

from . import audit
from .accounts import Caller

RECENT_DAYS = 14
"""How far back the page looks at visits: the longest exposure window a tracer works with."""
VISITS_SHOWN = 200


def place_detail(store: Store, caller: Caller, place_id: str) -> dict[str, Any] | None:
    """Everything the place page shows (None if there is no such place); the people listed
    are written to the audit trail as read by `caller`."""
    found = store.fetch_records(
        "SELECT place_id, kind, district, loop_id, capacity, name FROM places WHERE place_id = ?",
        (place_id,),
    )
    if not found:
        return None
    run = last_run(store)
    if run.protocol is None:
        raise StoreError(f"the protocol of the last cycle run ({run.protocol_name}) is not found")
    ctx = Context(run.protocol, run.as_of)
    since = run.as_of - timedelta(days=RECENT_DAYS)
    closures = store.fetch_records(
        'SELECT order_id, kind, start, planned_end, released_at, "rule" FROM orders '
        "WHERE place_id = ? ORDER BY start DESC, order_id",
        (place_id,),
    )
    cases = store.fetch_records(
        "SELECT c.case_id, c.person_id, c.confirmed_at, c.classification, c.variant, "
        "min(v.start) AS first_visit, max(v.start) AS last_visit FROM visits v JOIN cases c "
        "ON c.person_id = v.person_id WHERE v.place_id = ? AND v.start <= ? "
        "GROUP BY c.case_id, c.person_id, c.confirmed_at, c.classification, c.variant "
        "ORDER BY c.confirmed_at DESC, c.case_id LIMIT 500",
        (place_id, run.as_of),
    )
    visits = store.fetch_records(
        'SELECT person_id, start, "end" FROM visits WHERE place_id = ? AND start >= ? '
        "AND start <= ? ORDER BY start DESC, person_id LIMIT ?",
        (place_id, since, run.as_of, VISITS_SHOWN),
    )
    detail = {
        "place": found[0],
        "as_of": run.as_of,
        "closed": any(c["released_at"] is None for c in closures if c["kind"] == "closure"),
        "closures": closures,
        "cases": cases,
        "contacts_traced_here": _contacts_through(store, place_id),
        "visits_by_day": _visits_by_day(store, ctx, place_id, since),
        "recent_visits": visits,
        "environment_samples": _environment_samples(store, ctx, place_id),
    }
    people = {str(r["person_id"]) for r in cases} | {str(v["person_id"]) for v in visits}
    audit.record(store, caller, "read", "places", [place_id, *sorted(people)])
    return detail


def _contacts_through(store: Store, place_id: str) -> int:
    """How many contacts were traced from an exposure at the place."""
    contacts = unbound(TABLES["contacts"])
    through = contacts.filter(contacts.place_ids.contains(place_id))
    return int(fetch(store, through.agg(n=through.person_id.count()))[0]["n"])


def _visits_by_day(store: Store, ctx: Context, place_id: str, since: Any) -> list[dict[str, Any]]:
    """Visits and distinct visitors per local day, over the recent days."""
    visits = ctx.events("visits").filter(
        lambda v: (v.place_id == place_id) & (v.start >= ibis.literal(since, "timestamp('UTC')"))
    )
    per_day = visits.group_by(day=ctx.local_date(visits.start)).agg(
        visits=visits.person_id.count(), visitors=visits.person_id.nunique()
    )
    return fetch(store, per_day.order_by("day"))


def _environment_samples(store: Store, ctx: Context, place_id: str) -> list[dict[str, Any]]:
    """The place's environment samples (a letter, a cold-chain package), with how the
    protocol reads their results."""
    samples = ctx.events("samples").filter(lambda s: s.place_id == place_id)
    readings = read_results(ctx).select("sample_id", "reading", "reported_at")
    joined = samples.left_join(readings, "sample_id")
    chosen = joined.select(
        "sample_id", "collected_at", "item", reading=joined.reading, reported_at=joined.reported_at
    )
    return fetch(store, chosen.order_by([ibis.desc("collected_at"), "sample_id"]).limit(200))
