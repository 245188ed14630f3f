"""Beijing, 15-26 January 2022: the example outbreak, ingested and decided, gives the figures.

Beijing's CDC reported on 26 January 2022 (Xinhua): 75 local cases since 15 January, 6
Omicron and 69 Delta, the Delta 54 confirmed and 15 asymptomatic; and in the 24 hours to
16:00 that day 6 confirmed and 2 asymptomatic, all among people already under control.

The figures are typed out again below rather than imported, and every count is made here
with SQL on the decision tables: a wrong constant in the module, or a cycle that decides
otherwise, fails here instead of being compared with itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from ringfence.control import run_cycle
from ringfence.examples import beijing_outbreak as outbreak
from ringfence.protocol import load_protocol
from ringfence.store import Store, ingest_files, open_store

BEIJING = timezone(timedelta(hours=8))
FIRST = datetime(2022, 1, 15, 0, 0, tzinfo=BEIJING)
AS_OF = datetime(2022, 1, 26, 16, 0, tzinfo=BEIJING)
WINDOW_START = datetime(2022, 1, 25, 16, 0, tzinfo=BEIJING)
TABLES = ["persons", "places", "visits", "samples", "symptoms", "arrivals", "results", "sequences"]


@dataclass
class Decided:
    store: Store
    rejected: dict[str, int]


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Decided]:
    """The outbreak built with the default seed, ingested into DuckDB and decided at 16:00
    on 26 January under the zero-COVID protocol of 2022."""
    folder = tmp_path_factory.mktemp("beijing")
    files = outbreak.build_beijing_outbreak(folder / "events")
    with open_store(str(folder / "outbreak.duckdb"), create=True) as store:
        rejected = {
            kind: ingest_files(store, kind, [path], write_rejects=False).rejected_count
            for kind, path in files.items()
        }
        run_cycle(store, load_protocol("zero-covid-2022"), AS_OF)
        yield Decided(store, rejected)


def one(store: Store, sql: str, params: tuple[object, ...] = ()) -> object:
    rows = store.fetchall(sql, params)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def count(store: Store, sql: str, params: tuple[object, ...] = ()) -> int:
    value = one(store, sql, params)
    assert isinstance(value, int), value
    return value


def bulletin_day(confirmed_at: datetime) -> date:
    """The day of the bulletin that reports a case: the 24 hours to 16:00 of that day."""
    local = confirmed_at.astimezone(BEIJING)
    return local.date() if local.time() <= time(16, 0) else local.date() + timedelta(days=1)


def test_the_module_states_the_published_figures() -> None:
    assert [FIRST.date(), AS_OF.date()] == [outbreak.FIRST_DAY, outbreak.LAST_DAY]
    assert outbreak.AS_OF == AS_OF and outbreak.WINDOW_START == WINDOW_START
    assert outbreak.PROTOCOL == "zero-covid-2022"
    assert (outbreak.LOCAL_CASES, outbreak.OMICRON, outbreak.DELTA) == (75, 6, 69)
    assert (outbreak.DELTA_CONFIRMED, outbreak.DELTA_ASYMPTOMATIC) == (54, 15)
    assert (outbreak.WINDOW_CONFIRMED, outbreak.WINDOW_ASYMPTOMATIC) == (6, 2)
    assert "Xinhua" in outbreak.SOURCE and "26 January 2022" in outbreak.SOURCE


def test_every_file_is_ingested_without_a_rejection(decided: Decided) -> None:
    assert sorted(decided.rejected) == sorted(TABLES)
    assert decided.rejected == dict.fromkeys(TABLES, 0)
    # A small city: the cycle runs in seconds.
    assert 2_000 <= count(decided.store, "SELECT count(*) FROM persons") <= 5_000
    assert count(decided.store, "SELECT count(*) FROM visits") <= 50_000


def test_75_local_cases_were_confirmed_from_15_january(decided: Decided) -> None:
    store = decided.store
    local = count(
        store,
        "SELECT count(*) FROM cases WHERE origin = 'local' AND confirmed_at >= ? "
        "AND confirmed_at <= ?",
        (FIRST, AS_OF),
    )
    assert local == outbreak.LOCAL_CASES == 75
    # They are all the cases there are: nothing imported, nothing before the 15th.
    assert store.fetchall("SELECT origin, count(*) FROM cases GROUP BY origin") == [("local", 75)]
    # The tour group came from another province: local, although they arrived by train.
    travellers = count(
        store,
        "SELECT count(*) FROM cases c JOIN arrivals a USING (person_id) WHERE c.origin = 'local'",
    )
    assert travellers == 8


def test_6_omicron_and_69_delta_by_the_lineage_of_their_sequences(decided: Decided) -> None:
    store = decided.store
    variants = Counter(dict(store.fetchall("SELECT variant, count(*) FROM cases GROUP BY 1")))
    assert variants == {"Omicron": outbreak.OMICRON, "Delta": outbreak.DELTA}
    assert (variants["Omicron"], variants["Delta"]) == (6, 69)
    # The variant is the WHO label of the Pango lineage sequenced from the case's sample.
    lineages = Counter(
        (variant, lineage.split(".")[0])
        for variant, lineage in store.fetchall(
            "SELECT c.variant, q.lineage FROM cases c JOIN sequences q USING (sample_id)"
        )
    )
    assert lineages == {("Omicron", "BA"): 6, ("Delta", "AY"): 69}


def test_of_the_delta_cases_54_are_confirmed_and_15_asymptomatic(decided: Decided) -> None:
    split = dict(
        decided.store.fetchall(
            "SELECT classification, count(*) FROM cases WHERE variant = 'Delta' GROUP BY 1"
        )
    )
    assert split == {
        "confirmed": outbreak.DELTA_CONFIRMED,
        "asymptomatic": outbreak.DELTA_ASYMPTOMATIC,
    }
    assert split == {"confirmed": 54, "asymptomatic": 15}
    # The six Omicron cases were all confirmed (the same press conference: all mild).
    omicron = decided.store.fetchall(
        "SELECT classification, severity, count(*) FROM cases WHERE variant = 'Omicron' "
        "GROUP BY ALL"
    )
    assert omicron == [("confirmed", "mild", 6)]


def test_confirmed_means_symptoms_by_the_time_of_the_cut_off(decided: Decided) -> None:
    rows = decided.store.fetchall(
        """SELECT c.classification, c.converted_at IS NOT NULL,
                  count(s.person_id) FILTER (WHERE s.severity <> 'none')
           FROM cases c LEFT JOIN symptoms s USING (person_id)
           GROUP BY c.case_id, c.classification, c.converted_at"""
    )
    for classification, converted, sick_reports in rows:
        assert (classification == "confirmed") == (sick_reports > 0)
        assert not converted or classification == "confirmed"
    assert sum(1 for _, converted, _ in rows if converted) == outbreak.CONVERTED == 5
    # Every conversion happened before the last bulletin's window.
    last = one(decided.store, "SELECT max(converted_at) FROM cases")
    assert isinstance(last, datetime) and last <= WINDOW_START


def test_in_the_last_24_hours_6_confirmed_and_2_asymptomatic_all_under_control(
    decided: Decided,
) -> None:
    store = decided.store
    window = store.fetchall(
        "SELECT case_id, classification, found_by FROM cases "
        "WHERE confirmed_at > ? AND confirmed_at <= ?",
        (WINDOW_START, AS_OF),
    )
    classes = Counter(classification for _, classification, _ in window)
    assert classes == {
        "confirmed": outbreak.WINDOW_CONFIRMED,
        "asymptomatic": outbreak.WINDOW_ASYMPTOMATIC,
    }
    assert classes == {"confirmed": 6, "asymptomatic": 2}
    assert {found for _, _, found in window} == {"under_control"}
    # Under control for a reason in the data, not only the sample's purpose: each was a
    # contact of a case confirmed before their positive sample was taken.
    assert {case for case, _, _ in window} <= known_before_sample(store)


def known_before_sample(store: Store) -> set[str]:
    """Cases whose person was a contact of a case confirmed at or before their sample."""
    rows = store.fetchall(
        """SELECT DISTINCT c.case_id
           FROM cases c
           JOIN samples s ON s.sample_id = c.sample_id
           JOIN contacts k ON k.person_id = c.person_id
           JOIN cases index_case ON index_case.person_id = k.case_person_id
           WHERE index_case.confirmed_at <= s.collected_at"""
    )
    return {case for (case,) in rows}


def test_every_case_found_under_control_was_a_contact_before_its_sample(
    decided: Decided,
) -> None:
    store = decided.store
    found = dict(store.fetchall("SELECT case_id, found_by FROM cases"))
    known = known_before_sample(store)
    assert {case for case, how in found.items() if how == "under_control"} == known
    assert len(known) == outbreak.FOUND_BY["under_control"] == 56


def test_the_first_delta_cases_were_found_at_the_fever_clinic_and_in_screening(
    decided: Decided,
) -> None:
    store = decided.store
    first = store.fetchall(
        """SELECT c.found_by, a.person_id IS NOT NULL, s.collected_at, c.confirmed_at
           FROM cases c JOIN samples s USING (sample_id)
           LEFT JOIN arrivals a ON a.person_id = c.person_id
           WHERE c.variant = 'Delta' AND c.confirmed_at <= ?""",
        (datetime(2022, 1, 19, 16, 0, tzinfo=BEIJING),),
    )
    # A visitor of the tour group (who arrived by train) and the guide at a fever clinic,
    # and the waiter of a restaurant where they ate, in the screening of restaurant staff.
    assert Counter((how, traveller) for how, traveller, _, _ in first) == {
        ("fever_clinic", True): 1,
        ("fever_clinic", False): 1,
        ("screening", False): 1,
    }
    # The two at the fever clinic were swabbed before the waiter was confirmed: nobody's
    # contact yet, of any kind (the waiter's diners became close contacts only then).
    waiter = [confirmed for how, _, _, confirmed in first if how == "screening"]
    assert all(sample < waiter[0] for how, _, sample, _ in first if how == "fever_clinic")


def test_the_letter_from_canada_is_positive_and_its_visitors_are_traced(
    decided: Decided,
) -> None:
    store = decided.store
    letter = store.fetchall(
        """SELECT s.sample_id, s.place_id, r.outcome, r.ct
           FROM samples s JOIN results r USING (sample_id)
           WHERE s.purpose = 'environment' AND s.item LIKE 'letter mailed from Canada%'"""
    )
    assert len(letter) == 2
    assert all(outcome == "positive" and ct < 40 for _, _, outcome, ct in letter)
    office = {place for _, place, _, _ in letter}
    assert len(office) == 1
    # The first Omicron case worked where the letter was, and was found at a fever clinic
    # on 15 January, the day before the letter was swabbed.
    first = store.fetchall(
        """SELECT c.person_id, c.confirmed_at, c.found_by FROM cases c
           WHERE c.variant = 'Omicron' ORDER BY c.confirmed_at LIMIT 1"""
    )[0]
    assert bulletin_day(first[1]) == date(2022, 1, 15) and first[2] == "fever_clinic"
    assert count(
        store,
        "SELECT count(*) FROM visits WHERE person_id = ? AND place_id = ?",
        (first[0], office.pop()),
    )
    assert count(store, "SELECT count(*) FROM contacts WHERE kind = 'environment'") > 0
    lineage = one(
        store,
        "SELECT q.lineage FROM sequences q JOIN samples s USING (sample_id) "
        "WHERE s.purpose = 'environment'",
    )
    assert lineage == outbreak.OMICRON_LINEAGE


def test_the_chosen_splits_are_what_the_cycle_decides(decided: Decided) -> None:
    store = decided.store
    by_day = Counter(
        bulletin_day(confirmed) for (confirmed,) in store.fetchall("SELECT confirmed_at FROM cases")
    )
    assert by_day == {day: n for day, n in outbreak.NEW_CASES.items() if n}
    assert sum(outbreak.NEW_CASES.values()) == 75
    assert outbreak.NEW_CASES[date(2022, 1, 26)] == 8
    # 43 cases by 23 January 16:00, 6 of them Omicron (Xinhua's report of that day).
    by_23 = Counter(
        variant
        for confirmed, variant in store.fetchall("SELECT confirmed_at, variant FROM cases")
        if bulletin_day(confirmed) <= date(2022, 1, 23)
    )
    assert by_23 == {"Omicron": 6, "Delta": 37}
    districts = dict(
        store.fetchall(
            "SELECT p.district, count(*) FROM cases JOIN persons p USING (person_id) GROUP BY 1"
        )
    )
    assert districts == outbreak.CASES_BY_DISTRICT
    found = dict(store.fetchall("SELECT found_by, count(*) FROM cases GROUP BY 1"))
    assert found == outbreak.FOUND_BY
    assert sum(found.values()) == 75


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first = outbreak.build_beijing_outbreak(tmp_path / "a")
    second = outbreak.build_beijing_outbreak(tmp_path / "b", seed=2022)
    assert list(first) == list(second) == TABLES
    for kind in TABLES:
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind
    other = outbreak.build_beijing_outbreak(tmp_path / "c", seed=7)
    assert other["visits"].read_bytes() != first["visits"].read_bytes()


def test_the_bulletin_of_26_january_gives_the_published_figures(decided: Decided) -> None:
    from ringfence.report import daily_bulletin

    bulletin = daily_bulletin(decided.store, AS_OF, since=date(2022, 1, 15))
    assert bulletin["window_start"] == "2022-01-25T16:00:00+08:00"
    assert bulletin["window_end"] == "2022-01-26T16:00:00+08:00"
    new = bulletin["new"]
    assert (new["confirmed"], new["asymptomatic"], new["total"]) == (6, 2, 8)
    assert new["found_under_control"] == 8 and new["found_by"] == {"under_control": 8}
    assert (new["local"], new["imported"]) == (8, 0)
    cumulative = bulletin["cumulative"]
    assert (cumulative["total"], cumulative["local"], cumulative["imported"]) == (75, 75, 0)
    delta, omicron = cumulative["by_variant"]["Delta"], cumulative["by_variant"]["Omicron"]
    assert (delta["total"], delta["confirmed"], delta["asymptomatic"]) == (69, 54, 15)
    assert omicron["total"] == 6
    assert set(cumulative["by_variant"]) == {"Delta", "Omicron"}
    # Without --since, the cumulative count starts on the day of the first case: the same.
    assert daily_bulletin(decided.store)["cumulative"]["total"] == 75


def test_the_situation_report_shows_the_chains_and_rt(decided: Decided) -> None:
    from ringfence.report import situation_report

    report = situation_report(decided.store)
    sizes = [c["size"] for c in report.chains.clusters]
    assert sum(sizes) + report.chains.sporadic == 75
    assert sizes and max(sizes) >= 10  # the Fengtai cluster
    omicron = [c for c in report.chains.clusters if set(c["variants"]) == {"Omicron"}]
    assert omicron, "the Omicron cases form their own cluster"
    assert all(set(c["variants"]) != {"Omicron", "Delta"} for c in report.chains.clusters)
    assert report.bulletin["rt"]["mean"] is not None
    assert {c.name for c in report.charts} >= {"epi-origin", "epi-variant", "rt", "chains"}
