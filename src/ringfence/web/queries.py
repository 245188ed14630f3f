"""Reads shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from ringfence.store import Store

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
    total = int(
        store.fetchall(
            f"SELECT count(*) FROM cases c LEFT JOIN persons p USING (person_id) WHERE {clause}",
            params,
        )[0][0]
    )
    items = store.fetch_records(
        "SELECT c.case_id, c.person_id, c.confirmed_at, c.classification, c.origin, "
        "c.variant, c.severity, c.found_by, p.district FROM cases c LEFT JOIN persons p "
        f"USING (person_id) WHERE {clause} ORDER BY c.confirmed_at DESC, c.case_id "
        f"LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
    )
    audit.record(store, caller, "read", "cases", [str(i["case_id"]) for i in items])
    return items, total
