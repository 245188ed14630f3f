"""The bundled example: Beijing, January 2022, small enough to read and check by hand.

Two worlds share the files (jurisdiction time zone Asia/Shanghai):

**The closed loop BJ2022** (120 members: athletes, officials, media, Beijing staff).
Members arrive over 4–10 January through Beijing Capital airport (PEK), the staff enter from
the city. Two contracted hotels hold floors (kind ``other``: a floor is a shared corridor, not
a room anyone sleeps in) and rooms (kind ``room``); athletes share rooms two by two, so
roommates share a household. Everyone gets an arrival PCR and then a daily screening PCR.

- L070 (media) is positive at the airport, Ct 23.8 (ORF1ab 24.3, N 23.8; sequence BA.1), goes
  to the loop's isolation hotel and leaves it on 16 Jan after negative release tests on 14 and
  15 Jan.
- L050 (official) reads Ct 37.1 at the airport: a lab "positive" that is indeterminate under a
  Ct < 35 rule; managed as a contact with two tests a day for seven days.
- L080 (media) is positive at the airport (Ct 31.6) but the confirmatory test is negative; one
  more negative ≥ 24 h later lets them into the loop.
- L012 (athlete) completed vaccination on 28 Dec 2021, fewer than 14 days before arriving.
- L088 (media) turns positive on daily screening on 14 Jan (negative on 13 Jan). Badge
  proximity events with L089 (0.8 m, 25 min), L101 (0.9 m, 20 min), L090 (1.2 m, too far),
  L075 (0.5 m, 6 min, too short), and L092 (0.6 m, 35 min on 12 Jan: before the last negative
  sample), plus shared shuttle, venue and dining-hall visits with the other media.

**Fengtai district** (250 residents in households of 1–5, children, elderly, three pregnant
women, people with comorbidities), with homes, workplaces, a school, a restaurant, a farmers
market, a cold-chain wholesale market, a pharmacy, a hospital with a fever clinic, a mail
sorting centre and a quarantine hotel; a week of visits (10–16 Jan).

- The Omicron case (the first adult of household FH005, a sorting-centre worker) is found at
  the fever clinic on 15 Jan: onset 13 Jan, mild, 37.8 °C; sequence BA.1.1. Earlier they ate at
  the restaurant, had a visitor at home and bought an antipyretic at the pharmacy.
- A letter mailed from Canada at the sorting centre is swabbed on 16 Jan: positive, Ct 33.1.
- A 10-in-1 mass-testing round on 16 Jan: one pool is positive; its ten members are re-tested
  single-tube on 17 Jan and one is positive, the Delta case (AY.4), a cold-chain market worker
  whose last negative screening was 14 Jan. They report symptoms on 19 Jan (converted).
- Pharmacy buyers of fever and cough medicines, most tested within 72 h, one not.

Instants are written as real inputs write them: visits, samples, symptoms and purchases as
naive local time (``2022-01-15 09:30:00``), proximity as naive local with a ``T``, results,
arrivals and departures with an offset (``2022-01-15T14:02:00+08:00``) and sequences in UTC
(``2022-01-16T03:00:00Z``). Regenerate the files with ``python -m ringfence.examples.scenario``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from ringfence.examples import EXAMPLE_TABLES
from ringfence.examples.generate import write_table
from ringfence.schema import table as schema_table

LOOP_ID = "BJ2022"
CITY_DISTRICT = "Fengtai"
_LOOP_END = datetime(2022, 1, 19, 12, 0)  # bookings run to the end of the example
_SEED = 20220104

# How each table writes its instants (see the module docstring).
_NAIVE, _NAIVE_T, _OFFSET, _UTC = "naive", "naive_t", "offset", "utc"
_STYLE = {
    "visits": _NAIVE,
    "proximity": _NAIVE_T,
    "samples": _NAIVE,
    "results": _OFFSET,
    "symptoms": _NAIVE,
    "arrivals": _OFFSET,
    "departures": _OFFSET,
    "sequences": _UTC,
    "purchases": _NAIVE,
}

Value = str | int | float | bool | date | None


def _instant(at: datetime, style: str) -> str:
    """Local wall-clock time `at` written in `style`."""
    if style == _NAIVE:
        return at.strftime("%Y-%m-%d %H:%M:%S")
    if style == _NAIVE_T:
        return at.strftime("%Y-%m-%dT%H:%M:%S")
    if style == _OFFSET:
        return at.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    return (at - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Value | datetime, style: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _instant(value, style)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass
class _Tables:
    """Rows of every table, as text, checked against the schema's column names."""

    rows: dict[str, list[dict[str, str | None]]] = field(
        default_factory=lambda: {name: [] for name in EXAMPLE_TABLES}
    )

    def add(self, table: str, **values: Value | datetime) -> None:
        unknown = set(values) - set(schema_table(table).column_names)
        if unknown:
            raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
        style = _STYLE.get(table, _NAIVE)
        self.rows[table].append({k: _text(v, style) for k, v in values.items()})

    def columns(self, table: str) -> dict[str, list[str | None]]:
        names = schema_table(table).column_names
        return {c: [row.get(c) for row in self.rows[table]] for c in names}


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A local time in January 2022."""
    return datetime(2022, 1, day, hour, minute, second)


def _days(first: int, last: int) -> range:
    return range(first, last + 1)


# ------------------------------------------------------------------------------------------
# Shared: samples and results
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ct:
    """A positive PCR's cycle thresholds; `ct` is the lower of the two genes."""

    orf1ab: float
    n: float

    @property
    def ct(self) -> float:
        return min(self.orf1ab, self.n)


def _swab(
    t: _Tables,
    sample_id: str,
    collected: datetime,
    reported: datetime,
    purpose: str,
    *,
    person: str | None = None,
    place: str | None = None,
    item: str | None = None,
    positive: _Ct | None = None,
) -> None:
    """One single-tube PCR sample and its result."""
    t.add(
        "samples",
        sample_id=sample_id,
        person_id=person,
        place_id=place,
        collected_at=collected,
        test="pcr",
        purpose=purpose,
        item=item,
    )
    _result(t, f"R-{sample_id}", reported, positive, sample_id=sample_id)


def _result(
    t: _Tables,
    result_id: str,
    reported: datetime,
    positive: _Ct | None,
    *,
    sample_id: str | None = None,
    pool_id: str | None = None,
) -> None:
    t.add(
        "results",
        result_id=result_id,
        sample_id=sample_id,
        pool_id=pool_id,
        reported_at=reported,
        outcome="negative" if positive is None else "positive",
        ct=None if positive is None else positive.ct,
        ct_orf1ab=None if positive is None else positive.orf1ab,
        ct_n=None if positive is None else positive.n,
    )


def _visit(
    t: _Tables, person: str, place: str, start: datetime, end: datetime, source: str | None
) -> None:
    t.add("visits", person_id=person, place_id=place, start=start, end=end, source=source)


def _minutes(rnd: random.Random, lo: int, hi: int) -> timedelta:
    return timedelta(minutes=rnd.randint(lo, hi))


# ------------------------------------------------------------------------------------------
# The closed loop
# ------------------------------------------------------------------------------------------

_GIVEN = (
    "Anna",
    "Lars",
    "Marie",
    "Tom",
    "Yuki",
    "Elena",
    "Jonas",
    "Sofia",
    "Mika",
    "Paul",
    "Ines",
    "Ole",
    "Chloe",
    "Ken",
    "Lea",
    "Max",
    "Nora",
    "Ivan",
    "Sara",
    "Leo",
)
_FAMILY = (
    "Berg",
    "Muller",
    "Dubois",
    "Smith",
    "Sato",
    "Rossi",
    "Novak",
    "Larsen",
    "Kim",
    "Petrov",
    "Hansen",
    "Meier",
    "Brown",
    "Ito",
    "Costa",
)

# (group, first and last member number, hotel, birth years)
_LOOP_GROUPS = (
    ("athlete", 1, 40, "H-ATH", (1994, 2004)),
    ("official", 41, 65, "H-ATH", (1960, 1990)),
    ("media", 66, 95, "H-MED", (1965, 1996)),
    ("staff", 96, 120, "H-MED", (1970, 2000)),
)
# Flights into PEK: (local arrival time, flight, origin).
_FLIGHTS = (
    (_at(4, 14, 10), "SK996", "Norway"),
    (_at(5, 9, 35), "KE855", "Korea"),
    (_at(5, 16, 50), "CA934", "France"),
    (_at(6, 15, 40), "LH720", "Germany"),
    (_at(7, 16, 20), "AF128", "France"),
    (_at(8, 11, 5), "SU204", "Russia"),
    (_at(8, 18, 30), "AC31", "Canada"),
    (_at(9, 13, 15), "JL21", "Japan"),
    (_at(10, 10, 45), "UA889", "United States"),
)
_FLIGHT_OF = {"L070": 3, "L080": 4, "L050": 5, "L012": 1}

AIRPORT_POSITIVE = "L070"  # Ct 23.8: a case at entry
AIRPORT_INDETERMINATE = "L050"  # Ct 37.1
AIRPORT_DISCORDANT = "L080"  # positive at the airport, confirmatory negative
LATE_VACCINATED = "L012"
LOOP_CASE = "L088"  # positive inside the loop on 14 Jan
LOOP_DEPARTING = ("L061", "L062", "L063")


@dataclass
class _Member:
    person_id: str
    group: str
    hotel: str
    room: str
    arrived: datetime
    departs: datetime | None = None


def _loop_places(t: _Tables) -> dict[str, list[str]]:
    """Hotels → floors → rooms, dining halls, venues, shuttles, isolation; rooms by hotel."""

    def place(
        place_id: str,
        kind: str,
        name: str,
        parent: str | None = None,
        district: str = "Chaoyang",
        capacity: int | None = None,
        loop: str | None = LOOP_ID,
    ) -> None:
        t.add(
            "places",
            place_id=place_id,
            kind=kind,
            district=district,
            parent_id=parent,
            loop_id=loop,
            capacity=capacity,
            name=name,
        )

    place("PEK", "airport", "Beijing Capital International Airport", district="Shunyi", loop=None)
    rooms: dict[str, list[str]] = {}
    for hotel, name, floors in (
        ("H-ATH", "Olympic Village residence", (3, 4, 5, 6, 7)),
        ("H-MED", "Media hotel", (2, 3, 4, 5, 6, 7)),
    ):
        place(hotel, "hotel", name, capacity=200)
        rooms[hotel] = []
        for f in floors:
            floor = f"{hotel}-F{f:02d}"
            place(floor, "other", f"{name} floor {f}", parent=hotel)
            for r in range(1, 11):
                room = f"{floor}-R{r:02d}"
                place(room, "room", f"{name} room {f}{r:02d}", parent=floor, capacity=2)
                rooms[hotel].append(room)
        place(f"{hotel}-DINING", "restaurant", f"{name} dining hall", parent=hotel, capacity=300)
    place("V-NSSO", "venue", "National Speed Skating Oval", capacity=12000)
    place("V-CIS", "venue", "Capital Indoor Stadium", district="Haidian", capacity=18000)
    place("V-MMC", "venue", "Main Media Centre", capacity=6000)
    place("T-LOOP-1", "transport", "Closed-loop shuttle Village to venues", capacity=50)
    place("T-LOOP-2", "transport", "Closed-loop shuttle Media hotel to MMC", capacity=50)
    place("Q-LOOP", "quarantine_site", "Closed-loop isolation hotel", capacity=300)
    return rooms


def _loop_members(t: _Tables, rnd: random.Random, rooms: dict[str, list[str]]) -> list[_Member]:
    members: list[_Member] = []
    used = {hotel: 0 for hotel in rooms}
    for group, first, last, hotel, (born_lo, born_hi) in _LOOP_GROUPS:
        for number in _days(first, last):
            pid = f"L{number:03d}"
            # Athletes share a room two by two; everyone else sleeps alone.
            per_room = 2 if group == "athlete" else 1
            room = rooms[hotel][used[hotel]]
            if (number - first) % per_room == per_room - 1:
                used[hotel] += 1
            if group == "staff":
                arrived = _at(4, 9) + _minutes(rnd, 0, 180)
            else:
                when, _, _ = _FLIGHTS[_FLIGHT_OF.get(pid, rnd.randrange(len(_FLIGHTS)))]
                arrived = when + _minutes(rnd, 5, 40)
            member = _Member(pid, group, hotel, room, arrived)
            if pid in LOOP_DEPARTING:
                member.departs = _at(17, 14) + _minutes(rnd, 0, 240)
            members.append(member)
            household = f"LH-{room.removeprefix('H-')}"
            t.add(
                "persons",
                person_id=pid,
                household_id=household,
                district="Chaoyang",
                birth_year=rnd.randint(born_lo, born_hi),
                sex=rnd.choice(("female", "male")),
                group=group,
                loop_id=LOOP_ID,
                name=f"{rnd.choice(_GIVEN)} {rnd.choice(_FAMILY)}",
            )
    return members


def _loop_arrivals(t: _Tables, rnd: random.Random, members: list[_Member]) -> None:
    """Arrival events, the airport passage, the arrival PCR and what follows it."""
    for m in members:
        if m.group == "staff":
            t.add(
                "arrivals",
                person_id=m.person_id,
                arrived_at=m.arrived,
                origin="Beijing",
                vaccinated_on=date(2021, 11, 20),
            )
            collected = m.arrived + _minutes(rnd, 20, 40)
        else:
            flight = next(f for f in _FLIGHTS if f[0] <= m.arrived < f[0] + timedelta(hours=1))
            vaccinated = (
                date(2021, 12, 28)
                if m.person_id == LATE_VACCINATED
                else (date(2021, 6, 1) + timedelta(days=rnd.randint(0, 150)))
            )
            t.add(
                "arrivals",
                person_id=m.person_id,
                arrived_at=m.arrived,
                origin=flight[2],
                port="PEK",
                flight=flight[1],
                vaccinated_on=vaccinated,
            )
            collected = m.arrived + _minutes(rnd, 25, 50)
            _visit(t, m.person_id, "PEK", m.arrived, collected + _minutes(rnd, 20, 40), "manifest")
        reported = collected + _minutes(rnd, 240, 330)
        positive = {
            AIRPORT_POSITIVE: _Ct(24.3, 23.8),
            AIRPORT_INDETERMINATE: _Ct(37.1, 38.0),
            AIRPORT_DISCORDANT: _Ct(32.2, 31.6),
        }.get(m.person_id)
        _swab(
            t,
            f"ARR-{m.person_id}",
            collected,
            reported,
            "arrival",
            person=m.person_id,
            positive=positive,
        )
        if m.person_id == AIRPORT_DISCORDANT:
            # Confirmatory test negative, then one more negative at least 24 h later.
            for k, (taken, back) in enumerate(
                ((_at(7, 22), _at(8, 3, 30)), (_at(8, 22, 30), _at(9, 4, 10))), 1
            ):
                _swab(t, f"CNF-{m.person_id}-{k}", taken, back, "diagnostic", person=m.person_id)
    t.add("sequences", sample_id=f"ARR-{AIRPORT_POSITIVE}", lineage="BA.1", reported_at=_at(8, 17))


def _loop_daily(t: _Tables, rnd: random.Random, members: list[_Member]) -> None:
    """Rooms, daily movements, self-reports and tests of every member, day by day."""
    for m in members:
        pid = m.person_id
        check_in = m.arrived + timedelta(hours=2)
        check_out = _LOOP_END if m.departs is None else m.departs - timedelta(hours=3)
        if pid == AIRPORT_POSITIVE:
            _visit(t, pid, "Q-LOOP", _at(6, 23), _at(16, 10), "manifest")
            _visit(t, pid, m.room, _at(16, 11), check_out, "booking")
        elif pid == LOOP_CASE:
            _visit(t, pid, m.room, check_in, _at(14, 14), "booking")
            _visit(t, pid, "Q-LOOP", _at(14, 14, 30), _LOOP_END, "manifest")
        else:
            _visit(t, pid, m.room, check_in, check_out, "booking")
        if m.departs is not None:
            t.add(
                "departures",
                person_id=pid,
                departed_at=m.departs,
                destination=_origin(m),
                port="PEK",
            )

        for day in _days(m.arrived.day + 1, 18):
            morning = _at(day, 0)
            if m.departs is not None and morning > m.departs:
                break
            isolated = (pid == AIRPORT_POSITIVE and day <= 16) or (pid == LOOP_CASE and day > 14)
            managed = pid == AIRPORT_INDETERMINATE and day <= 15
            waiting = pid == AIRPORT_DISCORDANT and day <= 9
            t.add(
                "symptoms",
                person_id=pid,
                reported_at=_at(day, 7) + _minutes(rnd, 0, 50),
                severity="none",
                temperature_c=round(rnd.uniform(36.1, 37.0), 1),
            )
            if isolated:
                _release_test(t, rnd, pid, day)
                continue
            if managed:
                # Ct 35–40: managed as a close contact, PCR twice a day, stays in the room.
                for half, hour in (("AM", 8), ("PM", 18)):
                    taken = _at(day, hour) + _minutes(rnd, 0, 30)
                    _swab(
                        t,
                        f"CON-{day:02d}{half}-{pid}",
                        taken,
                        taken + _minutes(rnd, 240, 300),
                        "contact",
                        person=pid,
                    )
                continue
            if waiting:
                continue
            taken = _at(day, 7, 55) + _minutes(rnd, 0, 90)
            found = pid == LOOP_CASE and day == 14
            positive = _Ct(29.1, 28.6) if found else None
            reported = _at(day, 13, 10) if found else _at(day, 13) + _minutes(rnd, 0, 210)
            _swab(
                t,
                f"SCR-202201{day:02d}-{pid}",
                taken,
                reported,
                "screening",
                person=pid,
                positive=positive,
            )
            _loop_movements(t, rnd, m, day)
    t.add(
        "sequences",
        sample_id=f"SCR-20220114-{LOOP_CASE}",
        lineage="BA.1.1",
        reported_at=_at(16, 20),
    )


# Release tests of the isolated, by day: Ct (None = negative). Two negatives 24 h apart end
# isolation for L070 on 16 Jan.
_RELEASE: dict[str, dict[int, _Ct | None]] = {
    AIRPORT_POSITIVE: {
        10: _Ct(30.3, 29.8),
        11: _Ct(32.0, 31.5),
        12: _Ct(34.4, 33.9),
        13: _Ct(36.9, 36.4),
        14: None,
        15: None,
    },
    LOOP_CASE: {15: _Ct(28.4, 27.9), 16: _Ct(30.7, 30.2), 17: _Ct(33.3, 32.8), 18: _Ct(35.4, 34.9)},
}


def _release_test(t: _Tables, rnd: random.Random, pid: str, day: int) -> None:
    tests = _RELEASE.get(pid, {})
    if day in tests:
        taken = _at(day, 9) + _minutes(rnd, 0, 30)
        _swab(
            t,
            f"REL-202201{day:02d}-{pid}",
            taken,
            taken + _minutes(rnd, 300, 420),
            "release",
            person=pid,
            positive=tests[day],
        )


def _origin(m: _Member) -> str:
    return next(f[2] for f in _FLIGHTS if f[0] <= m.arrived < f[0] + timedelta(hours=1))


def _loop_movements(t: _Tables, rnd: random.Random, m: _Member, day: int) -> None:
    """Shuttle, venue and dining hall: every media shuttle ride overlaps every other."""
    pid = m.person_id
    if m.group in ("athlete", "official"):
        ride = _at(day, 8, 40) + _minutes(rnd, 0, 15)
        venue = "V-NSSO" if int(pid[1:]) % 2 else "V-CIS"
        _visit(t, pid, "T-LOOP-1", ride, ride + _minutes(rnd, 25, 35), "badge")
        _visit(
            t,
            pid,
            venue,
            _at(day, 9, 30) + _minutes(rnd, 0, 20),
            _at(day, 12) + _minutes(rnd, 0, 30),
            "badge",
        )
        meal = _at(day, 12, 45) + _minutes(rnd, 0, 30)
        _visit(t, pid, "H-ATH-DINING", meal, meal + _minutes(rnd, 30, 50), "badge")
        return
    ride = _at(day, 8, 20) + _minutes(rnd, 0, 15)
    _visit(t, pid, "T-LOOP-2", ride, ride + _minutes(rnd, 25, 35), "badge")
    arrive = _at(day, 9) + _minutes(rnd, 0, 20)
    if pid == LOOP_CASE and day == 14:
        # Called out of the MMC when the positive result came back at 13:10.
        _visit(t, pid, "V-MMC", arrive, _at(day, 13, 40), "badge")
        return
    _visit(t, pid, "V-MMC", arrive, _at(day, 17, 30) + _minutes(rnd, 0, 60), "badge")
    meal = (
        _at(day, 19) + _minutes(rnd, 0, 30)
        if m.group == "media"
        else (_at(day, 18, 45) + _minutes(rnd, 0, 10))
    )
    # Staff eat before the media arrive, so they share the hall only briefly.
    _visit(t, pid, "H-MED-DINING", meal, meal + _minutes(rnd, 40, 50), "badge")


# (other person, local start, minutes, metres): what the badges of LOOP_CASE recorded.
_CASE_PROXIMITY = (
    ("L075", _at(12, 10, 15), 6, 0.5),  # close but short
    ("L092", _at(12, 16, 40), 35, 0.6),  # before the case's last negative sample
    ("L089", _at(13, 8, 25), 25, 0.8),  # seatmates on the shuttle
    ("L101", _at(13, 14, 0), 20, 0.9),
    ("L090", _at(13, 19, 5), 45, 1.2),  # same table, beyond 1 m
    ("L089", _at(14, 8, 30), 22, 0.7),
)


def _loop_proximity(t: _Tables, rnd: random.Random, members: list[_Member]) -> None:
    for other, start, minutes, metres in _CASE_PROXIMITY:
        t.add(
            "proximity",
            person_id=LOOP_CASE,
            other_person_id=other,
            start=start,
            end=start + timedelta(minutes=minutes),
            distance_m=metres,
            source="badge",
        )
    # Background encounters between other members, all in the loop's working hours.
    others = [
        m.person_id
        for m in members
        if m.person_id not in (LOOP_CASE, AIRPORT_POSITIVE, AIRPORT_INDETERMINATE)
    ]
    for _ in range(40):
        a, b = rnd.sample(others, 2)
        start = _at(rnd.randint(11, 16), rnd.randint(9, 16), rnd.randint(0, 59))
        t.add(
            "proximity",
            person_id=a,
            other_person_id=b,
            start=start,
            end=start + _minutes(rnd, 3, 40),
            distance_m=round(rnd.uniform(0.5, 5.0), 1),
            source="badge",
        )


def _build_loop(t: _Tables, rnd: random.Random) -> None:
    rooms = _loop_places(t)
    members = _loop_members(t, rnd, rooms)
    _loop_arrivals(t, rnd, members)
    _loop_daily(t, rnd, members)
    _loop_proximity(t, rnd, members)


# ------------------------------------------------------------------------------------------
# Fengtai district
# ------------------------------------------------------------------------------------------

_SURNAMES = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Zhao",
    "Huang",
    "Zhou",
    "Wu",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
)
_NAMES = (
    "Wei",
    "Fang",
    "Na",
    "Min",
    "Jing",
    "Lei",
    "Yan",
    "Jun",
    "Tao",
    "Ming",
    "Xiu",
    "Hui",
    "Qiang",
    "Lin",
    "Ping",
    "Bo",
    "Yu",
    "Hong",
    "Kai",
    "Mei",
)

_CITY_PLACES = (
    # place_id, kind, name, parent, capacity
    ("F-SCHOOL", "school", "Fengtai No. 3 Primary School", None, 600),
    ("F-REST", "restaurant", "Lize hotpot restaurant", None, 80),
    ("F-MARKET", "market", "Xiluoyuan farmers market", None, None),
    ("F-COLD", "cold_chain", "Fengtai cold-chain wholesale market", None, None),
    ("F-PHARMACY", "pharmacy", "Yongtai pharmacy", None, None),
    ("F-HOSPITAL", "hospital", "Fengtai district hospital", None, 500),
    ("F-FEVER", "fever_clinic", "Fengtai district hospital fever clinic", "F-HOSPITAL", 40),
    # A sorting centre is where its workers work, so it is a workplace.
    ("F-POST", "workplace", "Fengtai international mail sorting centre", None, None),
    ("F-OFFICE", "workplace", "Lize financial district office tower", None, None),
    ("F-DEPOT", "workplace", "Fengtai logistics depot", None, None),
    ("F-QUAR", "quarantine_site", "Fengtai centralised quarantine hotel", None, 400),
    ("PKX", "airport", "Beijing Daxing International Airport", None, None),
)
_WORKPLACES = (
    "F-OFFICE",
    "F-OFFICE",
    "F-DEPOT",
    "F-POST",
    "F-COLD",
    "F-SCHOOL",
    "F-REST",
    "F-MARKET",
    "F-PHARMACY",
    "F-HOSPITAL",
)
# Households of 1–5, taken in turn: the age range of each member.
_HOUSEHOLD_KINDS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((70, 90),),
    ((25, 75), (25, 75)),
    ((30, 45), (30, 45), (0, 15)),
    ((30, 45), (30, 45), (6, 12), (0, 5)),
    ((62, 80), (32, 45), (32, 45), (6, 12)),
    ((65, 85), (65, 85), (33, 45), (33, 45), (6, 12)),
    ((24, 35),),
    ((28, 40), (28, 40), (6, 12)),
)
CITY_DAYS = range(10, 17)  # Monday 10 to Sunday 16 January


@dataclass
class _Resident:
    person_id: str
    household: str
    age: int
    sex: str
    work: str | None = None


def _city_people(t: _Tables, rnd: random.Random) -> list[_Resident]:
    people: list[_Resident] = []
    h = 0
    while len(people) < 250:
        ages = _HOUSEHOLD_KINDS[h % len(_HOUSEHOLD_KINDS)]
        h += 1
        hid = f"FH{h:03d}"
        t.add(
            "places",
            place_id=f"HOME-{hid}",
            kind="home",
            district=CITY_DISTRICT,
            name=f"Home of household {hid}",
        )
        for k, (lo, hi) in enumerate(ages[: 250 - len(people)]):
            r = _Resident(
                f"F{len(people) + 1:03d}",
                hid,
                rnd.randint(lo, hi),
                "female" if (k % 2 == 1) != (rnd.random() < 0.1) else "male",
            )
            if 22 <= r.age <= 60 and rnd.random() < 0.8:
                r.work = rnd.choice(_WORKPLACES)
            people.append(r)
    # Three pregnant women; people with comorbidities mostly among the elderly.
    pregnant = {r.person_id for r in people if r.sex == "female" and 25 <= r.age <= 38}
    pregnant = set(sorted(pregnant)[1:30:10])
    for r in people:
        comorbid = rnd.random() < (0.35 if r.age >= 65 else 0.04)
        t.add(
            "persons",
            person_id=r.person_id,
            household_id=r.household,
            birth_year=2022 - r.age - (1 if rnd.random() < 0.5 else 0),
            district=CITY_DISTRICT,
            sex=r.sex,
            group="resident",
            pregnant=(r.person_id in pregnant) if r.sex == "female" else None,
            comorbidity=comorbid,
            name=f"{_surname(r)} {rnd.choice(_NAMES)}",
            phone=f"139{rnd.randint(0, 99_999_999):08d}" if r.age >= 16 else None,
        )
    return people


def _surname(r: _Resident) -> str:
    # One family name per household: derived from the household number, not drawn.
    return _SURNAMES[int(r.household[2:]) % len(_SURNAMES)]


@dataclass
class _City:
    people: list[_Resident]
    omicron: _Resident
    delta: _Resident

    def household_of(self, r: _Resident) -> list[_Resident]:
        return [p for p in self.people if p.household == r.household]


def _city_cast(people: list[_Resident]) -> _City:
    """Chooses the two cases: the first adults who fit their story."""
    by_house: dict[str, list[_Resident]] = {}
    for r in people:
        by_house.setdefault(r.household, []).append(r)
    omicron = by_house["FH005"][1]  # a parent of a family with a school child
    omicron.work = "F-POST"
    delta = next(r for r in people if r.household == "FH012" and 30 <= r.age <= 60)
    delta.work = "F-COLD"
    return _City(people, omicron, delta)


def _city_visits(t: _Tables, rnd: random.Random, city: _City) -> None:
    o = city.omicron
    for day in CITY_DAYS:
        weekday = date(2022, 1, day).weekday() < 5
        working: dict[str, set[str]] = {}
        for r in city.people:
            if r.work == "F-COLD":  # the market runs seven days a week, from before dawn
                start = _at(day, 5) + _minutes(rnd, 0, 40)
                _visit(t, r.person_id, r.work, start, start + _minutes(rnd, 420, 480), "scan")
            elif r.work is not None and weekday and not (r is o and day == 15):
                start = _at(day, 8, 30) + _minutes(rnd, 0, 60)
                _visit(t, r.person_id, r.work, start, start + _minutes(rnd, 480, 570), "scan")
            elif 6 <= r.age <= 12 and weekday:
                _visit(t, r.person_id, "F-SCHOOL", _at(day, 8), _at(day, 16), "roster")
            if r.work is not None:
                working.setdefault(r.work, set()).add(r.person_id)
        customers = [r.person_id for r in city.people if r.age >= 16 and r is not o]
        for place, count, first_hour, last_hour, minutes in (
            ("F-REST", 12, 18, 20, (45, 90)),
            ("F-MARKET", 18, 9, 17, (20, 40)),
            ("F-COLD", 4, 9, 14, (25, 40)),
            ("F-HOSPITAL", 2, 9, 15, (60, 150)),
        ):
            pool = sorted(set(customers) - working.get(place, set()))
            for pid in rnd.sample(pool, count):
                start = _at(day, rnd.randint(first_hour, last_hour), rnd.randint(0, 59))
                _visit(t, pid, place, start, start + _minutes(rnd, *minutes), "scan")
    # The Omicron case's evening out on 12 Jan, a visitor at home, the clinic on 15 Jan.
    _visit(t, o.person_id, "F-REST", _at(12, 18, 45), _at(12, 20, 5), "scan")
    friend = next(r for r in city.people if r.household == "FH009" and r.age >= 18)
    _visit(t, friend.person_id, f"HOME-{o.household}", _at(12, 20, 30), _at(12, 22, 30), None)
    _visit(t, o.person_id, "F-FEVER", _at(15, 9, 10), _at(15, 11, 40), "scan")


def _city_tests(t: _Tables, rnd: random.Random, city: _City) -> None:
    o, d = city.omicron, city.delta
    # Cold-chain workers are screened every other day, as high-exposure workers.
    for day in (10, 12, 14):
        for r in city.people:
            if r.work == "F-COLD":
                taken = _at(day, 10) + _minutes(rnd, 0, 30)
                _swab(
                    t,
                    f"SCR-202201{day:02d}-{r.person_id}",
                    taken,
                    taken + _minutes(rnd, 300, 400),
                    "screening",
                    person=r.person_id,
                )
    # The Omicron case at the fever clinic, then the household.
    t.add(
        "symptoms",
        person_id=o.person_id,
        reported_at=_at(15, 9, 20),
        onset=date(2022, 1, 13),
        severity="mild",
        temperature_c=37.8,
    )
    _swab(
        t,
        f"DX-20220115-{o.person_id}",
        _at(15, 10, 5),
        _at(15, 15, 42),
        "diagnostic",
        person=o.person_id,
        positive=_Ct(22.9, 22.4),
    )
    t.add(
        "sequences",
        sample_id=f"DX-20220115-{o.person_id}",
        lineage="BA.1.1",
        reported_at=_at(16, 11),
    )
    quarantined = [r for r in city.household_of(o) if r is not o]
    for r in quarantined:
        taken = _at(15, 19) + _minutes(rnd, 0, 30)
        _swab(
            t,
            f"CON-20220115-{r.person_id}",
            taken,
            taken + _minutes(rnd, 300, 360),
            "contact",
            person=r.person_id,
        )
    # The letter from Canada, and the cold-chain goods.
    _swab(
        t,
        "ENV-0001",
        _at(16, 10, 30),
        _at(16, 18, 20),
        "environment",
        place="F-POST",
        item="letter mailed from Canada",
        positive=_Ct(33.8, 33.1),
    )
    _swab(
        t,
        "ENV-0002",
        _at(17, 9),
        _at(17, 15, 10),
        "environment",
        place="F-COLD",
        item="imported frozen pork packaging",
    )
    _mass_round(t, rnd, city, exclude={o.person_id, *(r.person_id for r in quarantined)})
    t.add(
        "symptoms",
        person_id=d.person_id,
        reported_at=_at(19, 9, 30),
        onset=date(2022, 1, 19),
        severity="mild",
        temperature_c=37.6,
    )


MASS_DATE = date(2022, 1, 16)


def _mass_round(t: _Tables, rnd: random.Random, city: _City, exclude: set[str]) -> None:
    """A 10-in-1 pooled round on 16 Jan; the positive pool's members re-tested one by one."""
    tested = [r for r in city.people if r.person_id not in exclude]
    pools = [tested[i : i + 10] for i in range(0, len(tested), 10)]
    for k, members in enumerate(pools, 1):
        pool_id = f"POOL-0116-{k:02d}"
        first = _at(16, 8) + timedelta(minutes=15 * k)
        for i, r in enumerate(members):
            t.add(
                "samples",
                sample_id=f"MASS-0116-{r.person_id}",
                person_id=r.person_id,
                collected_at=first + timedelta(minutes=i),
                test="pcr",
                pool_id=pool_id,
                purpose="mass",
            )
        positive = city.delta in members
        _result(
            t,
            f"R-{pool_id}",
            _at(16, 20) + timedelta(minutes=5 * k),
            _Ct(31.9, 31.4) if positive else None,
            pool_id=pool_id,
        )
        if not positive:
            continue
        if len(members) != 10:
            raise AssertionError("the positive pool must be a full 10-in-1 pool")
        for r in members:
            taken = _at(17, 7) + _minutes(rnd, 0, 30)
            _swab(
                t,
                f"RET-0117-{r.person_id}",
                taken,
                _at(17, 13) + _minutes(rnd, 0, 30),
                "mass",
                person=r.person_id,
                positive=_Ct(27.9, 27.2) if r is city.delta else None,
            )
    t.add(
        "sequences",
        sample_id=f"RET-0117-{city.delta.person_id}",
        lineage="AY.4",
        reported_at=_at(18, 16, 15),
    )


def _city_purchases(t: _Tables, rnd: random.Random, city: _City) -> None:
    """Fever and cough medicines bought at the pharmacy; all but the last buyer get tested."""
    o = city.omicron
    others = [
        r
        for r in city.people
        if r.age >= 18 and r.work is None and r.household not in (o.household, city.delta.household)
    ][:5]
    sales = [(o, _at(14, 19, 40), "antipyretic")] + [
        (r, _at(day, rnd.randint(9, 20), rnd.randint(0, 59)), category)
        for r, day, category in zip(
            others,
            (12, 13, 14, 15, 16),
            ("antipyretic", "cough", "antipyretic", "antibiotic", "antipyretic"),
            strict=True,
        )
    ]
    for r, at, category in sales:
        t.add(
            "purchases",
            person_id=r.person_id,
            place_id="F-PHARMACY",
            bought_at=at,
            category=category,
        )
        _visit(
            t,
            r.person_id,
            "F-PHARMACY",
            at - timedelta(minutes=3),
            at + _minutes(rnd, 4, 8),
            "scan",
        )
    for r, at, _ in sales[1:-1]:
        taken = at + timedelta(hours=20)
        _swab(
            t,
            f"DX-{taken:%Y%m%d}-{r.person_id}",
            taken,
            taken + _minutes(rnd, 300, 400),
            "diagnostic",
            person=r.person_id,
        )


def _city_travellers(t: _Tables, rnd: random.Random) -> None:
    """Domestic arrivals (Beijing asked for a PCR within 72 h of arriving) and a diplomat."""
    travellers: Iterable[tuple[str, str, str, str, datetime, str, str | None, str | None]] = (
        ("T001", "traveller", "TH001", "Fengtai", _at(11, 14, 20), "Shanghai", "PKX", "MU5101"),
        ("T002", "traveller", "TH002", "Fengtai", _at(12, 10, 5), "Xi'an", "Beijing West", None),
        ("T003", "traveller", "TH003", "Fengtai", _at(13, 18, 40), "Tianjin", None, None),
        ("DIP001", "diplomat", "DH001", "Chaoyang", _at(12, 16, 25), "Canada", "PEK", "AC31"),
    )
    for pid, group, hid, district, arrived, origin, port, flight in travellers:
        t.add(
            "persons",
            person_id=pid,
            household_id=hid,
            birth_year=rnd.randint(1960, 1995),
            district=district,
            sex=rnd.choice(("female", "male")),
            group=group,
        )
        t.add(
            "arrivals",
            person_id=pid,
            arrived_at=arrived,
            origin=origin,
            port=port,
            flight=flight,
            vaccinated_on=date(2021, 8, 1) + timedelta(days=rnd.randint(0, 90)),
        )
        if port in ("PKX", "PEK"):
            _visit(t, pid, port, arrived, arrived + _minutes(rnd, 40, 80), "manifest")
        taken = arrived + timedelta(hours=20)
        _swab(t, f"ARR-{pid}", taken, taken + _minutes(rnd, 300, 400), "arrival", person=pid)
    t.add(
        "departures",
        person_id="T001",
        departed_at=_at(15, 17, 30),
        destination="Shanghai",
        port="PKX",
    )


def _build_city(t: _Tables, rnd: random.Random) -> None:
    for place_id, kind, name, parent, capacity in _CITY_PLACES:
        district = "Daxing" if kind == "airport" else CITY_DISTRICT
        t.add(
            "places",
            place_id=place_id,
            kind=kind,
            district=district,
            parent_id=parent,
            capacity=capacity,
            name=name,
        )
    city = _city_cast(_city_people(t, rnd))
    _city_visits(t, rnd, city)
    _city_tests(t, rnd, city)
    _city_purchases(t, rnd, city)
    _city_travellers(t, rnd)


def build_example(out_dir: Path) -> dict[str, int]:
    """Writes the bundled example (one CSV per event table) to `out_dir`; rows per table.

    Deterministic: the same code always writes byte-identical files.
    """
    t = _Tables()
    rnd = random.Random(_SEED)
    _build_loop(t, rnd)
    _build_city(t, rnd)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: write_table(out_dir, name, t.columns(name)) for name in EXAMPLE_TABLES}


if __name__ == "__main__":  # pragma: no cover - regenerates the files shipped in data/
    print(build_example(Path(__file__).parent / "data"))
