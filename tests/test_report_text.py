"""The words of the reports: right for zero, one and many; dates as a press officer says them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ringfence.protocol import load_protocol
from ringfence.report.loops import date_range, loop_sentence
from ringfence.report.window import report_window

BASE: dict[str, Any] = {
    "first": date(2022, 1, 4),
    "last": date(2022, 1, 22),
    "arrivals": 2_586,
    "athlete_arrivals": 171,
    "positive_at_entry": 39,
    "tests_inside": 336_421,
    "positive_inside": 33,
    "athlete_positives": 0,
}


def sentence(**changes: Any) -> str:
    return loop_sentence(**{**BASE, **changes})


def test_the_published_sentence() -> None:
    assert sentence() == (
        "From 4 to 22 January, 2,586 stakeholders arrived (171 athletes and team officials); "
        "39 tested positive at the airport and 33 of 336,421 tests inside the loop were "
        "positive; no athlete or team official has tested positive."
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"arrivals": 1, "athlete_arrivals": 1, "positive_at_entry": 0},
         "1 stakeholder arrived (1 athlete or team official); none tested positive at the airport"),
        ({"arrivals": 5, "athlete_arrivals": 0, "positive_at_entry": 1},
         "5 stakeholders arrived (none of them athletes or team officials); 1 tested positive"),
        ({"arrivals": 0, "athlete_arrivals": 0, "positive_at_entry": 0},
         "From 4 to 22 January, no stakeholders arrived; 33 of 336,421 tests"),
        ({"tests_inside": 1, "positive_inside": 1}, "1 of 1 test inside the loop was positive"),
        ({"tests_inside": 1, "positive_inside": 0}, "the 1 test inside the loop was negative"),
        ({"tests_inside": 12, "positive_inside": 0},
         "none of the 12 tests inside the loop were positive"),
        ({"tests_inside": 1_000, "positive_inside": 1}, "1 of 1,000 tests inside the loop was"),
        ({"tests_inside": 0, "positive_inside": 0}, "no tests were taken inside the loop"),
        ({"athlete_positives": 1}, "1 athlete or team official has tested positive."),
        ({"athlete_positives": 3}, "3 athletes and team officials have tested positive."),
    ],
)  # fmt: skip
def test_zero_one_and_many(changes: dict[str, Any], expected: str) -> None:
    assert expected in sentence(**changes)


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (date(2022, 1, 4), date(2022, 1, 4), "On 4 January"),
        (date(2022, 1, 4), date(2022, 1, 22), "From 4 to 22 January"),
        (date(2022, 1, 28), date(2022, 2, 3), "From 28 January to 3 February"),
        (date(2021, 12, 30), date(2022, 1, 2), "From 30 December 2021 to 2 January 2022"),
    ],
)
def test_date_ranges(first: date, last: date, expected: str) -> None:
    assert date_range(first, last) == expected


@pytest.mark.parametrize(
    ("protocol", "as_of", "start", "end"),
    [
        # 16:00 to 16:00 (Beijing's press conferences): at 18:30 the last window ended at 16:00.
        ("zero-covid-2022", "2022-01-26T10:30:00+00:00", "2022-01-25T08:00", "2022-01-26T08:00"),
        # Exactly at the cut-off, the window ending then is complete.
        ("zero-covid-2022", "2022-01-26T08:00:00+00:00", "2022-01-25T08:00", "2022-01-26T08:00"),
        ("zero-covid-2022", "2022-01-26T07:59:00+00:00", "2022-01-24T08:00", "2022-01-25T08:00"),
        # Midnight to midnight (the national report), local midnight in Beijing.
        ("beijing-2022-loop", "2022-01-22T16:00:00+00:00", "2022-01-21T16:00",
         "2022-01-22T16:00"),
        # UTC protocol, midnight cut-off.
        ("who-contact-tracing", "2022-01-26T10:30:00+00:00", "2022-01-25T00:00",
         "2022-01-26T00:00"),
    ],
)  # fmt: skip
def test_the_window_is_the_last_complete_24_hours(
    protocol: str, as_of: str, start: str, end: str
) -> None:
    window = report_window(load_protocol(protocol), datetime.fromisoformat(as_of))
    assert window.start == datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert window.end == datetime.fromisoformat(end).replace(tzinfo=UTC)
    # The report day is the date of the press conference: the window's end, or for a
    # midnight cut-off the day the window covers.
    covered = window.local(window.start) if window.cutoff == "24:00" else window.local(window.end)
    assert window.day == covered.date()


def test_a_window_in_a_zone_with_daylight_saving_keeps_the_wall_clock_cut_off() -> None:
    """Across the spring-forward night the window is 23 hours long: 16:00 to 16:00 local."""
    protocol = replace(load_protocol("zero-covid-2022"), timezone="Europe/Berlin")
    window = report_window(protocol, datetime(2022, 3, 27, 17, 0, tzinfo=UTC))
    assert window.local(window.start).hour == window.local(window.end).hour == 16
    assert (window.end - window.start).total_seconds() == 23 * 3_600
