"""The audit trail: every read and write of personal data, who, when, which rows.

Append-only: the application only inserts into it; `ringfence audit` reads it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ringfence.store import Store
from ringfence.store.dialect import q
from ringfence.store.migrations import AUDIT_TABLE

from .accounts import Caller


def record(store: Store, caller: Caller, action: str, resource: str,
           keys: Sequence[str]) -> None:  # fmt: skip
    """Record that `caller` did `action` ("read" or "write") on rows `keys` of `resource`."""
    with store.transaction():
        store.execute(
            f"INSERT INTO {AUDIT_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, datetime.now(UTC), caller.actor, caller.role, action, resource,
             json.dumps(list(keys))),
        )  # fmt: skip


def read_trail(store: Store, actor: str | None = None, resource: str | None = None,
               row_key: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:  # fmt: skip
    """The latest audit rows, newest first, optionally of one actor, one resource, or those
    that touched one row key (a person id, a case id)."""
    where, params = [], []
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if resource:
        where.append("resource = ?")
        params.append(resource)
    if row_key:
        where.append("row_keys LIKE ?")
        params.append("%" + json.dumps(row_key) + "%")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.fetch_records(
        f"SELECT {q('at')}, actor, {q('role')}, {q('action')}, resource, row_keys FROM "
        f"{AUDIT_TABLE} {clause} ORDER BY {q('at')} DESC LIMIT {int(limit)}",
        params,
    )
    for row in rows:
        row["row_keys"] = json.loads(row["row_keys"])
    return rows
