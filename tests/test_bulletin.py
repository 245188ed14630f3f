"""Every count of the daily bulletin against an independent count from the raw events.

The scenario is told as a health officer would tell it (two days in Fengtai and Haidian, an
imported case, a pooled mass-testing round, a cold-chain sample, and a closed loop); the
oracle below reads the same event rows in plain Python, by the national report's definitions,
without the cycle or the report's code. The bulletin is for the 24 hours ending 16:00 on
20 January 2022. Run on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ringfence.protocol import load_protocol
from ringfence.report.bulletin import daily_bulletin
from ringfence.report.rt import estimate_rt
from ringfence.store import StoreError, open_store

from .scenario import Scenario, local

PROTOCOL = "zero-covid-2022"
WINDOW_START, WINDOW_END = local("2022-01-19 16:00"), local("2022-01-20 16:00")
LINEAGES = {"AY.4": "Delta", "BA.1": "Omicron"}
CT_POSITIVE_BELOW = 40  # zero-covid-2022's pcr.positive_ct_below
LOCAL_ORIGINS = {"Beijing", "Shanghai"}
CLOSED_KINDS = {"restaurant", "market", "cold_chain"}


def outbreak() -> Scenario:
    """Two days of an outbreak, with a case or an event on each side of every boundary."""
    s = Scenario()
    for person, district in [("A", "Fengtai"), ("B", "Fengtai"), ("D", "Fengtai"),
                             ("E", "Fengtai"), ("F", "Fengtai"), ("G", "Haidian"),
                             ("H", "Haidian"), ("I", "Chaoyang")]:  # fmt: skip
        s.person(person, district=district)
    s.place("R1", "restaurant").place("M1", "market").place("CC1", "cold_chain")
    # A is found in screening on the 19th, before the window; D, who ate beside A on the 18th,
    # is quarantined from A's confirmation and found positive inside it: under control.
    s.visit("A", "R1", "2022-01-18 12:00", "2022-01-18 13:00")
    s.visit("D", "R1", "2022-01-18 12:10", "2022-01-18 13:00")
    s.symptom("A", "2022-01-19 09:00", "mild")
    a = s.test("A", "2022-01-18 20:00", "2022-01-19 10:00", "positive", ct=25)
    s.sequence(a, "AY.4", "2022-01-20 09:00")
    d = s.test("D", "2022-01-19 20:00", "2022-01-20 08:00", "positive", ct=30, purpose="contact")
    s.sequence(d, "AY.4", "2022-01-20 14:00")
    # B shares the market with E (20 minutes, a close contact) and F (10 minutes, not one);
    # B has no symptoms when found in the window, then severe ones: converted, in hospital.
    s.visit("B", "M1", "2022-01-18 09:00", "2022-01-18 10:00")
    s.visit("E", "M1", "2022-01-18 09:00", "2022-01-18 09:20")
    s.visit("F", "M1", "2022-01-18 09:30", "2022-01-18 09:40")
    b = s.test("B", "2022-01-19 17:00", "2022-01-19 22:00", "positive", ct=22)
    s.sequence(b, "BA.1", "2022-01-20 10:00")
    s.symptom("B", "2022-01-20 12:00", "severe")
    # I arrived from Canada on the 15th (in inbound quarantine): imported, sick when found.
    s.arrival("I", "2022-01-15 10:00", "Canada")
    s.symptom("I", "2022-01-19 17:00", "mild")
    s.test("I", "2022-01-19 18:00", "2022-01-20 15:30", "positive", ct=31, purpose="contact")
    # KC, found before the window without symptoms, falls ill inside it: converted, counted
    # as new confirmed in the window (and in Haidian's and Omicron's counts).
    s.person("KC", district="Haidian")
    k = s.test("KC", "2022-01-19 08:00", "2022-01-19 12:00", "positive", ct=29)
    s.sequence(k, "BA.1", "2022-01-19 20:00")
    s.symptom("KC", "2022-01-20 10:00", "moderate")
    # H came from Shanghai (a local origin): a local case, not sequenced.
    s.arrival("H", "2022-01-17 10:00", "Shanghai")
    s.test("H", "2022-01-19 12:00", "2022-01-19 20:00", "positive", ct=33, purpose="diagnostic")
    # G's result comes at 16:00 sharp: the next day's bulletin. F tests negative twice.
    s.test("G", "2022-01-20 09:00", "2022-01-20 16:00", "positive", ct=20)
    s.test("F", "2022-01-19 09:00", "2022-01-19 15:00", "negative")
    s.test("F", "2022-01-20 09:00", "2022-01-20 13:00", "negative")
    # A Ct of 41 is negative under Ct < 40.
    s.test("E", "2022-01-19 19:00", "2022-01-20 07:00", "positive", ct=41, purpose="contact")
    # Mass testing: pools P0 (before the window), P1 negative, P2 positive (Ct 33).
    for n in range(20):
        person = f"M{n:02d}"
        s.person(person, district="Fengtai")
        pool = "P1" if n < 10 else "P2"
        s.test(person, "2022-01-20 08:00", "", purpose="mass", pool=pool)
    for n in range(5):
        s.test(f"M{n:02d}", "2022-01-19 07:00", "", purpose="mass", pool="P0")
    s.pool_result("P0", "2022-01-19 12:00", "negative")
    s.pool_result("P1", "2022-01-20 12:00", "negative")
    s.pool_result("P2", "2022-01-20 12:00", "positive", ct=33)
    # The cold store's sample is positive; the restaurant's door handle is not.
    s.test("", "2022-01-19 18:00", "2022-01-20 09:00", "positive", ct=31, purpose="environment",
           place="CC1", item="imported frozen fish")  # fmt: skip
    s.test("", "2022-01-19 18:00", "2022-01-20 09:00", "negative", purpose="environment",
           place="R1", item="door handle")  # fmt: skip
    # The loop: one positive at the airport (media), one inside (staff), none among athletes.
    for person, group in [("AT1", "athlete"), ("OF1", "official"), ("MD1", "media"),
                          ("MD2", "media"), ("ST1", "staff")]:  # fmt: skip
        s.person(person, group=group, loop_id="L1", district="Chaoyang")
    for person, day in [("AT1", "18"), ("OF1", "18"), ("MD1", "20"), ("MD2", "20")]:
        s.arrival(person, f"2022-01-{day} 06:00", "Germany")
        positive = person == "MD1"
        s.test(person, f"2022-01-{day} 06:30", f"2022-01-{day} 10:00",
               "positive" if positive else "negative", ct=28 if positive else None,
               purpose="arrival")  # fmt: skip
    for day in ("18", "19", "20"):
        for person in ("AT1", "OF1", "ST1"):
            positive = person == "ST1" and day == "20"
            s.test(person, f"2022-01-{day} 07:00", f"2022-01-{day} 11:00",
                   "positive" if positive else "negative", ct=27 if positive else None)  # fmt: skip
    return s


# ---------------------------------------------------------------------------------------------
# The oracle: the national report's definitions applied to the raw rows, in plain Python
# ---------------------------------------------------------------------------------------------


def when(text: str) -> datetime:
    return local(text)


def in_window(moment: datetime | None) -> bool:
    return moment is not None and WINDOW_START <= moment < WINDOW_END


class Oracle:
    def __init__(self, rows: dict[str, list[dict[str, Any]]], as_of: datetime) -> None:
        self.rows = rows
        self.as_of = as_of
        self.person = {p["person_id"]: p for p in rows["persons"]}
        self.samples = {s["sample_id"]: s for s in rows["samples"]}
        self.cases = self._cases()

    def _positive(self, result: dict[str, Any]) -> bool:
        ct = result["ct"]
        return result["outcome"] == "positive" and (ct == "" or float(ct) < CT_POSITIVE_BELOW)

    def _cases(self) -> dict[str, dict[str, Any]]:
        """Person → their case: the first positive single-tube PCR known at as_of."""
        cases: dict[str, dict[str, Any]] = {}
        for r in sorted(self.rows["results"], key=lambda r: when(r["reported_at"])):
            sample = self.samples.get(r["sample_id"])
            if sample is None or not sample["person_id"] or when(r["reported_at"]) > self.as_of:
                continue
            if self._positive(r) and sample["person_id"] not in cases:
                cases[sample["person_id"]] = {"at": when(r["reported_at"]), "sample": sample}
        for person, case in cases.items():
            sick = sorted(
                when(s["reported_at"]) for s in self.rows["symptoms"]
                if s["person_id"] == person and s["severity"] != "none"
                and when(s["reported_at"]) <= self.as_of
            )  # fmt: skip
            case["sick_from"] = sick[0] if sick else None
            case["severe"] = any(
                s["severity"] in ("severe", "critical") for s in self.rows["symptoms"]
                if s["person_id"] == person and when(s["reported_at"]) <= self.as_of
            )  # fmt: skip
            lineage = [q["lineage"] for q in self.rows["sequences"]
                       if q["sample_id"] == case["sample"]["sample_id"]]  # fmt: skip
            case["variant"] = LINEAGES[lineage[0]] if lineage else "unknown"
            collected = when(case["sample"]["collected_at"])
            case["imported"] = any(
                a["person_id"] == person and a["origin"] not in LOCAL_ORIGINS
                and collected - timedelta(days=14) <= when(a["arrived_at"]) <= collected
                for a in self.rows["arrivals"]
            )  # fmt: skip
            loop = self.person[person]["loop_id"]
            case["loop"] = loop or None
            case["at_entry"] = bool(loop) and case["sample"]["purpose"] == "arrival"
        return cases

    def city_cases(self) -> dict[str, dict[str, Any]]:
        return {p: c for p, c in self.cases.items() if c["loop"] is None}

    def asymptomatic_at_detection(self, case: dict[str, Any]) -> bool:
        return case["sick_from"] is None or case["sick_from"] > case["at"]

    def close_contacts(self) -> dict[str, datetime]:
        """Person → when first traced: shared a place ≥ 15 minutes with a case in the case's
        window (2 days before its first positive sample, to its confirmation), not a case
        already when traced."""
        traced: dict[str, datetime] = {}
        for person, case in self.cases.items():
            start = when(case["sample"]["collected_at"]) - timedelta(days=2)
            for v in self.rows["visits"]:
                if v["person_id"] != person:
                    continue
                for w in self.rows["visits"]:
                    if w["place_id"] != v["place_id"] or w["person_id"] == person:
                        continue
                    lo = max(when(v["start"]), when(w["start"]), start)
                    hi = min(when(v["end"]), when(w["end"]), case["at"])
                    other = self.cases.get(w["person_id"])
                    already = other is not None and other["at"] <= case["at"]
                    if hi - lo >= timedelta(minutes=15) and not already:
                        first = traced.get(w["person_id"], case["at"])
                        traced[w["person_id"]] = min(first, case["at"])
        return traced

    def bulletin(self) -> dict[str, Any]:
        city = self.city_cases()
        new = {p: c for p, c in city.items() if in_window(c["at"])}
        converted = {p: c for p, c in city.items()
                     if c["sick_from"] is not None and c["sick_from"] > c["at"]
                     and in_window(c["sick_from"])}  # fmt: skip
        first_day = min(c["at"] for c in city.values())
        cumulative = {p: c for p, c in city.items() if c["at"] < WINDOW_END}
        by_variant: dict[str, int] = defaultdict(int)
        for c in cumulative.values():
            by_variant[c["variant"]] += 1
        contacts = self.close_contacts()
        city_contacts = {p: t for p, t in contacts.items() if not self.person[p]["loop_id"]}
        confined = {p for p, c in city.items() if c["at"] < WINDOW_END}
        observed = {p for p, t in city_contacts.items() if t < WINDOW_END} - set(
            p for p, c in self.cases.items() if c["at"] < WINDOW_END
        )
        inbound = {
            a["person_id"] for a in self.rows["arrivals"]
            if a["origin"] not in LOCAL_ORIGINS and not self.person[a["person_id"]]["loop_id"]
            and when(a["arrived_at"]) + timedelta(days=7) > WINDOW_END
        } - set(self.cases)  # fmt: skip
        pooled = [s for s in self.rows["samples"] if s["purpose"] == "mass"
                  and in_window(when(s["collected_at"]))]  # fmt: skip
        pools = {s["pool_id"] for s in pooled}
        positive_pools = {r["pool_id"] for r in self.rows["results"]
                          if r["pool_id"] in pools and self._positive(r)}  # fmt: skip
        held = {s["person_id"] for s in pooled if s["pool_id"] in positive_pools}
        environment = [r for r in self.rows["results"] if r["sample_id"]
                       and not self.samples[r["sample_id"]]["person_id"]
                       and self._positive(r) and in_window(when(r["reported_at"]))]  # fmt: skip
        single = [r for r in self.rows["results"] if r["sample_id"]
                  and self.samples[r["sample_id"]]["person_id"]
                  and not self.person[self.samples[r["sample_id"]]["person_id"]]["loop_id"]
                  and in_window(when(r["reported_at"]))]  # fmt: skip
        closed = self.closed_places()
        households = {self.person[p]["household_id"] for p, c in cumulative.items()
                      if not c["imported"]}  # fmt: skip
        districts: dict[str, int] = defaultdict(int)
        for p, c in cumulative.items():
            if not c["imported"]:
                districts[self.person[p]["district"]] += 1
        return {
            "new": {
                "total": len(new),
                "confirmed": sum(not self.asymptomatic_at_detection(c) for c in new.values())
                + len(converted),
                "asymptomatic": sum(self.asymptomatic_at_detection(c) for c in new.values()),
                "local": sum(not c["imported"] for c in new.values()),
                "imported": sum(c["imported"] for c in new.values()),
                "converted_from_asymptomatic": len(converted),
                "found_under_control": sum(
                    (p in contacts and contacts[p] <= when(c["sample"]["collected_at"]))
                    or (c["sample"]["purpose"] == "contact" and c["imported"])
                    for p, c in new.items()
                ),
                "by_district": sorted(self.person[p]["district"] for p in new),
                "by_variant": sorted(c["variant"] for c in new.values()),
                "confirmed_by_district": sorted(
                    self.person[p]["district"]
                    for p, c in {**new, **converted}.items()
                    if p in converted or not self.asymptomatic_at_detection(c)
                ),
                "confirmed_by_variant": sorted(
                    c["variant"]
                    for p, c in {**new, **converted}.items()
                    if p in converted or not self.asymptomatic_at_detection(c)
                ),
            },
            "cumulative": {
                "since": first_day.date().isoformat(),
                "total": len(cumulative),
                "local": sum(not c["imported"] for c in cumulative.values()),
                "imported": sum(c["imported"] for c in cumulative.values()),
                "by_variant": dict(by_variant),
            },
            "in_isolation": {
                "total": len(confined),
                "hospital": sum(city[p]["sick_from"] is not None for p in confined),
            },
            "under_treatment": {
                "total": sum(
                    city[p]["sick_from"] is not None and city[p]["sick_from"] < WINDOW_END
                    for p in confined
                ),
                "severe": sum(city[p]["severe"] for p in confined),
            },
            "in_quarantine": {
                "central": len(observed | inbound),
                "contact_management": len(held - set(self.cases)),
            },
            "contacts": {
                "new": sum(in_window(t) for t in city_contacts.values()),
                "under_observation": len(observed),
            },
            "risk_areas": {
                "high": len(households),
                "medium": sum(n >= 2 for n in districts.values()),
            },
            "closures": {
                "open": len(closed),
                "new": sum(in_window(t) for t in closed.values()),
            },
            "mass_testing": {
                "samples": len(pooled),
                "pools": len(pools),
                "positive_pools": len(positive_pools),
            },
            "environment_positives": len(environment),
            "tests": {
                "pcr": len(single),
                "positive": sum(self._positive(r) for r in single),
            },
        }

    def closed_places(self) -> dict[str, datetime]:
        """Place → when closed: a case there in its window, or a positive sample taken there."""
        kind = {p["place_id"]: p["kind"] for p in self.rows["places"]}
        closed: dict[str, datetime] = {}
        for person, case in self.cases.items():
            start = when(case["sample"]["collected_at"]) - timedelta(days=2)
            for v in self.rows["visits"]:
                if (v["person_id"] == person and kind[v["place_id"]] in CLOSED_KINDS
                        and when(v["end"]) > start and when(v["start"]) < case["at"]):  # fmt: skip
                    closed[v["place_id"]] = min(closed.get(v["place_id"], case["at"]), case["at"])
        for r in self.rows["results"]:
            sample = self.samples.get(r["sample_id"])
            if sample and sample["place_id"] and kind[sample["place_id"]] in CLOSED_KINDS \
                    and self._positive(r):  # fmt: skip
                at = when(r["reported_at"])
                closed[sample["place_id"]] = min(closed.get(sample["place_id"], at), at)
        return closed

    def loop(self) -> dict[str, Any]:
        members = {p for p, r in self.person.items() if r["loop_id"] == "L1"}
        arrivals = [a for a in self.rows["arrivals"] if a["person_id"] in members]
        samples = [s for s in self.rows["samples"] if s["person_id"] in members]
        airport = [s for s in samples if s["purpose"] == "arrival"]
        inside = [s for s in samples if s["purpose"] != "arrival"]
        cases = {p: c for p, c in self.cases.items() if p in members and c["at"] < WINDOW_END}
        group = {p: self.person[p]["group"] for p in members}
        return {
            "members": len(members),
            "arrivals": len(arrivals),
            "athlete_arrivals": sum(
                group[a["person_id"]] in ("athlete", "official") for a in arrivals
            ),
            "airport_tests": len(airport),
            "positives_at_entry": sorted(group[p] for p, c in cases.items() if c["at_entry"]),
            "tests_inside": len(inside),
            "positives_inside": sorted(group[p] for p, c in cases.items() if not c["at_entry"]),
            "today_tests_inside": sum(in_window(when(s["collected_at"])) for s in inside),
            "today_arrivals": sum(in_window(when(a["arrived_at"])) for a in arrivals),
        }


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return outbreak()


def run_bulletin(scenario: Scenario, db: str, folder: Path, as_of: str) -> dict[str, Any]:
    scenario.run(db, folder, PROTOCOL, as_of)
    with open_store(db) as store:
        return daily_bulletin(store, local(as_of))


def counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(out)


@pytest.mark.parametrize("as_of", ["2022-01-20 16:00", "2022-01-20 18:30"])
def test_every_count_matches_an_independent_count_from_the_events(
    scenario: Scenario, db_url: str, tmp_path: Path, as_of: str
) -> None:
    bulletin = run_bulletin(scenario, db_url, tmp_path / "events", as_of)
    expected = Oracle(scenario.rows, local(as_of)).bulletin()

    assert bulletin["window_start"] == "2022-01-19T16:00:00+08:00"
    assert bulletin["window_end"] == "2022-01-20T16:00:00+08:00"
    new, want = bulletin["new"], expected["new"]
    for key in ("total", "confirmed", "asymptomatic", "local", "imported",
                "converted_from_asymptomatic", "found_under_control"):  # fmt: skip
        assert new[key] == want[key], key
    for split in ("by_district", "by_variant"):
        found = {d: v["total"] for d, v in new[split].items() if v["total"]}
        assert found == counts(want[split]), split
        confirmed = {d: v["confirmed"] for d, v in new[split].items() if v["confirmed"]}
        assert confirmed == counts(want[f"confirmed_{split}"]), split
        # Every split adds up to the city's counts, conversions of earlier cases included.
        for key in ("total", "confirmed", "asymptomatic", "converted_from_asymptomatic"):
            assert sum(block[key] for block in new[split].values()) == new[key], (split, key)
    cumulative = bulletin["cumulative"]
    for key, value in expected["cumulative"].items():
        got = cumulative[key]
        if key == "by_variant":
            got = {v: b["total"] for v, b in got.items()}
        assert got == value, key
    for block in ("in_isolation", "under_treatment", "in_quarantine", "contacts", "risk_areas",
                  "closures", "mass_testing", "tests"):  # fmt: skip
        for key, value in expected[block].items():
            assert bulletin[block][key] == value, f"{block}.{key}"
    assert bulletin["environment_positives"] == expected["environment_positives"]


def test_the_scenario_exercises_every_count(scenario: Scenario) -> None:
    """The oracle's numbers are not zeros that any bulletin would match."""
    expected = Oracle(scenario.rows, local("2022-01-20 16:00")).bulletin()
    new = expected["new"]
    # D, B, I, H found; I sick when found; B found and converted in the window (counted in
    # both); KC, found the day before, converted in the window.
    assert (new["total"], new["confirmed"], new["asymptomatic"]) == (4, 3, 3)
    assert (new["local"], new["imported"], new["converted_from_asymptomatic"]) == (3, 1, 2)
    assert new["found_under_control"] == 2
    assert expected["contacts"]["new"] == 1  # E; not A, who was a case already
    assert expected["closures"] == {"open": 3, "new": 2}
    assert expected["mass_testing"] == {"samples": 20, "pools": 2, "positive_pools": 1}
    assert expected["in_quarantine"]["contact_management"] == 10


def test_loop_counts_match_the_events(scenario: Scenario, db_url: str, tmp_path: Path) -> None:
    bulletin = run_bulletin(scenario, db_url, tmp_path / "events", "2022-01-20 16:00")
    expected = Oracle(scenario.rows, local("2022-01-20 16:00")).loop()
    (loop,) = bulletin["loops"]
    assert loop["loop_id"] == "L1"
    assert loop["members"] == expected["members"]
    assert loop["arrivals"]["total"] == expected["arrivals"]
    assert loop["airport_tests"]["total"] == expected["airport_tests"]
    assert loop["positives_at_entry"]["by_group"] == counts(expected["positives_at_entry"])
    assert loop["tests_inside"]["total"] == expected["tests_inside"]
    assert loop["positives_inside"]["by_group"] == counts(expected["positives_inside"])
    assert loop["today"]["tests_inside"]["total"] == expected["today_tests_inside"]
    assert loop["today"]["arrivals"]["total"] == expected["today_arrivals"]
    assert loop["since"] == "2022-01-18"
    assert loop["sentence"] == (
        "From 18 to 20 January, 4 stakeholders arrived (2 athletes and team officials); "
        "1 tested positive at the airport and 1 of 9 tests inside the loop was positive; "
        "no athlete or team official has tested positive."
    )


def test_rt_is_estimated_from_the_citys_daily_cases(tmp_path: Path) -> None:
    """Cases reported on each of twelve days (two of them imported): the bulletin's Rt is
    Cori's estimate over the last weekly window of those daily counts, counted here from the
    results' report times, the imported ones infecting but not infected locally."""
    daily = [1, 0, 2, 1, 3, 2, 4, 3, 5, 6, 5, 8]
    s = Scenario()
    imported_days = {2, 6}
    incidence, imported = [0] * len(daily), [0] * len(daily)
    for day, n in enumerate(daily):
        for k in range(n):
            person = f"P{day:02d}{k}"
            s.person(person, district="Fengtai")
            reported = f"2022-01-{9 + day:02d} 10:00"
            if k == 0 and day in imported_days:
                s.arrival(person, f"2022-01-{9 + day - 3:02d} 10:00", "Canada")
                imported[day] += 1
            s.test(person, f"2022-01-{9 + day:02d} 07:00", reported, "positive", ct=25)
            # Counted by the report day: before 16:00, the day itself.
            incidence[day] += 1
    bulletin = run_bulletin(s, str(tmp_path / "rt.duckdb"), tmp_path / "ev", "2022-01-20 16:00")
    settings = load_protocol(PROTOCOL).at(local("2022-01-20 16:00")).bulletin
    last = estimate_rt(
        incidence, settings.serial_interval_mean_days, settings.serial_interval_sd_days,
        settings.rt_window_days, imported=imported,
    ).to_pylist()[-1]  # fmt: skip
    assert last["t_end"] == len(daily)
    rt = bulletin["rt"]
    assert rt["window_end"] == "2022-01-20" and rt["window_start"] == "2022-01-14"
    assert rt["mean"] == pytest.approx(last["mean"], abs=1e-4)
    assert rt["q025"] == pytest.approx(last["q025"], abs=1e-4)
    assert rt["q975"] == pytest.approx(last["q975"], abs=1e-4)
    assert rt["local_cases"] == sum(incidence[-7:]) - sum(imported[-7:])
    assert bulletin["cumulative"]["total"] == sum(daily)
    assert bulletin["cumulative"]["imported"] == len(imported_days)
    assert bulletin["doubling_time_days"] is not None and bulletin["doubling_time_days"] > 0


def test_without_enough_days_there_is_no_rt(scenario: Scenario, tmp_path: Path) -> None:
    bulletin = run_bulletin(
        scenario, str(tmp_path / "a.duckdb"), tmp_path / "e", "2022-01-20 16:00"
    )
    assert bulletin["rt"]["mean"] is None
    assert bulletin["rt"]["window_end"] == "2022-01-20"


def test_the_bulletin_is_the_same_on_both_engines(
    scenario: Scenario, tmp_path: Path, pg_url: str
) -> None:
    one = run_bulletin(scenario, str(tmp_path / "b.duckdb"), tmp_path / "a", "2022-01-20 16:00")
    two = run_bulletin(scenario, pg_url, tmp_path / "b", "2022-01-20 16:00")
    for bulletin in (one, two):
        bulletin.pop("issued_at")
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


def test_a_bulletin_for_another_moment_than_the_cycle_run_is_refused(
    scenario: Scenario, tmp_path: Path
) -> None:
    db = str(tmp_path / "x.duckdb")
    scenario.run(db, tmp_path / "events", PROTOCOL, "2022-01-20 16:00")
    with open_store(db) as store, pytest.raises(StoreError, match="run `ringfence cycle"):
        daily_bulletin(store, local("2022-01-21 16:00"))
