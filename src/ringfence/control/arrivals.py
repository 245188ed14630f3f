"""Arrivals from outside: the events the arrival rules (tests, vaccination, quarantine) read."""

from __future__ import annotations

import ibis.expr.types as ir

from .context import Context


def inbound(ctx: Context) -> ir.Table:
    """Arrivals from outside the country (every arrival if the protocol names no inside)."""
    arrivals = ctx.events("arrivals")
    local = list(ctx.in_force.origin.local_origins)
    return arrivals.filter(~arrivals.origin.isin(local)) if local else arrivals


def with_vaccination_check(ctx: Context, arrivals: ir.Table) -> ir.Table:
    """Arrivals with `late`: vaccination not completed the protocol's days before arriving
    (never late where the protocol requires no vaccination)."""
    min_days = ctx.param("arrival.vaccination_min_days", at=arrivals.arrived_at).cast("int64")
    late = arrivals.vaccinated_on.isnull() | (
        arrivals.vaccinated_on > ctx.local_date(arrivals.arrived_at) - min_days.as_interval("D")
    )
    return arrivals.mutate(late=(min_days > 0) & late)
