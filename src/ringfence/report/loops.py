"""Closed-loop statistics as the loop's organisers published them, and the sentence to read out.

Per loop and per group: airport arrivals and the positives among them, tests inside the loop
and the positives among them, daily and cumulative, with positivity. "Positive at the
airport" and "positive inside the loop" are the cycle's case origins `loop_entry` and
`loop_inside`: the 72 of the news were 39 of the first and 33 of the second.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .daily import TESTS_INSIDE_PURPOSES, ReportData, Rows, first_day
from .stocks import population_counts
from .tally import Where, between, both, by, on, share, total

ATHLETES_AND_OFFICIALS = ("athlete", "official")
"""The groups the organisers reported apart: athletes and team officials."""


def _count(rows: Rows, where: Where) -> dict[str, Any]:
    return {"total": total(rows, where), "by_group": by(rows, "group", where)}


def loop_counts(
    arrivals: Rows, airport_tests: Rows, entry: Rows, tests: Rows, inside: Rows, where: Where
) -> dict[str, Any]:
    """Arrivals, airport tests, tests inside and the positives of each, for the days of
    `where`, in total and by group."""
    counts: dict[str, Any] = {
        "arrivals": _count(arrivals, where),
        "airport_tests": _count(airport_tests, where),
        "positives_at_entry": _count(entry, where),
        "tests_inside": _count(tests, where),
        "positives_inside": _count(inside, where),
    }
    counts["positivity_at_entry"] = share(
        counts["positives_at_entry"]["total"], counts["airport_tests"]["total"]
    )
    counts["positivity_inside"] = share(
        counts["positives_inside"]["total"], counts["tests_inside"]["total"]
    )
    return counts


def loop_blocks(data: ReportData, since: date | None = None) -> list[dict[str, Any]]:
    """One block per closed loop: cumulative from `since` (default: the loop's first
    arrival or sample) to the bulletin's report day, today's counts, and the daily series."""
    day = data.window.day
    blocks = []
    for loop_id in sorted({str(r["loop_id"]) for r in data.members}):

        def mine(r: dict[str, Any], loop_id: str = loop_id) -> bool:
            return r.get("loop_id") == loop_id

        members = [r for r in data.members if mine(r)]
        arrivals = [r for r in data.arrivals if mine(r)]
        samples = [r for r in data.samples if mine(r) and r["test"] == "pcr"]
        airport_tests = [r for r in samples if r["purpose"] == "arrival"]
        tests = [r for r in samples if r["purpose"] in TESTS_INSIDE_PURPOSES]
        cases = [r for r in data.cases if mine(r)]
        entry = [r for r in cases if r["origin"] == "loop_entry"]
        inside = [r for r in cases if r["origin"] == "loop_inside"]
        firsts = [d for d in (first_day(arrivals), first_day(samples)) if d is not None]
        start = since or (min(firsts) if firsts else day)
        period = between(start, day)
        parts = (arrivals, airport_tests, entry, tests, inside)
        cumulative = loop_counts(*parts, where=period)
        days = [start + timedelta(days=n) for n in range((day - start).days + 1)]
        daily = [{"day": d.isoformat(), **_daily(loop_counts(*parts, where=on(d)))} for d in days]
        athletes = both(period, lambda r: r["group"] in ATHLETES_AND_OFFICIALS)
        block: dict[str, Any] = {
            "loop_id": loop_id,
            "members": total(members),
            "members_by_group": by(members, "group"),
            "since": start.isoformat(),
            "until": day.isoformat(),
            **cumulative,
            "today": loop_counts(*parts, where=on(day)),
            "days_without_positives_inside": sum(1 for d in days if total(inside, on(d)) == 0),
            **population_counts(data, day, mine),
            "daily": daily,
        }
        block["sentence"] = loop_sentence(
            first=start,
            last=day,
            arrivals=cumulative["arrivals"]["total"],
            athlete_arrivals=total(arrivals, athletes),
            positive_at_entry=cumulative["positives_at_entry"]["total"],
            tests_inside=cumulative["tests_inside"]["total"],
            positive_inside=cumulative["positives_inside"]["total"],
            athlete_positives=total(entry, athletes) + total(inside, athletes),
        )
        blocks.append(block)
    return blocks


def _daily(counts: dict[str, Any]) -> dict[str, int]:
    return {key: value["total"] for key, value in counts.items() if isinstance(value, dict)}


def number(n: int) -> str:
    """A count as a press officer prints it: 2,586."""
    return f"{n:,}"


def date_range(first: date, last: date) -> str:
    """'From 4 to 22 January', 'From 28 January to 3 February', 'On 4 January', with the
    year when the range crosses one."""
    if first == last:
        return f"On {first.day} {first:%B}"
    if first.year != last.year:
        return f"From {first.day} {first:%B} {first.year} to {last.day} {last:%B} {last.year}"
    if first.month != last.month:
        return f"From {first.day} {first:%B} to {last.day} {last:%B}"
    return f"From {first.day} to {last.day} {last:%B}"


def loop_sentence(
    *,
    first: date,
    last: date,
    arrivals: int,
    athlete_arrivals: int,
    positive_at_entry: int,
    tests_inside: int,
    positive_inside: int,
    athlete_positives: int,
) -> str:
    """The sentence a press officer reads out, right for zero, one and many of each count.

    e.g. "From 4 to 22 January, 2,586 stakeholders arrived (171 athletes and team officials);
    39 tested positive at the airport and 33 of 336,421 tests inside the loop were positive;
    no athlete or team official has tested positive."
    """
    if arrivals == 0:
        arrived = "no stakeholders arrived"
    else:
        who = "stakeholder" if arrivals == 1 else "stakeholders"
        if athlete_arrivals == 0:
            among = "none of them athletes or team officials"
        elif athlete_arrivals == 1:
            among = "1 athlete or team official"
        else:
            among = f"{number(athlete_arrivals)} athletes and team officials"
        arrived = f"{number(arrivals)} {who} arrived ({among})"
        if positive_at_entry == 0:
            airport = "none tested positive at the airport"
        else:
            airport = f"{number(positive_at_entry)} tested positive at the airport"
        arrived = f"{arrived}; {airport}"
    joiner = " and " if arrivals else "; "
    if tests_inside == 0:
        inside = "no tests were taken inside the loop"
    else:
        tests = f"{number(tests_inside)} test" + ("" if tests_inside == 1 else "s")
        if positive_inside == 0 and tests_inside == 1:
            inside = "the 1 test inside the loop was negative"
        elif positive_inside == 0:
            inside = f"none of the {tests} inside the loop were positive"
        else:
            verb = "was" if positive_inside == 1 else "were"
            inside = f"{number(positive_inside)} of {tests} inside the loop {verb} positive"
    if athlete_positives == 0:
        athletes = "no athlete or team official has tested positive"
    elif athlete_positives == 1:
        athletes = "1 athlete or team official has tested positive"
    else:
        athletes = f"{number(athlete_positives)} athletes and team officials have tested positive"
    return f"{date_range(first, last)}, {arrived}{joiner}{inside}; {athletes}."
