"""Alerts: breaches of the rules at arrival and departure, missed tests, ambiguous results."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from .arrivals import inbound, with_vaccination_check
from .context import Context, epoch_text, json_number, json_text, seconds
from .orders import CONFINING

ALERT_COLUMNS = ("alert_id", "person_id", "kind", "at", "rule", "parameter", "evidence")


def _alerts(
    table: ir.Table, *, person_id: ir.Value, kind: str, at: ir.Value, rule: str,
    parameter: str, evidence: ir.Value,
) -> ir.Table:  # fmt: skip
    return table.select(
        alert_id=kind + ":" + person_id + ":" + epoch_text(at),
        person_id=person_id,
        kind=ibis.literal(kind),
        at=at,
        rule=ibis.literal(rule),
        parameter=ibis.literal(parameter),
        evidence=evidence,
    )


def predeparture_checks(ctx: Context) -> ir.Table:
    """Arrivals without the protocol's pre-departure tests: enough negative PCRs inside the
    window before arrival, far enough apart, one of them recent enough."""
    rules = ctx.in_force.arrival
    arrivals = inbound(ctx)
    if rules.predeparture_pcr_count == 0:
        return _none(arrivals)
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull() & (s.test == "pcr"))
    results = ctx.events("results").filter(
        lambda r: r.sample_id.notnull() & (r.outcome == "negative")
    )
    negatives = samples.join(results, "sample_id").select("person_id", "collected_at")
    window = arrivals.join(negatives, "person_id").filter(
        lambda t: seconds(t.arrived_at, t.collected_at).between(
            0, rules.predeparture_window_h * 3_600
        )
    )
    summary = window.group_by(["person_id", "arrived_at"]).agg(
        tests=lambda t: t.count(),
        first=lambda t: t.collected_at.min(),
        last=lambda t: t.collected_at.max(),
    )
    checked = arrivals.select("person_id", "arrived_at").left_join(
        summary, ["person_id", "arrived_at"]
    )
    ok = (
        (checked.tests.fill_null(0) >= rules.predeparture_pcr_count)
        & (seconds(checked["last"], checked["first"]) >= rules.predeparture_min_gap_h * 3_600)
        & (seconds(checked.arrived_at, checked["last"]) <= rules.predeparture_one_within_h * 3_600)
    ).fill_null(False)
    failed = checked.filter(~ok)
    return _alerts(
        failed, person_id=failed.person_id, kind="predeparture_tests", at=failed.arrived_at,
        rule="arrival.predeparture", parameter="arrival.predeparture_pcr_count",
        evidence='{"negative_tests_in_window": ' + failed.tests.fill_null(0).cast("string") + "}",
    )  # fmt: skip


def vaccination_checks(ctx: Context) -> ir.Table:
    """Arrivals not vaccinated in time (they also get the protocol's longer quarantine)."""
    checked = with_vaccination_check(ctx, inbound(ctx))
    failed = checked.filter(checked.late)
    return _alerts(
        failed, person_id=failed.person_id, kind="unvaccinated", at=failed.arrived_at,
        rule="arrival.unvaccinated", parameter="arrival.vaccination_min_days",
        evidence='{"vaccinated_on": ' + json_text(failed.vaccinated_on) + "}",
    )  # fmt: skip


def departure_checks(ctx: Context, orders: ir.Table) -> ir.Table:
    """Departures while under an order, and departures without the protocol's exit test."""
    departures = ctx.events("departures")
    held = orders.filter(
        orders.kind.isin([*CONFINING, "contact_management"]) & orders.person_id.notnull()
    ).select("person_id", "order_id", "start", "released_at", "planned_end")
    breached = (
        departures.join(held, "person_id")
        .filter(
            lambda t: (
                (t.start <= t.departed_at)
                & (t.released_at.isnull() | (t.released_at > t.departed_at))
            )
        )
        .group_by(["person_id", "departed_at"])
        .agg(order_id=lambda t: t.order_id.min())
    )
    under_order = _alerts(
        breached, person_id=breached.person_id, kind="departure_under_order",
        at=breached.departed_at, rule="departure.under_order",
        parameter="screening.exit_test_within_h",
        evidence='{"order": "' + breached.order_id + '"}',
    )  # fmt: skip
    hours = ctx.in_force.screening.exit_test_within_h
    if hours == 0:
        return under_order
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull() & (s.test == "pcr"))
    results = ctx.events("results").filter(
        lambda r: r.sample_id.notnull() & (r.outcome == "negative")
    )
    negatives = samples.join(results, "sample_id").select("person_id", "collected_at")
    tested = (
        departures.join(negatives, "person_id")
        .filter(lambda t: seconds(t.departed_at, t.collected_at).between(0, hours * 3_600))
        .select("person_id", "departed_at")
        .distinct()
    )
    untested = departures.anti_join(tested, ["person_id", "departed_at"])
    no_test = _alerts(
        untested, person_id=untested.person_id, kind="departure_without_exit_test",
        at=untested.departed_at, rule="departure.exit_test",
        parameter="screening.exit_test_within_h",
        evidence='{"destination": "' + untested.destination.replace('"', "'") + '"}',
    )  # fmt: skip
    return under_order.union(no_test, distinct=False)


def missed_test_alerts(missed: ir.Table) -> ir.Table:
    """Loop members who missed the daily test."""
    return _alerts(
        missed, person_id=missed.person_id, kind="missed_test", at=missed.since,
        rule="screening.missed_test", parameter="screening.missed_test_hours",
        evidence=ibis.literal("{}"),
    )  # fmt: skip


def ambiguous_results(readings: ir.Table) -> ir.Table:
    """Indeterminate results: for the expert panel."""
    rows = readings.filter((readings.reading == "indeterminate") & readings.person_id.notnull())
    return _alerts(
        rows, person_id=rows.person_id, kind="ambiguous_result", at=rows.reported_at,
        rule="pcr.indeterminate", parameter="pcr.indeterminate_ct_below",
        evidence='{"result": "' + rows.result_id + '", "ct": ' + json_number(rows.ct_low) + "}",
    )  # fmt: skip


def discordant_alerts(discordant: ir.Table) -> ir.Table:
    """Airport positives with a negative confirmation."""
    return _alerts(
        discordant, person_id=discordant.person_id, kind="discordant_arrival",
        at=discordant.held_from, rule="arrival.discordant",
        parameter="arrival.discordant_extra_negative",
        evidence='{"result": "' + discordant.result_id + '"}',
    )  # fmt: skip


def _none(table: ir.Table) -> ir.Table:
    return table.filter(ibis.literal(False)).select(
        alert_id=ibis.null("string"),
        person_id=ibis.null("string"),
        kind=ibis.null("string"),
        at=ibis.null("timestamp('UTC')"),
        rule=ibis.null("string"),
        parameter=ibis.null("string"),
        evidence=ibis.null("string"),
    )
