"""Ingest: read, check, deduplicate and append event rows as one atomic batch.

The steps of one call, all inside one transaction:
1. read each file in bounded chunks, with the physical line of every row (`readers`);
2. type and check every row in one vectorised query (`checks`);
3. stage the valid rows in the store, then, set by set: a key already stored (or earlier in
   this call) with the same content is a duplicate and is skipped; with other content it is
   a conflict and is refused, the stored row kept; a reference to an unknown row is refused;
4. append what is left, record the batch, and commit.
A failure or a kill before the commit leaves the database exactly as it was.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from ringfence.schema import EVENT_TABLES, Reference, Table, ingest_order
from ringfence.schema import table as schema_table

from .backends import Store
from .checks import CheckSettings, check_query
from .dialect import BATCH_COLUMN, column_list, create_table_sql, q
from .errors import UsageError
from .readers import (
    CHUNK,
    LINE,
    SPAN,
    Chunk,
    FileProblem,
    detect_format,
    original_rows,
    read_chunks,
)

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all files) as the ingest advances."""

MAX_KEPT_REJECTIONS = 100_000
"""Beyond this many refused rows in one call, they are counted but not listed one by one."""
FLUSH_ROWS = 25_000_000
"""Valid rows staged before they are judged against the store. Each judgement scans the
stored table once, so fewer, larger rounds are faster; the stage spills to disk, so memory
stays bounded either way."""
SEQ_STRIDE = 1 << 40
"""`_seq` = file index × stride + line: unique within a call, ordered like the input."""
LAB_KINDS = ("fhir", "hl7")
CONCURRENT_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class Rejection:
    """A refused row (or file): where, which field, why, and the row as it was written."""

    file: str
    location: str
    field: str
    reason: str
    row: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.location}: {self.field}: {self.reason}"


@dataclass
class IngestReport:
    """What one ingest call did."""

    kind: str
    files: list[str]
    batch_id: int | None = None
    rows_read: int = 0
    added: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejects_files: list[Path] = field(default_factory=list)
    reasons_beyond_rows: int = 0
    """Reasons beyond the first of refused rows (a row may fail several checks)."""

    @property
    def exit_code(self) -> int:
        """0 when nothing was refused, 1 when some rows (or files) were."""
        return 1 if self.rejected_count else 0

    def reject(self, rejection: Rejection, *, new_row: bool = True) -> None:
        """Record a refusal; `new_row` is False for a further reason of a row already counted."""
        self.rejected_count += new_row
        self.reasons_beyond_rows += not new_row
        if len(self.rejections) < MAX_KEPT_REJECTIONS:
            self.rejections.append(rejection)


@dataclass(frozen=True)
class Source:
    """One input of a table: a file read in chunks, or rows taken from lab messages."""

    name: str
    chunks: Callable[[], Iterator[Chunk]]
    locations: dict[int, str] | None = None
    """For lab messages, the location text ("entry 3") of each synthetic line number."""
    originals: Callable[[dict[int, int]], dict[int, str]] | None = None
    size: int = 0


def default_settings(
    store: Store,
    *,
    clock: datetime | None = None,
    timezone: str | None = None,
    future_tolerance: timedelta = timedelta(hours=1),
) -> CheckSettings:
    """Check settings from the store's recorded time zone and the wall clock."""
    return CheckSettings(
        timezone=timezone or store.timezone,
        clock=clock or datetime.now(UTC),
        future_tolerance=future_tolerance,
    )


def ingest_files(
    store: Store,
    kind: str,
    paths: Iterable[Path],
    *,
    settings: CheckSettings | None = None,
    progress: Progress | None = None,
    rejects_dir: Path | None = None,
    actor: str | None = None,
    write_rejects: bool = True,
) -> IngestReport:
    """Ingest event files of one `kind` (an event table, or `fhir` / `hl7` lab messages).

    Valid rows of all files commit together; refused rows are listed in the report and,
    with their original text, in `<file stem>.rejects.csv` next to each input (or in
    `rejects_dir`). Raises `UsageError` for an unknown kind or a missing file.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise UsageError("no files given")
    for path in paths:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    settings = settings or default_settings(store)
    if kind not in LAB_KINDS:
        _event_table(kind)
    refused_messages: list[Rejection] = []
    attempt = 0
    while True:
        run = _Ingestion(store, settings, kind, paths, progress, actor)
        sources_by_table, problems = _sources(kind, paths, {r.file for r in refused_messages})
        for rejection in (*problems, *refused_messages):
            run.report.reject(rejection)
        try:
            run.run(sources_by_table, whole_messages=kind in LAB_KINDS)
        except _MessagesRefused as refused:
            refused_messages.extend(refused.rejections)  # rolled back; again without them
            continue
        except Exception as exc:
            # Another process stored the same keys first: ours rolled back; do it again and
            # they are found as already stored.
            attempt += 1
            if attempt < CONCURRENT_WRITE_ATTEMPTS and store.is_concurrent_write(exc):
                continue
            raise
        break
    order = {str(p): i for i, p in enumerate(paths)}
    run.report.rejections.sort(key=lambda r: (order.get(r.file, 0), _location_order(r.location)))
    if write_rejects:
        run.report.rejects_files = write_rejects_files(run.report, paths, rejects_dir)
    return run.report


def _sources(
    kind: str, paths: list[Path], excluded: set[str]
) -> tuple[dict[str, list[Source]], list[Rejection]]:
    if kind in LAB_KINDS:
        from .lab_ingest import lab_sources

        return lab_sources(kind, [p for p in paths if str(p) not in excluded])
    table = _event_table(kind)
    return {table.name: [_file_source(p, table) for p in paths]}, []


class _MessagesRefused(Exception):
    """Some rows of lab messages were refused: those whole messages must store nothing."""

    def __init__(self, rejections: list[Rejection]) -> None:
        super().__init__(f"{len(rejections)} refusals in lab messages")
        self.rejections = rejections


def _location_order(location: str) -> tuple[int, str]:
    digits = "".join(ch for ch in location if ch.isdigit())
    return (int(digits) if digits else 0, location)


def _event_table(kind: str) -> Table:
    names = [t.name for t in EVENT_TABLES]
    if kind not in names:
        raise UsageError(f"unknown kind {kind!r}; use one of: {', '.join([*names, *LAB_KINDS])}")
    return schema_table(kind)


def _file_source(path: Path, table: Table) -> Source:
    try:
        fmt = detect_format(path)
    except FileProblem as problem:
        raise UsageError(f"{path}: {problem.reason}") from None
    return Source(
        name=str(path),
        chunks=lambda: read_chunks(path, table, fmt),
        originals=lambda wanted: original_rows(path, fmt, wanted),
        size=path.stat().st_size,
    )


class _Ingestion:
    """One ingest call: its batch, its counters and its rejections."""

    def __init__(
        self,
        store: Store,
        settings: CheckSettings,
        kind: str,
        paths: list[Path],
        progress: Progress | None,
        actor: str | None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.progress = progress
        self.actor = actor
        self.report = IngestReport(kind, [str(p) for p in paths])
        self.started = datetime.now(UTC)

    def run(self, sources_by_table: dict[str, list[Source]], *, whole_messages: bool) -> None:
        """Ingest every table in one transaction. With `whole_messages`, a lab message with
        any refused row raises `_MessagesRefused` (rolling everything back) instead: a
        pooled result stored without one of its samples would mislead."""
        tables = ingest_order([schema_table(name) for name in sources_by_table])
        total = sum(s.size for sources in sources_by_table.values() for s in sources)
        self.bytes_total = max(total, 1)
        self.bytes_before = 0
        already_refused = len(self.report.rejections)
        with self.store.transaction():
            self.report.batch_id = self.store.next_batch_id()
            for table in tables:
                _TableIngestion(self, table, sources_by_table[table.name]).run()
            new = self.report.rejections[already_refused:]
            if whole_messages and new:
                raise _MessagesRefused(
                    [
                        Rejection(
                            r.file,
                            r.location,
                            r.field,
                            r.reason + "; nothing from this message was stored",
                            r.row,
                        )
                        for r in new
                    ]
                )
            self._record_batch()

    def advance(self, done_in_file: int) -> None:
        if self.progress is not None:
            self.progress(min(self.bytes_before + done_in_file, self.bytes_total), self.bytes_total)

    def _record_batch(self) -> None:
        r = self.report
        self.store.execute(
            "INSERT INTO ingest_batches (batch_id, kind, files, started_at, committed_at, "
            "rows_read, rows_added, rows_duplicate, rows_rejected, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                r.batch_id,
                r.kind,
                json.dumps([Path(f).name for f in r.files]),
                self.started,
                datetime.now(UTC),
                r.rows_read,
                r.added,
                r.duplicates,
                r.rejected_count,
                self.actor,
            ],
        )


class _TableIngestion:
    """The rows of one table within an ingest call: staged, settled set by set, appended."""

    def __init__(self, run: _Ingestion, table: Table, sources: list[Source]) -> None:
        self.call = run
        self.store = run.store
        self.table = table
        self.sources = sources
        self.stage = f"_rf_stage_{table.name}"
        self.pending = f"_rf_pending_{table.name}"
        self.verdict = f"_rf_verdict_{table.name}"
        self.checked = f"_rf_checked_{table.name}"
        self.staged_rows = 0
        self.keep_existing = table.name == "persons" and run.report.kind in LAB_KINDS
        self.wanted: dict[int, dict[int, int]] = {}
        self.mine: list[tuple[int, int, int]] = []
        """(position in the report, source index, line) of the rejections made here."""

    # -- the steps --------------------------------------------------------------------
    def run(self) -> None:
        # The work tables are temporary and created inside the transaction: a failure rolls
        # them back with everything else, so they are dropped only on the way to a commit.
        self._create_work_tables()
        for index, source in enumerate(self.sources):
            self._read_source(index, source)
            self.call.bytes_before += source.size
        self._settle()
        self._settle_pending()
        self._attach_original_rows()
        self._drop_work_tables()

    def _create_work_tables(self) -> None:
        extra = f"{q('_file')} INTEGER, {q(LINE)} BIGINT, {q(SPAN)} INTEGER, {q('_seq')} BIGINT"
        extra += self.store.stage_extra_columns()
        for name in (self.stage, self.pending):
            self.store.execute(
                create_table_sql(
                    self.table, self.store.dialect, temporary=True, name=name, extra=extra
                )
            )
        self.store.execute(
            f"CREATE TEMPORARY TABLE {q(self.verdict)} ({q('_seq')} BIGINT, "
            "verdict VARCHAR, field VARCHAR, detail VARCHAR)"
        )

    def _drop_work_tables(self) -> None:
        for name in (self.stage, self.pending, self.verdict):
            self.store.execute(f"DROP TABLE IF EXISTS {q(name)}")
        self.store.drop_checked(self.checked)

    def _read_source(self, index: int, source: Source) -> None:
        try:
            chunks = source.chunks()
            for chunk in chunks:
                self._check_chunk(index, source, chunk)
                self.call.advance(chunk.bytes_done)
                if self.staged_rows >= FLUSH_ROWS:
                    self._settle()
        except FileProblem as problem:
            self.call.report.reject(
                Rejection(
                    source.name,
                    str(problem.line),
                    problem.field,
                    problem.reason + "; nothing in this file was stored",
                )
            )

    def _check_chunk(self, index: int, source: Source, chunk: Chunk) -> None:
        report = self.call.report
        report.rows_read += chunk.data.num_rows + len(chunk.problems)
        for problem in chunk.problems:
            self._reject(index, source, problem.line, problem.span, problem.field, problem.reason)
        if chunk.data.num_rows == 0:
            return
        query = check_query(self.table, CHUNK, chunk.data.schema, self.call.settings)
        checked = (
            f"SELECT {column_list(list(self.table.column_names))}, "
            f"CAST({index} AS INTEGER) AS _file, {q(LINE)}, {q(SPAN)}, "
            f"CAST({index} AS BIGINT) * {SEQ_STRIDE} + {q(LINE)} AS _seq, _errors FROM ({query})"
        )
        first_seq = index * SEQ_STRIDE + chunk.data.column(LINE)[0].as_py()
        refused = self.store.stage_checked(chunk.data, checked, self.stage, self.checked, first_seq)
        previous = None
        for line, span, field_name, reason in refused:
            self._reject(index, source, line, span, field_name, reason, new_row=line != previous)
            previous = line
        self.staged_rows += chunk.data.num_rows - len({r[0] for r in refused})

    def _settle(self, *, final: bool = False) -> None:
        """Decide staged rows set by set (duplicates, conflicts, references), append the rest."""
        if not self.staged_rows and not final:
            return
        # References first: a row refused for an unknown reference is not the first occurrence
        # of its key, so a later row with the same key is judged on its own.
        self._judge_references(final=final)
        self._judge_keys()
        self._append_and_collect()
        self.staged_rows = 0

    def _settle_pending(self) -> None:
        """Rows whose parent (same table) came later: retry until no more can be placed."""
        while True:
            waiting = self._count(self.pending)
            if not waiting:
                return
            self._move(self.pending, self.stage)
            self.staged_rows = waiting
            self._settle()
            if self._count(self.pending) == waiting:
                self._move(self.pending, self.stage)
                self.staged_rows = waiting
                self._settle(final=True)
                return

    # -- set-based judgements (portable SQL: DuckDB and PostgreSQL) --------------------
    def _key_match(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{q(k)} = {b}.{q(k)}" for k in self.table.key)

    def _content_differs(self, a: str, b: str) -> str:
        if self.keep_existing or not self.table.non_key:
            return "FALSE"
        return " OR ".join(f"{a}.{q(c)} IS DISTINCT FROM {b}.{q(c)}" for c in self.table.non_key)

    def _judge_keys(self) -> None:
        key_names = ", ".join(self.table.key)
        differs = self._content_differs("s", "t")
        stored = q(self.table.name)
        self.store.execute(
            f"INSERT INTO {q(self.verdict)} SELECT s._seq, CASE WHEN {differs} THEN 'conflict' "
            f"ELSE 'duplicate' END, '{key_names}', CASE WHEN t.{q(BATCH_COLUMN)} = "
            f"{self.call.report.batch_id} THEN 'earlier in this ingest' ELSE 'already stored' END "
            f"FROM {q(self.stage)} s JOIN {stored} t ON {self._key_match('s', 't')}"
        )
        keys = column_list(list(self.table.key))
        differs = self._content_differs("s", "f")
        # Repeated keys are rare: find them with one grouping, then join only those back.
        self.store.execute(
            f"INSERT INTO {q(self.verdict)} SELECT s._seq, CASE WHEN {differs} THEN 'conflict' "
            f"ELSE 'duplicate' END, '{key_names}', 'line ' || CAST(f.{q(LINE)} AS VARCHAR) "
            f"FROM (SELECT {keys}, min(_seq) AS first_seq FROM {q(self.stage)} x WHERE NOT EXISTS "
            f"(SELECT 1 FROM {q(self.verdict)} v WHERE v._seq = x._seq) GROUP BY {keys} "
            f"HAVING count(*) > 1) m "
            f"JOIN {q(self.stage)} s ON {self._key_match('s', 'm')} AND s._seq <> m.first_seq "
            f"AND NOT EXISTS (SELECT 1 FROM {q(self.verdict)} v WHERE v._seq = s._seq "
            f"AND v.verdict IN ('reference', 'pending')) "
            f"JOIN {q(self.stage)} f ON f._seq = m.first_seq"
        )

    def _judge_references(self, *, final: bool) -> None:
        for reference in self.table.references:
            self_reference = reference.table == self.table.name
            verdict = "pending" if self_reference and not final else "reference"
            column, target = q(reference.column), q(reference.target)
            # A batch that leaves the column empty (results of single samples name no pool)
            # has nothing to look up: skip the scan of the referenced table.
            if not self._count(self.stage, f"WHERE {column} IS NOT NULL"):
                continue
            # An anti-join written as LEFT JOIN … IS NULL: DuckDB then builds its hash table on
            # the staged rows and streams the referenced table past it, where NOT EXISTS had it
            # hash a million samples for a batch of a thousand results. Every row of the stage
            # without a match comes out once, as with NOT EXISTS.
            self.store.execute(
                f"INSERT INTO {q(self.verdict)} SELECT s._seq, '{verdict}', "
                f"'{reference.column}', CAST(s.{column} AS VARCHAR) "
                f"FROM {q(self.stage)} s LEFT JOIN {q(reference.table)} r ON r.{target} = "
                f"s.{column} WHERE s.{column} IS NOT NULL AND r.{target} IS NULL"
            )

    def _append_and_collect(self) -> None:
        verdict, stage = q(self.verdict), q(self.stage)
        columns = column_list(list(self.table.column_names))
        undecided = f"NOT EXISTS (SELECT 1 FROM {verdict} v WHERE v._seq = s._seq)"
        added = self._count(self.stage, f"s WHERE {undecided}")
        self.store.execute(
            f"INSERT INTO {q(self.table.name)} ({columns}, {q(BATCH_COLUMN)}) "
            f"SELECT {column_list(list(self.table.column_names), 's')}, "
            f"{self.call.report.batch_id} FROM {stage} s WHERE {undecided}"
        )
        refused = "v.verdict IN ('conflict', 'reference')"
        self.store.execute(
            f"INSERT INTO {q(self.pending)} SELECT s.* FROM {stage} s WHERE EXISTS (SELECT 1 FROM "
            f"{verdict} v WHERE v._seq = s._seq AND v.verdict = 'pending') AND NOT EXISTS "
            f"(SELECT 1 FROM {verdict} v WHERE v._seq = s._seq AND v.verdict <> 'pending')"
        )
        duplicates = self._count(
            self.stage,
            f"s WHERE EXISTS (SELECT 1 FROM {verdict} v WHERE "
            f"v._seq = s._seq AND v.verdict = 'duplicate') AND NOT "
            f"EXISTS (SELECT 1 FROM {verdict} v WHERE v._seq = s._seq "
            f"AND {refused})",
        )
        rows = self.store.fetchall(
            f"SELECT s._file, s.{q(LINE)}, s.{q(SPAN)}, v.verdict, v.field, v.detail "
            f"FROM {verdict} v JOIN {stage} s ON v._seq = s._seq WHERE {refused} "
            f"ORDER BY s._seq, v.verdict, v.field"
        )
        self.call.report.added += added
        self.call.report.duplicates += duplicates
        seen: set[tuple[int, int]] = set()
        for file_index, line, span, kind, field_name, detail in rows:
            if (file_index, line) in seen:
                continue  # one reason per refused row is enough: the first decides
            seen.add((file_index, line))
            source = self.sources[file_index]
            self._reject(
                file_index, source, line, span, field_name, self._reason(kind, field_name, detail)
            )
        # TRUNCATE empties a work table at once; DELETE would visit all its rows.
        self.store.execute(f"TRUNCATE {verdict}")
        self.store.execute(f"TRUNCATE {stage}")

    def _reason(self, kind: str, field_name: str, detail: str | None) -> str:
        if kind == "conflict":
            if detail == "already stored":
                return (
                    f"a row with the same key ({field_name}) is already stored with different "
                    "content; the stored row is kept"
                )
            if detail == "earlier in this ingest":
                return (
                    f"a row with the same key ({field_name}) came earlier in this ingest with "
                    "different content; the earlier row is kept"
                )
            return (
                f"{detail} has the same key ({field_name}) with different content; {detail} is kept"
            )
        reference = next(r for r in self.table.references if r.column == field_name)
        return f"unknown {_singular(reference)} {detail!r}"

    # -- helpers ----------------------------------------------------------------------
    def _count(self, name: str, where: str = "") -> int:
        return int(self.store.fetchall(f"SELECT count(*) FROM {q(name)} {where}")[0][0])

    def _move(self, source: str, target: str) -> None:
        self.store.execute(f"INSERT INTO {q(target)} SELECT * FROM {q(source)}")
        self.store.execute(f"TRUNCATE {q(source)}")

    def _reject(
        self,
        index: int,
        source: Source,
        line: int,
        span: int,
        field_name: str,
        reason: str,
        *,
        new_row: bool = True,
    ) -> None:
        location = source.locations.get(line, str(line)) if source.locations else str(line)
        report = self.call.report
        before = len(report.rejections)
        report.reject(Rejection(source.name, location, field_name, reason), new_row=new_row)
        if len(report.rejections) > before:
            self.mine.append((before, index, line))
        self.wanted.setdefault(index, {})[line] = span

    def _attach_original_rows(self) -> None:
        """Add the original text to each refusal, reading each input again at most once."""
        report = self.call.report
        texts: dict[int, dict[int, str]] = {}
        for index, wanted in self.wanted.items():
            originals = self.sources[index].originals
            texts[index] = originals(wanted) if originals is not None else {}
        for position, index, line in self.mine:
            text = texts.get(index, {}).get(line)
            if text is not None:
                r = report.rejections[position]
                report.rejections[position] = Rejection(r.file, r.location, r.field, r.reason, text)


_REFERENCE_NOUNS = {
    ("persons", "person_id"): "person",
    ("places", "place_id"): "place",
    ("samples", "sample_id"): "sample",
    ("samples", "pool_id"): "pool",
}


def _singular(reference: Reference) -> str:
    return _REFERENCE_NOUNS.get((reference.table, reference.target), reference.table)


def write_rejects_files(
    report: IngestReport, paths: list[Path], rejects_dir: Path | None
) -> list[Path]:
    """Write `<stem>.rejects.csv` (line, field, reason, row) for each input with refusals.

    Two inputs of one call with the same stem (visits.csv, visits.parquet) keep their whole
    names (`visits.csv.rejects.csv`), so neither overwrites the other.

    A stale rejects file of an input that now has none is removed, so what is on disk always
    describes the latest call.
    """
    written = []
    by_file: dict[str, list[Rejection]] = {}
    for rejection in report.rejections:
        by_file.setdefault(rejection.file, []).append(rejection)
    targets = [rejects_path(p, rejects_dir) for p in paths]
    for path, target in zip(paths, targets, strict=True):
        if targets.count(target) > 1:  # visits.csv and visits.parquet in one call
            target = target.with_name(path.name + ".rejects.csv")
        rejections = by_file.get(str(path), [])
        if not rejections:
            if target.exists():
                target.unlink()
            continue
        with open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "field", "reason", "row"])
            for r in rejections:
                writer.writerow([r.location, r.field, r.reason, r.row or ""])
            unlisted = report.rejected_count + report.reasons_beyond_rows - len(report.rejections)
            if unlisted > 0:
                writer.writerow(["", "", f"{unlisted} more refusals are not listed", ""])
        written.append(target)
    return written


def rejects_path(path: Path, rejects_dir: Path | None = None) -> Path:
    """Where the refused rows of `path` are written: `visits-0115.csv` →
    `visits-0115.rejects.csv`, next to it or in `rejects_dir`."""
    name = path.stem + ".rejects.csv"
    return (rejects_dir or path.parent) / name


def arrow_source(
    name: str, data: pa.Table, locations: dict[int, str], originals: dict[int, str]
) -> Source:
    """A source of rows already in memory (lab messages): `_line` indexes `locations`."""
    return Source(
        name=name,
        chunks=lambda: iter([Chunk(data, [], 0)]),
        locations=locations,
        originals=lambda wanted: {line: originals[line] for line in wanted if line in originals},
    )
