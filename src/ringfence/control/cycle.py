"""The control cycle: a pure function of (events up to `as_of`, protocol) → decisions.

Each step is an Ibis expression over the store's tables; the runner compiles it to the SQL
of the store's engine and keeps its result in a temporary table for the steps after it.
The decision tables are replaced in one transaction, and the run is recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from typing import Protocol as Interface

import ibis
import ibis.expr.types as ir

from ringfence.protocol import PARAMETERS, Protocol
from ringfence.schema import TABLES
from ringfence.store import Store
from ringfence.store.migrations import RUNS_TABLE
from ringfence.store.runs import RunRecord

from . import alerts, areas, cases, orders, plans, tracing
from .context import Context, epoch_text, first_per, json_text

Progress = Callable[[str, int, int], None]

BASE_STEPS = 22
"""Steps every run takes; same-space tracing adds 2, secondary tracing 3."""


@dataclass
class CycleReport:
    """What a run decided: counts per decision table, and how long each step took."""

    run_id: int
    as_of: datetime
    protocol: str
    fingerprint: str
    counts: dict[str, int]
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """The whole run, in seconds."""
        return sum(self.step_seconds.values())


def sql_dialect(store: Store) -> str:
    """The name Ibis gives the SQL dialect of the store's engine."""
    return "postgres" if store.dialect.name == "postgresql" else "duckdb"


class ComputeEngine(Interface):
    """Where the cycle's SQL runs and its decisions are kept: a database (`StoreEngine`), or
    Apache Spark over a Parquet lake (`ringfence.store.lake.SparkLake`).

    The cycle itself is engine-free: Ibis expressions compiled to `sql_dialect`. An engine
    only keeps a step's rows for the next steps, replaces a decision table, and records runs.
    """

    sql_dialect: str

    def keep(self, table: str, sql: str) -> None:
        """Run `sql` and keep its rows as `table` for the later steps of this run."""

    def drop(self, table: str) -> None:
        """Forget a kept table."""

    def replace(self, name: str, columns: list[str], sql: str) -> None:
        """Make the rows of `sql` the decision table `name` (committed with the run)."""

    def count(self, name: str) -> int:
        """Rows in decision table `name` as this run replaced it."""

    def next_run_id(self) -> int:
        """The id the next run gets."""

    def record_run(self, run: RunRecord) -> None:
        """Record the run (the last write of a run: a run exists once recorded)."""

    def transaction(self) -> AbstractContextManager[None]:
        """A run's decisions and its record commit together or not at all."""


class StoreEngine:
    """The cycle in a ringfence database (DuckDB or PostgreSQL): steps kept in temporary
    tables, decisions replaced and the run recorded in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sql_dialect = sql_dialect(store)

    def keep(self, table: str, sql: str) -> None:
        self.store.execute(f"DROP TABLE IF EXISTS {table}")
        self.store.execute(f"CREATE TEMP TABLE {table} AS {sql}")

    def drop(self, table: str) -> None:
        self.store.execute(f"DROP TABLE IF EXISTS {table}")

    def replace(self, name: str, columns: list[str], sql: str) -> None:
        quoted = ", ".join(f'"{c}"' for c in columns)
        self.store.execute(f'DELETE FROM "{name}"')
        self.store.execute(f'INSERT INTO "{name}" ({quoted}) {sql}')

    def count(self, name: str) -> int:
        return int(self.store.fetchall(f'SELECT count(*) FROM "{name}"')[0][0])

    def next_run_id(self) -> int:
        return int(
            self.store.fetchall(f"SELECT coalesce(max(run_id), 0) + 1 FROM {RUNS_TABLE}")[0][0]
        )

    def record_run(self, run: RunRecord) -> None:
        self.store.execute(
            f"INSERT INTO {RUNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run.run_id, run.as_of, run.protocol, run.fingerprint, run.started_at,
             run.finished_at, run.summary),
        )  # fmt: skip

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.store.transaction():
            yield


def engine_of(target: Store | ComputeEngine) -> ComputeEngine:
    """The engine that runs the cycle for `target`: a store runs it in its database."""
    return StoreEngine(target) if isinstance(target, Store) else target


def fetch(store: Store, expr: ir.Table) -> list[dict[str, Any]]:
    """Compile `expr` for the store's engine and return its rows by column name."""
    return store.fetch_records(ibis.to_sql(expr, dialect=sql_dialect(store)))


class CompiledSteps:
    """The SQL of each step, compiled once per protocol, engine and period, for runs at other
    moments.

    Compiling a run's Ibis expressions to SQL takes longer than running them on a small
    city (seconds), and a digital twin runs the cycle every simulated day. Between two runs
    of one protocol on one engine only the moment differs, as one literal: the SQL is
    compiled once and the literal swapped. Everything else a step's SQL depends on is the
    key: the protocol's fingerprint, the amendments in force, the UTC offset and the year
    (ages are counted in years). A swap that does not find the literal exactly where it was
    compiled is not trusted: the step is compiled afresh.
    """

    def __init__(self) -> None:
        self._sql: dict[tuple[Any, ...], tuple[str, str]] = {}

    @staticmethod
    def literal(moment: datetime, dialect: str) -> str:
        """How `moment` is written in the SQL of `dialect`."""
        probe = ibis.table({"t": "timestamp('UTC')"}, name="probe")
        sql = ibis.to_sql(probe.filter(probe.t == _moment(moment)), dialect=dialect)
        return str(sql.rsplit("=", 1)[1].strip())

    def sql(self, key: tuple[Any, ...] | None, now: str, expr: ir.Expr, dialect: str) -> str:
        """The SQL of `expr`, the step `key` of a run whose moment is written `now` (no key:
        compiled afresh, not kept; `Runner` gives none for a moment that is also another
        instant of the protocol, whose literal would be swapped with it)."""
        if key is None:
            return str(ibis.to_sql(expr, dialect=dialect))
        cached = self._sql.get(key)
        if cached is not None:
            sql, then = cached
            if then == now:
                return sql
            if then in sql and now not in sql:
                return sql.replace(then, now)
        sql = str(ibis.to_sql(expr, dialect=dialect))
        if now in sql:
            self._sql[key] = (sql, now)
        return sql


def _moment(moment: datetime) -> ir.TimestampScalar:
    return ibis.literal(moment.astimezone(UTC), type="timestamp('UTC')")


def _period(ctx: Context) -> tuple[Any, ...]:
    """What a step's SQL depends on besides the moment."""
    in_force = sum(1 for a in ctx.protocol.amendments if a.starts_at <= ctx.as_of)
    return (ctx.protocol.fingerprint(), in_force, ctx.utc_offset, ctx.as_of.year)


COMPILED = CompiledSteps()
"""The compiled steps of this process's runs."""


class Runner:
    """Compiles each step for the store's engine and keeps its result for the next steps."""

    def __init__(
        self,
        engine: ComputeEngine,
        progress: Progress | None = None,
        total: int = BASE_STEPS,
        ctx: Context | None = None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.sql_dialect
        self.kept: list[str] = []
        self.step_seconds: dict[str, float] = {}
        self.progress = progress
        self.total = total
        # The key of this run's steps in the compiled cache (none without a context, or when
        # the moment is also an amendment's: its literal would stand for both, and a swap
        # would move the amendment too).
        self.period = (self.dialect, *_period(ctx)) if ctx is not None else None
        self.now = COMPILED.literal(ctx.as_of, self.dialect) if ctx is not None else ""
        if ctx is not None and any(a.starts_at == ctx.as_of for a in ctx.protocol.amendments):
            self.period = None

    def _sql(self, kind: str, name: str, expr: ir.Expr) -> str:
        key = (kind, name, *self.period) if self.period is not None else None
        return COMPILED.sql(key, self.now, expr, self.dialect)

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        """Run step `name` and keep its rows in a temporary table."""
        started = time.perf_counter()
        if self.progress is not None:
            self.progress(name, len(self.kept), self.total)
        table = f"rf_cycle_{name}"
        self.engine.keep(table, self._sql("keep", name, expr))
        self.kept.append(table)
        self.step_seconds[name] = time.perf_counter() - started
        return ibis.table(expr.schema(), name=table)

    def replace(self, name: str, expr: ir.Table) -> None:
        """Replace the rows of decision table `name` with those of `expr`."""
        started = time.perf_counter()
        columns = [c.name for c in TABLES[name].columns]
        self.engine.replace(name, columns, self._sql("replace", name, expr.select(*columns)))
        self.step_seconds[f"write {name}"] = time.perf_counter() - started

    def drop(self) -> None:
        """Drop the temporary tables."""
        for table in self.kept:
            self.engine.drop(table)


def run_cycle(
    target: Store | ComputeEngine,
    protocol: Protocol,
    as_of: datetime,
    progress: Progress | None = None,
) -> CycleReport:
    """Decide from the events known at `as_of` under `protocol`, store the decisions, and
    record the run. Running it twice on the same events gives the same decisions.

    `target` is a store (the cycle runs in its database) or another engine (Spark over a
    Parquet lake); the decisions are the same on every engine.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must carry a time zone (use the protocol's local time)")
    engine = engine_of(target)
    ctx = Context(protocol, as_of.astimezone(UTC))
    started_at = datetime.now(UTC)
    runner = Runner(engine, progress, ctx=ctx)
    with engine.transaction():
        run_id = engine.next_run_id()
        decisions = decide(ctx, runner)
        for name, expr in decisions.items():
            runner.replace(name, expr)
        counts = {name: engine.count(name) for name in decisions}
        summary = json.dumps({"counts": counts, "protocol_origin": protocol.origin}, sort_keys=True)
        engine.record_run(
            RunRecord(run_id, ctx.as_of, protocol.name, protocol.fingerprint(), started_at,
                      datetime.now(UTC), summary)
        )  # fmt: skip
        runner.drop()
    return CycleReport(
        run_id=run_id,
        as_of=ctx.as_of,
        protocol=protocol.name,
        fingerprint=protocol.fingerprint(),
        counts=counts,
        step_seconds=runner.step_seconds,
    )


def decide(ctx: Context, runner: Runner) -> dict[str, ir.Table]:
    """Every step of the cycle in order; returns the expression of each decision table."""
    keep = runner.keep
    runner.total = (
        BASE_STEPS + 2 * ctx.in_force.contact.same_space + 3 * ctx.in_force.secondary.enabled
    )
    readings = keep("readings", cases.read_results(ctx))
    pools = keep("pools", cases.read_pools(ctx))
    sequenced = keep("sequenced", cases.sequence_person_results(ctx, readings))
    discordant = keep("discordant", cases.discordant_arrivals(ctx, sequenced))
    positives = cases.positive_results(ctx, readings, discordant)
    symptoms = keep("symptoms", cases.symptom_summary(ctx))
    confirmed = keep("confirmed", cases.confirm_cases(ctx, positives))
    classified = cases.classify_cases(ctx, confirmed, symptoms)
    variants = cases.case_variants(ctx)
    classified = keep(
        "classified",
        classified.left_join(variants, "person_id").drop("person_id_right"),
    )
    windows = keep("windows", tracing.exposure_windows(ctx, classified, readings))

    close = keep("close_contacts", tracing.close_contacts(ctx, windows))
    found = [close]
    if ctx.in_force.contact.same_space:
        spaces = keep("spaces", tracing.presence(ctx, spaces=True))
        found.append(keep("same_space", tracing.same_space_contacts(ctx, windows, close, spaces)))
    found.append(keep("environment", tracing.environment_contacts(ctx, readings)))
    if ctx.in_force.secondary.enabled:
        index = keep("secondary_windows", tracing.secondary_windows(close))
        spans = keep("secondary_spans", tracing.secondary_spans(ctx, index))
        found.append(keep("secondary", tracing.secondary_contacts(ctx, index, spans, classified)))
    contacts = found[0]
    for more in found[1:]:
        contacts = contacts.union(more, distinct=False)
    contacts = keep("contacts", contacts)

    arrival_orders = keep("arrival_orders", orders.arrival_quarantine(ctx))
    how = cases.how_found(ctx, classified, contacts, pools, arrival_orders)
    final_cases = keep("cases", classified.join(how, "case_id"))

    person_orders = [
        orders.case_orders(ctx, final_cases, readings, symptoms),
        orders.held_arrivals(discordant),
        orders.indeterminate_orders(ctx, readings),
        orders.pool_holds(ctx, pools, readings),
        arrival_orders,
    ]
    quarantine = keep("quarantine", orders.contact_quarantine(ctx, contacts))
    person_orders += [quarantine, orders.follow_on_home(ctx, quarantine)]
    for kind, section in (
        ("secondary", "secondary"),
        ("same_space", "same_space"),
        ("environment", "environment"),
    ):
        person_orders.append(orders.monitoring_orders(ctx, contacts, kind, section))
    merged = person_orders[0]
    for more in person_orders[1:]:
        merged = merged.union(more, distinct=False)
    settled = keep("settled", orders.settle(ctx, merged, final_cases))
    # A guardian who becomes a case leaves the child's order for isolation, like anyone.
    guarded = orders.with_ids(orders.settle(ctx, orders.with_guardians(ctx, settled), final_cases))
    links = areas.place_links(ctx, windows, readings)
    closed = areas.closures(ctx, links)
    all_orders = guarded.union(
        closed.mutate(
            order_id=closed.kind + ":" + closed.place_id + ":" + epoch_text(closed.start)
        ).select(*guarded.columns),
        distinct=False,
    )
    all_orders = keep("orders", orders.apply_actions(ctx, all_orders))

    risk = keep("risk_areas", areas.risk_areas(ctx, final_cases))

    present = keep("present", plans.loop_members_present(ctx, all_orders))
    missed = keep("missed", plans.missed_tests(ctx, present))
    plan_parts = [
        plans.order_test_days(ctx, all_orders),
        plans.release_tests(ctx, all_orders),
        plans.loop_screening(ctx, present),
        plans.follow_up_plans(ctx, missed),
        plans.pharmacy_signals(ctx),
        plans.pool_retests(ctx, all_orders),
        plans.antigen_confirmations(ctx, readings),
    ]
    test_plans = plan_parts[0]
    for more in plan_parts[1:]:
        test_plans = test_plans.union(more, distinct=False)
    # Two orders of one person can plan the same test; a mass-testing plan's id (area, day,
    # person) is unique already, and there are millions of them: they skip the de-duplication.
    test_plans = first_per(test_plans, ["plan_id"], ["purpose", "person_id"]).union(
        plans.mass_testing(ctx, risk, final_cases), distinct=False
    )
    test_plans = keep("test_plans", test_plans)

    alert_parts = [
        alerts.predeparture_checks(ctx),
        alerts.vaccination_checks(ctx),
        alerts.departure_checks(ctx, all_orders),
        alerts.missed_test_alerts(missed),
        alerts.ambiguous_results(readings),
        alerts.discordant_alerts(discordant),
    ]
    all_alerts = alert_parts[0]
    for more in alert_parts[1:]:
        all_alerts = all_alerts.union(more, distinct=False)
    all_alerts = keep("alerts", first_per(all_alerts, ["alert_id"], ["rule", "parameter"]))

    explanations = keep(
        "explanations", explain(ctx, final_cases, contacts, all_orders, risk, all_alerts)
    )
    return {
        "cases": final_cases,
        "contacts": contacts,
        "orders": all_orders,
        "risk_areas": risk,
        "test_plans": test_plans,
        "alerts": all_alerts,
        "explanations": explanations,
    }


def source_of(ctx: Context, parameter: ir.StringValue) -> ir.StringValue:
    """The protocol's citation for a parameter key."""
    return parameter.cases(
        *((key, ctx.protocol.source(key)) for key in PARAMETERS), else_=ibis.null("string")
    )


def explain(
    ctx: Context,
    case_rows: ir.Table,
    contact_rows: ir.Table,
    order_rows: ir.Table,
    area_rows: ir.Table,
    alert_rows: ir.Table,
) -> ir.Table:
    """One explanation per decision: the rule, the parameter, its source, the evidence."""

    def rows(table: ir.Table, name: str, key: ir.Value, rule: ir.Value, parameter: ir.Value,
             evidence: ir.Value) -> ir.Table:  # fmt: skip
        return table.select(
            decision_table=ibis.literal(name),
            decision_key=key,
            rule=rule,
            parameter=parameter,
            evidence=evidence,
        )

    c = case_rows
    case_evidence = (
        '{"result": ' + json_text(c.result_id) + ', "sample": ' + json_text(c.sample_id)
        + ', "ct": ' + c.ct_low.cast("decimal(9, 2)").cast("string").fill_null("null")
        + ', "purpose": ' + json_text(c.purpose) + ', "origin": "' + c.origin
        + '", "found_by": "' + c.found_by + '", "variant": ' + json_text(c.variant) + "}"
    )  # fmt: skip
    k = contact_rows
    contact_evidence = (
        '{"case": ' + json_text(k.case_person_id) + ', "seconds": '
        + (k.minutes * 60).round().cast("int64").cast("string")
        + ', "places": [' + k.places_json + "]}"
    )  # fmt: skip
    o = order_rows
    action_rows = o.filter(o.action_id.notnull())
    a = area_rows
    parts = [
        rows(c, "cases", c.case_id, ibis.literal("pcr.positive_ct_below"),
             ibis.literal("pcr.positive_ct_below"), case_evidence),
        rows(k, "contacts", k.person_id + "|" + k.case_person_id + "|" + k.kind, k.rule,
             k.rule, contact_evidence),
        rows(o, "orders", o.order_id, o.rule, o.parameter, o.evidence),
        rows(action_rows, "orders", action_rows.order_id, ibis.literal("action"),
             ibis.null("string"), '{"action": ' + json_text(action_rows.action_id) + "}"),
        rows(a, "risk_areas", a.area_id + "|" + epoch_text(a.start), a.rule, a.rule, a.evidence),
        rows(alert_rows, "alerts", alert_rows.alert_id, alert_rows.rule, alert_rows.parameter,
             alert_rows.evidence),
    ]  # fmt: skip
    result = parts[0]
    for more in parts[1:]:
        result = result.union(more, distinct=False)
    return result.mutate(source=source_of(ctx, result.parameter))
