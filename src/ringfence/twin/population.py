"""The twin's people and places as arrays: households from the scenario's size distribution,
districts, anchors (a workplace, a school, a hotel), and the places people go out to.

Agents are indices 0..N-1 and places 0..P-1; every attribute is a NumPy array over them
(struct of arrays). Ids as the store sees them (`T00000042`, `TP0000007`) are made only when
events are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .scenario import Scenario

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

CITY_ANCHORS = ("workplace", "school")
ROOMS_PER_FLOOR = 20
VENUE_SIZE = 100
"""About how many members work at one venue (a competition hall's team area, a media room)."""
LOOP_GROUPS = ("athlete", "official", "media", "staff")


@dataclass
class Places:
    """Every place: its kind and district (and loop)."""

    kind: npt.NDArray[np.str_]
    district: Ints
    by_kind_district: dict[tuple[str, int], Ints]
    parent: Ints | None = None
    """The place each one is part of (a room's floor, a floor's hotel; -1: none)."""

    @property
    def count(self) -> int:
        """How many places there are."""
        return len(self.kind)

    def of(self, kind: str, district: int) -> Ints:
        """The places of `kind` in `district` (or anywhere, if the district has none)."""
        found = self.by_kind_district.get((kind, district))
        if found is not None and len(found):
            return found
        anywhere = [v for (k, _), v in self.by_kind_district.items() if k == kind]
        return np.concatenate(anywhere) if anywhere else np.empty(0, np.int64)


@dataclass
class Population:
    """Every person: household, district, age, group, anchor place and its minutes a day."""

    household: Ints
    household_size: Ints
    district: Ints
    birth_year: Ints
    child: Bools
    group: npt.NDArray[np.str_]
    anchor: Ints
    """The place each person spends the working day at (-1: none)."""
    anchor_minutes: Floats
    anchor_weekdays_only: Bools
    arrives_day: Ints
    """For a loop: the day each member arrives (0 for everyone in a city)."""
    hotel: Ints
    """For a loop: the room each member sleeps in (-1 in a city: they sleep at home)."""
    dining: Ints
    """For a loop: the dining hall of each member's hotel (-1 in a city)."""
    places: Places

    @property
    def count(self) -> int:
        """How many people there are."""
        return len(self.household)


def build_population(s: Scenario, rng: np.random.Generator) -> Population:
    """The scenario's people and places, drawn with `rng`."""
    if s.kind == "homogeneous":
        return _homogeneous(s)
    if s.loop:
        return _loop(s, rng)
    return _city(s, rng)


def _households(s: Scenario, rng: np.random.Generator, n: int) -> tuple[Ints, Ints]:
    """Household of each person and the size of each person's household."""
    sizes = np.arange(1, len(s.household_sizes) + 1)
    # n households of one person or more always hold n people; the surplus is cut off.
    drawn = rng.choice(sizes, size=n, p=np.asarray(s.household_sizes))
    ends = np.cumsum(drawn)
    keep = int(np.searchsorted(ends, n)) + 1
    drawn = drawn[:keep]
    drawn[-1] -= int(ends[keep - 1] - n)
    household = np.repeat(np.arange(keep), drawn)[:n]
    return household.astype(np.int64), drawn[household].astype(np.int64)


def _places(s: Scenario, rng: np.random.Generator, n: int) -> Places:
    kinds: list[str] = []
    districts: list[int] = []
    for kind, per_1000 in sorted(s.places_per_1000.items()):
        count = max(s.districts, round(n * per_1000 / 1_000))
        kinds += [kind] * count
        districts += list(rng.integers(0, s.districts, count))
    kind_array = np.asarray(kinds, dtype=np.str_)
    district_array = np.asarray(districts, dtype=np.int64)
    groups: dict[tuple[str, int], Ints] = {}
    for kind in set(kinds):
        for d in range(s.districts):
            groups[kind, d] = np.flatnonzero((kind_array == kind) & (district_array == d))
    return Places(kind_array, district_array, groups)


def _pick(rng: np.random.Generator, places: Places, kind: str, district: Ints) -> Ints:
    """A place of `kind` for each person, in their district where there is one."""
    chosen = np.full(len(district), -1, dtype=np.int64)
    for d in np.unique(district):
        options = places.of(kind, int(d))
        who = np.flatnonzero(district == d)
        if len(options):
            chosen[who] = options[rng.integers(0, len(options), len(who))]
    return chosen


def _city(s: Scenario, rng: np.random.Generator) -> Population:
    n = s.persons
    household, size = _households(s, rng, n)
    district = rng.integers(0, s.districts, household.max() + 1)[household]
    # Every household has an adult: its first member; children are among the others.
    first = np.r_[True, household[1:] != household[:-1]]
    others = max(1, int(np.count_nonzero(~first)))
    child = ~first & (rng.random(n) < min(1.0, s.child_fraction * n / others))
    year = s.start.year
    birth_year = np.where(child, year - rng.integers(3, 14, n), year - rng.integers(18, 80, n))
    places = _places(s, rng, n)
    anchor = np.full(n, -1, dtype=np.int64)
    minutes = np.zeros(n)
    workers = ~child & (rng.random(n) < s.workers_fraction)
    pupils = child & (rng.random(n) < s.school_fraction)
    for who, kind, hours in ((workers, "workplace", 8.0), (pupils, "school", 7.0)):
        if places.of(kind, 0).size:
            anchor[who] = _pick(rng, places, kind, district[who])
            minutes[who] = hours * 60
    # A share of the workforce works in the city's cold-chain businesses.
    if places.of("cold_chain", 0).size:
        cold = workers & (rng.random(n) < 0.01)
        anchor[cold] = _pick(rng, places, "cold_chain", district[cold])
    return Population(
        household=household, household_size=size, district=district.astype(np.int64),
        birth_year=birth_year.astype(np.int64), child=child,
        group=np.full(n, "resident", dtype="<U10"), anchor=anchor, anchor_minutes=minutes,
        anchor_weekdays_only=np.ones(n, dtype=bool), arrives_day=np.zeros(n, dtype=np.int64),
        hotel=np.full(n, -1, dtype=np.int64), dining=np.full(n, -1, dtype=np.int64),
        places=places,
    )  # fmt: skip


def _loop(s: Scenario, rng: np.random.Generator) -> Population:
    """Members of a closed loop: a hotel per group, its floors of 20 single rooms (a room is
    a household of one) and its dining hall; venues of about 100 people to work at every
    day; buses of the scenario's capacity; arrivals over the first `arrival_days`."""
    n = s.persons
    names = list(s.groups)
    group = np.asarray(names, dtype="<U10")[rng.choice(len(names), n, p=list(s.groups.values()))]
    kinds: list[str] = []
    parents: list[int] = []
    room = np.full(n, -1, dtype=np.int64)
    dining = np.full(n, -1, dtype=np.int64)

    def add(kind: str, parent: int = -1) -> int:
        kinds.append(kind)
        parents.append(parent)
        return len(kinds) - 1

    for name in names:
        members = np.flatnonzero(group == name)
        hotel = add("hotel")
        hall = add("restaurant", hotel)
        floors = [add("other", hotel) for _ in range(-(-len(members) // ROOMS_PER_FLOOR))]
        rooms = [add("room", floors[i // ROOMS_PER_FLOOR]) for i in range(len(members))]
        room[members] = rooms
        dining[members] = hall
    for _ in range(max(1, n // VENUE_SIZE)):
        add("venue")
    for _ in range(max(1, -(-n // max(1, s.bus_capacity)))):
        add("transport")
    kind_array = np.asarray(kinds, dtype=np.str_)
    places = Places(kind_array, np.zeros(len(kinds), dtype=np.int64), {},
                    np.asarray(parents, dtype=np.int64))  # fmt: skip
    for kind in set(kinds):
        places.by_kind_district[kind, 0] = np.flatnonzero(kind_array == kind)
    venues = places.of("venue", 0)
    anchor = venues[rng.integers(0, len(venues), n)]
    arrives = rng.integers(0, max(1, s.arrival_days), n) if s.arrival_days else np.zeros(n, int)
    return Population(
        household=np.arange(n, dtype=np.int64), household_size=np.ones(n, dtype=np.int64),
        district=np.zeros(n, dtype=np.int64),
        birth_year=(s.start.year - rng.integers(18, 65, n)).astype(np.int64),
        child=np.zeros(n, dtype=bool), group=group, anchor=anchor,
        anchor_minutes=np.full(n, 8 * 60.0), anchor_weekdays_only=np.zeros(n, dtype=bool),
        arrives_day=arrives.astype(np.int64), hotel=room, dining=dining, places=places,
    )  # fmt: skip


def _homogeneous(s: Scenario) -> Population:
    """Everyone in one place all day and alone at home: the textbook well-mixed population."""
    n = s.persons
    places = Places(np.asarray(["other"]), np.zeros(1, dtype=np.int64),
                    {("other", 0): np.zeros(1, dtype=np.int64)})  # fmt: skip
    return Population(
        household=np.arange(n, dtype=np.int64), household_size=np.ones(n, dtype=np.int64),
        district=np.zeros(n, dtype=np.int64),
        birth_year=np.full(n, s.start.year - 40, dtype=np.int64), child=np.zeros(n, bool),
        group=np.full(n, "resident", dtype="<U10"), anchor=np.zeros(n, dtype=np.int64),
        anchor_minutes=np.full(n, 1_440.0), anchor_weekdays_only=np.zeros(n, bool),
        arrives_day=np.zeros(n, dtype=np.int64), hotel=np.full(n, -1, dtype=np.int64),
        dining=np.full(n, -1, dtype=np.int64), places=places,
    )  # fmt: skip
