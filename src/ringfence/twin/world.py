"""The simulated world, one day at a time: who goes where, who infects whom, who shows
symptoms and gets tested, and the events all of that leaves behind, exactly as the real
city's systems would record them.

Each day is vectorised over agents and visits: outings are drawn for everyone at once,
infectious presence is summed per place with `bincount`, and infection is one draw per
susceptible agent. The world obeys the last orders it was given (`obey`): confined people
stay in (at home, or away from it), closed places receive no one, and the tests the cycle
planned for the day are taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .disease import LAB_CUTOFF_CT, Infections
from .population import Population, build_population
from .scenario import Scenario

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Columns = dict[str, Any]

DAY_SECONDS = 86_400
FREE, AT_HOME, AWAY = 0, 1, 2
"""Where an agent spends the day: as they please, confined at home, confined away from
home (isolation, hospital, central quarantine)."""
AWAY_KINDS = ("isolation", "hospital", "quarantine_central")
HOME_KINDS = ("quarantine_home",)
PLAN_PURPOSES = {
    "release_test": "release", "loop_screening": "screening", "missed_test": "screening",
    "pharmacy_signal": "diagnostic", "antigen_confirmation": "diagnostic",
    "mass_testing": "mass", "pool_retest": "mass",
}  # fmt: skip
"""The sample purpose of a planned test (a contact's day-N test is `contact`)."""


@dataclass
class Plan:
    """The tests the cycle planned for one day: who, why, and in which pooled tube."""

    person: Ints
    purpose: list[str]
    pool: list[str]

    @classmethod
    def empty(cls) -> Plan:
        """No tests planned."""
        return cls(np.empty(0, dtype=np.int64), [], [])


@dataclass
class Encounters:
    """Close encounters of one day: two agents within `distance` metres from `start` (days
    since the start of the run) for `minutes`."""

    a: Ints
    b: Ints
    start: Floats
    minutes: Floats
    distance: Floats

    @classmethod
    def none(cls) -> Encounters:
        """No encounters."""
        empty = np.empty(0)
        return cls(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty)

    def closeness(self) -> Floats:
        """How much of a within-a-metre exposure each encounter is: all of it up to a
        metre, falling with the square of the distance beyond (droplets spread out)."""
        return np.minimum(1.0, 1.0 / np.maximum(self.distance, 1e-9) ** 2)


NO_ENCOUNTERS_AT = ("home", "room")
"""Places where no one meets a stranger: a household's home, a single room."""


@dataclass
class DayCounts:
    """What happened on one simulated day."""

    day: int
    new_infections: int
    infectious: int
    isolated: int
    quarantined: int
    places_closed: int
    samples: int
    tubes: int
    children_separated: int


@dataclass
class World:
    """A scenario's world under way: its people, their infections, and the orders obeyed."""

    scenario: Scenario
    seed: int
    rng: np.random.Generator = field(init=False)
    people: Population = field(init=False)
    infections: Infections = field(init=False)
    confined: npt.NDArray[np.int8] = field(init=False)
    closed: Bools = field(init=False)
    complies: Bools = field(init=False)
    vaccinated: Bools = field(init=False)
    reports_symptoms: Bools = field(init=False)
    clinic_tested: Bools = field(init=False)
    plan: Plan = field(init=False)
    beta: Floats = field(init=False)
    """Each place's transmission rate, by its kind."""
    counts: list[DayCounts] = field(default_factory=list)
    serial: int = 0
    held_results: Columns | None = None
    """Results not yet reported at the end of the day they were taken."""
    ordered: npt.NDArray[np.int8] = field(init=False)
    """Per agent, the order in force today (1 quarantine, 2 isolation), obeyed or not."""

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        s = self.scenario
        self.people = build_population(s, self.rng)
        n = self.people.count
        self.infections = Infections.none(n)
        self.confined = np.zeros(n, dtype=np.int8)
        self.ordered = np.zeros(n, dtype=np.int8)
        self.closed = np.zeros(self.people.places.count, dtype=bool)
        self.complies = self.rng.random(n) < s.compliance
        # A child goes where its family goes: it complies as the household's first adult does.
        head = np.zeros(int(self.people.household.max()) + 1, dtype=bool)
        adults = np.flatnonzero(~self.people.child)
        head[self.people.household[adults[::-1]]] = self.complies[adults[::-1]]
        self.complies[self.people.child] = head[self.people.household[self.people.child]]
        self.reports_symptoms = self.rng.random(n) < s.symptom_reporting
        # Drawn only where someone arrives: a city's run stays the same draw for draw.
        self.vaccinated = (self.rng.random(n) < s.vaccinated) if s.loop else np.ones(n, bool)
        self.clinic_tested = np.zeros(n, dtype=bool)
        self.plan = Plan.empty()
        self.beta = np.array([s.beta_per_hour.get(k, 0.0) for k in self.people.places.kind])
        self._seed_infections()
        zone = ZoneInfo(s.timezone)
        self.t0 = int(datetime.combine(s.start, time(0), tzinfo=zone).timestamp())

    # -- clock --------------------------------------------------------------------------
    def instant(self, day_time: Floats) -> pa.Array:
        """Days since the start as UTC timestamps (seconds)."""
        seconds = self.t0 + np.round(np.asarray(day_time) * DAY_SECONDS).astype(np.int64)
        return pa.array(seconds, type=pa.timestamp("s", tz="UTC"))

    def end_of_day(self, day: int) -> datetime:
        """The instant the cycle runs after day `day` (23:00 local)."""
        return datetime.fromtimestamp(self.t0 + day * DAY_SECONDS + 23 * 3_600, tz=UTC)

    # -- setup --------------------------------------------------------------------------
    def _seed_infections(self) -> None:
        s, n = self.scenario, self.people.count
        v = s.variant
        if s.loop and s.entry_positivity > 0:
            arriving = np.flatnonzero(self.rng.random(n) < s.entry_positivity)
            before = self.people.arrives_day[arriving] - self.rng.uniform(1, 5, len(arriving))
            self.infections.infect(self.rng, arriving, before, v)
        seeds = self.rng.choice(n, size=min(s.seed_infections, n), replace=False)
        seeds = seeds[self.infections.susceptible()[seeds]]
        self.infections.infect(self.rng, seeds, -self.rng.uniform(0, 3, len(seeds)), v)

    # -- one day ------------------------------------------------------------------------
    def step(self, day: int, record: bool = True) -> dict[str, Columns]:
        """Simulate day `day` and return its events by table (none unless `record`)."""
        present = self.people.arrives_day <= day
        free = present & (self.confined == FREE)
        level = self.infections.infectiousness(day)
        who, where, start, minutes = self._visits(day, free)
        near = self._encounters(who, where, start, minutes)
        new = self._transmit(day, level * present, present, who, where, minutes, near)
        events: dict[str, Columns] = {}
        if record:
            events = self._events(day, who, where, start, minutes, near)
        self.counts.append(
            DayCounts(
                day=day,
                new_infections=int(new),
                infectious=int(np.count_nonzero(level > 0)),
                isolated=int(np.count_nonzero(self.ordered == 2)),
                quarantined=int(np.count_nonzero(self.ordered == 1)),
                places_closed=int(np.count_nonzero(self.closed)),
                samples=len(events.get("samples", {}).get("sample_id", [])),
                tubes=self._tubes(events),
                children_separated=self._children_separated(),
            )
        )
        return events

    def _visits(self, day: int, free: Bools) -> tuple[Ints, Ints, Floats, Floats]:
        """Today's visits of the agents free to go out: (agent, place, start, minutes)."""
        s, p, rng = self.scenario, self.people, self.rng
        weekday = (s.start + timedelta(days=day)).weekday() < 5
        parts: list[tuple[Ints, Ints, Floats, Floats]] = []
        goes = free & (p.anchor >= 0) & (weekday | ~p.anchor_weekdays_only)
        who = np.flatnonzero(goes)
        if s.kind == "homogeneous":
            parts.append((who, p.anchor[who], np.full(len(who), float(day)), p.anchor_minutes[who]))
        else:
            begin = day + (8.5 if s.loop else 9.0) / 24
            parts.append((who, p.anchor[who], np.full(len(who), begin), p.anchor_minutes[who]))
        if s.loop:
            members = np.flatnonzero(free)
            parts.append((members, p.hotel[members], np.full(len(members), day + 21 / 24),
                          np.full(len(members), 179.0)))  # fmt: skip
            buses = p.places.of("transport", 0)
            bus = buses[rng.integers(0, len(buses), len(members))]
            parts.append((members, bus, np.full(len(members), day + 8 / 24),
                          np.full(len(members), 25.0)))  # fmt: skip
            parts.append((members, p.dining[members], np.full(len(members), day + 18.5 / 24),
                          np.full(len(members), 45.0)))  # fmt: skip
        for outing in s.outings:
            if outing.weekdays_only and not weekday:
                continue
            out = np.flatnonzero(free & (rng.random(len(free)) < outing.per_day))
            chosen = np.full(len(out), -1, dtype=np.int64)
            for d in np.unique(p.district[out]):
                options = p.places.of(outing.kind, int(d))
                mine = p.district[out] == d
                if len(options):
                    chosen[mine] = options[rng.integers(0, len(options), int(mine.sum()))]
            keep = chosen >= 0
            out, chosen = out[keep], chosen[keep]
            starts = day + rng.uniform(10, 20, len(out)) / 24
            parts.append((out, chosen, starts, np.full(len(out), outing.minutes)))
        who = np.concatenate([x[0] for x in parts]).astype(np.int64)
        where = np.concatenate([x[1] for x in parts]).astype(np.int64)
        start = np.concatenate([x[2] for x in parts])
        minutes = np.concatenate([x[3] for x in parts])
        # A closed place receives no one.
        open_ = ~self.closed[where]
        return who[open_], where[open_], start[open_], minutes[open_]

    def _encounters(self, who: Ints, where: Ints, start: Floats, minutes: Floats) -> Encounters:
        """Today's close encounters in a loop: at each shared place, each visitor meets a
        few others (on average `near_per_hour` an hour) for a while, at some distance.

        Drawn for all visits at once: the visits are sorted by place, and an encounter's
        partner is a random other position in its place's run of the sorted visits.
        """
        s, rng = self.scenario, self.rng
        if not s.loop or not (s.badges or s.beta_per_hour.get("near", 0.0) > 0):
            return Encounters.none()
        kinds = self.people.places.kind
        eligible = np.flatnonzero(~np.isin(kinds[where], NO_ENCOUNTERS_AT))
        order = eligible[np.argsort(where[eligible], kind="stable")]
        place = where[order]
        visitors = np.bincount(place, minlength=self.people.places.count)
        first = np.concatenate([[0], np.cumsum(visitors)[:-1]])
        rank = np.arange(len(order)) - first[place]
        shared = visitors[place] >= 2
        meetings = np.where(shared, rng.poisson(s.near_per_hour * minutes[order] / 60), 0)
        mine = np.repeat(np.arange(len(order)), meetings)
        # Another visitor of the same place: a random rank that skips the visitor's own.
        other = rng.integers(0, np.maximum(visitors[place[mine]] - 1, 1))
        other = other + (other >= rank[mine])
        a, b = order[mine], order[first[place[mine]] + other]
        begin = np.maximum(start[a], start[b])
        overlap = np.minimum(start[a] + minutes[a] / 1_440, start[b] + minutes[b] / 1_440) - begin
        length = np.minimum(rng.exponential(s.near_minutes, len(a)) / 1_440, overlap)
        keep = (length > 0) & (who[a] != who[b])
        begin = begin + rng.random(len(a)) * (overlap - length)
        distance = np.round(rng.uniform(0.3, 3.0, len(a)), 1)
        return Encounters(who[a][keep], who[b][keep], begin[keep], length[keep] * 1_440,
                          distance[keep])  # fmt: skip

    def _transmit(self, day: int, level: Floats, present: Bools, who: Ints, where: Ints,
                  minutes: Floats, near: Encounters) -> int:  # fmt: skip
        """Infect today's susceptible agents from the infectious ones (at `level` today) they
        shared a place or a home with; returns how many were infected."""
        s, p, inf = self.scenario, self.people, self.infections
        places = p.places.count
        infectious_minutes = np.bincount(where, weights=level[who] * minutes, minlength=places)
        # Who met whom at a place is not known, only who was there: each visitor meets the
        # place's mix, the share of its person-minutes that were infectious.
        crowd = np.bincount(where, weights=minutes, minlength=places)
        share = np.divide(infectious_minutes, crowd, out=np.zeros(places), where=crowd > 0)
        beta = self.beta
        hazard: Floats = np.bincount(who, weights=beta[where] * minutes / 60 * share[where],
                                     minlength=p.count).astype(np.float64)  # fmt: skip
        at_home = present & (self.confined != AWAY) & (p.hotel < 0)
        if s.beta_per_hour.get("household", 0.0) > 0:
            home_level = level * at_home
            household_infectious = np.bincount(p.household, weights=home_level)
            household_present = np.bincount(p.household, weights=at_home.astype(float))
            others = household_present[p.household] - 1
            other_infectious = household_infectious[p.household] - home_level
            hours = np.where(self.confined == AT_HOME, 24.0, s.hours_at_home)
            hazard += np.where(
                at_home & (others > 0),
                s.beta_per_hour["household"] * hours * other_infectious / np.maximum(others, 1),
                0.0,
            )
        beta_near = s.beta_per_hour.get("near", 0.0)
        if beta_near > 0 and len(near.a):
            # An encounter is mutual: each of the two is exposed to the other.
            dose = beta_near * near.minutes / 60 * near.closeness()
            hazard += np.bincount(near.a, weights=dose * level[near.b], minlength=p.count)
            hazard += np.bincount(near.b, weights=dose * level[near.a], minlength=p.count)
        hazard *= s.variant.relative_transmissibility
        susceptible = inf.susceptible() & present
        risk = 1.0 - np.exp(-hazard)
        infected = np.flatnonzero(susceptible & (self.rng.random(p.count) < risk))
        inf.infect(self.rng, infected, day + self.rng.random(len(infected)), s.variant)
        return len(infected)

    # -- events -------------------------------------------------------------------------
    def _next_ids(self, prefix: str, n: int) -> list[str]:
        first = self.serial
        self.serial += n
        return [f"{prefix}{i:09d}" for i in range(first, first + n)]

    def _events(self, day: int, who: Ints, where: Ints, start: Floats, minutes: Floats,
                near: Encounters) -> dict[str, Columns]:  # fmt: skip
        """Today's events as the systems of a real city would record them."""
        s = self.scenario
        events: dict[str, Columns] = {}
        if day == 0:
            events["persons"] = self._persons()
            events["places"] = self._places()
        events["visits"] = {
            "person_id": person_ids(who), "place_id": place_ids(where),
            "start": self.instant(start), "end": self.instant(start + minutes / 1_440),
            "source": ["badge" if s.loop else "scan"] * len(who),
        }  # fmt: skip
        if s.badges and len(near.a):
            # One record per encounter: the badges of both saw it, the system keeps one
            # (and one of two that begin at the same second: its key).
            seconds = np.round(near.start * DAY_SECONDS).astype(np.int64)
            _, first = np.unique(np.stack([near.a, near.b, seconds]), axis=1, return_index=True)
            first = np.sort(first)
            length = np.maximum(np.round(near.minutes[first] * 60), 1)
            events["proximity"] = {
                "person_id": person_ids(near.a[first]),
                "other_person_id": person_ids(near.b[first]),
                "start": self.instant(seconds[first] / DAY_SECONDS),
                "end": self.instant((seconds[first] + length) / DAY_SECONDS),
                "distance_m": near.distance[first], "source": ["badge"] * len(first),
            }  # fmt: skip
        if s.loop:
            arriving = np.flatnonzero(self.people.arrives_day == day)
            at = day + self.rng.uniform(6, 18, len(arriving)) / 24
            vaccinated = self.vaccinated[arriving]
            days_before = self.rng.integers(30, 240, len(arriving))
            events["arrivals"] = {
                "person_id": person_ids(arriving), "arrived_at": self.instant(at),
                "origin": ["abroad"] * len(arriving), "port": ["PEK"] * len(arriving),
                "vaccinated_on": pa.array(
                    [s.start + timedelta(days=day - int(m)) if v else None
                     for v, m in zip(vaccinated.tolist(), days_before.tolist(), strict=True)],
                    type=pa.date32(),
                ),
            }  # fmt: skip
            airport = (arriving, ["arrival"] * len(arriving), [""] * len(arriving), at + 0.02)
        else:
            airport = (np.empty(0, np.int64), [], [], np.empty(0))
        symptoms, clinic = self._symptoms(day)
        if symptoms:
            events["symptoms"] = symptoms
        planned_at = day + self.rng.uniform(7, 11, len(self.plan.person)) / 24
        purposes = [_sample_purpose(x) for x in self.plan.purpose]
        tests = (
            np.concatenate([self.plan.person, clinic[0], airport[0]]).astype(np.int64),
            purposes + clinic[1] + airport[1],
            self.plan.pool + clinic[2] + airport[2],
            np.concatenate([planned_at, clinic[3], airport[3]]),
        )
        self.plan = Plan.empty()
        samples, results = self._tests(*tests)
        if samples["sample_id"]:
            events["samples"] = samples
        results = self._due(day, results)
        if results["result_id"]:
            events["results"] = results
        return events

    def _due(self, day: int, results: Columns) -> Columns:
        """The results reported by the end of `day`; later ones are held for their day."""
        held = self.held_results
        if held is not None:
            results = {k: _concat(held[k], results[k]) for k in results}
        reported = np.asarray(results["_reported"], dtype=float)
        now = reported <= day + 1
        self.held_results = _take(results, np.flatnonzero(~now)) if (~now).any() else None
        due = _take(results, np.flatnonzero(now))
        del due["_reported"]
        return due

    def _symptoms(self, day: int) -> tuple[Columns, tuple[Ints, list[str], list[str], Floats]]:
        """Symptom reports of agents whose symptoms began today, and their fever-clinic
        tests (a report is a visit to a clinic the same day)."""
        inf = self.infections
        onset = inf.onset
        # Symptoms that begin after 21:00 are reported the next day: a report comes two hours
        # after onset and the clinic's swab half an hour later, both before the day ends.
        starting = np.flatnonzero(
            (onset >= day - 3 / 24) & (onset < day + 21 / 24) & self.reports_symptoms
            & ~self.clinic_tested & (self.people.arrives_day <= day)
        )  # fmt: skip
        self.clinic_tested[starting] = True
        at = onset[starting] + 2 / 24
        mild = np.where(self.rng.random(len(starting)) < 0.5, "mild", "moderate")
        severity = np.where(inf.severe[starting], "severe", mild)
        columns: Columns = {}
        if len(starting):
            columns = {
                "person_id": person_ids(starting), "reported_at": self.instant(at),
                "severity": severity.tolist(),
                "temperature_c": np.round(self.rng.uniform(37.5, 39.5, len(starting)), 1),
            }  # fmt: skip
        n = len(starting)
        return columns, (starting, ["diagnostic"] * n, [""] * n, at + 0.5 / 24)

    def _tests(self, person: Ints, purpose: list[str], pool: list[str], at: Floats
               ) -> tuple[Columns, Columns]:  # fmt: skip
        """Samples taken and their results, with Ct: single tubes, and pooled tubes read
        once for all the swabs in them (diluted: the pool's Ct is its lowest plus log2 of
        its size)."""
        s, rng = self.scenario, self.rng
        n = len(person)
        sample_ids = self._next_ids("TS", n)
        samples: Columns = {
            "sample_id": sample_ids, "person_id": person_ids(person),
            "collected_at": self.instant(at), "test": ["pcr"] * n,
            "pool_id": [x or None for x in pool], "purpose": purpose,
        }  # fmt: skip
        true_ct = self.infections.ct(person, at) if n else np.empty(0)
        detected = rng.random(n) < s.test_sensitivity
        reported_at = at + s.result_delay_hours / 24
        pooled = np.asarray([bool(x) for x in pool], dtype=bool)
        single = np.flatnonzero(~pooled)
        ct = np.where(detected & (true_ct < LAB_CUTOFF_CT), true_ct, np.inf)
        noisy = np.round(ct + rng.normal(0, 0.5, n), 1)
        result_ids = self._next_ids("TR", len(single))
        results: Columns = {
            "result_id": result_ids,
            "sample_id": [sample_ids[i] for i in single],
            "pool_id": [None] * len(single),
            "reported_at": self.instant(reported_at[single]),
            "outcome": np.where(np.isfinite(ct[single]), "positive", "negative").tolist(),
            "ct": np.where(np.isfinite(noisy[single]), noisy[single], np.nan),
            "_reported": reported_at[single],
        }
        if pooled.any():
            tubes: dict[str, list[int]] = {}
            for i in np.flatnonzero(pooled):
                tubes.setdefault(pool[i], []).append(int(i))
            names = sorted(tubes)
            lowest = np.array([true_ct[tubes[t]].min() for t in names])
            size = np.array([len(tubes[t]) for t in names])
            diluted = lowest + np.log2(size)
            found = (diluted < LAB_CUTOFF_CT) & (rng.random(len(names)) < s.test_sensitivity)
            when = np.array([reported_at[tubes[t]].max() for t in names])
            pool_ct = np.round(np.where(found, diluted, np.nan), 1)
            results["result_id"] += self._next_ids("TR", len(names))
            results["sample_id"] += [None] * len(names)
            results["pool_id"] += names
            results["reported_at"] = pa.concat_arrays(
                [results["reported_at"], self.instant(when)]
            )
            results["outcome"] += np.where(found, "positive", "negative").tolist()
            results["ct"] = np.concatenate([results["ct"], pool_ct])
            results["_reported"] = np.concatenate([results["_reported"], when])
        return samples, results

    def _persons(self) -> Columns:
        p, s = self.people, self.scenario
        return {
            "person_id": person_ids(np.arange(p.count)),
            "household_id": [f"TH{h:08d}" for h in p.household],
            "birth_year": p.birth_year,
            "district": [f"D{d + 1}" for d in p.district],
            "group": p.group.tolist(),
            "loop_id": [s.loop_id if s.loop else None] * p.count,
        }

    def _places(self) -> Columns:
        p, s = self.people.places, self.scenario
        parents = p.parent if p.parent is not None else np.full(p.count, -1, dtype=np.int64)
        named = place_ids(np.maximum(parents, 0))
        pairs = zip(named, parents.tolist(), strict=True)
        return {
            "place_id": place_ids(np.arange(p.count)),
            "parent_id": [name if i >= 0 else None for name, i in pairs],
            "kind": p.kind.tolist(),
            "district": [f"D{d + 1}" for d in p.district],
            "loop_id": [s.loop_id if s.loop else None] * p.count,
        }

    def _tubes(self, events: Mapping[str, Columns]) -> int:
        samples = events.get("samples")
        if not samples:
            return 0
        pools = {x for x in samples["pool_id"] if x}
        return sum(1 for x in samples["pool_id"] if not x) + len(pools)

    def _children_separated(self) -> int:
        """Children confined away from home today with no adult of their household confined
        with them (the cycle's rule says: never)."""
        p = self.people
        away = self.confined == AWAY
        children = np.flatnonzero(away & p.child)
        if not len(children):
            return 0
        adults_away = np.bincount(p.household, weights=(away & ~p.child).astype(float),
                                  minlength=int(p.household.max()) + 1)  # fmt: skip
        return int(np.count_nonzero(adults_away[p.household[children]] == 0))

    # -- orders -------------------------------------------------------------------------
    def obey(self, confinements: Mapping[int, str], closures: set[int], plan: Plan) -> None:
        """Take the orders in force after today's cycle run: confinement by agent (obeyed
        by those who comply), closed places, and tomorrow's tests."""
        n = self.people.count
        kind = np.zeros(n, dtype=np.int8)
        confined = np.zeros(n, dtype=np.int8)
        for agent, order in confinements.items():
            level = AWAY if order in AWAY_KINDS else AT_HOME
            kind[agent] = 2 if order in ("isolation", "hospital") else 1
            if self.complies[agent]:
                confined[agent] = level
        self.confined = confined
        self.ordered = kind
        self.closed = np.zeros(self.people.places.count, dtype=bool)
        if closures:
            self.closed[np.fromiter(closures, dtype=np.int64)] = True
        self.plan = plan


def _concat(a: Any, b: Any) -> Any:
    if isinstance(a, pa.Array):
        return pa.concat_arrays([a, b])
    if isinstance(a, np.ndarray):
        return np.concatenate([a, b])
    return list(a) + list(b)


def _take(columns: Columns, index: Ints) -> Columns:
    """The rows `index` of columns held as lists, NumPy or Arrow arrays."""
    taken: Columns = {}
    for key, values in columns.items():
        if isinstance(values, pa.Array):
            taken[key] = values.take(pa.array(index, type=pa.int64()))
        elif isinstance(values, np.ndarray):
            taken[key] = values[index]
        else:
            taken[key] = [values[i] for i in index.tolist()]
    return taken


def _sample_purpose(plan_purpose: str) -> str:
    if plan_purpose in PLAN_PURPOSES:
        return PLAN_PURPOSES[plan_purpose]
    return "contact" if "_test_day_" in plan_purpose else "screening"


def person_ids(index: Ints) -> list[str]:
    """The ids the store knows agents by."""
    return [f"T{i:07d}" for i in np.asarray(index).tolist()]


def place_ids(index: Ints) -> list[str]:
    """The ids the store knows places by."""
    return [f"TP{i:06d}" for i in np.asarray(index).tolist()]


def agent_of(person_id: str) -> int:
    """The agent behind a person id of the twin."""
    return int(person_id[1:])


def place_of(place_id: str) -> int:
    """The place behind a place id of the twin."""
    return int(place_id[2:])
