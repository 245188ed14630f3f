"""The `ringfence` command: create a database, ingest events, look at and export what is stored.

Every command takes `--db` (default `./ringfence.duckdb` or `$RINGFENCE_DB`; a
`postgresql://` URL selects PostgreSQL). Errors are one clear line on standard error and no
traceback unless `--debug` is given. Exit status: 0 fine, 1 rows refused or the database
refused the call, 2 a usage error.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ringfence.control import run_cycle
from ringfence.control.why import explain_person, follow_up
from ringfence.protocol import Protocol, ProtocolError, load_protocol, preset_names
from ringfence.schema import EVENT_TABLES, TABLES
from ringfence.store import (
    EXPORT_FORMATS,
    CheckSettings,
    StoreError,
    UsageError,
    default_settings,
    export_table,
    ingest_files,
    open_store,
)
from ringfence.store.backends import Store
from ringfence.store.ingest import LAB_KINDS, IngestReport

from .output import (
    print_cycle_report,
    print_follow_up,
    print_ingest_report,
    print_protocol,
    print_protocol_diff,
    print_status,
    progress_bar,
)

app = typer.Typer(
    name="ringfence",
    help="Epidemic prevention and control: from events to cases, contacts and orders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="RINGFENCE_DB",
        show_envvar=True,
        help="Database: a DuckDB file path or a postgresql:// URL [default: ./ringfence.duckdb]",
    ),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")]
EVENT_KINDS = [t.name for t in EVENT_TABLES]
T = TypeVar("T")


@contextmanager
def _errors_as_lines(debug: bool) -> Iterator[None]:
    """Turn a known error into one line on stderr and an exit status (2 for usage errors)."""
    try:
        yield
    except typer.Exit:
        raise
    except UsageError as exc:
        if debug:
            raise
        err.print(f"ringfence: error: {exc}", markup=False)
        raise typer.Exit(2) from None
    except StoreError as exc:
        if debug:
            raise
        err.print(f"ringfence: error: {exc}", markup=False)
        raise typer.Exit(1) from None
    except BrokenPipeError:
        # The reader went away (`ringfence export … | head`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        err.print("ringfence: interrupted; nothing of the unfinished step was stored")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"ringfence: unexpected error: {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback)",
            markup=False,
        )
        raise typer.Exit(1) from None


def _run(debug: bool, step: Callable[[], T]) -> T:
    with _errors_as_lines(debug):
        return step()


@app.command()
def init(
    db: DbOption = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="The jurisdiction's time zone: naive instants in inputs are read in it "
            "[default: Asia/Shanghai]. A database keeps the zone it was created with."
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Create a database (or bring an older one up to date).

    Example: ringfence init --db outbreak.duckdb --timezone Asia/Shanghai
    """

    def step() -> None:
        if timezone is not None:
            _check_timezone(timezone)
        with open_store(db, create=True, timezone=timezone) as store:
            if timezone is not None and store.timezone != timezone:
                raise StoreError(
                    f"{store.url.masked} already reads naive times in {store.timezone}; a "
                    "database keeps its time zone (use `ingest --timezone` for a file written "
                    "in another zone)"
                )
            out.print(
                f"ringfence database ready: {store.url.masked} (schema version "
                f"{store.schema_version}, time zone {store.timezone})",
                markup=False,
            )

    _run(debug, step)


@app.command()
def ingest(
    kind: Annotated[
        str,
        typer.Argument(
            help=f"An event table ({', '.join(EVENT_KINDS)}) or lab "
            f"messages ({', '.join(LAB_KINDS)})."
        ),
    ],
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CSV (with a header row), Parquet or JSON Lines files; FHIR JSON or HL7 files."
        ),
    ],
    db: DbOption = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="The ingest clock (ISO 8601); events later "
            "than it plus the tolerance are refused "
            "[default: now]."
        ),
    ] = None,
    future_tolerance: Annotated[
        int,
        typer.Option(
            help="Minutes an event may lie in the future of the ingest clock (device clocks drift)."
        ),
    ] = 60,
    timezone: Annotated[
        str | None,
        typer.Option(help="Read naive instants in this time zone instead of the database's."),
    ] = None,
    rejects_dir: Annotated[
        Path | None,
        typer.Option(help="Write <file>.rejects.csv here instead of next to each input."),
    ] = None,
    show: Annotated[
        int, typer.Option(help="Refused rows to list on stderr (all are in the rejects file).")
    ] = 1000,
    debug: DebugOption = False,
) -> None:
    """Validate event files and store their valid rows as one atomic batch.

    Each refused row is reported as FILE:LINE: FIELD: REASON and written, with the original
    row, to FILE's .rejects.csv. The same rows twice store nothing new. Exit status 0 when
    nothing was refused, 1 when some rows were, 2 on a usage error.

    Example: ringfence ingest visits scans-2022-01-15.csv scans-2022-01-16.parquet
    """

    def step() -> IngestReport:
        if kind not in EVENT_KINDS and kind not in LAB_KINDS:
            raise UsageError(
                f"unknown kind {kind!r}; use one of: {', '.join([*EVENT_KINDS, *LAB_KINDS])}"
            )
        if timezone is not None:
            _check_timezone(timezone)
        # A database this call creates takes --timezone as its own; an existing one keeps
        # its zone, and --timezone only says how to read this call's files.
        with open_store(db, create=True, timezone=timezone) as store:
            settings = _settings(store, now, timezone, future_tolerance)
            with progress_bar(err, f"ingest {kind}") as advance:
                report = ingest_files(
                    store,
                    kind,
                    files,
                    settings=settings,
                    progress=advance,
                    rejects_dir=rejects_dir,
                    actor=_actor(),
                )
            print_ingest_report(report, out, err, show=show)
            return report

    report = _run(debug, step)
    raise typer.Exit(report.exit_code)


@app.command()
def status(db: DbOption = None, debug: DebugOption = False) -> None:
    """Rows per table, schema version, time zone and the latest ingests.

    Example: ringfence status --db postgresql://user@host/outbreak
    """

    def step() -> None:
        with open_store(db, read_only=True) as store:
            print_status(store, out)

    _run(debug, step)


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="Any event or decision table.")],
    db: DbOption = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="csv, parquet or jsonl [default: from --out, else csv]"
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Write a table as CSV, Parquet or JSON Lines (instants in local time with offset).

    Example: ringfence export cases --format parquet --out cases.parquet
    """

    def step() -> None:
        fmt = format or _format_from_name(out_file) or "csv"
        if table not in TABLES:
            raise UsageError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
        if fmt not in EXPORT_FORMATS:
            raise UsageError(f"unknown format {fmt!r}; use one of: {', '.join(EXPORT_FORMATS)}")
        if fmt == "parquet" and out_file is None and sys.stdout.isatty():
            raise UsageError("Parquet is binary: give --out FILE or redirect standard output")
        with open_store(db, read_only=True) as store:
            if out_file is None:
                export_table(store, table, fmt, sys.stdout.buffer)
                sys.stdout.buffer.flush()
                return
            partial = out_file.with_name(out_file.name + ".partial")
            with open(partial, "wb") as handle:
                rows = export_table(store, table, fmt, handle)
            partial.replace(out_file)  # readers never see a half-written export
            err.print(f"{rows:,} rows of {table} written to {out_file}", markup=False)

    _run(debug, step)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the event files to.")],
    persons: Annotated[int, typer.Option(help="People in the synthetic city.")] = 10_000,
    days: Annotated[int, typer.Option(help="Days of activity.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same files.")] = 1,
    visits_per_day: Annotated[float, typer.Option(help="Visits per person per day.")] = 1.0,
    format: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    debug: DebugOption = False,
) -> None:
    """Write a larger consistent event set for tests and benchmarks.

    Example: ringfence generate --persons 1000000 --days 10 --format parquet --out city/
    """
    from ringfence.examples.generate import generate as generate_files

    def step() -> None:
        if format not in ("csv", "parquet"):
            raise UsageError(f"unknown format {format!r}; use csv or parquet")
        if persons < 1 or days < 1:
            raise UsageError("--persons and --days must be at least 1")
        out_dir.mkdir(parents=True, exist_ok=True)
        with progress_bar(err, "generate") as advance:

            def report(table: str, done: int, total: int) -> None:
                advance(done, total)

            counts = generate_files(
                out_dir,
                persons=persons,
                days=days,
                seed=seed,
                visits_per_person_day=visits_per_day,
                fmt=format,  # type: ignore[arg-type]
                progress=report,
            )
        for name, rows in counts.items():
            out.print(f"{name}: {rows:,} rows", markup=False)

    _run(debug, step)


@app.command()
def demo(
    db: Annotated[
        str, typer.Option("--db", help="Where to build the demo database (replaced if it exists).")
    ] = "ringfence-demo.duckdb",
    serve: Annotated[
        bool, typer.Option("--serve", help="Then add demo users and serve the web app.")
    ] = False,
    port: Annotated[int, typer.Option(help="The port to serve on (with --serve).")] = 8000,
    debug: DebugOption = False,
) -> None:
    """Build a demo database from the bundled example (a closed loop and a city district)
    and run the control cycle on it; with --serve, add a demo user of every role and serve
    the web app, printing the address and the users' password.

    Example: ringfence demo --serve
    """
    from ringfence.examples import EXAMPLE_AS_OF, EXAMPLE_PROTOCOL, EXAMPLE_TABLES, example_dir

    def step() -> None:
        _remove_duckdb_file(db)
        directory = example_dir()
        with open_store(db, create=True) as store:
            settings = default_settings(store)
            for kind in EXAMPLE_TABLES:
                path = directory / f"{kind}.csv"
                report = ingest_files(
                    store, kind, [path], settings=settings, write_rejects=False, actor="demo"
                )
                if report.rejected_count:
                    for rejection in report.rejections[:20]:
                        err.print(str(rejection), markup=False)
                    raise StoreError(f"the bundled example {kind} has refused rows")
            protocol = load_protocol(EXAMPLE_PROTOCOL)
            with progress_bar(err, "control cycle", steps=True) as advance:
                decided = run_cycle(
                    store, protocol, EXAMPLE_AS_OF, lambda _n, i, total: advance(i, total)
                )
            print_status(store, out)
            print_cycle_report(decided, protocol, out)
        if not serve:
            out.print(
                f"\nExplore it: ringfence why F012 --db {db}; ringfence follow-up --db {db}; "
                f"ringfence bulletin --db {db}; ringfence sitrep --db {db} --out sitrep.html; "
                f"ringfence demo --serve",
                markup=False,
            )
            return
        import secrets

        from ringfence.web.accounts import ROLES, add_user

        password = secrets.token_urlsafe(12)
        with open_store(db) as store:
            for role in ROLES:
                if role != "public":
                    add_user(store, role, role, password, DEMO_MEMBER if role == "member" else None)
            users = ", ".join(r for r in ROLES if r != "public")
            out.print(
                f"\nDemo users: {users} (each named after its role; the member is person "
                f"{DEMO_MEMBER}); password for all: {password}",
                markup=False,
            )
            _serve(store, "127.0.0.1", port)

    _run(debug, step)


DEMO_MEMBER = "F012"
"""The person the demo's member user is: a close contact in the bundled example."""


def _serve(store: Store, host: str, port: int, workers: int = 1) -> None:
    """Serve the web app over `store` until interrupted; with PostgreSQL, from `workers`
    processes, each with its own connection."""
    import uvicorn

    from ringfence.web import create_app
    from ringfence.web.serving import DATABASE_VARIABLE

    if workers > 1 and store.url.backend != "postgresql":
        raise UsageError(
            "a DuckDB file has one writer, so one process serves it: --workers needs a "
            "postgresql:// database"
        )
    out.print(
        f"ringfence serving {store.url.masked} at http://{host}:{port}/"
        + (f" from {workers} processes" if workers > 1 else ""),
        markup=False,
    )
    if workers == 1:
        uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
        return
    os.environ[DATABASE_VARIABLE] = store.url.target
    store.close()  # each worker opens its own connection
    uvicorn.run("ringfence.web.serving:app_from_environment", factory=True, host=host,
                port=port, workers=workers, log_level="warning")  # fmt: skip


protocol_app = typer.Typer(
    name="protocol",
    help="Protocols as data: list the presets, show one's parameters, compare two, check a file.",
    no_args_is_help=True,
)
app.add_typer(protocol_app)
ProtocolOption = Annotated[
    str,
    typer.Option(
        "--protocol", help="A preset name (see `ringfence protocol list`) or a protocol TOML file."
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Decide from the events known at this instant (ISO 8601; a time without an "
        "offset is the protocol's local time) [default: now].",
    ),
]


def _protocol(name: str) -> Protocol:
    try:
        return load_protocol(name)
    except ProtocolError as exc:
        raise UsageError(str(exc)) from None


@protocol_app.command("list")
def protocol_list(debug: DebugOption = False) -> None:
    """The presets shipped with ringfence.

    Example: ringfence protocol list
    """

    def step() -> None:
        for name in preset_names():
            out.print(f"{name}: {load_protocol(name).title}", markup=False)

    _run(debug, step)


@protocol_app.command("show")
def protocol_show(
    name: Annotated[str, typer.Argument(help="A preset name or a protocol TOML file.")],
    debug: DebugOption = False,
) -> None:
    """Every parameter of a protocol with its value, description and source.

    Example: ringfence protocol show beijing-2022-loop
    """

    def step() -> None:
        print_protocol(_protocol(name), out)

    _run(debug, step)


@protocol_app.command("diff")
def protocol_diff_command(
    first: Annotated[str, typer.Argument(help="A preset name or a protocol file.")],
    second: Annotated[str, typer.Argument(help="Another preset name or protocol file.")],
    debug: DebugOption = False,
) -> None:
    """What changes from one protocol to another, parameter by parameter.

    Example: ringfence protocol diff zero-covid-2022 class-b-2023
    """

    def step() -> None:
        print_protocol_diff(_protocol(first), _protocol(second), out)

    _run(debug, step)


@protocol_app.command("check")
def protocol_check(
    path: Annotated[Path, typer.Argument(help="A protocol TOML file.")],
    debug: DebugOption = False,
) -> None:
    """Validate a protocol file: every key known, every value possible.

    Example: ringfence protocol check my-city.toml
    """

    def step() -> None:
        protocol = _protocol(str(path))
        out.print(
            f"{path}: valid protocol {protocol.name!r} ({len(protocol.amendments)} "
            f"amendments, fingerprint {protocol.fingerprint()})",
            markup=False,
        )

    _run(debug, step)


@app.command()
def cycle(
    db: DbOption = None,
    protocol: ProtocolOption = "zero-covid-2022",
    as_of: AsOfOption = None,
    engine: Annotated[
        str,
        typer.Option(help="Where the cycle runs: `db` (the database), `spark` (Apache Spark "
                     "over the Parquet lake given by --lake), or a Spark URL "
                     "(spark://host:7077, sc://host:15002 for Spark Connect, k8s://...)."),
    ] = "db",
    lake: Annotated[
        str | None,
        typer.Option(help="With --engine spark: the folder or URL (hdfs://, s3a://) of the "
                     "Parquet event files; the decisions are written back under it."),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(envvar="RINGFENCE_SPARK_MASTER", show_envvar=True,
                     help="With --engine spark: local[N], spark://host:7077, yarn, k8s://..., "
                     "or sc://host:15002 (a Spark Connect server) [default: local[2]]"),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Run the control cycle: cases, contacts, orders, closures, risk areas, test plans.

    Example: ringfence cycle --as-of 2022-01-20T16:00 --protocol zero-covid-2022
    Example: ringfence cycle --engine spark --lake lake/ --as-of 2022-01-20T16:00
    Example: ringfence cycle --engine sc://spark-connect:15002 --lake s3a://city/lake/
    """

    def step() -> None:
        chosen = _protocol(protocol)
        moment = _as_of(as_of, chosen.timezone)
        kind, master = ("spark", engine) if "://" in engine else (engine, spark_master)
        if kind not in ("db", "spark"):
            raise UsageError(f"unknown engine {engine!r}; use db, spark or a Spark URL")
        if (kind == "spark") != (lake is not None):
            raise UsageError("--engine spark reads the Parquet lake given by --lake, and "
                             "--lake needs --engine spark")  # fmt: skip
        target: Any
        with contextlib.ExitStack() as stack:
            if lake is not None:
                from ringfence.store.lake import SparkLake, spark_session

                err.print("starting Apache Spark …", markup=False)
                target = stack.enter_context(SparkLake(lake, spark_session(master)))
            else:
                target = stack.enter_context(open_store(db))
            advance = stack.enter_context(progress_bar(err, "control cycle", steps=True))
            report = run_cycle(target, chosen, moment, lambda _n, i, total: advance(i, total))
        print_cycle_report(report, chosen, out)
        if lake is not None:
            out.print(f"decisions written to {lake}/decisions/run-{report.run_id:06d}",
                      markup=False)  # fmt: skip

    _run(debug, step)


@app.command(name="lake")
def lake_export(
    folder: Annotated[Path, typer.Argument(help="The folder to write the lake to.")],
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Write every event table of the database as Parquet (TABLE.parquet, UTC instants): the
    checked events as a lake for `ringfence cycle --engine spark`.

    Example: ringfence lake lake/ && ringfence cycle --engine spark --lake lake/
    """

    def step() -> None:
        from ringfence.store.lake import export_lake

        with open_store(db, read_only=True) as store:
            written = export_lake(store, folder)
        total = sum(written.values())
        err.print(f"{total:,} event rows in {len(written)} tables written to {folder}",
                  markup=False)  # fmt: skip

    _run(debug, step)


@app.command()
def why(
    person: Annotated[str, typer.Argument(help="A person id.")],
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Every decision about a person, with its rule, protocol parameter, source and evidence.

    Example: ringfence why F012
    """

    def step() -> None:
        with open_store(db, read_only=True) as store:
            for line in explain_person(store, person):
                out.print(line, markup=False)

    _run(debug, step)


REPORT_FORMATS = ("json", "markdown", "html", "pdf")
ReportFormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", "-f",
        help="json, markdown, html or pdf [default: from --out, else markdown]",
    ),
]  # fmt: skip
ReportOutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write here instead of standard output."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Count cumulative totals (and loop totals) from this day, YYYY-MM-DD "
        "[default: the first case; a loop's first arrival or test].",
    ),
]
ReportAsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The moment of the cycle run to report on; it must be the last run "
        "[default: the last run's].",
    ),
]
ReportProtocolOption = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        help="The protocol to read the decisions with [default: the last cycle run's].",
    ),
]


def _report_format(fmt: str | None, out_file: Path | None) -> str:
    suffixes = {".json": "json", ".md": "markdown", ".html": "html", ".htm": "html",
                ".pdf": "pdf"}  # fmt: skip
    chosen = fmt or (suffixes.get(out_file.suffix.lower()) if out_file else None) or "markdown"
    if chosen not in REPORT_FORMATS:
        raise UsageError(f"unknown format {chosen!r}; use one of: {', '.join(REPORT_FORMATS)}")
    if chosen == "pdf" and out_file is None and sys.stdout.isatty():
        raise UsageError("PDF is binary: give --out FILE or redirect standard output")
    return chosen


def _since(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r} is not a date (YYYY-MM-DD)") from None


def _report_as_of(text: str | None, protocol: Protocol | None) -> datetime | None:
    """`--as-of` read in the protocol's zone (the presets' zone when none is given)."""
    if text is None:
        return None
    return _as_of(text, protocol.timezone if protocol else "Asia/Shanghai")


def _write_report(content: str | bytes, out_file: Path | None, what: str) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    if out_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    partial = out_file.with_name(out_file.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out_file)  # readers never see a half-written report
    err.print(f"{what} written to {out_file}", markup=False)


@app.command()
def bulletin(
    db: DbOption = None,
    as_of: ReportAsOfOption = None,
    since: SinceOption = None,
    format: ReportFormatOption = None,
    out_file: ReportOutOption = None,
    protocol: ReportProtocolOption = None,
    debug: DebugOption = False,
) -> None:
    """The daily bulletin for the 24 hours ending at the protocol's cut-off hour: new and
    cumulative cases, isolation, quarantine, contacts, risk areas, closures, testing, Rt and
    each closed loop. Aggregates only: it can be published as it is.

    Example: ringfence bulletin --as-of 2022-01-20T16:00 --format pdf --out bulletin.pdf
    """
    from ringfence.report import daily_bulletin, render_bulletin

    def step() -> None:
        fmt = _report_format(format, out_file)
        chosen = _protocol(protocol) if protocol else None
        with open_store(db, read_only=True) as store:
            made = daily_bulletin(store, _report_as_of(as_of, chosen), _since(since), chosen)
        _write_report(render_bulletin(made, fmt), out_file, f"bulletin ({fmt})")

    _run(debug, step)


@app.command()
def sitrep(
    db: DbOption = None,
    as_of: ReportAsOfOption = None,
    since: SinceOption = None,
    format: ReportFormatOption = None,
    out_file: ReportOutOption = None,
    protocol: ReportProtocolOption = None,
    max_graph_nodes: Annotated[
        int, typer.Option(help="Draw contacts in the chain graph only below this many nodes.")
    ] = 2_000,
    debug: DebugOption = False,
) -> None:
    """The situation report: the bulletin with epi curves, Rt over time, tests, the census of
    people confined, loop charts and the transmission chains. For staff: the chains name
    cases by their ids. HTML opens offline; Markdown written to a file gets SVG charts
    beside it.

    Example: ringfence sitrep --format html --out sitrep.html
    """
    from ringfence.report import render_sitrep, situation_report

    def step() -> None:
        fmt = _report_format(format, out_file)
        chosen = _protocol(protocol) if protocol else None
        with open_store(db, read_only=True) as store:
            report = situation_report(
                store, _report_as_of(as_of, chosen), _since(since), chosen, max_graph_nodes
            )
        _write_report(render_sitrep(report, fmt, out_file), out_file, f"situation report ({fmt})")

    _run(debug, step)


@app.command()
def linelist(
    kind: Annotated[str, typer.Argument(help="cases or contacts")],
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="The file to write (.csv, .xlsx or .parquet).")
    ],
    db: DbOption = None,
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="csv, xlsx or parquet [default: from --out]"),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Write the line list of cases or contacts of the last cycle run as CSV, XLSX or
    Parquet: one row per case or contact, instants in UTC, no names or phone numbers.

    Example: ringfence linelist cases --out cases.xlsx
    """
    from ringfence.control.why import last_run
    from ringfence.report.linelists import write_line_list
    from ringfence.web.accounts import Caller
    from ringfence.web.audit import record

    def step() -> None:
        with open_store(db) as store:
            rows = write_line_list(store, kind, out_file, format)
            # A line list is personal data leaving the database: who took which, when.
            run = last_run(store).run_id
            record(store, Caller(f"cli:{_actor() or 'unknown'}", "cli"), "read", kind,
                   [f"line list: all {rows} rows of cycle run {run}"])  # fmt: skip
        err.print(f"{rows:,} rows of the {kind} line list written to {out_file}", markup=False)

    _run(debug, step)


@app.command()
def simulate(
    scenario: Annotated[
        str, typer.Argument(help="A bundled scenario (city-small, loop-small, homogeneous) or "
                            "a scenario TOML file.")
    ],
    protocols: Annotated[
        list[str] | None,
        typer.Option("--protocol", "-p", help="A protocol to try (preset or file); repeat to "
                     "compare several; `none` is no control at all [default: none]."),
    ] = None,
    runs: Annotated[int, typer.Option(min=1, max=1_000, help="Seeds per protocol.")] = 1,
    seed: Annotated[int, typer.Option(help="The first seed (then seed+1, ...).")] = 1,
    persons: Annotated[
        int | None, typer.Option(min=10, help="Override the scenario's population.")
    ] = None,
    days: Annotated[int | None, typer.Option(min=1, help="Override the scenario's days.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report: .html or .json.")
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Try protocols on the digital twin: the same control cycle that runs the outbreak,
    inside a simulated city or loop, several seeds each, with what each costs and prevents.

    Example: ringfence simulate city-small -p none -p zero-covid-2022 --runs 5 -o compare.html
    """
    import dataclasses
    import json

    from ringfence.twin import ScenarioError, load_scenario
    from ringfence.twin.compare import METRICS, NO_CONTROL, compare

    def step() -> None:
        # Refused before the runs, not after them: nothing computed is thrown away.
        if out_file is not None and out_file.suffix not in (".json", ".html", ".htm"):
            raise UsageError(f"--out {out_file}: write .html or .json")
        try:
            chosen = load_scenario(scenario)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        chosen = dataclasses.replace(
            chosen, persons=persons or chosen.persons, days=days or chosen.days
        )
        names = protocols or [NO_CONTROL]
        loaded = [None if n == NO_CONTROL else _protocol(n) for n in names]
        total = len(loaded) * runs * chosen.days
        done = [0]
        with progress_bar(err, "simulate", steps=True) as advance:

            def tick(name: str, run_seed: int, day: int, days_: int) -> None:
                done[0] += 1
                advance(done[0], total)

            result = compare(chosen, loaded, runs, seed, tick)
        spread = result.spread()
        for name in result.protocols:
            out.print(f"{name}:", markup=False)
            for key, label in METRICS:
                cell = spread[name][key]
                shown = "never" if cell["mean"] is None else (
                    f"{cell['mean']:,.1f} ({cell['low']:,.0f}–{cell['high']:,.0f})")
                out.print(f"  {label}: {shown}", markup=False)
        if out_file is not None:
            if out_file.suffix == ".json":
                out_file.write_text(json.dumps(result.to_json(), indent=2) + "\n")
            elif out_file.suffix in (".html", ".htm"):
                out_file.write_text(result.to_html(), encoding="utf-8")
            else:
                raise UsageError(f"--out {out_file}: write .html or .json")
            err.print(f"report written to {out_file}", markup=False)

    _run(debug, step)


user_app = typer.Typer(
    name="user", help="Users of the web app: add, remove, issue and revoke tokens.",
    no_args_is_help=True,
)  # fmt: skip
app.add_typer(user_app)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, epidemiologist, tracer, lab, site, loop_manager, analyst or member"
        ),
    ],
    person: Annotated[
        str | None, typer.Option(help="For a member: the person id they are.")
    ] = None,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Add a user; the password is asked for (or read from $RINGFENCE_PASSWORD).

    Example: ringfence user add wang --role epidemiologist
    """
    from ringfence.web.accounts import add_user

    def step() -> None:
        password = os.environ.get("RINGFENCE_PASSWORD") or typer.prompt(
            "password", hide_input=True, confirmation_prompt=True
        )
        with open_store(db) as store:
            add_user(store, username, role, password, person)
        err.print(f"user {username} added as {role}", markup=False)

    _run(debug, step)


@user_app.command("remove")
def user_remove(
    username: Annotated[str, typer.Argument(help="The login name.")],
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Remove a user: their sessions and tokens end at once.

    Example: ringfence user remove wang
    """
    from ringfence.web.accounts import remove_user

    def step() -> None:
        with open_store(db) as store:
            remove_user(store, username)
        err.print(f"user {username} removed; their sessions and tokens are revoked", markup=False)

    _run(debug, step)


@user_app.command("token")
def user_token(
    username: Annotated[str, typer.Argument(help="The user the machine client acts as.")],
    scopes: Annotated[str, typer.Option(help="What the token is for (free text).")] = "",
    revoke: Annotated[
        str | None, typer.Option(help="Revoke the token with this id instead.")
    ] = None,
    db: DbOption = None,
    debug: DebugOption = False,
) -> None:
    """Issue a bearer token for a machine client (shown once), or revoke one.

    Example: ringfence user token lab-ditan --scopes results
    """
    from ringfence.web.accounts import issue_token, revoke_token

    def step() -> None:
        with open_store(db) as store:
            if revoke:
                revoke_token(store, revoke)
                err.print(f"token {revoke} revoked", markup=False)
                return
            out.print(issue_token(store, username, scopes), markup=False)

    _run(debug, step)


@app.command()
def audit(
    db: DbOption = None,
    actor: Annotated[str | None, typer.Option(help="Only this user's reads and writes.")] = None,
    resource: Annotated[str | None, typer.Option(help="Only this table.")] = None,
    row: Annotated[str | None, typer.Option(help="Only those that touched this key.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    debug: DebugOption = False,
) -> None:
    """Who read or wrote which personal data, and when (the web app's audit trail).

    Example: ringfence audit --row F012
    """
    from ringfence.web.audit import read_trail

    def step() -> None:
        with open_store(db, read_only=True) as store:
            for r in read_trail(store, actor, resource, row, limit):
                keys = ", ".join(r["row_keys"][:10]) + (" …" if len(r["row_keys"]) > 10 else "")
                out.print(f"{r['at'].isoformat()} {r['actor']} ({r['role']}) {r['action']} "
                          f"{r['resource']}: {keys}", markup=False)  # fmt: skip

    _run(debug, step)


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes (PostgreSQL only).")
    ] = 1,
    debug: DebugOption = False,
) -> None:
    """Serve the web app's API (OpenAPI at /docs). With DuckDB the server is the database's
    single writer while it runs; PostgreSQL can be served by several processes at once.

    Example: ringfence serve --db postgresql://ringfence@db/outbreak --workers 4
    """

    def step() -> None:
        with open_store(db) as store:
            _serve(store, host, port, workers)

    _run(debug, step)


@app.command("follow-up")
def follow_up_command(
    db: DbOption = None,
    day: Annotated[
        str | None, typer.Option("--date", help="The day (YYYY-MM-DD) [default: the last run's].")
    ] = None,
    debug: DebugOption = False,
) -> None:
    """The tracers' list for a day: whom to call, test or release, and why.

    Example: ringfence follow-up --date 2022-01-20
    """

    def step() -> None:
        wanted = None
        if day is not None:
            try:
                wanted = date.fromisoformat(day)
            except ValueError:
                raise UsageError(f"--date {day!r} is not a date (YYYY-MM-DD)") from None
        with open_store(db, read_only=True) as store:
            print_follow_up(follow_up(store, wanted), out)

    _run(debug, step)


# -- helpers ----------------------------------------------------------------------------


def _settings(
    store: Store, now: str | None, timezone: str | None, tolerance_minutes: int
) -> CheckSettings:
    if tolerance_minutes < 0:
        raise UsageError("--future-tolerance must be zero or more minutes")
    clock = None
    if now is not None:
        try:
            clock = datetime.fromisoformat(now)
        except ValueError:
            raise UsageError(f"--now {now!r} is not an ISO 8601 instant") from None
        if clock.tzinfo is None:
            from zoneinfo import ZoneInfo

            clock = clock.replace(tzinfo=ZoneInfo(timezone or store.timezone))
        clock = clock.astimezone(UTC)
    if timezone is not None:
        _check_timezone(timezone)
    return default_settings(
        store, clock=clock, timezone=timezone, future_tolerance=timedelta(minutes=tolerance_minutes)
    )


def _as_of(text: str | None, timezone: str) -> datetime:
    from zoneinfo import ZoneInfo

    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not an ISO 8601 instant") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from None


def _format_from_name(path: Path | None) -> str | None:
    if path is None:
        return None
    return {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(
        path.suffix.lower()
    )


def _remove_duckdb_file(db: str) -> None:
    if db.startswith(("postgresql://", "postgres://")):
        raise UsageError("the demo builds a DuckDB file; give --db a file path")
    for suffix in ("", ".wal"):
        Path(db + suffix).unlink(missing_ok=True)


def _actor() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def main() -> None:
    """Entry point of the `ringfence` console script."""
    app()
