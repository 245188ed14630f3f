"""The API's lists at a million persons: a page near the end of a list against the first
page, with keyset cursors (what the API does) and with OFFSET (what a list paged by page
number does), on the cycled store of bench/report.py.

Usage: ``python bench/lists.py STORE.duckdb [--repeats 5] [--markdown FILE]`` where STORE is
the cycled DuckDB store that ``python bench/report.py`` builds (bench/data/stores/report-*.duckdb).
The store is opened read-only; the audit rows the API would write are not written here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from ringfence.store import Store, open_store
from ringfence.store.dialect import column_list, q
from ringfence.web.listings import LISTINGS, Listing, encode_cursor

PAGE = 100


def keyset_page(store: Store, listing: Listing, after: dict[str, Any] | None) -> int:
    """One page as the API reads it: the rows after a key, in key order (no audit row)."""
    where, params = ([f"({listing.where})"] if listing.where else []), []
    if after is not None:
        where.append(f"({column_list(listing.key)}) > ({', '.join('?' * len(listing.key))})")
        params = [after[k] for k in listing.key]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return len(store.fetchall(
        f"SELECT {column_list(listing.columns)} FROM {q(listing.table)} {clause} "
        f"ORDER BY {column_list(listing.key)} LIMIT {PAGE}", params,
    ))  # fmt: skip


def offset_page(store: Store, listing: Listing, offset: int) -> int:
    """The same page found by counting past the rows before it."""
    clause = f"WHERE {listing.where}" if listing.where else ""
    return len(store.fetchall(
        f"SELECT {column_list(listing.columns)} FROM {q(listing.table)} {clause} "
        f"ORDER BY {column_list(listing.key)} LIMIT {PAGE} OFFSET {offset}"
    ))  # fmt: skip


def timed(repeats: int, call: Any) -> float:
    """The median of `repeats` runs of `call`, in milliseconds (after one untimed run)."""
    call()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        runs.append((time.perf_counter() - started) * 1_000)
    return statistics.median(runs)


def main() -> None:
    """Time each list's first page and a page near its end, both ways; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    lines = [
        "| list | rows | first page ms | keyset page near the end ms | OFFSET page near the end "
        "ms | OFFSET ÷ keyset |",
        "|---|---|---|---|---|---|",
    ]
    with open_store(args.store, read_only=True) as store:
        for name in ("contacts", "orders", "closures", "test_plans"):
            listing = LISTINGS[name]
            clause = f"WHERE {listing.where}" if listing.where else ""
            rows = int(store.fetchall(f"SELECT count(*) FROM {q(listing.table)} {clause}")[0][0])
            deep = max(0, rows - 2 * PAGE)
            found = store.fetch_records(
                f"SELECT {column_list(listing.key)} FROM {q(listing.table)} {clause} "
                f"ORDER BY {column_list(listing.key)} LIMIT 1 OFFSET {deep}"
            )
            after = found[0] if found else None
            first = timed(args.repeats, partial(keyset_page, store, listing, None))
            near_end = timed(args.repeats, partial(keyset_page, store, listing, after))
            counted = timed(args.repeats, partial(offset_page, store, listing, deep + 1))
            assert after is None or encode_cursor(listing, after)  # the API's cursor exists
            lines.append(f"| {name} | {rows:,} | {first:.1f} | {near_end:.1f} | {counted:.1f} "
                         f"| {counted / near_end:.1f} |")  # fmt: skip
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
