"""Reading the decisions back: why a person is where they are, and today's follow-up list."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ringfence.protocol import PARAMETERS, Protocol, ProtocolError, describe_value, load_protocol
from ringfence.store import Store, StoreError
from ringfence.store.migrations import RUNS_TABLE


@dataclass(frozen=True)
class LastRun:
    """The latest cycle run: when it decided, under which protocol."""

    run_id: int
    as_of: datetime
    protocol_name: str
    protocol: Protocol | None


def last_run(store: Store) -> LastRun:
    """The latest recorded cycle run; a clear error if the cycle has never run."""
    rows = store.fetchall(
        f"SELECT run_id, as_of, protocol, summary FROM {RUNS_TABLE} ORDER BY run_id DESC LIMIT 1"
    )
    if not rows:
        raise StoreError("the control cycle has not run on this database; run `ringfence cycle`")
    run_id, as_of, name, summary = rows[0]
    origin = json.loads(summary).get("protocol_origin", "")
    protocol: Protocol | None
    try:
        protocol = load_protocol(name if origin.startswith("preset ") else origin)
    except ProtocolError:
        protocol = None  # the file has moved: explain without the parameter values
    return LastRun(int(run_id), as_of, str(name), protocol)


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _parameter(run: LastRun, key: str | None, source: str | None) -> str:
    if not key:
        return ""
    value = ""
    if run.protocol is not None and key in PARAMETERS:
        value = " = " + describe_value(run.protocol, key)
    cited = f"; {source}" if source else ""
    return f" ({run.protocol_name}, {key}{value}{cited})"


def explain_person(store: Store, person_id: str) -> list[str]:
    """Every decision about a person, each with its rule, parameter, source and evidence."""
    run = last_run(store)
    zone = ZoneInfo(run.protocol.timezone if run.protocol else "UTC")
    lines = [f"{person_id} as of {_local(run.as_of, zone)} (cycle run {run.run_id})"]
    found = False
    for row in store.fetch_records(
        "SELECT c.case_id, c.confirmed_at, c.classification, c.converted_at, c.origin, "
        "c.variant, c.severity, c.found_by, e.parameter, e.source, e.evidence FROM cases c "
        "LEFT JOIN explanations e ON e.decision_table = 'cases' AND e.decision_key = c.case_id "
        "WHERE c.person_id = ?",
        (person_id,),
    ):
        found = True
        evidence = json.loads(row["evidence"] or "{}")
        converted = (
            f", converted from asymptomatic {_local(row['converted_at'], zone)}"
            if row["converted_at"]
            else ""
        )
        lines.append(
            f"case {row['case_id']}: {row['classification']}{converted}, {row['origin']}, "
            f"variant {row['variant'] or 'not sequenced'}, severity {row['severity']}, found by "
            f"{row['found_by']}; confirmed {_local(row['confirmed_at'], zone)} by result "
            f"{evidence.get('result')} (Ct {evidence.get('ct') or 'not reported'})"
            + _parameter(run, row["parameter"], row["source"])
        )
    for row in store.fetch_records(
        "SELECT c.case_person_id, c.kind, c.first_exposure, c.last_exposure, c.minutes, "
        "c.place_ids, e.parameter, e.source FROM contacts c LEFT JOIN explanations e ON "
        "e.decision_table = 'contacts' AND e.decision_key = c.person_id || '|' || "
        "c.case_person_id || '|' || c.kind WHERE c.person_id = ? "
        "ORDER BY c.first_exposure, c.case_person_id",
        (person_id,),
    ):
        found = True
        places = ", ".join(row["place_ids"] or []) or "proximity or household"
        lines.append(
            f"{row['kind']} contact of {row['case_person_id']}: {places}, "
            f"{_local(row['first_exposure'], zone)} to {_local(row['last_exposure'], zone)} "
            f"({row['minutes']:.0f} min)" + _parameter(run, row["parameter"], row["source"])
        )
    for row in store.fetch_records(
        "SELECT o.order_id, o.kind, o.start, o.planned_end, o.released_at, o.rule, "
        "o.guardian_of, e.parameter, e.source, e.evidence FROM orders o LEFT JOIN explanations "
        "e ON e.decision_table = 'orders' AND e.decision_key = o.order_id AND e.rule = o.rule "
        "WHERE o.person_id = ? ORDER BY o.start, o.order_id",
        (person_id,),
    ):
        found = True
        state = (
            f"released {_local(row['released_at'], zone)}"
            if row["released_at"]
            else "open"
            + (f", planned end {_local(row['planned_end'], zone)}" if row["planned_end"] else "")
        )
        guardian = f", staying with child {row['guardian_of']}" if row["guardian_of"] else ""
        lines.append(
            f"order {row['kind']} from {_local(row['start'], zone)}: {state}{guardian}; rule "
            f"{row['rule']}, evidence {row['evidence']}"
            + _parameter(run, row["parameter"], row["source"])
        )
    for row in store.fetch_records(
        'SELECT o.order_id, a.actor, a.kind, a.reason, a."at" FROM orders o JOIN explanations e '
        "ON e.decision_table = 'orders' AND e.decision_key = o.order_id AND e.rule = 'action' "
        "JOIN actions a ON e.evidence LIKE '%\"' || a.action_id || '\"%' WHERE o.person_id = ?",
        (person_id,),
    ):
        lines.append(
            f"manual {row['kind']} of {row['order_id']} by {row['actor']} at "
            f"{_local(row['at'], zone)}: {row['reason']}"
        )
    for row in store.fetch_records(
        'SELECT kind, "at", "rule" FROM alerts WHERE person_id = ? ORDER BY "at", kind',
        (person_id,),
    ):
        found = True
        lines.append(f"alert {row['kind']} at {_local(row['at'], zone)} (rule {row['rule']})")
    if not found:
        lines.append("no decisions: not a case, not a contact, under no order")
    return lines


@dataclass(frozen=True)
class FollowUp:
    """One line of a tracer's list: whom, what to do today, and why."""

    person_id: str
    action: str
    why: str
    priority: int


def follow_up(store: Store, day: date | None = None) -> list[FollowUp]:
    """Who to call, test or release on `day` (default: the day of the latest run), and why.

    Key groups (the elderly, pregnant women, young children, people with comorbidities)
    come first, then releases, tests and calls.
    """
    run = last_run(store)
    zone = ZoneInfo(run.protocol.timezone if run.protocol else "UTC")
    today = day or run.as_of.astimezone(zone).date()
    start = datetime(today.year, today.month, today.day, tzinfo=zone)
    end = start + timedelta(days=1)
    items: list[FollowUp] = []
    for person, purpose in store.fetchall(
        "SELECT person_id, purpose FROM test_plans WHERE date = ? AND purpose <> 'mass_testing' "
        "ORDER BY person_id, purpose",
        (today,),
    ):
        items.append(FollowUp(person, "test", purpose.replace("_", " "), 2))
    for person, kind, rule in store.fetchall(
        "SELECT person_id, kind, rule FROM orders WHERE person_id IS NOT NULL AND "
        "((released_at >= ? AND released_at < ?) OR (planned_end >= ? AND planned_end < ? "
        "AND released_at IS NULL)) ORDER BY person_id, kind",
        (start, end, start, end),
    ):
        items.append(FollowUp(person, "release", f"{kind} ends ({rule})", 1))
    for person, kind, case in store.fetchall(
        "SELECT c.person_id, c.kind, c.case_person_id FROM contacts c JOIN cases k ON "
        "k.person_id = c.case_person_id WHERE k.confirmed_at >= ? AND k.confirmed_at < ? "
        "ORDER BY c.person_id, c.case_person_id",
        (start, end),
    ):
        items.append(FollowUp(person, "call", f"new {kind} contact of {case}", 3))
    key_people = _key_people(store, run, today.year)
    ordered = sorted(items, key=lambda i: (i.person_id not in key_people, i.priority, i.person_id))
    return ordered


def _key_people(store: Store, run: LastRun, year: int) -> set[str]:
    """People of the protocol's key groups: old, pregnant, very young, or with comorbidities."""
    if run.protocol is None:
        return set()
    groups = run.protocol.at(run.as_of).key_groups
    rows = store.fetchall(
        "SELECT person_id FROM persons WHERE birth_year <= ? OR birth_year > ? "
        "OR (? AND coalesce(pregnant, false)) OR (? AND coalesce(comorbidity, false))",
        (year - groups.min_age, year - groups.max_child_age, groups.pregnant, groups.comorbidity),
    )
    return {person for (person,) in rows}
