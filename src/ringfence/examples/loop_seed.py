"""The Beijing 2022 closed loop, 4–22 January 2022: event files that match the published figures.

The organisers (BOCOG) published the pre-Games figures on 23 January 2022, quoted by IDSA
Science Speaks (Daniel R. Lucey, "COVID cases inside the Olympics 'closed loop' and at the
Beijing airport", 2022):
https://integ.idsociety.org/science-speaks-blog/2022/covid-cases-inside-the-olympics-closed-loop-and-at-the-beijing-airport

- from 4 to 22 January 2,586 Olympic-related arrivals entered China at the airport, 171
  athletes and team officials and 2,415 other stakeholders; their airport PCR tests found 39
  confirmed positives, all other stakeholders;
- in the closed loop over the same days 336,421 PCR tests were taken, 175 by athletes and team
  officials and 336,246 by other stakeholders; 33 were confirmed positive, all other
  stakeholders.

`build_loop_seed` writes persons, places, visits, samples, results and arrivals whose counts
are exactly those figures. Everyone else the figures need is made up, deterministically for a
seed: when the overseas people land, who turns positive and when, and a domestic workforce
(group ``staff``) already inside the loop on 4 January and screened every morning. Its size is
computed, not chosen: the overseas arrivals give a number of screening tests, and the
workforce fills the rest of the 336,421 at 19 tests a person (4–22 January), less the days
after a worker's positive sample and a few single missed swabs for the remainder (see
`_workforce`).

Samples of persons carry no place (a sample has a person or a place, never both), so where a
screening swab was taken is not recorded; the booking visit says which hotel room the person
slept in. Instants are local wall-clock times of Beijing (``+08:00``), as in `generate`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ringfence.examples.generate import LOOP_ID, Arr, ColumnValues, Fmt, format_ids, write_table
from ringfence.schema import ingest_order
from ringfence.schema import table as schema_table
from ringfence.schema.events import PERSON_GROUPS, PLACE_KINDS

SOURCE = (
    "https://integ.idsociety.org/science-speaks-blog/2022/"
    "covid-cases-inside-the-olympics-closed-loop-and-at-the-beijing-airport"
)
"""Where the figures below are quoted: BOCOG's pre-Games report via IDSA Science Speaks."""

#: The first and last day the published figures cover (both included).
FIRST_DAY = dt.date(2022, 1, 4)
LAST_DAY = dt.date(2022, 1, 22)
#: Olympic-related arrivals tested at the airport, 4–22 January (BOCOG via `SOURCE`).
ARRIVALS = 2_586
#: Of `ARRIVALS`, athletes and team officials; the other 2,415 are "other stakeholders".
ATHLETES_AND_OFFICIALS = 171
OTHER_STAKEHOLDERS = ARRIVALS - ATHLETES_AND_OFFICIALS
#: Confirmed positives among the airport tests, none of them athletes or team officials.
AIRPORT_POSITIVES = 39
#: PCR tests taken inside the closed loop, 4–22 January.
LOOP_TESTS = 336_421
#: Of `LOOP_TESTS`, those taken by athletes and team officials (the other 336,246 by others).
ATHLETE_AND_OFFICIAL_LOOP_TESTS = 175
#: Confirmed positives among the loop tests, none of them athletes or team officials.
LOOP_POSITIVES = 33

_DAYS = (LAST_DAY - FIRST_DAY).days + 1
_DAY = 86_400
_HOUR = 3_600
_MINUTE = 60
_ATHLETES = 120  # the rest of the 171 are team officials (the split is not published)
# The IOC reported every early loop case within five days of arrival (imported); the rest of
# the 33 are given to the domestic workforce, which the brief of this seed asks to mix in.
_OVERSEAS_LOOP_POSITIVES = 21
_DOMESTIC_LOOP_POSITIVES = LOOP_POSITIVES - _OVERSEAS_LOOP_POSITIVES
_INCUBATION_DAYS = 5
_MEDIA_SHARE = 0.55  # of the other stakeholders; the rest are overseas staff

_ATHLETE, _OFFICIAL, _MEDIA, _STAFF = (
    PERSON_GROUPS.index(g) for g in ("athlete", "official", "media", "staff")
)
# Oldest and youngest birth year by group code (other codes are never used here).
_BORN_FROM = np.zeros(len(PERSON_GROUPS), dtype=np.int64)
_BORN_TO = np.zeros(len(PERSON_GROUPS), dtype=np.int64)
_BORN_FROM[[_ATHLETE, _OFFICIAL, _MEDIA, _STAFF]] = (1982, 1955, 1958, 1960)
_BORN_TO[[_ATHLETE, _OFFICIAL, _MEDIA, _STAFF]] = (2005, 1992, 2000, 2003)

# Origin and the airline of its charter flights (every code two letters, as format_ids needs).
_ORIGINS = (
    ("United States", "UA"),
    ("Canada", "AC"),
    ("Germany", "LH"),
    ("France", "AF"),
    ("Italy", "AZ"),
    ("Switzerland", "LX"),
    ("Austria", "OS"),
    ("Norway", "SK"),
    ("Finland", "AY"),
    ("Netherlands", "KL"),
    ("United Kingdom", "BA"),
    ("Russia", "SU"),
    ("Japan", "JL"),
    ("Korea", "KE"),
)
_PORT = "PEK"

# (district, floors) of each contracted hotel; rooms sleep two and are the household.
_HOTELS = (
    ("Chaoyang", 30),
    ("Chaoyang", 28),
    ("Haidian", 26),
    ("Shijingshan", 24),
    ("Yanqing", 24),
    ("Yanqing", 24),
    ("Zhangjiakou", 22),
    ("Zhangjiakou", 22),
)
_ROOMS_PER_FLOOR = 60
_BEDS_PER_ROOM = 2
_VENUES = (
    ("National Stadium", "Chaoyang"),
    ("National Speed Skating Oval", "Chaoyang"),
    ("Main Media Centre", "Chaoyang"),
    ("Capital Indoor Stadium", "Haidian"),
    ("Yanqing National Alpine Skiing Centre", "Yanqing"),
    ("Genting Snow Park", "Zhangjiakou"),
)
_AIRPORT = ("Beijing Capital International Airport", "Shunyi")

_CT_LOW, _CT_HIGH = 18.0, 34.0

# Each part draws from its own stream, so changing one leaves the others as they were.
_S_ARRIVALS, _S_INFECTIONS, _S_WORKFORCE, _S_PEOPLE, _S_TIMES = range(1, 6)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _vocab(values: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _take(values: pa.Array, index: Arr) -> pa.Array:
    """values[index], with null where index is negative."""
    index = np.asarray(index, dtype=np.int64)
    return values.take(pa.array(index, mask=index < 0))


def _ranks_in_groups(counts: Arr) -> Arr:
    """0, 1, … within each group of the layout ``np.repeat(x, counts)``."""
    starts: Arr = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum()), dtype=np.int64) - starts


def _local(secs: Arr) -> Arr:
    """Local wall-clock seconds since the epoch → ``datetime64[s]`` (written as +08:00)."""
    return np.asarray(secs, dtype=np.int64).astype("datetime64[s]")


def _uniform(rng: np.random.Generator, lo: int, hi: int, n: int) -> Arr:
    return rng.integers(lo, hi, n, dtype=np.int64)


def _t0() -> int:
    """Local midnight starting `FIRST_DAY`, in seconds since the epoch."""
    return int(np.datetime64(FIRST_DAY, "D").astype("datetime64[s]").astype(np.int64))


# --------------------------------------------------------------------------------------------
# Who is in the loop, and on which days they are swabbed
# --------------------------------------------------------------------------------------------


@dataclass
class _Overseas:
    """The arrivals, sorted by the time they landed (person i is the i-th to land)."""

    group: Arr
    day: Arr  # day index of arrival, 0 = FIRST_DAY
    origin: Arr
    flight: Arr  # flight number, per (origin, day)
    arrived: Arr  # local seconds
    airport_positive: Arr  # bool
    loop_positive_day: Arr  # day of the positive screening sample, -1 if none


def _overseas(seed: int) -> _Overseas:
    rng = _rng(seed, _S_ARRIVALS)
    n_ao = ATHLETES_AND_OFFICIALS
    group = np.concatenate(
        [
            np.full(_ATHLETES, _ATHLETE),
            np.full(n_ao - _ATHLETES, _OFFICIAL),
            np.where(rng.random(OTHER_STAKEHOLDERS) < _MEDIA_SHARE, _MEDIA, _STAFF),
        ]
    )
    # Athletes and officials took only 175 loop tests between them, so nearly all of them
    # landed in the last days: spreading the 175 swabs at random over the 171 people gives
    # each one a number of swabs k, and so an arrival k + 1 days before the window ends.
    swabs = rng.multinomial(ATHLETE_AND_OFFICIAL_LOOP_TESTS, np.full(n_ao, 1 / n_ao))
    if swabs.max() >= _DAYS:  # pragma: no cover - about 175/171 swabs each
        raise RuntimeError("an athlete or official would have landed before the first day")
    # Other stakeholders arrive more and more as the Games draw near.
    ramp = np.arange(1, _DAYS + 1, dtype=np.float64)
    day = np.concatenate(
        [_DAYS - 1 - swabs, rng.choice(_DAYS, OTHER_STAKEHOLDERS, p=ramp / ramp.sum())]
    )
    origin = rng.integers(0, len(_ORIGINS), ARRIVALS)
    # One charter per origin and day: its passengers share flight number and landing time.
    # Landings end by 20:00 so that the hotel check-in is still on the same day.
    numbers = rng.integers(100, 1000, (len(_ORIGINS), _DAYS))
    landing = rng.integers(6 * _HOUR, 20 * _HOUR, (len(_ORIGINS), _DAYS)) // 300 * 300
    arrived = _t0() + day * _DAY + landing[origin, day]
    order = np.lexsort((np.arange(ARRIVALS), arrived))
    group, day, origin, arrived = group[order], day[order], origin[order], arrived[order]

    rng = _rng(seed, _S_INFECTIONS)
    others = np.flatnonzero(group >= _MEDIA)
    airport_positive = np.zeros(ARRIVALS, dtype=bool)
    airport_positive[rng.choice(others, AIRPORT_POSITIVES, replace=False)] = True
    # Imported cases found by screening within five days of arrival; they must have at least
    # one screening day in the window, hence arrival before the last day.
    eligible = np.flatnonzero((group >= _MEDIA) & ~airport_positive & (day < _DAYS - 1))
    found = rng.choice(eligible, _OVERSEAS_LOOP_POSITIVES, replace=False)
    room = np.minimum(_INCUBATION_DAYS, _DAYS - 1 - day[found])
    loop_positive_day = np.full(ARRIVALS, -1, dtype=np.int64)
    loop_positive_day[found] = day[found] + 1 + (rng.random(len(found)) * room).astype(np.int64)
    return _Overseas(
        group=group,
        day=day,
        origin=origin,
        flight=numbers[origin, day],
        arrived=arrived,
        airport_positive=airport_positive,
        loop_positive_day=loop_positive_day,
    )


@dataclass
class _Screening:
    """Per person (overseas first, then the workforce): the days they are swabbed."""

    group: Arr
    first: Arr  # first screening day
    last: Arr  # last screening day (the positive one, if any); first > last: never screened
    positive_day: Arr  # -1 if never positive in the loop
    missed_day: Arr  # a single missed swab, -1 if none
    workforce: int

    @property
    def n(self) -> int:
        return len(self.group)


def _workforce(seed: int, overseas: _Overseas) -> _Screening:
    """Adds the domestic workforce sized so that the loop has exactly `LOOP_TESTS` swabs.

    An arrival is swabbed every morning from the day after landing to the last day, or to the
    day of their positive swab; the airport positives go to isolation and never are. That
    gives the overseas total. Each worker gives `_DAYS` swabs, less the days after their
    positive swab, so W = ⌈(LOOP_TESTS − overseas + lost) / _DAYS⌉ workers give at most
    _DAYS − 1 swabs too many; that many workers each miss one morning's swab (a night shift).
    """
    o_first = overseas.day + 1
    o_last = np.where(overseas.loop_positive_day >= 0, overseas.loop_positive_day, _DAYS - 1)
    o_last = np.where(overseas.airport_positive, -1, o_last)
    overseas_tests = int(np.maximum(o_last - o_first + 1, 0).sum())

    rng = _rng(seed, _S_WORKFORCE)
    dom_positive = rng.integers(0, _DAYS, _DOMESTIC_LOOP_POSITIVES)
    lost = int((_DAYS - 1 - dom_positive).sum())
    needed = LOOP_TESTS - overseas_tests + lost
    workers = math.ceil(needed / _DAYS)
    missed = workers * _DAYS - needed
    pick = rng.permutation(workers)
    positive_day = np.full(workers, -1, dtype=np.int64)
    positive_day[pick[:_DOMESTIC_LOOP_POSITIVES]] = dom_positive
    missed_day = np.full(workers, -1, dtype=np.int64)
    absent = pick[_DOMESTIC_LOOP_POSITIVES : _DOMESTIC_LOOP_POSITIVES + missed]
    missed_day[absent] = rng.integers(0, _DAYS, missed)
    return _Screening(
        group=np.concatenate([overseas.group, np.full(workers, _STAFF)]),
        first=np.concatenate([o_first, np.zeros(workers, dtype=np.int64)]),
        last=np.concatenate([o_last, np.where(positive_day >= 0, positive_day, _DAYS - 1)]),
        positive_day=np.concatenate([overseas.loop_positive_day, positive_day]),
        missed_day=np.concatenate([np.full(ARRIVALS, -1, dtype=np.int64), missed_day]),
        workforce=workers,
    )


def _screening_rows(s: _Screening) -> tuple[Arr, Arr]:
    """(person, day) of every screening swab, day by day, person by person."""
    count = np.maximum(s.last - s.first + 1, 0)
    person = np.repeat(np.arange(s.n), count)
    day = s.first[person] + _ranks_in_groups(count)
    keep = day != s.missed_day[person]
    person, day = person[keep], day[keep]
    order = np.lexsort((person, day))
    return person[order], day[order]


# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------


@dataclass
class _Places:
    columns: dict[str, ColumnValues]
    room_ids: pa.Array
    room_district: Arr  # index into _DISTRICTS
    airport_id: str


_DISTRICTS = tuple(dict.fromkeys([d for d, _ in _HOTELS] + [d for _, d in _VENUES] + [_AIRPORT[1]]))


def _places() -> _Places:
    n_hotels = len(_HOTELS)
    floors_of = np.array([f for _, f in _HOTELS])
    hotel_district = np.array([_DISTRICTS.index(d) for d, _ in _HOTELS])
    hotel_ids = format_ids("HOTL-", np.arange(1, n_hotels + 1), 2)

    floor_hotel = np.repeat(np.arange(n_hotels), floors_of)
    floor_ids = pc.binary_join_element_wise(
        hotel_ids.take(pa.array(floor_hotel)),
        format_ids("F", 1 + _ranks_in_groups(floors_of), 2),
        "-",
    )
    room_floor = np.repeat(np.arange(len(floor_hotel)), _ROOMS_PER_FLOOR)
    room_ids = pc.binary_join_element_wise(
        floor_ids.take(pa.array(room_floor)),
        format_ids("R", np.tile(np.arange(1, _ROOMS_PER_FLOOR + 1), len(floor_hotel)), 2),
        "-",
    )
    room_district = hotel_district[floor_hotel[room_floor]]
    venue_ids = format_ids("VENU-", np.arange(1, len(_VENUES) + 1), 2)

    n_floors, n_rooms, n_venues = len(floor_hotel), len(room_floor), len(_VENUES)
    kinds = _vocab(PLACE_KINDS)
    kind = np.concatenate(
        [
            [PLACE_KINDS.index("airport")],
            np.full(n_hotels, PLACE_KINDS.index("hotel")),
            # A floor is a shared corridor, not a room anyone sleeps in: kind "other".
            np.full(n_floors, PLACE_KINDS.index("other")),
            np.full(n_rooms, PLACE_KINDS.index("room")),
            np.full(n_venues, PLACE_KINDS.index("venue")),
        ]
    )
    district = np.concatenate(
        [
            [_DISTRICTS.index(_AIRPORT[1])],
            hotel_district,
            hotel_district[floor_hotel],
            room_district,
            [_DISTRICTS.index(d) for _, d in _VENUES],
        ]
    )
    hotel_beds = floors_of * _ROOMS_PER_FLOOR * _BEDS_PER_ROOM
    capacity = np.concatenate(
        [
            [-1],
            hotel_beds,
            np.full(n_floors, _ROOMS_PER_FLOOR * _BEDS_PER_ROOM),
            np.full(n_rooms, _BEDS_PER_ROOM),
            np.full(n_venues, -1),
        ]
    )
    names = _vocab(
        [_AIRPORT[0], *(f"Closed-loop hotel {i + 1} ({d})" for i, (d, _) in enumerate(_HOTELS))]
        + [v for v, _ in _VENUES]
    )
    name = np.concatenate(
        [
            [0],
            1 + np.arange(n_hotels),
            np.full(n_floors + n_rooms, -1),
            1 + n_hotels + np.arange(n_venues),
        ]
    )
    ids = pa.concat_arrays([pa.array([_PORT]), hotel_ids, floor_ids, room_ids, venue_ids])
    # Parents come before their children, so the parent index is an offset into `ids`.
    floor_base = 1 + n_hotels
    parent = np.concatenate(
        [
            np.full(1 + n_hotels, -1),
            1 + floor_hotel,
            floor_base + room_floor,
            np.full(n_venues, -1),
        ]
    )
    columns: dict[str, ColumnValues] = {
        "place_id": ids,
        "kind": _take(kinds, kind),
        "district": _take(_vocab(_DISTRICTS), district),
        "parent_id": _take(ids, parent),
        "loop_id": pa.array([LOOP_ID] * len(ids), type=pa.string()),
        "capacity": pa.array(capacity, mask=capacity < 0),
        "name": _take(names, name),
    }
    return _Places(columns, room_ids, room_district, _PORT)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _ct_triplets(rng: np.random.Generator, n: int) -> tuple[Arr, Arr, Arr]:
    """(ct, ct_orf1ab, ct_n) of `n` positives, all within 18–34; ct is the lower gene."""
    true_ct = rng.uniform(_CT_LOW + 1, _CT_HIGH - 1, n)
    orf = np.clip(np.round(true_ct + rng.normal(0.4, 0.6, n), 1), _CT_LOW, _CT_HIGH)
    n_gene = np.clip(np.round(true_ct + rng.normal(0.0, 0.6, n), 1), _CT_LOW, _CT_HIGH)
    return np.minimum(orf, n_gene), orf, n_gene


def _with_nan(positive: Arr, values: Arr) -> Arr:
    """`values` at the positive rows, NaN (written empty) elsewhere."""
    out = np.full(len(positive), np.nan)
    out[positive] = values
    return out


def build_loop_seed(out_dir: Path, *, seed: int = 2022, fmt: str = "parquet") -> dict[str, Path]:
    """Write the event files; returns {event kind: path} in ingest order.

    Files are ``<table>.parquet`` (typed columns, instants in ``+08:00``) or ``<table>.csv``
    (ISO 8601 text with ``+08:00``) in `out_dir`: persons, places, visits, samples, results
    and arrivals of the Beijing 2022 closed loop, 4–22 January 2022, matching the published
    figures (`ARRIVALS`, `ATHLETES_AND_OFFICIALS`, `AIRPORT_POSITIVES`, `LOOP_TESTS`,
    `ATHLETE_AND_OFFICIAL_LOOP_TESTS`, `LOOP_POSITIVES`). The same seed and format always
    give the same files.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; expected 'csv' or 'parquet'")
    form = cast(Fmt, fmt)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    overseas = _overseas(seed)
    screening = _workforce(seed, overseas)
    places = _places()
    n = screening.n
    if n > len(places.room_ids) * _BEDS_PER_ROOM:  # pragma: no cover - sized with room to spare
        raise RuntimeError(f"{n} persons do not fit in the hotels")
    t0 = _t0()
    window_end = t0 + _DAYS * _DAY

    rng = _rng(seed, _S_PEOPLE)
    # Beds are handed out at random, so roommates (one household) are random loop members.
    room = rng.permutation(len(places.room_ids) * _BEDS_PER_ROOM)[:n] // _BEDS_PER_ROOM
    group = screening.group
    person_ids = format_ids(
        ["OS", "DS"],
        np.concatenate([np.arange(ARRIVALS), np.arange(screening.workforce)]),
        6,
        codes=(np.arange(n) >= ARRIVALS).astype(np.int64),
    )
    persons: dict[str, ColumnValues] = {
        "person_id": person_ids,
        "household_id": places.room_ids.take(pa.array(room)),
        "birth_year": rng.integers(_BORN_FROM[group], _BORN_TO[group] + 1),
        "district": _take(_vocab(_DISTRICTS), places.room_district[room]),
        "sex": _take(_vocab(["female", "male"]), rng.integers(0, 2, n)),
        "group": _take(_vocab(PERSON_GROUPS), group),
        "loop_id": pa.array([LOOP_ID] * n, type=pa.string()),
    }

    rng = _rng(seed, _S_TIMES)
    # Airport: a swab 30–60 min after landing, its result within 6 h, leaving the airport
    # after the swab.
    landed = overseas.arrived
    swabbed = landed + _uniform(rng, 30 * _MINUTE, 61 * _MINUTE, ARRIVALS)
    airport_report = swabbed + _uniform(rng, 2 * _HOUR, 6 * _HOUR, ARRIVALS)
    left_airport = swabbed + _uniform(rng, 20 * _MINUTE, 90 * _MINUTE, ARRIVALS)
    airport_pos = overseas.airport_positive

    # Loop: a morning swab each day, reported in the afternoon.
    who, day = _screening_rows(screening)
    if len(who) != LOOP_TESTS:  # pragma: no cover - the workforce is sized for it
        raise RuntimeError(f"{len(who)} loop tests, expected {LOOP_TESTS}")
    loop_pos = day == screening.positive_day[who]
    loop_swab = t0 + day * _DAY + _uniform(rng, 7 * _HOUR, 10 * _HOUR, len(who))
    loop_report = loop_swab + _uniform(rng, 3 * _HOUR, 8 * _HOUR, len(who))

    sample_person = np.concatenate([np.arange(ARRIVALS), who])
    positive = np.concatenate([airport_pos, loop_pos])
    n_samples = len(sample_person)
    is_arrival = np.arange(n_samples) < ARRIVALS
    sample_ids = format_ids("S", np.arange(n_samples), 7)
    samples: dict[str, ColumnValues] = {
        "sample_id": sample_ids,
        "person_id": person_ids.take(pa.array(sample_person)),
        "collected_at": _local(np.concatenate([swabbed, loop_swab])),
        "test": pa.array(["pcr"] * n_samples, type=pa.string()),
        "purpose": _take(_vocab(["arrival", "screening"]), (~is_arrival).astype(np.int64)),
    }
    ct, orf, n_gene = _ct_triplets(rng, int(positive.sum()))
    results: dict[str, ColumnValues] = {
        "result_id": format_ids("R", np.arange(n_samples), 7),
        "sample_id": sample_ids,
        "reported_at": _local(np.concatenate([airport_report, loop_report])),
        "outcome": _take(_vocab(["positive", "negative"]), (~positive).astype(np.int64)),
        "ct": _with_nan(positive, ct),
        "ct_orf1ab": _with_nan(positive, orf),
        "ct_n": _with_nan(positive, n_gene),
    }

    arrival_date = np.datetime64(FIRST_DAY, "D") + overseas.day
    airlines = [code for _, code in _ORIGINS]
    arrivals: dict[str, ColumnValues] = {
        "person_id": person_ids.slice(0, ARRIVALS),
        "arrived_at": _local(landed),
        "origin": _take(_vocab([name for name, _ in _ORIGINS]), overseas.origin),
        "port": pa.array([_PORT] * ARRIVALS, type=pa.string()),
        "flight": format_ids(airlines, overseas.flight, 3, codes=overseas.origin),
        # The loop asked for a course completed at least 14 days before arrival.
        "vaccinated_on": arrival_date - rng.integers(14, 366, ARRIVALS),
    }

    # Bookings: from check-in to the window's end, or to the positive result that sent the
    # person to isolation. The workforce checked in on the evening of 3 January.
    stays = np.flatnonzero(~np.concatenate([airport_pos, np.zeros(screening.workforce, bool)]))
    check_in = np.concatenate(
        [
            left_airport + _uniform(rng, 30 * _MINUTE, 76 * _MINUTE, ARRIVALS),
            t0 - _DAY + _uniform(rng, 18 * _HOUR, 22 * _HOUR, screening.workforce),
        ]
    )
    check_out = np.full(n, window_end)
    found = loop_pos.nonzero()[0]
    check_out[who[found]] = loop_report[found]
    visits: dict[str, ColumnValues] = {
        "person_id": pa.concat_arrays(
            [person_ids.slice(0, ARRIVALS), person_ids.take(pa.array(stays))]
        ),
        "place_id": pa.concat_arrays(
            [
                pa.array([places.airport_id] * ARRIVALS, type=pa.string()),
                places.room_ids.take(pa.array(room[stays])),
            ]
        ),
        "start": _local(np.concatenate([landed, check_in[stays]])),
        "end": _local(np.concatenate([left_airport, check_out[stays]])),
        "source": _take(
            _vocab(["manifest", "booking"]),
            np.repeat([0, 1], [ARRIVALS, len(stays)]),
        ),
    }

    tables = {
        "persons": persons,
        "places": places.columns,
        "visits": visits,
        "samples": samples,
        "results": results,
        "arrivals": arrivals,
    }
    paths: dict[str, Path] = {}
    for spec in ingest_order([schema_table(name) for name in tables]):
        write_table(out_dir, spec.name, tables[spec.name], form)
        paths[spec.name] = out_dir / f"{spec.name}.{fmt}"
    return paths


__all__ = [
    "AIRPORT_POSITIVES",
    "ARRIVALS",
    "ATHLETES_AND_OFFICIALS",
    "ATHLETE_AND_OFFICIAL_LOOP_TESTS",
    "FIRST_DAY",
    "LAST_DAY",
    "LOOP_POSITIVES",
    "LOOP_TESTS",
    "OTHER_STAKEHOLDERS",
    "SOURCE",
    "build_loop_seed",
]
