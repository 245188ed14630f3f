"""What the command line prints: ingest reports, status tables, progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from ringfence.control import CycleReport
from ringfence.control.why import FollowUp
from ringfence.protocol import Protocol, parameter_rows, protocol_diff
from ringfence.store.backends import Store
from ringfence.store.ingest import IngestReport


@contextmanager
def progress_bar(
    console: Console, label: str, *, steps: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on `console` (only on a terminal); yields `advance(done, total)`.
    It counts bytes, or with `steps` the steps of a process."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if steps else DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def print_ingest_report(report: IngestReport, out: Console, err: Console, *, show: int) -> None:
    """Refused rows on stderr (at most `show`), then a one-line summary on stdout."""
    for rejection in report.rejections[:show]:
        err.print(str(rejection), markup=False)
    reasons = report.rejected_count + report.reasons_beyond_rows
    hidden = reasons - min(show, len(report.rejections))
    if hidden > 0:
        err.print(f"... and {hidden:,} more refusals", markup=False)
    for path in report.rejects_files:
        err.print(f"refused rows with their original text: {path}", markup=False)
    out.print(
        f"{report.kind}: {_rows(report.rows_read)} read, {report.added:,} added, "
        f"{report.duplicates:,} already stored, {report.rejected_count:,} refused "
        f"(batch {report.batch_id})",
        markup=False,
    )


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def print_status(store: Store, out: Console) -> None:
    """The database, its schema version and time zone, rows per table, the latest ingests."""
    out.print(f"database: {store.url.masked}", markup=False)
    out.print(f"schema version: {store.schema_version}; time zone: {store.timezone}", markup=False)
    counts = Table(title="rows per table", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, rows in store.row_counts().items():
        counts.add_row(name, f"{rows:,}")
    out.print(counts)
    batches = store.fetchall(
        "SELECT batch_id, kind, rows_added, rows_duplicate, rows_rejected, committed_at "
        "FROM ingest_batches ORDER BY batch_id DESC LIMIT 5"
    )
    if batches:
        latest = Table(title="latest ingests", title_justify="left")
        zone = ZoneInfo(store.timezone)
        for name in (
            "batch",
            "kind",
            "added",
            "already stored",
            "refused",
            f"committed ({store.timezone})",
        ):
            latest.add_column(name)
        for batch_id, kind, added, duplicate, rejected, committed in batches:
            latest.add_row(
                str(batch_id),
                kind,
                f"{added:,}",
                f"{duplicate:,}",
                f"{rejected:,}",
                committed.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            )
        out.print(latest)


def _key_column(keys: Iterable[str]) -> Column:
    # Values such as "[restaurant, market]" are text, not markup, and a dotted key is never
    # cut: someone will copy it into a protocol file.
    return Column("parameter", no_wrap=True, min_width=max((len(k) for k in keys), default=9))


def print_protocol(protocol: Protocol, out: Console) -> None:
    """A protocol's title, description and every parameter with its value and source."""
    out.print(f"{protocol.name}: {protocol.title}", markup=False)
    if protocol.description:
        out.print(" ".join(protocol.description.split()), markup=False)
    out.print(f"time zone {protocol.timezone}; fingerprint {protocol.fingerprint()}", markup=False)
    for amendment in protocol.amendments:
        changes = ", ".join(f"{k} = {v}" for k, v in amendment.changes.items())
        out.print(f"from {amendment.effective}: {changes} ({amendment.reason})", markup=False)
    rows = parameter_rows(protocol)
    table = Table(_key_column(r[0] for r in rows), "value", "what it means", "source")
    for key, value, description, source in rows:
        table.add_row(Text(key), Text(value), Text(description), Text(source))
    out.print(table)


def print_protocol_diff(first: Protocol, second: Protocol, out: Console) -> None:
    """The parameters whose values differ between two protocols."""
    changes = protocol_diff(first, second)
    if not changes:
        out.print(
            f"{first.name} and {second.name} decide alike: no parameter differs", markup=False
        )
        return
    table = Table(_key_column(c[0] for c in changes), first.name, second.name)
    for key, left, right in changes:
        table.add_row(Text(key), Text(left), Text(right))
    out.print(table)
    out.print(f"{len(changes)} parameters differ", markup=False)


def print_cycle_report(report: CycleReport, protocol: Protocol, out: Console) -> None:
    """One line per decision table, then the run."""
    zone = ZoneInfo(protocol.timezone)
    table = Table("decisions", "rows")
    for name, count in report.counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(
        f"cycle run {report.run_id}: as of {report.as_of.astimezone(zone).isoformat()} under "
        f"{report.protocol} ({report.fingerprint}) in {report.seconds:.2f} s",
        markup=False,
    )


def print_follow_up(items: list[FollowUp], out: Console) -> None:
    """The tracers' list: person, what to do, why."""
    if not items:
        out.print("nobody to call, test or release", markup=False)
        return
    table = Table("person", "do", "why")
    for item in items:
        table.add_row(item.person_id, item.action, item.why)
    out.print(table)
    out.print(f"{len(items):,} tasks", markup=False)
