"""The bulletin's reporting window: the 24 hours ending at the protocol's cut-off hour.

Beijing's press conferences counted from 16:00 to 16:00, the national report from midnight
to midnight. A window is half-open, [start, end): an event at exactly 16:00 belongs to the
next day's bulletin, and "open at the end" means open just before the cut-off. Every event
belongs to one *report day*: the local date of the window's end (the day of the press
conference that reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from ringfence.control.context import Context
from ringfence.protocol import Protocol


@dataclass(frozen=True)
class ReportWindow:
    """The 24 hours a bulletin covers, as UTC instants, and the report day they make."""

    start: datetime
    end: datetime
    day: date
    timezone: str
    cutoff: str

    def local(self, moment: datetime) -> datetime:
        """`moment` on the jurisdiction's clock."""
        return moment.astimezone(ZoneInfo(self.timezone))


def cutoff_seconds(cutoff: str) -> int:
    """'16:00' → seconds after local midnight (24:00 is the end of the day)."""
    hours, minutes = (int(part) for part in cutoff.split(":"))
    return hours * 3_600 + minutes * 60


def _cutoff_on(day: date, cutoff: str, zone: ZoneInfo) -> datetime:
    """The instant the window of report day `day` ends (wall clock, so DST is respected)."""
    seconds = cutoff_seconds(cutoff)
    base = day + timedelta(days=seconds // 86_400)
    rest = seconds % 86_400
    return datetime.combine(base, time(rest // 3_600, rest % 3_600 // 60), tzinfo=zone)


def report_window(protocol: Protocol, as_of: datetime) -> ReportWindow:
    """The last complete window at `as_of`: the 24 hours ending at the latest cut-off."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must carry a time zone")
    zone = ZoneInfo(protocol.timezone)
    cutoff = protocol.at(as_of).bulletin.cutoff_local_time
    local = as_of.astimezone(zone)
    day = local.date() + timedelta(days=1)
    while _cutoff_on(day, cutoff, zone) > local:
        day -= timedelta(days=1)
    end = _cutoff_on(day, cutoff, zone)
    start = _cutoff_on(day - timedelta(days=1), cutoff, zone)
    return ReportWindow(start.astimezone(UTC), end.astimezone(UTC), day, protocol.timezone, cutoff)


def window_of_day(window: ReportWindow, day: date) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the window of another report day, with the same cut-off."""
    zone = ZoneInfo(window.timezone)
    return (
        _cutoff_on(day - timedelta(days=1), window.cutoff, zone).astimezone(UTC),
        _cutoff_on(day, window.cutoff, zone).astimezone(UTC),
    )


def report_day(ctx: Context, window: ReportWindow, moment: ir.TimestampValue) -> ir.DateValue:
    """The report day of an instant: the local date of the end of the window it falls in.

    With the cut-off at c after midnight, the window of day D is [D-1 + c, D + c), so the
    day is the local date of (moment - c) plus one.
    """
    shifted = moment - ibis.interval(seconds=cutoff_seconds(window.cutoff))
    return ctx.local_date(shifted) + ibis.interval(days=1)
