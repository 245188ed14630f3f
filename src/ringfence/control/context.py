"""What every step of the cycle reads: the events up to `as_of`, and the protocol as expressions.

The cycle is built over unbound Ibis tables named like the store's tables, then compiled
to the SQL of the engine that runs it; nothing here knows which engine that is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from ringfence.protocol import Parameters, Protocol
from ringfence.schema import TABLES, ColumnType, Table

IBIS_TYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "string",
    ColumnType.INTEGER: "int64",
    ColumnType.FLOAT: "float64",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.INSTANT: "timestamp('UTC')",
    ColumnType.STRING_LIST: "array<string>",
}

# When each kind of event becomes known: an event after `as_of` does not exist yet.
EVENT_TIME = {
    "visits": "start",
    "proximity": "start",
    "samples": "collected_at",
    "results": "reported_at",
    "symptoms": "reported_at",
    "arrivals": "arrived_at",
    "departures": "departed_at",
    "sequences": "reported_at",
    "purchases": "bought_at",
    "actions": "at",
}

DAY = 86_400


def unbound(table: Table, name: str | None = None) -> ir.Table:
    """An Ibis table with the columns of `table`, not yet bound to any engine."""
    schema = {c.name: IBIS_TYPES[c.type] for c in table.columns}
    return ibis.table(schema, name=name or table.name)


def seconds(interval_end: ir.TimestampValue, interval_start: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds from start to end (exact on every engine, unlike a floating difference)."""
    return (interval_end.epoch_seconds() - interval_start.epoch_seconds()).cast("int64")


def epoch_text(moment: ir.TimestampValue) -> ir.StringValue:
    """Seconds since 1970 as text, identical on every engine: the stable part of an id."""
    return moment.epoch_seconds().cast("int64").cast("string")


def json_text(value: ir.Value) -> ir.StringValue:
    """A value as a JSON string literal (quotes and backslashes escaped), or null."""
    text = value.cast("string").replace("\\", "\\\\").replace('"', '\\"')
    return ibis.cases((value.isnull(), ibis.literal("null")), else_='"' + text + '"')


def json_number(value: ir.NumericValue) -> ir.StringValue:
    """A number as JSON with two decimals (null when missing): engines print floats
    differently ("37.0" or "37"), a fixed-point decimal the same."""
    return value.cast("decimal(9, 2)").cast("string").fill_null("null")


def first_per(table: ir.Table, keys: Sequence[str], order_by: Sequence[str]) -> ir.Table:
    """The first row of `table` per `keys` in `order_by` order (deterministic on every engine)."""
    w = ibis.window(group_by=list(keys), order_by=list(order_by))
    numbered = table.mutate(_n=ibis.row_number().over(w))
    return numbered.filter(numbered._n == 0).drop("_n")


def number_islands(
    rows: ir.Table, by: Sequence[str], order: Sequence[str], start: str, end: str, name: str
) -> ir.Table:
    """Number the islands of overlapping intervals per `by` in column `name` (gaps and
    islands): in `order`, an interval joins the island before it unless it starts after
    everything before it has ended."""
    keys = list(by)
    # Rows tied in `order` may be sorted differently by each window below, and an island
    # would then be counted twice: one row number, taken once, is the order of all of them.
    ranked = rows.mutate(
        _rank=ibis.row_number().over(ibis.window(group_by=keys, order_by=list(order)))
    )
    running = ibis.cumulative_window(group_by=keys, order_by="_rank")
    reach = ranked.mutate(_reach=ranked[end].max().over(running))
    flagged = reach.mutate(
        _before=reach._reach.lag().over(ibis.window(group_by=keys, order_by="_rank"))
    )
    flagged = flagged.mutate(
        _opens=ibis.cases(
            (flagged._before.isnull() | (flagged[start] > flagged._before), 1), else_=0
        )
    )
    numbered = flagged.mutate(**{name: flagged._opens.sum().over(running)})
    return numbered.drop("_rank", "_reach", "_before", "_opens")


@dataclass(frozen=True)
class Context:
    """The protocol, the moment of the run, and the events known at that moment."""

    protocol: Protocol
    as_of: datetime

    @property
    def now(self) -> ir.TimestampScalar:
        """`as_of` as an expression."""
        return ibis.literal(self.as_of.astimezone(UTC), type="timestamp('UTC')")

    @property
    def in_force(self) -> Parameters:
        """The parameters in force at `as_of` (lists and switches are read from these)."""
        return self.protocol.at(self.as_of)

    @property
    def utc_offset(self) -> int:
        """The jurisdiction's offset from UTC at `as_of`, in seconds.

        Local dates are computed with this one offset: exact for the presets' zone (China has
        had no daylight saving since 1991); elsewhere an hour off near a clock change.
        """
        offset = self.as_of.astimezone(ZoneInfo(self.protocol.timezone)).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def events(self, name: str) -> ir.Table:
        """The event table `name` as known at `as_of`."""
        table = unbound(TABLES[name])
        if name in EVENT_TIME:
            table = table.filter(table[EVENT_TIME[name]] <= self.now)
        return table

    def local_date(self, moment: ir.TimestampValue) -> ir.DateValue:
        """The jurisdiction's calendar date of an instant."""
        return (moment + ibis.interval(seconds=self.utc_offset)).date()

    def local_midnight(self, day: ir.DateValue) -> ir.TimestampValue:
        """The instant a local calendar date begins."""
        midnight = day.cast("timestamp").cast("timestamp('UTC')")
        return midnight - ibis.interval(seconds=self.utc_offset)

    def param(
        self,
        key: str,
        at: ir.TimestampValue | None = None,
        group: ir.StringValue | None = None,
    ) -> ir.Value:
        """Parameter `key` as an expression: the value in force at `at` for `group`.

        Without `at`, the value in force at `as_of`. Amendments and group overrides of the
        protocol become a CASE over the moment and the person's group.
        """
        timelines = self.protocol.group_timelines(key)
        default = self._timeline_value(timelines[None], at)
        overrides = [
            (group == name, self._timeline_value(steps, at))
            for name, steps in timelines.items()
            if name is not None and group is not None
        ]
        return ibis.cases(*overrides, else_=default) if overrides else default

    def _timeline_value(
        self, steps: Sequence[tuple[datetime | None, Any]], at: ir.TimestampValue | None
    ) -> ir.Value:
        if at is None:
            current = steps[0][1]
            for since, value in steps[1:]:
                if since is not None and since <= self.as_of:
                    current = value
            return ibis.literal(current)
        if len(steps) == 1:
            return ibis.literal(steps[0][1])
        branches = [
            (at >= ibis.literal(since, type="timestamp('UTC')"), ibis.literal(value))
            for since, value in reversed(steps[1:])
            if since is not None
        ]
        return ibis.cases(*branches, else_=ibis.literal(steps[0][1]))

    def order_end(
        self,
        start: ir.TimestampValue,
        anchor: ir.TimestampValue,
        days_key: str,
        group: ir.StringValue | None = None,
    ) -> ir.TimestampValue:
        """When an order counted `days_key` days from `anchor` ends, protocol changes included.

        The days in force when the order starts apply; an amendment that comes into force
        while the order is open re-evaluates it: the new length from the same anchor, and an
        order whose new end has already passed ends when the amendment comes into force.
        """
        days = self.param(days_key, at=start, group=group).cast("int64")
        end = anchor + days.as_interval("D")
        for amendment in self.protocol.amendments:
            if amendment.starts_at > self.as_of:
                break
            changed = ibis.literal(amendment.starts_at, type="timestamp('UTC')")
            new_days = self.param(days_key, at=changed, group=group).cast("int64")
            new_end = ibis.greatest(anchor + new_days.as_interval("D"), changed)
            end = ibis.cases(((changed > start) & (changed < end), new_end), else_=end)
        return end
