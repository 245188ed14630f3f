"""The decision tables as pages of rows: filters on the columns people look rows up by, and
keyset pagination, so that page ten thousand of a city's contacts costs what page one does.

A page ends with an opaque cursor (`next`): the key of its last row. The next page is the
rows after that key in key order, found through the key's index on PostgreSQL, never by
counting past the rows before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ringfence.control.why import last_run
from ringfence.schema import TABLES, ColumnType
from ringfence.store import Store
from ringfence.store.dialect import column_list, q

from . import audit
from .accounts import Caller


class BadCursor(ValueError):
    """A cursor this server did not give (or gave for another list)."""


@dataclass(frozen=True)
class Listing:
    """One list the API serves: which rows of which decision table, in which order."""

    table: str
    key: tuple[str, ...]
    filters: tuple[str, ...]
    """Columns a caller may filter on, by equality."""
    where: str = ""
    """A condition every row of the list meets (closures are the orders of places)."""
    states: Mapping[str, str] = field(default_factory=dict)
    """`state=NAME` → its condition; a `?` in it is the last cycle run's instant."""
    personal: tuple[str, ...] = ()
    """The columns naming whose data a row is (its reads go to the audit trail)."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of a row, as the schema orders them."""
        return tuple(c.name for c in TABLES[self.table].columns)


LISTINGS: dict[str, Listing] = {
    "contacts": Listing(
        "contacts",
        key=("person_id", "case_person_id", "kind"),
        filters=("person_id", "case_person_id", "kind"),
        personal=("person_id", "case_person_id"),
    ),
    "orders": Listing(
        "orders",
        key=("order_id",),
        filters=("person_id", "kind", "rule"),
        where="person_id IS NOT NULL",
        states={"open": "released_at IS NULL", "released": "released_at IS NOT NULL"},
        personal=("person_id",),
    ),
    "closures": Listing(
        "orders",
        key=("order_id",),
        filters=("place_id",),
        where="kind = 'closure'",
        states={"open": "released_at IS NULL", "released": "released_at IS NOT NULL"},
    ),
    "risk_areas": Listing(
        "risk_areas",
        key=("area_id", "start"),
        filters=("area_id", "level"),
        states={"in_force": f"{q('end')} IS NULL OR {q('end')} > ?", "ended": f"{q('end')} <= ?"},
    ),
    "test_plans": Listing(
        "test_plans",
        key=("plan_id",),
        filters=("date", "person_id", "purpose", "pool_id", "place_id"),
        personal=("person_id",),
    ),
}
"""Every list of the API by its route name."""


@dataclass(frozen=True)
class Page:
    """Rows of a list, and the cursor of the next page (None after the last)."""

    items: list[dict[str, Any]]
    next: str | None


def list_rows(
    store: Store,
    caller: Caller,
    listing: Listing,
    filters: Mapping[str, Any],
    state: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Page:
    """One page of `listing`: the rows matching `filters` (None: any) and `state`, after the
    row whose cursor is `after`, in key order. Personal rows read are audited."""
    where = [f"({listing.where})"] if listing.where else []
    params: list[Any] = []
    for column, value in filters.items():
        if column not in listing.filters:
            raise ValueError(f"{listing.table} cannot be filtered by {column}")
        if value is not None:
            where.append(f"{q(column)} = ?")
            params.append(value)
    if state is not None:
        condition = listing.states[state]
        where.append(f"({condition})")
        params.extend([last_run(store).as_of] * condition.count("?"))
    if after is not None:
        key = decode_cursor(listing, after)
        where.append(f"({column_list(listing.key)}) > ({', '.join('?' * len(key))})")
        params.extend(key)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.fetch_records(
        f"SELECT {column_list(listing.columns)} FROM {q(listing.table)} {clause} "
        f"ORDER BY {column_list(listing.key)} LIMIT {int(limit) + 1}",
        params,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if listing.personal:
        people = sorted({str(r[c]) for r in rows for c in listing.personal})
        audit.record(store, caller, "read", listing.table, people)
    following = encode_cursor(listing, rows[-1]) if more and rows else None
    return Page(rows, following)


def encode_cursor(listing: Listing, row: Mapping[str, Any]) -> str:
    """The cursor that continues after `row`: its key, as URL-safe text."""
    values = [_plain(row[column]) for column in listing.key]
    text = json.dumps([listing.table, *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(listing: Listing, cursor: str) -> list[Any]:
    """The key a cursor holds, typed as the key's columns are."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise BadCursor("the cursor is not one this server gave") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != len(listing.key) + 1
        or decoded[0] != listing.table
        or not all(isinstance(v, str) for v in decoded[1:])
    ):
        raise BadCursor("the cursor is not one this server gave for this list")
    types = {c.name: c.type for c in TABLES[listing.table].columns}
    try:
        pairs = zip(listing.key, decoded[1:], strict=True)
        return [_typed(types[column], value) for column, value in pairs]
    except ValueError:
        raise BadCursor("the cursor is not one this server gave for this list") from None


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _typed(kind: ColumnType, value: str) -> Any:
    if kind is ColumnType.INSTANT:
        return datetime.fromisoformat(value)
    if kind is ColumnType.DATE:
        return date.fromisoformat(value)
    return value
