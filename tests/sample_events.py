"""A small, valid event set touching every table and column kind, and an independent reader.

`expected_rows` reads a CSV the way a person would with the standard library (no ringfence
code), so that what the store returns can be checked against something it did not compute.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ringfence.schema import ColumnType, Table

TIMEZONE = "Asia/Shanghai"

SAMPLE_CSV: dict[str, str] = {
    "persons": """\
person_id,household_id,birth_year,district,sex,group,loop_id,pregnant,comorbidity,name,phone
P1,H1,1980,Fengtai,female,resident,,false,true,张伟,+86 10 5555 0001
P2,H1,2015,Fengtai,male,resident,,,,"Li, Na",
A1,HA1,1995,Yanqing,female,athlete,BJ2022,no,no,Ana "Ski" Silva,
M1,HM1,1970,Chaoyang,unknown,media,BJ2022,,yes,,
D1,HD1,1966,Chaoyang,other,diplomat,,,,,
""",
    "places": """\
place_id,kind,district,parent_id,loop_id,capacity,name
HOTEL1,hotel,Yanqing,,BJ2022,400,Athletes' hotel
FLOOR3,other,Yanqing,HOTEL1,BJ2022,,floor 3
ROOM301,room,Yanqing,FLOOR3,BJ2022,2,room 301
REST1,restaurant,Fengtai,,,80,"Noodles, Fengtai"
POST1,other,Fengtai,,,,post sorting centre
PHARM1,pharmacy,Fengtai,,,,
""",
    "visits": """\
person_id,place_id,start,end,source
P1,REST1,2022-01-15 12:00:00,2022-01-15 12:45:00,scan
P2,REST1,2022-01-15T12:10:00+08:00,2022-01-15T04:50:00Z,scan
A1,ROOM301,2022-01-10 22:00,2022-01-11 07:30,roster
M1,HOTEL1,2022-01-10T21:30:00.250+08:00,2022-01-10T21:40:00+0800,badge
""",
    "proximity": """\
person_id,other_person_id,start,end,distance_m,source
A1,M1,2022-01-10 21:31:00,2022-01-10 21:39:20,1.0,badge
""",
    "samples": """\
sample_id,person_id,place_id,collected_at,test,pool_id,purpose,item
S1,P1,,2022-01-16 08:00:00,pcr,POOL1,mass,
S2,P2,,2022-01-16 08:01:00,pcr,POOL1,mass,
S3,A1,,2022-01-10 20:05:00+08:00,pcr,,arrival,
E1,,POST1,2022-01-11 15:00:00,pcr,,environment,letter mailed from Canada
AG1,M1,,2022-01-12 09:00:00,antigen,,screening,
""",
    "results": """\
result_id,sample_id,pool_id,reported_at,outcome,ct,ct_orf1ab,ct_n
R1,,POOL1,2022-01-16 14:00:00,positive,31.5,31.5,32.25
R2,S1,,2022-01-16 22:00:00,positive,29,29.1,28.7
R3,S2,,2022-01-16 22:00:00,negative,,,
R4,S3,,2022-01-11T01:10:00+08:00,positive,37.0,,
R5,E1,,2022-01-12 10:00:00,positive,33,,
R6,AG1,,2022-01-12 09:20:00,invalid,,,
""",
    "symptoms": """\
person_id,reported_at,onset,severity,temperature_c
P1,2022-01-17 00:30:00,2022-01-16,mild,38.2
A1,2022-01-12 07:00:00,,none,36.5
""",
    "arrivals": """\
person_id,arrived_at,origin,port,flight,vaccinated_on
A1,2022-01-10 19:40:00,Lisbon,PEK,CA908,2021-11-02
M1,2022-01-10 19:55:00+08:00,Toronto,PEK,AC031,
""",
    "departures": """\
person_id,departed_at,destination,port
M1,2022-01-20 10:00:00,Toronto,PEK
""",
    "sequences": """\
sample_id,lineage,reported_at
S1,BA.1.1,2022-01-18 09:00:00
S3,AY.4,2022-01-13 09:00:00
""",
    "purchases": """\
person_id,place_id,bought_at,category
P1,PHARM1,2022-01-16 19:05:00,antipyretic
""",
    "actions": """\
action_id,at,actor,kind,target,reason
ACT1,2022-01-17 09:00:00,epi.wang,note,case:P1,"Reviewed; household of two, both traced."
""",
}


def write_sample(directory: Path) -> dict[str, Path]:
    """Write one CSV per event table into `directory`; returns table → path."""
    paths = {}
    for name, text in SAMPLE_CSV.items():
        path = directory / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


TRUE = {"true", "t", "yes", "y", "1"}


def parse_instant(text: str, timezone: str = TIMEZONE) -> datetime:
    """An ISO 8601 instant as an aware UTC datetime; naive text is local time in `timezone`."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def typed_value(kind: ColumnType, text: str | None) -> Any:
    """The typed value of one CSV field, computed without ringfence."""
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if kind is ColumnType.INTEGER:
        return int(text)
    if kind is ColumnType.FLOAT:
        return float(text)
    if kind is ColumnType.BOOLEAN:
        return text.lower() in TRUE
    if kind is ColumnType.DATE:
        return date.fromisoformat(text)
    if kind is ColumnType.INSTANT:
        return parse_instant(text)
    return text


def expected_rows(table: Table, text: str) -> list[dict[str, Any]]:
    """Rows of a CSV text, typed as the store should hold them, sorted by key."""
    rows = []
    for record in csv.DictReader(text.splitlines()):
        rows.append({c.name: typed_value(c.type, record.get(c.name)) for c in table.columns})
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in table.key))


def exported_rows(table: Table, text: str) -> list[dict[str, Any]]:
    """Rows of an exported CSV, typed back (instants with their offsets) for comparison."""
    return expected_rows(table, text)
