"""Beijing, 15–26 January 2022: an outbreak whose decided cases match the published figures.

Beijing's CDC gave the figures at the press conference of 26 January 2022, as Xinhua
reported them (`SOURCE`):

- from 15 to 26 January the city reported 75 local cases (confirmed cases and asymptomatic
  infections): 6 Omicron and 69 Delta; the 69 Delta were 54 confirmed and 15 asymptomatic;
- from 16:00 on 25 January to 16:00 on 26 January (+08:00) it reported 6 confirmed cases and
  2 asymptomatic infections, all found among people already under control.

The first Omicron case was found on 15 January in Haidian, in a person who had handled a
letter from Canada (environment samples of the letter were positive). The Delta outbreak was
a cluster in Fengtai linked to a tour group from outside Beijing, later also in Fangshan,
Chaoyang and other districts.

`build_beijing_outbreak` writes the event files of a small city (a few thousand people in
households across six districts, their workplaces, restaurants, markets and fever clinics)
in which those cases happen, one by one, as a chain of transmission. The control cycle of
`PROTOCOL`, run at `AS_OF`, decides exactly the published figures: `LOCAL_CASES` local cases
confirmed from `FIRST_DAY`, `OMICRON` Omicron and `DELTA` Delta by the Pango lineage of their
sequences, `DELTA_CONFIRMED` and `DELTA_ASYMPTOMATIC`, and `WINDOW_CONFIRMED` +
`WINDOW_ASYMPTOMATIC` cases in the last 24 hours, all under control.

Everything else is chosen here, not published, and written down as constants: the new
cases of each bulletin day (`NEW_CASES`), `CASES_BY_DISTRICT`, `FOUND_BY`, `CONVERTED`, the
lineages (`OMICRON_LINEAGE`, `DELTA_LINEAGE`) and the tour group's home province
(`TOUR_ORIGIN`). The day totals agree with the 43 cases, 6 of them Omicron, that the bulletin
of 23 January reported (Xinhua, "Beijing reports nine local COVID-19 cases", 23 January
2022: https://www.shine.cn/news/nation/2201231077/), and all six Omicron cases are confirmed
and mild, as the report of 26 January said; neither is among the checked figures.

The chain (`_OMICRON_CASES`, `_DELTA_CASES`):

- **Omicron, Haidian.** O1 opens the letter at her office on 11 January, falls ill on the
  13th and is confirmed after a fever-clinic visit on the evening of the 14th; the letter is
  swabbed on the 16th. Her husband, two colleagues and a colleague's spouse and child are
  found in quarantine between 16 and 21 January.
- **Delta, Fengtai.** A tour group of twelve arrives by train on 14 January with a local guide
  and driver. One visitor, infected before the trip, infects the guide, the driver, seven
  visitors (coach, restaurants, shared rooms), a waiter at a restaurant where they ate, a hotel
  cleaner (the room, not the person) and, in minutes-long visits too short to make anyone a
  close contact, workers and shoppers at a farmers' market, a courier and people from
  Chaoyang and Daxing. The guide, feverish, ends the tour early on 18 January and takes the
  visitor, ill since the 16th, to the fever clinic that afternoon, where both are found; the
  waiter, a market worker, the courier and the cleaner are found by the screening of their
  trades; the shoppers by 10-in-1 pooled mass testing of Fengtai and Fangshan (a Fangshan
  relative of the guide's family is found at a fever clinic and seeds Fangshan).
  Everyone else is found in quarantine: household members of every case, workmates of the
  screened workers, the rest of the tour group.

The cycle counts a case as found under control when the person was a contact of a case
confirmed before the sample was taken (close, household, same-space, environment or
secondary contact: someone who shared a closed space with a close contact, or lives with
one), or when the sample was a quarantine test (purpose ``contact``). Every case found under
control here is both: a household member or workmate of an earlier case, swabbed in
quarantine after that case was confirmed, and negative in quarantine at least once first.
The cases found otherwise were nobody's contact before they were found: they share no
household, workplace or room with an earlier case, and less than 15 minutes anywhere else;
nobody they live with works with a case; and the guide and the visitor, who ate where the
city eats, were swabbed before the waiter was confirmed (the first case among the
restaurants' staff, whose diners are its close contacts). `build_beijing_outbreak` checks
those links, and every count above, as it builds; `tests/test_beijing_outbreak.py` checks
what the cycle decides.

Instants are local wall-clock times of Beijing (``+08:00``), as in `generate`. The same seed
always writes the same bytes; each part of the data draws from its own random stream.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa

from ringfence.examples.generate import Arr, ColumnValues, format_ids, write_table
from ringfence.schema import ColumnType, ingest_order
from ringfence.schema import table as schema_table

SOURCE = (
    "Beijing Center for Disease Prevention and Control, press conference on COVID-19 "
    "prevention and control of 26 January 2022, as reported by Xinhua on 26 January 2022"
)
"""Where the published figures below come from."""

PROTOCOL = "zero-covid-2022"
"""The protocol preset whose cycle reproduces the figures."""

_BEIJING = dt.timezone(dt.timedelta(hours=8))
#: The first and last day the published figures cover (both included).
FIRST_DAY = dt.date(2022, 1, 15)
LAST_DAY = dt.date(2022, 1, 26)
#: When the cycle is run: the 16:00 cut-off of the press conference of 26 January.
AS_OF = dt.datetime(2022, 1, 26, 16, 0, tzinfo=_BEIJING)
#: The start of the last 24 hours before `AS_OF` (the window of the last bulletin).
WINDOW_START = AS_OF - dt.timedelta(days=1)

#: Local cases (confirmed + asymptomatic) reported from `FIRST_DAY` to `AS_OF`.
LOCAL_CASES = 75
#: Of `LOCAL_CASES`, those of the Omicron variant and those of the Delta variant.
OMICRON = 6
DELTA = 69
#: Of `DELTA`, confirmed cases and asymptomatic infections.
DELTA_CONFIRMED = 54
DELTA_ASYMPTOMATIC = 15
#: Reported from 16:00 on 25 January to 16:00 on 26 January, all among people under control.
WINDOW_CONFIRMED = 6
WINDOW_ASYMPTOMATIC = 2

# ---- Chosen, not published -----------------------------------------------------------------

#: New cases per bulletin day: the 24 hours to 16:00 of that day (the first from midnight).
NEW_CASES: dict[dt.date, int] = {
    dt.date(2022, 1, day): n
    for day, n in (
        (15, 1), (16, 1), (17, 0), (18, 1), (19, 4), (20, 6),
        (21, 9), (22, 12), (23, 9), (24, 9), (25, 15), (26, 8),
    )
}  # fmt: skip
#: Cases by district of residence (Omicron all in Haidian).
CASES_BY_DISTRICT: dict[str, int] = {
    "Haidian": 6,
    "Fengtai": 52,
    "Fangshan": 10,
    "Chaoyang": 3,
    "Xicheng": 2,
    "Daxing": 2,
}
#: How the cases were found (the cycle's `found_by`).
FOUND_BY: dict[str, int] = {
    "under_control": 56,
    "fever_clinic": 6,
    "mass_testing": 9,
    "screening": 4,
}
#: Asymptomatic infections that developed symptoms before `WINDOW_START` (counted confirmed).
CONVERTED = 5
#: The Pango lineages sequenced from the cases (the press conference named only variants).
OMICRON_LINEAGE = "BA.1.1"
DELTA_LINEAGE = "AY.4"
#: Where the tour group came from: a province inside China, so its cases stay local.
TOUR_ORIGIN = "Shanxi"

_DAY = 86_400
_HOUR = 3_600
_MINUTE = 60
_JAN1 = int(np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64))
_EVENTS_FROM = 10  # the first day of events (Monday 10 January): before the letter came

# (district, two-letter code, residents not in the chain)
_DISTRICTS: tuple[tuple[str, str, int], ...] = (
    ("Haidian", "HD", 500),
    ("Fengtai", "FT", 1300),
    ("Fangshan", "FS", 450),
    ("Chaoyang", "CY", 350),
    ("Xicheng", "XC", 250),
    ("Daxing", "DX", 250),
    ("Dongcheng", "DC", 0),  # sights only
)
_CODE = {name: code for name, code, _ in _DISTRICTS}
_RESTAURANTS = 4
_MARKETS = 2
_WORKERS_PER_PLACE = 30

# A case of the chain: (key, household, team, bulletin day in January, how found, course,
# birth year). Found: "fever_clinic", "screening" (of the team's trade), "mass" (pooled mass
# testing, then a single tube) or "contact" (in quarantine). Course: "C" symptomatic when
# confirmed, "V" asymptomatic when confirmed and symptomatic later (converted), "A" without
# symptoms up to `AS_OF`.
_Row = tuple[str, str, str | None, int, str, str, int]
_OMICRON_CASES: tuple[_Row, ...] = (
    ("O1", "HO1", "office", 15, "fever_clinic", "C", 1975),
    ("O2", "HO1", None, 16, "contact", "C", 1973),
    ("O3", "HO3", "office", 18, "contact", "C", 1988),
    ("O4", "HO3", None, 19, "contact", "V", 1989),
    ("O5", "HO5", "office", 20, "contact", "C", 1994),
    ("O6", "HO3", None, 21, "contact", "C", 2015),
)
_DELTA_CASES: tuple[_Row, ...] = (
    # 19 January: the visitor and the guide at the fever clinic, the waiter in screening.
    ("V01", "ROOM1", "tour", 19, "fever_clinic", "C", 1956),
    ("G", "HG", "tour", 19, "fever_clinic", "C", 1981),
    ("RW1", "HRW", "R3", 19, "screening", "C", 1990),
    # 20 January
    ("MW1", "HMW1", "M1", 20, "screening", "C", 1975),
    ("V02", "ROOM1", "tour", 20, "contact", "C", 1957),
    ("V03", "ROOM2", "tour", 20, "contact", "C", 1955),
    ("GH", "HG", None, 20, "contact", "C", 1979),
    ("DR", "HDR", "tour", 20, "contact", "C", 1972),
    # 21 January
    ("K1", "HK1", "EXP", 21, "screening", "C", 1992),
    ("V04", "ROOM2", "tour", 21, "contact", "C", 1958),
    ("V05", "ROOM3", "tour", 21, "contact", "V", 1952),
    ("V06", "ROOM3", "tour", 21, "contact", "A", 1954),
    ("GD", "HG", None, 21, "contact", "A", 2006),
    ("DW", "HDR", None, 21, "contact", "C", 1974),
    ("RWW", "HRW", None, 21, "contact", "C", 1991),
    ("MH", "HMW1", None, 21, "contact", "V", 1973),
    # 22 January: the first round of mass testing finds three market shoppers.
    ("C1", "HC1", None, 22, "mass", "C", 1955),
    ("C2", "HC2", None, 22, "mass", "V", 1960),
    ("C3", "HC3", None, 22, "mass", "C", 1962),
    ("FS1", "HFS1", "FSW", 22, "fever_clinic", "C", 1976),
    ("S4", "HS4", "HT", 22, "screening", "C", 1982),
    ("V07", "ROOM4", "tour", 22, "contact", "C", 1960),
    ("V08", "ROOM4", "tour", 22, "contact", "C", 1961),
    ("GM", "HG", None, 22, "contact", "V", 1950),
    ("DS", "HDR", None, 22, "contact", "A", 1997),
    ("MW2", "HMW2", "M1", 22, "contact", "C", 1970),
    ("RWC1", "HRC1", "R3", 22, "contact", "C", 1985),
    ("KW", "HK1", None, 22, "contact", "A", 1994),
    # 23 January (5 confirmed, 4 asymptomatic)
    ("CY1", "HCY1", "CYW", 23, "fever_clinic", "C", 1986),
    ("RWS", "HRW", None, 23, "contact", "A", 2014),
    ("RWC2", "HRC2", "R3", 23, "contact", "C", 1998),
    ("MW3", "HMW3", "M1", 23, "contact", "C", 1968),
    ("MW4", "HMW4", "M1", 23, "contact", "C", 1978),
    ("K2", "HK2", "EXP", 23, "contact", "C", 1989),
    ("S4H", "HS4", None, 23, "contact", "A", 1980),
    ("C1W", "HC1", None, 23, "contact", "A", 1957),
    ("FS1W", "HFS1", None, 23, "contact", "A", 1978),
    # 24 January (7 confirmed, 2 asymptomatic): Fengtai tests every resident.
    ("C4", "HC4", None, 24, "mass", "C", 1959),
    ("C5", "HC5", None, 24, "mass", "C", 1963),
    ("C6", "HC6", None, 24, "mass", "C", 1991),
    ("C2H", "HC2", None, 24, "contact", "C", 1958),
    ("C3D", "HC3", None, 24, "contact", "A", 1990),
    ("K3", "HK3", "EXP", 24, "contact", "C", 1995),
    ("SC1", "HSC1", "HT", 24, "contact", "C", 1987),
    ("FC1", "HFC1", "FSW", 24, "contact", "C", 1983),
    ("CY1W", "HCY1", None, 24, "contact", "A", 1987),
    # 25 January (12 confirmed, 3 asymptomatic)
    ("DX1", "HDX1", "DXW", 25, "fever_clinic", "C", 1991),
    ("C7", "HC7", None, 25, "mass", "C", 1958),
    ("C8", "HC8", None, 25, "mass", "C", 1961),
    ("C9", "HC9", None, 25, "mass", "C", 1964),
    ("RWC1H", "HRC1", None, 25, "contact", "C", 1984),
    ("MW2W", "HMW2", None, 25, "contact", "C", 1971),
    ("C3S", "HC3", None, 25, "contact", "A", 2012),
    ("C4H", "HC4", None, 25, "contact", "A", 1957),
    ("K2W", "HK2", None, 25, "contact", "C", 1990),
    ("S4D", "HS4", None, 25, "contact", "A", 2016),
    ("FS1S", "HFS1", None, 25, "contact", "C", 2008),
    ("FC1W", "HFC1", None, 25, "contact", "C", 1985),
    ("CY1S", "HCY1", None, 25, "contact", "C", 2013),
    ("C5M", "HC5", None, 25, "contact", "C", 1938),
    ("C6D", "HC6", None, 25, "contact", "C", 2021),
    # 26 January, the last bulletin (6 confirmed, 2 asymptomatic), all in quarantine.
    ("MW3W", "HMW3", None, 26, "contact", "C", 1969),
    ("MW4S", "HMW4", None, 26, "contact", "A", 2003),
    ("K3H", "HK3", None, 26, "contact", "C", 1993),
    ("SC1W", "HSC1", None, 26, "contact", "C", 1988),
    ("C4M", "HC4", None, 26, "contact", "C", 1943),
    ("C7H", "HC7", None, 26, "contact", "A", 1956),
    ("C8H", "HC8", None, 26, "contact", "C", 1960),
    ("DX1W", "HDX1", None, 26, "contact", "C", 1992),
)

# Households of the chain: district and the birth years of members who are not infected.
# ROOM households are the tour group's hotel rooms (ROOM5 and ROOM6 stay well).
_HOUSEHOLDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "HO1": ("Haidian", (1948,)),
    "HO3": ("Haidian", ()),
    "HO5": ("Haidian", (1996,)),
    "ROOM1": ("Fengtai", ()),
    "ROOM2": ("Fengtai", ()),
    "ROOM3": ("Fengtai", ()),
    "ROOM4": ("Fengtai", ()),
    "ROOM5": ("Fengtai", (1953, 1955)),
    "ROOM6": ("Fengtai", (1958, 1959)),
    "HG": ("Fengtai", ()),
    "HDR": ("Fengtai", ()),
    "HRW": ("Fengtai", (1962,)),
    "HRC1": ("Fengtai", ()),
    "HRC2": ("Fangshan", (1999, 1972)),
    "HMW1": ("Fengtai", (2001,)),
    "HMW2": ("Fengtai", ()),
    "HMW3": ("Fengtai", (1995,)),
    "HMW4": ("Fengtai", (1977,)),
    "HK1": ("Fengtai", ()),
    "HK2": ("Xicheng", ()),
    "HK3": ("Fengtai", ()),
    "HS4": ("Fengtai", ()),
    "HSC1": ("Fengtai", (2017,)),
    "HC1": ("Fengtai", ()),
    "HC2": ("Fengtai", (1986,)),
    "HC3": ("Fengtai", ()),
    "HC4": ("Fengtai", ()),
    "HC5": ("Fengtai", ()),
    "HC6": ("Fengtai", (1989,)),
    "HC7": ("Fangshan", ()),
    "HC8": ("Fangshan", (1985,)),
    "HC9": ("Fengtai", (1966,)),
    "HFS1": ("Fangshan", ()),
    "HFC1": ("Fangshan", (1958,)),
    "HCY1": ("Chaoyang", ()),
    "HDX1": ("Daxing", (1965,)),
}


@dataclass(frozen=True)
class _Team:
    """A workplace of the chain: its place, hours, screening, and workers not infected."""

    kind: str
    district: str
    name: str | None
    opens: str  # local time
    closes: str
    weekdays_only: bool = False
    screen_parity: int | None = None  # screened on the days whose number has this parity
    screen_at: str = ""
    others: int = 0  # workers who stay well


_TEAMS: dict[str, _Team] = {
    "office": _Team(
        "workplace",
        "Haidian",
        "Trading company office",
        opens="09:00",
        closes="18:00",
        weekdays_only=True,
        others=7,
    ),
    # The restaurant where the tour ate on 15 January, and the market it passed through on the
    # 16th, are the city's own (no name here). Restaurant staff, market stallholders,
    # couriers and hotel staff were screened every other day.
    "R3": _Team(
        "restaurant",
        "Fengtai",
        None,
        opens="10:00",
        closes="21:30",
        screen_parity=0,
        screen_at="14:30",
        others=4,
    ),
    "M1": _Team(
        "market",
        "Fengtai",
        None,
        opens="06:30",
        closes="18:00",
        screen_parity=1,
        screen_at="07:00",
        others=8,
    ),
    "EXP": _Team(
        "workplace",
        "Fengtai",
        "Parcel delivery station",
        opens="08:00",
        closes="19:00",
        screen_parity=0,
        screen_at="07:30",
        others=5,
    ),
    "HT": _Team(
        "hotel",
        "Fengtai",
        "Tour group hotel",
        opens="08:00",
        closes="17:00",
        screen_parity=1,
        screen_at="07:30",
        others=4,
    ),
    "FSW": _Team(
        "workplace",
        "Fangshan",
        "Building-materials warehouse",
        opens="08:30",
        closes="17:30",
        weekdays_only=True,
        others=5,
    ),
    "CYW": _Team(
        "workplace",
        "Chaoyang",
        "Design studio",
        opens="09:00",
        closes="18:00",
        weekdays_only=True,
        others=5,
    ),
    "DXW": _Team("workplace", "Daxing", "Courier depot", opens="08:00", closes="19:00", others=4),
}

# The tour, day by day: (place key, start, end), local times. "coach" is the tour coach,
# "rooms" the visitors' hotel rooms until the next morning. The guide and the driver are
# everywhere but the rooms (and the driver waits in the coach at the station).
_TOUR: dict[int, tuple[tuple[str, str, str], ...]] = {
    14: (("station", "10:05", "10:30"), ("coach", "10:40", "11:30"), ("R1", "11:40", "12:50"),
         ("coach", "13:00", "13:25"), ("bridge", "13:35", "15:35"), ("coach", "15:45", "16:30"),
         ("rooms", "16:45", "08:10")),
    15: (("coach", "08:20", "09:10"), ("palace", "09:25", "12:05"), ("coach", "12:15", "12:40"),
         ("R3", "12:45", "13:55"), ("coach", "14:05", "14:35"), ("temple", "14:45", "16:50"),
         ("coach", "17:00", "17:45"), ("rooms", "17:55", "08:10")),
    16: (("coach", "08:30", "09:05"), ("expo", "09:15", "11:45"), ("coach", "11:55", "12:10"),
         ("R2", "12:15", "13:25"), ("coach", "13:35", "13:45"), ("M1", "13:50", "14:01"),
         ("coach", "14:05", "14:50"), ("rooms", "15:00", "08:10")),
    17: (("coach", "08:30", "09:30"), ("olympic", "09:40", "12:00"), ("coach", "12:10", "12:50"),
         ("R1", "13:00", "14:10"), ("coach", "14:20", "15:10"), ("rooms", "15:20", "08:10")),
    18: (("coach", "08:30", "09:00"), ("expo", "09:10", "11:30"), ("coach", "11:40", "11:55"),
         ("R2", "12:00", "13:10"), ("coach", "13:20", "13:50"), ("rooms", "14:00", "08:10")),
}  # fmt: skip
_TOUR_ARRIVAL = (14, "10:00")
_TOUR_PORT = "Beijing West Railway Station"
# Places of the tour besides the restaurants and the market: (key, kind, district, name).
_SIGHTS: tuple[tuple[str, str, str, str], ...] = (
    ("station", "transport", "Fengtai", "Beijing West Railway Station"),
    ("coach", "transport", "Fengtai", "Tour coach"),
    ("bridge", "other", "Fengtai", "Marco Polo Bridge"),
    ("expo", "other", "Fengtai", "Garden Expo Park"),
    ("palace", "other", "Dongcheng", "Palace Museum"),
    ("temple", "other", "Dongcheng", "Temple of Heaven"),
    ("olympic", "other", "Chaoyang", "Olympic Green"),
)

# Short visits that spread the virus without making anyone a close contact (under the
# protocol's 15 minutes): (person, place key, day, local hour, minutes).
_ERRANDS: tuple[tuple[str, str, int, str, int], ...] = (
    ("C1", "M1", 16, "09:10", 10),
    ("C2", "M1", 16, "10:40", 9),
    ("C3", "M1", 17, "09:30", 12),
    ("C4", "M1", 17, "15:20", 10),
    ("K1", "M1", 17, "16:05", 7),  # a parcel for a stallholder
    ("C5", "M1", 17, "17:00", 8),
    ("C6", "M1", 18, "08:40", 11),
    ("CY1", "M1", 18, "10:00", 10),
    ("C9", "M1", 18, "11:20", 9),
    ("DX1", "M1", 18, "16:30", 8),
    ("S4", "ROOM1", 18, "10:00", 40),  # cleaning the room while its guests are out
    ("FS1", "FM1", 19, "17:30", 20),
    ("C7", "FM1", 19, "17:35", 10),
    ("C8", "FM1", 19, "17:38", 8),
)
# Fever-clinic cases: the local time of the visit, the day before their bulletin day, and
# the days from onset to that visit. The guide, feverish, ends the tour early on the 18th
# and takes the visitor who has been ill since the 16th to the clinic that afternoon, before
# the waiter's screening result (from 17:00): once the waiter is confirmed, whoever ate at
# the waiter's restaurant is a close contact, and whoever ate with one of them since (as
# the tour may have, at lunch that day) a secondary contact.
_CLINIC: dict[str, tuple[str, int]] = {
    "O1": ("19:05", 1),
    "V01": ("14:55", 2),
    "G": ("14:50", 0),
    "FS1": ("19:30", 1),
    "CY1": ("20:10", 1),
    "DX1": ("18:50", 1),
}
# Rounds of 10-in-1 pooled mass testing: (day, district).
_MASS_ROUNDS: tuple[tuple[int, str], ...] = (
    (21, "Fengtai"), (23, "Fengtai"), (24, "Fengtai"), (24, "Fangshan")
)  # fmt: skip
_POOL_SIZE = 10
_POOL_DILUTION_CT = 3.3  # log2(10): a 10-in-1 pool reads about 3.3 cycles later
# The letter and the other environment samples taken at the office on 16 January.
_ENVIRONMENT: tuple[tuple[str, bool], ...] = (
    ("letter mailed from Canada: envelope", True),
    ("letter mailed from Canada: inner pages", True),
    ("office mailbox", False),
    ("desk of the recipient", False),
)
# Quarantine PCR days (day 1 is the day it starts), as edition 9 of the national protocol.
_QUARANTINE_TEST_DAYS = (1, 2, 3, 5, 7)
_QUARANTINE_DAYS = 10  # 7 centralised + 3 at home: health reports for this long

# Each part draws from its own stream, so changing one leaves the others as they were.
_S_CITY, _S_VISITS, _S_CHAIN, _S_TESTS, _S_LAB, _S_HEALTH, _S_MOVES = range(1, 8)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _at(day: int, time: float | str = 0.0) -> int:
    """Local wall-clock seconds since the epoch at `time` (hours, or ``"13:50"``) on `day`
    January 2022."""
    hours = _clock(time) if isinstance(time, str) else time
    return _JAN1 + (day - 1) * _DAY + round(hours * _HOUR)


def _day(secs: int) -> int:
    """The January day of local seconds `secs`."""
    return (secs - _JAN1) // _DAY + 1


def _hour(secs: int) -> float:
    return (secs - _JAN1) % _DAY / _HOUR


def _clock(text: str) -> float:
    """``"13:50"`` → 13.83 (hours)."""
    hours, minutes = text.split(":")
    return int(hours) + int(minutes) / 60


_END = _at(LAST_DAY.day, 16)


# --------------------------------------------------------------------------------------------
# Rows of a table
# --------------------------------------------------------------------------------------------


class _Rows:
    """Rows of one event table: single rows from the chain, then whole column batches.

    Instants are local seconds (written as ``+08:00``), dates `datetime.date`, floats NaN or
    None for null; a column missing from a row or a batch is null.
    """

    def __init__(self, name: str) -> None:
        self.table = schema_table(name)
        self.rows: list[dict[str, object]] = []
        self.batches: list[tuple[int, dict[str, ColumnValues]]] = []

    def add(self, **values: object) -> None:
        self.rows.append(values)

    def add_batch(self, **columns: ColumnValues) -> None:
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"{self.table.name}: columns of different lengths {lengths}")
        self.batches.append((lengths.pop(), columns))

    def columns(self, order_by: tuple[str, ...] = ()) -> dict[str, ColumnValues]:
        """The table as columns, sorted by `order_by` (the first key the most significant)."""
        used = {k for r in self.rows for k in r} | {k for _, b in self.batches for k in b}
        out: dict[str, ColumnValues] = {}
        for col in self.table.columns:
            if col.name not in used:
                continue
            parts = [_typed([r.get(col.name) for r in self.rows], col.type)]
            for n, batch in self.batches:
                values = batch.get(col.name)
                parts.append(_typed([None] * n if values is None else values, col.type))
            out[col.name] = _concat(parts)
        if order_by:
            order = np.lexsort([_sort_key(out[k]) for k in reversed(order_by)])
            out = {k: _take_rows(v, order) for k, v in out.items()}
        return out


def _typed(values: Sequence[object] | ColumnValues, typ: ColumnType) -> ColumnValues:
    """Values of a column in one representation per type, so that parts concatenate."""
    if typ is ColumnType.INSTANT:
        if any(v is None for v in values):
            raise ValueError("an instant is missing")
        return np.asarray(values, dtype=np.int64)
    if typ is ColumnType.INTEGER:
        if isinstance(values, np.ndarray):
            return pa.array(values, type=pa.int64())
        return pa.array(list(values), type=pa.int64())
    if typ is ColumnType.FLOAT:
        return np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    if isinstance(values, pa.Array):
        return values
    if typ is ColumnType.DATE:
        return pa.array(list(values), type=pa.date32())
    return pa.array(list(values), type=pa.string())


def _concat(parts: list[ColumnValues]) -> ColumnValues:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate([np.asarray(p) for p in parts])
    return pa.concat_arrays([cast(pa.Array, p) for p in parts])


def _sort_key(values: ColumnValues) -> Arr:
    if isinstance(values, np.ndarray):
        return values
    return np.asarray(cast(pa.Array, values).to_pylist(), dtype=object).astype(str)


def _take_rows(values: ColumnValues, order: Arr) -> ColumnValues:
    if isinstance(values, np.ndarray):
        return values[order]
    return cast(pa.Array, values).take(pa.array(order))


def _local(values: ColumnValues) -> Arr:
    """Local seconds → ``datetime64[s]``, which `write_table` writes with ``+08:00``."""
    return np.asarray(values, dtype=np.int64).astype("datetime64[s]")


# --------------------------------------------------------------------------------------------
# People and places
# --------------------------------------------------------------------------------------------


@dataclass
class _Case:
    """A case of the chain and, once scheduled, how and when it was found."""

    key: str
    day: int  # bulletin day in January
    found: str
    course: str
    lineage: str
    sample: int = 0  # local seconds of the sample that made the case
    report: int = 0  # its result: the case's confirmation
    onset: int = 0  # January day symptoms began (0: no symptoms when confirmed)
    converted: int = 0  # local seconds of the first symptoms after confirmation (0: none)
    clinic: int = 0  # start of the fever-clinic visit
    ct: float = 0.0


@dataclass
class _Person:
    """Someone of the chain: a case, a household member or a workmate."""

    index: int
    key: str
    household: str
    district: str
    born: int
    team: str | None = None
    case: _Case | None = None
    workplace: str | None = None  # a workplace of the city, for those who work at one
    quarantined: int = 0  # local seconds the person's quarantine began (0: never)

    @property
    def person_id(self) -> str:
        return _person_id(self.index)


def _person_id(index: int) -> str:
    return f"P{index + 1:06d}"


@dataclass
class _City:
    """Places and people: the chain first, then everyone else."""

    places: _Rows = field(default_factory=lambda: _Rows("places"))
    kinds: dict[str, str] = field(default_factory=dict)  # place id → kind
    counters: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    keyed: dict[str, str] = field(default_factory=dict)  # key of the chain → place id
    restaurants: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    markets: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    workplaces: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    clinics: dict[str, str] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)  # chain household → home or room
    chain: list[_Person] = field(default_factory=list)
    by_key: dict[str, _Person] = field(default_factory=dict)

    def place(self, prefix: str, kind: str, district: str, name: str | None = None, *,
              parent: str | None = None, capacity: int | None = None,
              place_id: str | None = None) -> str:  # fmt: skip
        """Adds a place and returns its id (``REST-FT-0003``, or `place_id`)."""
        if place_id is None:
            code = _CODE[district]
            self.counters[(prefix, code)] += 1
            place_id = f"{prefix}-{code}-{self.counters[(prefix, code)]:04d}"
        self.places.add(place_id=place_id, kind=kind, district=district, parent_id=parent,
                        capacity=capacity, name=name)  # fmt: skip
        self.kinds[place_id] = kind
        return place_id

    def add_person(self, key: str, household: str, district: str, born: int,
                   team: str | None = None, case: _Case | None = None) -> None:  # fmt: skip
        person = _Person(len(self.chain), key, household, district, born, team, case)
        self.chain.append(person)
        self.by_key[key] = person

    @property
    def cases(self) -> list[_Person]:
        return [p for p in self.chain if p.case is not None]


def _city_places(city: _City) -> None:
    """Each district's restaurants, markets, workplaces and fever clinic (in its hospital),
    then the chain's own places: its workplaces, the tour's hotel rooms and sights."""
    for district, _, residents in _DISTRICTS:
        if residents == 0:
            continue
        for i in range(_RESTAURANTS):
            city.restaurants[district].append(
                city.place("REST", "restaurant", district, f"{district} restaurant {i + 1}")
            )
        for i in range(_MARKETS):
            city.markets[district].append(
                city.place("MRKT", "market", district, f"{district} farmers market {i + 1}")
            )
        for _ in range(math.ceil(residents * 0.5 / _WORKERS_PER_PLACE)):
            city.workplaces[district].append(city.place("WORK", "workplace", district))
        hospital = city.place("HOSP", "hospital", district, f"{district} district hospital")
        city.clinics[district] = city.place(
            "FEVR", "fever_clinic", district, f"{district} district hospital fever clinic",
            parent=hospital,
        )  # fmt: skip
    # The tour's restaurants and the market are the city's own: everyone eats and shops there.
    city.keyed.update(
        R1=city.restaurants["Fengtai"][0],
        R2=city.restaurants["Fengtai"][1],
        R3=city.restaurants["Fengtai"][2],
        M1=city.markets["Fengtai"][0],
        FM1=city.markets["Fangshan"][0],
    )
    for key, team in _TEAMS.items():
        if key in city.keyed:
            continue
        if team.kind != "hotel":
            city.keyed[key] = city.place("WORK", team.kind, team.district, team.name)
            continue
        hotel = city.place("HOTL", "hotel", team.district, team.name, capacity=160)
        city.keyed[key] = hotel
        # The group's rooms on the third floor; a floor is a corridor, not a room (kind other).
        floor = city.place("", "other", team.district, parent=hotel, place_id=f"{hotel}-F03")
        for r in range(1, 7):
            room = city.place("", "room", team.district, parent=floor, capacity=2,
                              place_id=f"{floor}-R{r:02d}")  # fmt: skip
            city.homes[f"ROOM{r}"] = city.keyed[f"ROOM{r}"] = room
    for key, kind, district, name in _SIGHTS:
        city.keyed[key] = city.place("TRAN" if kind == "transport" else "SITE", kind, district,
                                     name)  # fmt: skip


def _chain_people(city: _City, rng: np.random.Generator) -> None:
    """The cases, their households and their workmates who stay well."""
    rows = [(r, OMICRON_LINEAGE) for r in _OMICRON_CASES]
    rows += [(r, DELTA_LINEAGE) for r in _DELTA_CASES]
    for (key, household, team, day, found, course, born), lineage in rows:
        case = _Case(key, day, found, course, lineage)
        city.add_person(key, household, _HOUSEHOLDS[household][0], born, team, case)
    for household, (district, well) in _HOUSEHOLDS.items():
        for i, born in enumerate(well):
            city.add_person(f"{household}-{i + 1}", household, district, born)
    for team_key, workplace in _TEAMS.items():
        for i in range(workplace.others):
            household = f"{team_key}-H{i + 1}"
            city.add_person(f"{team_key}-{i + 1}", household, workplace.district,
                            int(rng.integers(1965, 2001)), team_key)  # fmt: skip
            for j in range(int(rng.integers(0, 3))):  # 0-2 people at home, in no story
                city.add_person(f"{household}-{j + 1}", household, workplace.district,
                                int(rng.integers(1940, 2021)))  # fmt: skip
    for p in city.chain:
        if p.household.startswith("ROOM") or p.key in ("G", "DR"):
            p.team = "tour"
        if p.household not in city.homes:
            city.homes[p.household] = city.place("HOME", "home", p.district)
        # Working-age people outside the chain's workplaces work somewhere in their district.
        # Not the visitors, and not the cases found outside quarantine: a workplace of the city
        # could make them someone's secondary contact before they were found.
        found_outside = p.case is not None and p.case.found != "contact"
        if p.team is None and not found_outside and 22 <= 2022 - p.born <= 60:
            places = city.workplaces[p.district]
            p.workplace = places[int(rng.integers(len(places)))]
    # Nor does anyone living with a case found outside quarantine work with another case of
    # the chain: a workmate of a case is its close contact, and the household of a close
    # contact its secondary contacts. The cases come first in the chain, so each choice here
    # sees the workplaces of the cases.
    outside = {p.household for p in city.cases if cast(_Case, p.case).found != "contact"}
    for p in city.chain:
        if p.workplace is None or p.household not in outside:
            continue
        taken = {q.workplace for q in city.cases if q is not p and q.workplace is not None}
        if p.workplace in taken:
            free = [w for w in city.workplaces[p.district] if w not in taken]
            if not free:
                raise RuntimeError(f"{p.key}: every workplace of {p.district} has a case")
            p.workplace = free[int(rng.integers(len(free)))]


@dataclass
class _Residents:
    """The people of the city who are in no story."""

    index: Arr  # row in persons
    district: Arr  # index into _DISTRICTS
    home: list[str]
    born: Arr
    workplace: list[str | None]


def _residents(city: _City, rng: np.random.Generator) -> _Residents:
    """Households of one to five people in each district: one or two adults, then children
    or grandparents; four in five working-age adults work in their district."""
    districts: list[int] = []
    homes: list[str] = []
    borns: list[int] = []
    for d, (name, _, residents) in enumerate(_DISTRICTS):
        left = residents
        while left > 0:
            size = min(left, int(rng.choice(5, p=[0.2, 0.32, 0.28, 0.12, 0.08])) + 1)
            left -= size
            home = city.place("HOME", "home", name)
            head = int(rng.integers(1950, 1998))
            years = [head, head + int(rng.integers(-4, 5))][: min(size, 2)]
            for _ in range(size - len(years)):
                child = rng.random() < 0.6
                years.append(int(rng.integers(2005, 2022) if child else rng.integers(1935, 1955)))
            districts += [d] * size
            homes += [home] * size
            borns += years
    n = len(homes)
    district = np.asarray(districts, dtype=np.int64)
    born = np.asarray(borns, dtype=np.int64)
    works = (2022 - born >= 22) & (2022 - born <= 60) & (rng.random(n) < 0.8)
    pick = rng.random(n)
    workplace: list[str | None] = []
    for d, w, u in zip(district.tolist(), works.tolist(), pick.tolist(), strict=True):
        places = city.workplaces[_DISTRICTS[d][0]]
        workplace.append(places[int(u * len(places))] if w else None)
    return _Residents(len(city.chain) + np.arange(n), district, homes, born, workplace)


# --------------------------------------------------------------------------------------------
# The chain: when each case was found
# --------------------------------------------------------------------------------------------


def _minutes(rng: np.random.Generator, lo: float, hi: float) -> int:
    """A whole number of seconds between `lo` and `hi` minutes."""
    return int(rng.integers(round(lo * _MINUTE), round(hi * _MINUTE) + 1))


def _seeds(city: _City, team: str) -> list[_Person]:
    """The cases of a workplace found outside quarantine: the workmates' exposure."""
    return [
        p for p in city.chain
        if p.team == team and p.case is not None and p.case.found != "contact"
    ]  # fmt: skip


def _direct(city: _City, p: _Person) -> int:
    """When `p` became a household contact or a workmate of a confirmed case (0: never)."""
    others = [q for q in city.chain if q is not p and q.household == p.household]
    if p.team is not None:
        others += [q for q in _seeds(city, p.team) if q is not p]
    return min((q.case.report for q in others if q.case is not None and q.case.report), default=0)


def _quarantine_start(city: _City, p: _Person) -> int:
    """When `p` was quarantined: as a contact of a case, or at home as a secondary contact
    (someone of the household is a contact); 0 if never."""
    times = [t for t in [_direct(city, p)] if t]
    times += [
        t for q in city.chain if q is not p and q.household == p.household
        for t in [_direct(city, q)] if t
    ]  # fmt: skip
    return min(times, default=0)


def _schedule(city: _City, rng: np.random.Generator) -> None:
    """Sample, result, onset and conversion of every case, day by day (an infector's day is
    always before the day of the people it infected)."""
    for p in sorted(city.cases, key=lambda q: cast(_Case, q.case).day):
        case = cast(_Case, p.case)
        d = case.day
        if case.found == "fever_clinic":
            hour, gap = _CLINIC[p.key]
            case.clinic = _at(d - 1, hour) + _minutes(rng, 0, 10)
            case.sample = case.clinic + _minutes(rng, 12, 20)
            case.report = case.sample + _minutes(rng, 330, 510)
            case.onset = d - 1 - gap
        elif case.found == "screening":
            team = _TEAMS[cast(str, p.team)]
            if team.screen_parity is None or (d - 1) % 2 != team.screen_parity:
                raise RuntimeError(f"{p.key}: {d - 1} January is no screening day")
            case.sample = _at(d - 1, team.screen_at) + _minutes(rng, 0, 60)
            case.report = _at(d - 1, 17) + _minutes(rng, 0, 240)
            case.onset = d - 2
        elif case.found == "mass":
            if (d - 1, p.district) not in _MASS_ROUNDS:
                raise RuntimeError(f"{p.key}: no mass testing in {p.district} on {d - 1} January")
            case.sample = _at(d, 7.5) + _minutes(rng, 0, 120)
            case.report = _at(d, 11) + _minutes(rng, 0, 210)
            case.onset = d - 1
        else:
            # In quarantine since an earlier case was confirmed: a positive quarantine test.
            p.quarantined = _quarantine_start(city, p)
            if not p.quarantined or p.quarantined > _at(d, 5):
                raise RuntimeError(f"{p.key}: not in quarantine before {d} January")
            case.sample = _at(d, 7) + _minutes(rng, 0, 150)
            case.report = _at(d, 10.5) + _minutes(rng, 0, 270)
            case.onset = d
        if case.course != "C":
            case.onset = 0
        if case.course == "V":
            case.converted = _at(_day(case.report) + 1, 10) + _minutes(rng, 0, 60)
            if case.converted >= _at(LAST_DAY.day - 1, 16):
                raise RuntimeError(f"{p.key}: converted inside the last bulletin's window")
    # Everyone's quarantine, now that every case has its confirmation. A case found in
    # quarantine must have been quarantined as it was scheduled; a case found otherwise must
    # not have been a contact before its sample (the cycle would count it under control).
    # Those who ate where the city eats (the tour) are swabbed before a case among the
    # restaurants' staff is confirmed: that case's diners are its close contacts, and the
    # people who ate with them later its secondary contacts.
    restaurants = {key for key, team in _TEAMS.items() if team.kind == "restaurant"}
    staff = [cast(_Case, q.case).report for q in city.cases if q.team in restaurants]
    for p in city.chain:
        start = _quarantine_start(city, p)
        if p.case is None:
            p.quarantined = start
        elif p.case.found == "contact":
            if start != p.quarantined or not start < p.case.sample:
                raise RuntimeError(f"{p.key}: quarantined at {start}, not as scheduled")
        elif start and start <= p.case.sample:
            raise RuntimeError(f"{p.key}: a contact before the sample that found the case")
        elif p.team == "tour" and p.case.sample >= min(staff, default=_END):
            raise RuntimeError(f"{p.key}: swabbed after a case among the restaurants' staff")


def _check_chain(city: _City) -> None:
    """The chain gives every published figure, and the chosen splits as documented."""
    cases = [cast(_Case, p.case) for p in city.cases]
    by_day: dict[dt.date, int] = defaultdict(int)
    for c in cases:
        in_day = _at(c.day - 1, 16) < c.report <= _at(c.day, 16)
        if not in_day or not _at(FIRST_DAY.day) <= c.report <= _END or c.sample >= c.report:
            raise RuntimeError(f"case {c.key} confirmed outside its bulletin day")
        by_day[dt.date(2022, 1, c.day)] += 1
    omicron = [c for c in cases if c.lineage == OMICRON_LINEAGE]
    delta = [c for c in cases if c.lineage == DELTA_LINEAGE]
    window = [c for c in cases if c.day == LAST_DAY.day]
    found = {"contact": "under_control", "mass": "mass_testing"}
    counts = {
        "local cases": (len(cases), LOCAL_CASES),
        "Omicron": (len(omicron), OMICRON),
        "Omicron asymptomatic": (sum(c.course == "A" for c in omicron), 0),
        "Delta": (len(delta), DELTA),
        "Delta asymptomatic": (sum(c.course == "A" for c in delta), DELTA_ASYMPTOMATIC),
        "Delta confirmed": (sum(c.course != "A" for c in delta), DELTA_CONFIRMED),
        "window asymptomatic": (sum(c.course == "A" for c in window), WINDOW_ASYMPTOMATIC),
        "window confirmed": (sum(c.course != "A" for c in window), WINDOW_CONFIRMED),
        "window not in quarantine": (sum(c.found != "contact" for c in window), 0),
        "converted": (sum(c.course == "V" for c in cases), CONVERTED),
    }
    for name, (got, want) in counts.items():
        if got != want:
            raise RuntimeError(f"{name}: the chain has {got}, expected {want}")
    districts: dict[str, int] = defaultdict(int)
    how: dict[str, int] = defaultdict(int)
    for p in city.cases:
        districts[p.district] += 1
        how[found.get(cast(_Case, p.case).found, cast(_Case, p.case).found)] += 1
    for name, got_map, want_map in (
        ("cases per day", dict(by_day), {k: v for k, v in NEW_CASES.items() if v}),
        ("cases per district", dict(districts), CASES_BY_DISTRICT),
        ("found by", dict(how), FOUND_BY),
    ):
        if got_map != want_map:
            raise RuntimeError(f"{name}: the chain has {got_map}, expected {want_map}")


# --------------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------------


def _stop(p: _Person) -> int:
    """When `p` stops going out: quarantine, the fever clinic, or the positive result."""
    times = [_END]
    if p.quarantined:
        times.append(p.quarantined)
    case = p.case
    if case is not None and case.found != "contact":
        times.append(case.clinic if case.found == "fever_clinic" else case.report)
        if case.found == "mass":
            times.append(case.sample)
    return min(times)


def _is_workday(day: int) -> bool:
    return dt.date(2022, 1, day).weekday() < 5


def _chain_visits(city: _City, visits: _Rows, rng: np.random.Generator) -> None:
    """Work, the tour, errands and fever-clinic visits of the people of the chain."""
    for p in city.chain:
        stop = _stop(p)
        sick_from = 99  # fever-clinic cases stay at home from the day after their onset
        if p.case is not None and p.case.found == "fever_clinic":
            sick_from = p.case.onset + 1

        def visit(place: str, start: int, end: int, source: str, who: _Person = p,
                  stop: int = stop) -> None:  # fmt: skip
            end = min(end, stop)
            if end - start >= 5 * _MINUTE:
                visits.add(person_id=who.person_id, place_id=place, start=start, end=end,
                           source=source)  # fmt: skip

        if p.team is not None and p.team != "tour":
            team = _TEAMS[p.team]
            place = city.keyed[p.team]
            source = "roster" if team.kind in ("workplace", "hotel") else "scan"
            for day in range(_EVENTS_FROM, LAST_DAY.day + 1):
                if (team.weekdays_only and not _is_workday(day)) or day >= sick_from:
                    continue
                start = _at(day, team.opens) + _minutes(rng, -10, 10)
                if start < stop:
                    visit(place, start, _at(day, team.closes) + _minutes(rng, -10, 10), source)
        if p.workplace is not None:
            for day in range(_EVENTS_FROM, LAST_DAY.day + 1):
                start = _at(day, 8.5) + _minutes(rng, -20, 40)
                if _is_workday(day) and start < stop:
                    end = start + _minutes(rng, 8 * 60, 9.5 * 60)
                    visit(p.workplace, start, end, "roster")
        if p.team == "tour":
            for day, stops in _TOUR.items():
                for key, begin, finish in stops:
                    if key == "rooms":
                        if p.household.startswith("ROOM"):
                            visit(city.homes[p.household], _at(day, begin), _at(day + 1, finish),
                                  "booking")  # fmt: skip
                        continue
                    if key == "station" and p.key == "DR":
                        continue  # the driver waits in the coach
                    place = city.keyed[key]
                    source = "manifest" if city.kinds[place] == "transport" else "scan"
                    # Scans a few minutes apart, but never a longer stay at the market.
                    late, early = (0, 0) if key == "M1" else (_minutes(rng, 0, 3),) * 2
                    start, end = _at(day, begin) + late, _at(day, finish) - early
                    if start < stop:
                        visit(place, start, end, source)
    for key, where, day, hour, minutes in _ERRANDS:
        p = city.by_key[key]
        start = _at(day, hour)
        if start >= _stop(p):
            raise RuntimeError(f"{key}: errand after going into quarantine")
        visits.add(person_id=p.person_id, place_id=city.keyed[where], start=start,
                   end=start + minutes * _MINUTE, source="scan")  # fmt: skip
    for p in city.cases:
        case = cast(_Case, p.case)
        if case.clinic:
            visits.add(person_id=p.person_id, place_id=city.clinics[p.district],
                       start=case.clinic, end=case.clinic + _minutes(rng, 45, 60),
                       source="scan")  # fmt: skip


def _city_visits(city: _City, people: _Residents, visits: _Rows, seed: int) -> None:
    """Everyone else: work on weekdays, and now and then a meal out or the market."""
    rng = _rng(seed, _S_VISITS)
    days = np.arange(_EVENTS_FROM, LAST_DAY.day + 1)
    n = len(people.index)
    workplace = pa.array(people.workplace, type=pa.string())
    workers = np.flatnonzero(np.asarray([w is not None for w in people.workplace]))
    person_parts: list[Arr] = []
    place_parts: list[pa.Array] = []
    start_parts: list[Arr] = []
    end_parts: list[Arr] = []
    source_parts: list[str] = []
    for day in days.tolist():
        if _is_workday(day):
            who = workers[rng.random(len(workers)) < 0.95]
            start = _at(day, 8) + rng.integers(0, 90 * _MINUTE, len(who))
            person_parts.append(who)
            place_parts.append(workplace.take(pa.array(who)))
            start_parts.append(start)
            end_parts.append(start + rng.integers(8 * _HOUR, 19 * _HOUR // 2, len(who)))
            source_parts += ["roster"] * len(who)
        out = np.flatnonzero(rng.random(n) < 0.22)
        meal = rng.random(len(out)) < 0.6
        lunch = rng.random(len(out)) < 0.5
        begin = np.where(
            meal,
            _at(day, 11.5) + np.where(lunch, 0, 6 * _HOUR) + rng.integers(0, 90 * _MINUTE,
                                                                          len(out)),
            _at(day, 8) + rng.integers(0, 570 * _MINUTE, len(out)),
        )  # fmt: skip
        length = np.where(
            meal,
            rng.integers(40 * _MINUTE, 90 * _MINUTE, len(out)),
            rng.integers(10 * _MINUTE, 40 * _MINUTE, len(out)),
        )
        pick = rng.random(len(out))
        places: list[str] = []
        for d, m, u in zip(people.district[out].tolist(), meal.tolist(), pick.tolist(),
                           strict=True):  # fmt: skip
            options = (city.restaurants if m else city.markets)[_DISTRICTS[d][0]]
            places.append(options[int(u * len(options))])
        person_parts.append(out)
        place_parts.append(pa.array(places, type=pa.string()))
        start_parts.append(begin)
        end_parts.append(begin + length)
        source_parts += ["scan"] * len(out)
    who = np.concatenate(person_parts)
    visits.add_batch(
        person_id=format_ids("P", people.index[who] + 1, 6),
        place_id=pa.concat_arrays(place_parts),
        start=np.concatenate(start_parts),
        end=np.concatenate(end_parts),
        source=pa.array(source_parts, type=pa.string()),
    )


def _closures(city: _City, visits: _Rows) -> dict[str, ColumnValues]:
    """The visits as columns, without those after a restaurant or market closed (when the
    first case who had been there in the two weeks before was confirmed) or after `AS_OF`."""
    closed: dict[str, int] = {}
    case_of = {p.person_id: cast(_Case, p.case) for p in city.cases}
    for row in visits.rows:
        case = case_of.get(cast(str, row["person_id"]))
        place = cast(str, row["place_id"])
        start = cast(int, row["start"])
        if (case is not None and city.kinds[place] in ("restaurant", "market")
                and case.report - 14 * _DAY <= start < case.report):  # fmt: skip
            closed[place] = min(closed.get(place, case.report), case.report)
    columns = visits.columns(order_by=("start", "person_id", "place_id"))
    places = cast(pa.Array, columns["place_id"]).to_pylist()
    shut = np.asarray([closed.get(cast(str, x), _END) for x in places], dtype=np.int64)
    starts = np.asarray(columns["start"])
    end = np.minimum(np.asarray(columns["end"]), np.minimum(shut, _END))
    keep = np.flatnonzero(end - starts >= 5 * _MINUTE)
    columns["end"] = end
    out = {k: _take_rows(v, keep) for k, v in columns.items()}
    out["start"] = _local(out["start"])
    out["end"] = _local(out["end"])
    return out


# --------------------------------------------------------------------------------------------
# Samples, results, symptoms, sequences
# --------------------------------------------------------------------------------------------


@dataclass
class _Lab:
    """Samples and their results, with ids by purpose (``QUAR000017``)."""

    samples: _Rows = field(default_factory=lambda: _Rows("samples"))
    results: _Rows = field(default_factory=lambda: _Rows("results"))
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    case_samples: dict[str, str] = field(default_factory=dict)  # case key → its sample id
    letter: str = ""  # the positive sample of the letter's envelope
    clinic_visits: list[tuple[str, str, int, int]] = field(default_factory=list)

    def swab(self, prefix: str, purpose: str, collected: int, reported: int, *,
             person: str | None = None, place: str | None = None, item: str | None = None,
             pool: str | None = None, ct: tuple[float, float] | None = None) -> str:  # fmt: skip
        """A sample and (unless pooled) its single-tube result; `ct` (ORF1ab, N) if positive."""
        self.counters[prefix] += 1
        sample_id = f"{prefix}{self.counters[prefix]:06d}"
        self.samples.add(sample_id=sample_id, person_id=person, place_id=place,
                         collected_at=collected, test="pcr", pool_id=pool, purpose=purpose,
                         item=item)  # fmt: skip
        if pool is None:
            self.result(f"R{sample_id}", reported, ct, sample_id=sample_id)
        return sample_id

    def result(self, result_id: str, reported: int, ct: tuple[float, float] | None, *,
               sample_id: str | None = None, pool_id: str | None = None) -> None:  # fmt: skip
        self.results.add(result_id=result_id, sample_id=sample_id, pool_id=pool_id,
                         reported_at=reported,
                         outcome="negative" if ct is None else "positive",
                         ct=None if ct is None else min(ct), ct_orf1ab=None if ct is None
                         else ct[0], ct_n=None if ct is None else ct[1])  # fmt: skip


def _genes(rng: np.random.Generator, ct: float) -> tuple[float, float]:
    """(ORF1ab, N) cycle thresholds around `ct`; the lower one is the result's Ct."""
    orf = round(ct + float(rng.normal(0.4, 0.4)), 1)
    n_gene = round(ct + float(rng.normal(0.0, 0.4)), 1)
    return orf, n_gene


def _case_ct(rng: np.random.Generator, case: _Case) -> float:
    """Sicker people, found by their symptoms, shed more virus (a lower Ct)."""
    if case.found == "fever_clinic":
        return round(float(rng.uniform(17, 24)), 1)
    if case.course == "A":
        return round(float(rng.uniform(27, 33)), 1)
    return round(float(rng.uniform(20, 30)), 1)


def _tests(city: _City, people: _Residents, lab: _Lab, seed: int) -> None:
    """Screening of the chain's trades, quarantine tests, the cases' positives, pooled mass
    testing, fever-clinic tests of the city, and the environment samples of the letter."""
    rng = _rng(seed, _S_TESTS)
    lab_rng = _rng(seed, _S_LAB)
    for p in city.cases:
        case = cast(_Case, p.case)
        case.ct = _case_ct(lab_rng, case)
    # Screening every second day for workers of the trades that had it.
    for p in city.chain:
        if p.team is None or p.team == "tour" or _TEAMS[p.team].screen_parity is None:
            continue
        team = _TEAMS[p.team]
        # Until quarantine, or until the day of the person's own positive sample.
        ends = [_END] + [t for t in (p.quarantined,) if t]
        last_day = LAST_DAY.day if p.case is None else _day(p.case.sample) - 1
        for day in range(_EVENTS_FROM, last_day + 1):
            collected = _at(day, team.screen_at) + _minutes(rng, 0, 60)
            reported = _at(day, 17) + _minutes(rng, 0, 240)
            if day % 2 == team.screen_parity and collected < min(ends) and reported <= _END:
                lab.swab("SCRN", "screening", collected, reported, person=p.person_id)
    # Quarantine: PCR on days 1, 2, 3, 5 and 7, until a positive ends it.
    for p in city.chain:
        if not p.quarantined:
            continue
        first = p.quarantined + _minutes(rng, 90, 240)
        if _hour(first) < 7:
            first = _at(_day(first), 7) + _minutes(rng, 0, 150)
        negatives = 0
        for k in _QUARANTINE_TEST_DAYS:
            collected = first if k == 1 else _at(_day(first) + k - 1, 7) + _minutes(rng, 0, 150)
            reported = collected + _minutes(rng, 180, 360)
            if p.case is not None and _day(collected) >= p.case.day:
                break
            if reported <= _END:
                lab.swab("QUAR", "contact", collected, reported, person=p.person_id)
                negatives += 1
        if p.case is not None and negatives == 0:
            # The chain is planned so that every case found in quarantine tested negative
            # there, on an earlier day, before its positive.
            raise RuntimeError(f"{p.key}: no negative quarantine test before the positive")
    # The samples that made the cases (mass-testing cases: the single-tube re-test).
    purpose = {"fever_clinic": "diagnostic", "screening": "screening", "mass": "mass",
               "contact": "contact"}  # fmt: skip
    prefix = {"diagnostic": "DIAG", "screening": "SCRN", "mass": "RETE", "contact": "QUAR"}
    for p in city.cases:
        case = cast(_Case, p.case)
        kind = purpose[case.found]
        ct = _genes(lab_rng, case.ct)
        lab.case_samples[p.key] = lab.swab(prefix[kind], kind, case.sample, case.report,
                                           person=p.person_id, ct=ct)  # fmt: skip
    _mass_testing(city, people, lab, rng, lab_rng)
    # The fever clinics see two people a day from each district, all negative.
    for d, (district, _, residents) in enumerate(_DISTRICTS):
        if residents == 0:
            continue
        mine = people.index[people.district == d]
        for day in range(_EVENTS_FROM, LAST_DAY.day):
            for who in rng.choice(mine, 2, replace=False).tolist():
                start = _at(day, 8) + _minutes(rng, 0, 13 * 60)
                collected = start + _minutes(rng, 10, 25)
                reported = collected + _minutes(rng, 240, 480)
                if reported > _END:
                    continue
                person = _person_id(int(who))
                lab.clinic_visits.append((person, city.clinics[district], start,
                                          start + _minutes(rng, 30, 70)))  # fmt: skip
                lab.swab("DIAG", "diagnostic", collected, reported, person=person)
    # The letter at the office of the first Omicron case, swabbed on 16 January.
    office = city.keyed["office"]
    for i, (item, positive) in enumerate(_ENVIRONMENT):
        collected = _at(16, 10) + i * 5 * _MINUTE
        reported = _at(16, 21) + _minutes(rng, 0, 60)
        genes = _genes(lab_rng, round(float(lab_rng.uniform(31, 35)), 1)) if positive else None
        sample = lab.swab("ENVI", "environment", collected, reported, place=office, item=item,
                          ct=genes)  # fmt: skip
        if positive and not lab.letter:
            lab.letter = sample


def _mass_testing(city: _City, people: _Residents, lab: _Lab, rng: np.random.Generator,
                  lab_rng: np.random.Generator) -> None:  # fmt: skip
    """10-in-1 pooled rounds of the district's residents, by household; members of a
    positive pool are re-tested in single tubes the next morning.

    The chain's people take part only if the round finds them, or will find them later
    (the shoppers): the others were in quarantine, screened at work, or, for a few workmates
    not yet quarantined, left out to keep their story simple.
    """
    pools = 0
    for day, district in _MASS_ROUNDS:
        d = [name for name, _, _ in _DISTRICTS].index(district)
        who = [(people.home[i], _person_id(int(people.index[i]))) for i in
               np.flatnonzero(people.district == d).tolist()]  # fmt: skip
        positive: dict[str, _Case] = {}
        for p in city.cases:
            case = cast(_Case, p.case)
            if case.found == "mass" and p.district == district and case.day - 1 >= day:
                who.append((city.homes[p.household], p.person_id))
                if case.day - 1 == day:
                    positive[p.person_id] = case
        who.sort()
        n_pools = math.ceil(len(who) / _POOL_SIZE)
        for k in range(n_pools):
            pools += 1
            pool_id = f"POOL{pools:06d}"
            members = [pid for _, pid in who[k * _POOL_SIZE : (k + 1) * _POOL_SIZE]]
            opened = _at(day, 8) + k * (9 * _HOUR) // n_pools
            for pid in members:
                lab.swab("MASS", "mass", opened + _minutes(rng, 0, 5), 0, person=pid,
                         pool=pool_id)  # fmt: skip
            found = [positive[m] for m in members if m in positive]
            reported = _at(day, 20) + _minutes(rng, 0, 210)
            pooled_ct = min((c.ct for c in found), default=0.0) + _POOL_DILUTION_CT
            genes = _genes(lab_rng, round(pooled_ct, 1)) if found else None
            lab.result(f"R{pool_id}", reported, genes, pool_id=pool_id)
            if not found:
                continue
            # The cases' own re-tests are written with the cases; the others are negative.
            for pid in members:
                if pid in positive:
                    continue
                collected = _at(day + 1, 7.5) + _minutes(rng, 0, 120)
                lab.swab("RETE", "mass", collected, _at(day + 1, 11) + _minutes(rng, 0, 210),
                         person=pid)  # fmt: skip


def _symptoms(city: _City, rng: np.random.Generator) -> _Rows:
    """Health reports: every morning in quarantine (no symptoms), a clinician's assessment of
    each case, and the symptoms that make a case confirmed rather than asymptomatic."""
    rows = _Rows("symptoms")

    def well(p: _Person, at: int) -> None:
        if at <= _END:
            temperature = round(float(rng.uniform(36.1, 36.9)), 1)
            rows.add(person_id=p.person_id, reported_at=at, severity="none",
                     temperature_c=temperature)  # fmt: skip

    def sick(p: _Person, at: int, onset: int) -> None:
        case = cast(_Case, p.case)
        # The six Omicron cases were all mild; about a third of the Delta cases moderate.
        moderate = case.lineage == DELTA_LINEAGE and rng.random() < 0.35
        rows.add(person_id=p.person_id, reported_at=at, onset=dt.date(2022, 1, onset),
                 severity="moderate" if moderate else "mild",
                 temperature_c=round(float(rng.uniform(37.5, 38.9)), 1))  # fmt: skip

    def morning(day: int) -> int:
        return _at(day, 6.5) + _minutes(rng, 0, 25)

    for p in city.chain:
        case = p.case
        if p.quarantined:
            last = min(_day(p.quarantined) + _QUARANTINE_DAYS, LAST_DAY.day)
            if case is not None:
                last = case.day - 1
            for day in range(_day(p.quarantined) + 1, last + 1):
                well(p, morning(day))
        if case is None:
            continue
        if case.course == "C":
            at = {"fever_clinic": case.clinic + 5 * _MINUTE, "screening": case.sample,
                  "mass": case.sample}.get(case.found, morning(case.day))  # fmt: skip
            sick(p, at, case.onset)
            continue
        if case.found == "contact":
            well(p, morning(case.day))
        well(p, case.report + _HOUR)  # the clinician who admits the case finds no symptoms
        last = LAST_DAY.day if case.course == "A" else _day(case.converted) - 1
        for day in range(_day(case.report) + 1, last + 1):
            well(p, morning(day))
        if case.course == "V":
            sick(p, case.converted, _day(case.converted))
    return rows


def _sequences(city: _City, lab: _Lab, rng: np.random.Generator) -> _Rows:
    """The lineage of every case's positive sample (hours after the result, before `AS_OF`)
    and of the letter."""
    rows = _Rows("sequences")
    for p in city.cases:
        case = cast(_Case, p.case)
        reported = min(case.report + _minutes(rng, 180, 600), _END - _MINUTE)
        if reported <= case.report:
            raise RuntimeError(f"{p.key}: no time to sequence before the cut-off")
        rows.add(sample_id=lab.case_samples[p.key], lineage=case.lineage, reported_at=reported)
    rows.add(sample_id=lab.letter, lineage=OMICRON_LINEAGE, reported_at=_at(17, 18))
    return rows


def _persons(city: _City, people: _Residents, rng: np.random.Generator) -> _Rows:
    rows = _Rows("persons")
    for p in city.chain:
        visitor = p.household.startswith("ROOM")
        rows.add(person_id=p.person_id, household_id=city.homes[p.household],
                 birth_year=p.born, district=p.district,
                 sex="female" if rng.random() < 0.5 else "male",
                 group="traveller" if visitor else "resident")  # fmt: skip
    n = len(people.index)
    names = [name for name, _, _ in _DISTRICTS]
    rows.add_batch(
        person_id=format_ids("P", people.index + 1, 6),
        household_id=pa.array(people.home, type=pa.string()),
        birth_year=people.born,
        district=pa.array([names[d] for d in people.district.tolist()], type=pa.string()),
        sex=pa.array(np.where(rng.random(n) < 0.5, "female", "male").tolist(), type=pa.string()),
        group=pa.array(["resident"] * n, type=pa.string()),
    )
    return rows


def _arrivals(city: _City, rng: np.random.Generator) -> _Rows:
    """The tour group, off the train from another province (a domestic arrival)."""
    rows = _Rows("arrivals")
    day, hour = _TOUR_ARRIVAL
    for p in city.chain:
        if p.household.startswith("ROOM"):
            vaccinated = dt.date(2021, int(rng.integers(5, 12)), int(rng.integers(1, 29)))
            rows.add(person_id=p.person_id, arrived_at=_at(day, hour), origin=TOUR_ORIGIN,
                     port=_TOUR_PORT, vaccinated_on=vaccinated)  # fmt: skip
    return rows


def _written(rows: _Rows, order_by: tuple[str, ...] = ()) -> dict[str, ColumnValues]:
    """The table's columns as `write_table` takes them: instants as ``datetime64[s]``."""
    columns = rows.columns(order_by)
    for col in rows.table.columns:
        if col.type is ColumnType.INSTANT and col.name in columns:
            columns[col.name] = _local(columns[col.name])
    return columns


def build_beijing_outbreak(folder: Path, seed: int = 2022) -> dict[str, Path]:
    """Write the outbreak's event files; returns {event kind: path} in ingest order.

    Writes ``<table>.csv`` in `folder` (created if needed) for persons, places, visits,
    samples, results, symptoms, arrivals and sequences, with instants in ISO 8601 local time
    (``+08:00``). Ingested and decided with the `PROTOCOL` preset at `AS_OF`, they give the
    published figures (`LOCAL_CASES`, `OMICRON`, `DELTA`, `DELTA_CONFIRMED`,
    `DELTA_ASYMPTOMATIC`, `WINDOW_CONFIRMED`, `WINDOW_ASYMPTOMATIC`) and the chosen splits
    (`NEW_CASES`, `CASES_BY_DISTRICT`, `FOUND_BY`, `CONVERTED`). The seed moves times, ages,
    Ct values and the rest of the city, never the chain; the same seed always writes the same
    bytes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    city = _City()
    _city_places(city)
    city_rng = _rng(seed, _S_CITY)
    _chain_people(city, city_rng)
    people = _residents(city, city_rng)
    _schedule(city, _rng(seed, _S_CHAIN))
    _check_chain(city)

    visits = _Rows("visits")
    _chain_visits(city, visits, _rng(seed, _S_MOVES))
    lab = _Lab()
    _tests(city, people, lab, seed)
    for person, clinic, start, end in lab.clinic_visits:
        visits.add(person_id=person, place_id=clinic, start=start, end=end, source="scan")
    _city_visits(city, people, visits, seed)

    tables: dict[str, Mapping[str, ColumnValues]] = {
        "persons": _written(_persons(city, people, city_rng)),
        "places": _written(city.places),
        "visits": _closures(city, visits),
        "samples": _written(lab.samples, ("collected_at", "sample_id")),
        "results": _written(lab.results, ("reported_at", "result_id")),
        "symptoms": _written(_symptoms(city, _rng(seed, _S_HEALTH)), ("reported_at", "person_id")),
        "arrivals": _written(_arrivals(city, city_rng)),
        "sequences": _written(_sequences(city, lab, _rng(seed, _S_LAB)),
                              ("reported_at", "sample_id")),
    }  # fmt: skip
    paths: dict[str, Path] = {}
    for spec in ingest_order([schema_table(name) for name in tables]):
        write_table(folder, spec.name, tables[spec.name], "csv")
        paths[spec.name] = folder / f"{spec.name}.csv"
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m ringfence.examples.beijing_outbreak FOLDER [--seed N]``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", type=Path, help="where to write the CSV files")
    parser.add_argument("--seed", type=int, default=2022)
    args = parser.parse_args(argv)
    for kind, path in build_beijing_outbreak(args.folder, seed=args.seed).items():
        print(f"{kind}: {path}")


__all__ = [
    "AS_OF",
    "CASES_BY_DISTRICT",
    "CONVERTED",
    "DELTA",
    "DELTA_ASYMPTOMATIC",
    "DELTA_CONFIRMED",
    "DELTA_LINEAGE",
    "FIRST_DAY",
    "FOUND_BY",
    "LAST_DAY",
    "LOCAL_CASES",
    "NEW_CASES",
    "OMICRON",
    "OMICRON_LINEAGE",
    "PROTOCOL",
    "SOURCE",
    "TOUR_ORIGIN",
    "WINDOW_ASYMPTOMATIC",
    "WINDOW_CONFIRMED",
    "WINDOW_START",
    "build_beijing_outbreak",
]


if __name__ == "__main__":
    main()
