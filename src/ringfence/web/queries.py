"""Reads shared by the API and the pages."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ringfence.store import Store, ingest_files
from ringfence.store.ingest import IngestReport

from . import audit
from .accounts import Caller


def case_page(
    store: Store,
    caller: Caller,
    limit: int,
    offset: int,
    district: str | None = None,
    classification: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the last run's cases (newest first) and how many there are; the page is
    written to the audit trail as read by `caller`."""
    where, params = ["1 = 1"], []
    if district:
        where.append("p.district = ?")
        params.append(district)
    if classification:
        where.append("c.classification = ?")
        params.append(classification)
    clause = " AND ".join(where)
    # Persons are joined only to filter by district: a city has millions of them.
    counted = "cases c LEFT JOIN persons p USING (person_id)" if district else "cases c"
    total = int(store.fetchall(f"SELECT count(*) FROM {counted} WHERE {clause}", params)[0][0])
    items = store.fetch_records(
        "SELECT c.case_id, c.person_id, c.confirmed_at, c.classification, c.origin, "
        "c.variant, c.severity, c.found_by, p.district FROM cases c LEFT JOIN persons p "
        f"USING (person_id) WHERE {clause} ORDER BY c.confirmed_at DESC, c.case_id "
        f"LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    audit.record(store, caller, "read", "cases", [str(i["case_id"]) for i in items])
    return items, total


def case_with_contacts(
    store: Store, caller: Caller, case_id: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A case and the people traced as its contacts, earlier cases left out (None if there
    is no such case); both reads are written to the audit trail."""
    found = store.fetch_records("SELECT * FROM cases WHERE case_id = ?", (case_id,))
    if not found:
        return None, []
    # Someone who was a case already when this one was confirmed is not its contact.
    contacts = store.fetch_records(
        "SELECT k.person_id, k.kind, k.first_exposure, k.last_exposure, k.minutes, k.place_ids "
        "FROM contacts k LEFT JOIN cases own ON own.person_id = k.person_id "
        "WHERE k.case_person_id = ? AND (own.confirmed_at IS NULL OR own.confirmed_at > ?) "
        "ORDER BY k.person_id, k.kind",
        (found[0]["person_id"], found[0]["confirmed_at"]),
    )
    audit.record(store, caller, "read", "cases", [case_id])
    audit.record(store, caller, "read", "contacts", [str(c["person_id"]) for c in contacts])
    return found[0], contacts


def case_graph(
    store: Store, person_id: str, contacts: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Cytoscape elements for one case: the earlier cases that exposed it, the case, and
    the people it exposed (cases among them marked)."""
    sources = store.fetch_records(
        "SELECT k.case_person_id, k.kind FROM contacts k JOIN cases c ON c.person_id = "
        "k.case_person_id JOIN cases own ON own.person_id = k.person_id WHERE k.person_id = ? "
        "AND c.confirmed_at < own.confirmed_at ORDER BY 1, 2",
        (person_id,),
    )
    people = {person_id} | {str(s["case_person_id"]) for s in sources}
    people |= {str(c["person_id"]) for c in contacts}
    cases = {
        str(r[0]) for r in store.fetchall("SELECT person_id FROM cases") if str(r[0]) in people
    }
    nodes = [
        {"data": {"id": p, "label": p, "type": "case" if p in cases else "contact",
                  "focus": "yes" if p == person_id else "no"}}
        for p in sorted(people)
    ]  # fmt: skip
    edges = [
        {"data": {"id": f"{s['case_person_id']}>{person_id}:{s['kind']}",
                  "source": str(s["case_person_id"]), "target": person_id, "kind": s["kind"]}}
        for s in sources
    ] + [
        {"data": {"id": f"{person_id}>{c['person_id']}:{c['kind']}", "source": person_id,
                  "target": str(c["person_id"]), "kind": c["kind"]}}
        for c in contacts
    ]  # fmt: skip
    return {"nodes": nodes, "edges": edges}


def ingest_batch(store: Store, caller: Caller, kind: str, name: str, data: bytes) -> IngestReport:
    """Ingest one batch (the bytes of a file named `name`) with the command line's checks,
    as `caller`; a batch that stored something is written to the audit trail."""
    with tempfile.TemporaryDirectory(prefix="rf-ingest-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        report = ingest_files(store, kind, [path], write_rejects=False, actor=caller.actor)
    if report.added:
        audit.record(store, caller, "write", kind, [f"batch:{report.batch_id}"])
    return report


def rows_as_jsonl(rows: Iterable[Any]) -> bytes:
    """Rows as JSON Lines: row N of the batch is line N of its report."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


class NotRecorded(ValueError):
    """Rows a page or the API writes that the ingest checks refused (the first reason)."""


def record_rows(store: Store, caller: Caller, kind: str, rows: list[dict[str, Any]]) -> None:
    """Store rows written by a person through the app, with the same checks as any ingest;
    nothing is stored if a row is refused."""
    report = ingest_batch(store, caller, kind, f"{kind}.jsonl", rows_as_jsonl(rows))
    if report.rejected_count:
        reason = report.rejections[0]
        raise NotRecorded(f"not recorded: {reason.field}: {reason.reason}")


def record_action(store: Store, caller: Caller, kind: str, target: str, reason: str) -> str:
    """Record an action by `caller` now (confirm, override, release, reopen, note) about
    `target` (an order id, a person or a place), with its reason; returns its id."""
    action_id = f"{kind}-{uuid.uuid4().hex}"
    record_rows(store, caller, "actions", [{
        "action_id": action_id, "at": datetime.now(UTC).isoformat(), "actor": caller.actor,
        "kind": kind, "target": target, "reason": reason,
    }])  # fmt: skip
    return action_id


def actions_about(store: Store, targets: Iterable[str]) -> list[dict[str, Any]]:
    """The actions recorded about any of `targets` (orders, a person, a place), newest first."""
    wanted = sorted(set(targets))
    if not wanted:
        return []
    marks = ", ".join("?" * len(wanted))
    return store.fetch_records(
        f'SELECT action_id, "at", actor, kind, target, reason FROM actions '
        f'WHERE target IN ({marks}) ORDER BY "at" DESC, action_id',
        wanted,
    )
