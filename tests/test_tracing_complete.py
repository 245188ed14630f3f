"""No contact may be missed: the cycle's tracer against a brute-force tracer written here.

The brute force knows nothing of intervals, joins or windows functions: for each case and
every other person it walks the case's exposure window minute by minute and asks whether
the two were at one place, or near each other, at that minute. Hypothesis writes the visit
and proximity logs; the two tracers must find the same close contacts with the same minutes
and the same first and last exposure.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringfence.protocol import load_protocol

from .scenario import Scenario

START = datetime(2022, 1, 16, 0, 0)  # Beijing wall clock
PEOPLE = [f"P{n}" for n in range(6)]
PLACES = ["X0", "X1", "X2"]
COLLECTED = 2 * 24 * 60 + 10 * 60  # the case's sample: 18 January 10:00
REPORTED = COLLECTED + 6 * 60
LOOKBACK = 2 * 24 * 60
SPAN = 3 * 24 * 60  # visits fall in the three days from the 16th


def clock(minute: int) -> str:
    return (START + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Presence:
    person: str
    place: str
    start: int
    end: int


@dataclass(frozen=True)
class Near:
    person: str
    other: str
    start: int
    end: int
    metres: float


presences = st.builds(
    Presence,
    person=st.sampled_from(PEOPLE),
    place=st.sampled_from(PLACES),
    start=st.integers(0, SPAN),
    end=st.integers(1, 180),  # a duration, made an end below
)
nears = st.builds(
    Near,
    person=st.sampled_from(PEOPLE),
    other=st.sampled_from(PEOPLE),
    start=st.integers(0, SPAN),
    end=st.integers(1, 60),
    metres=st.sampled_from([0.3, 1.0, 1.5, 3.0]),
)


def brute_force(
    visits: list[Presence], near: list[Near], cases: list[str], minimum: int, metres: float
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(contact, case) → (minutes, first minute, last minute + 1), all pairs, minute by minute."""
    found = {}
    window = range(COLLECTED - LOOKBACK, REPORTED)
    for case in cases:
        for person in PEOPLE:
            if person == case:
                continue
            exposed = [
                minute
                for minute in window
                if any(
                    a.person == case and b.person == person and a.place == b.place
                    and a.start <= minute < a.end and b.start <= minute < b.end
                    for a in visits for b in visits
                )
                or any(
                    {n.person, n.other} == {case, person} and n.metres <= metres
                    and n.start <= minute < n.end
                    for n in near
                )
            ]  # fmt: skip
            if len(exposed) >= minimum:
                found[(person, case)] = (len(exposed), exposed[0], exposed[-1] + 1)
    return found


def _distinct_keys(visits: list[Presence], near: list[Near]) -> tuple[list[Presence], list[Near]]:
    # The stores' keys: a person is at a place from a start once; a pair is near from a start once.
    seen_visits, kept_visits = set(), []
    for v in visits:
        if (v.person, v.place, v.start) not in seen_visits:
            seen_visits.add((v.person, v.place, v.start))
            kept_visits.append(Presence(v.person, v.place, v.start, v.start + v.end))
    seen_near, kept_near = set(), []
    for n in near:
        if n.person != n.other and (n.person, n.other, n.start) not in seen_near:
            seen_near.add((n.person, n.other, n.start))
            kept_near.append(Near(n.person, n.other, n.start, n.start + n.end, n.metres))
    return kept_visits, kept_near


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    visits=st.lists(presences, min_size=1, max_size=25),
    near=st.lists(nears, max_size=8),
    cases=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=2, unique=True),
    minimum=st.sampled_from([1, 15, 30]),
)
def test_the_cycle_finds_exactly_the_contacts_the_brute_force_finds(
    visits: list[Presence], near: list[Near], cases: list[str], minimum: int
) -> None:
    visits, near = _distinct_keys(visits, near)
    protocol = load_protocol("who-contact-tracing").with_changes({"contact.min_minutes": minimum})
    story = Scenario()
    for person in PEOPLE:
        story.person(person)
    for place in PLACES:
        story.place(place, "workplace")
    for v in visits:
        story.visit(v.person, v.place, clock(v.start), clock(v.end))
    for n in near:
        story.near(n.person, n.other, clock(n.start), clock(n.end), n.metres)
    for case in cases:
        story.test(case, clock(COLLECTED), clock(REPORTED), "positive", ct=25)
    with tempfile.TemporaryDirectory() as folder:
        decisions = story.run(
            str(Path(folder) / "trace.duckdb"), Path(folder) / "events", protocol, clock(SPAN + 600)
        )
    traced = {
        (c["person_id"], c["case_person_id"]): (
            round(c["minutes"], 6),
            c["first_exposure"],
            c["last_exposure"],
        )
        for c in decisions.of("contacts", kind="close")
    }
    expected = {
        pair: (float(minutes), clock(first), clock(last))
        for pair, (minutes, first, last) in brute_force(visits, near, cases, minimum, 1.0).items()
    }
    assert traced == expected
