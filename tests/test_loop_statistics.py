"""The seed statistics: the Beijing 2022 closed loop, 4-22 January 2022, told apart by the cycle.

The news said "72 of 2,586 newly-arrived staff tested positive within the loop"; BOCOG's
figures were 39 positive at the airport and 33 of 336,421 tests inside the loop, none of
them athletes or team officials. The example builds events with exactly those figures; the
cycle must classify them so: 39 at entry, 33 inside, 0 athletes or officials.
"""

from __future__ import annotations

from collections import Counter

import pytest

from ringfence.control import run_cycle
from ringfence.examples import loop_seed
from ringfence.protocol import load_protocol
from ringfence.store import Store, ingest_files, open_store

from .scenario import local


@pytest.fixture(scope="module")
def loop_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("loop")
    files = loop_seed.build_loop_seed(folder / "events")
    store = open_store(str(folder / "loop.duckdb"), create=True)
    for kind, path in files.items():
        assert ingest_files(store, kind, [path], write_rejects=False).rejected_count == 0
    run_cycle(store, load_protocol("beijing-2022-loop"), local("2022-01-23 00:00"))
    return store


def test_the_cycle_tells_airport_positives_from_positives_inside_the_loop(
    loop_store: Store,
) -> None:
    origins = Counter(o for (o,) in loop_store.fetchall("SELECT origin FROM cases"))
    assert origins == {"loop_entry": loop_seed.AIRPORT_POSITIVES, "loop_inside": 33}
    assert loop_seed.AIRPORT_POSITIVES + loop_seed.LOOP_POSITIVES == 72


def test_no_athlete_or_team_official_is_a_case(loop_store: Store) -> None:
    groups = Counter(
        g
        for (g,) in loop_store.fetchall(
            'SELECT p."group" FROM cases c JOIN persons p USING (person_id)'
        )
    )
    assert sum(groups.values()) == 72
    assert groups["athlete"] == groups["official"] == 0


def test_the_denominators_are_the_published_ones(loop_store: Store) -> None:
    arrivals, athletes = loop_store.fetchall(
        "SELECT count(*), count(*) FILTER (WHERE p.\"group\" IN ('athlete', 'official')) "
        "FROM arrivals a JOIN persons p USING (person_id)"
    )[0]
    assert (arrivals, athletes) == (2_586, 171)
    (tests,) = loop_store.fetchall("SELECT count(*) FROM samples WHERE purpose = 'screening'")[0]
    assert tests == loop_seed.LOOP_TESTS == 336_421


def test_airport_cases_were_found_at_arrival_and_loop_cases_in_screening(
    loop_store: Store,
) -> None:
    found = Counter(loop_store.fetchall("SELECT origin, found_by FROM cases"))
    assert found[("loop_entry", "arrival")] == 39
    assert found[("loop_inside", "screening")] + found[("loop_inside", "under_control")] == 33
    isolated = loop_store.fetchall(
        "SELECT count(*) FROM orders WHERE kind IN ('isolation', 'hospital')"
    )[0][0]
    assert isolated == 72


def test_the_bulletin_gives_the_published_loop_figures_and_sentence(loop_store: Store) -> None:
    from ringfence.report import daily_bulletin

    bulletin = daily_bulletin(loop_store)
    (loop,) = bulletin["loops"]
    assert (loop["since"], loop["until"]) == ("2022-01-04", "2022-01-22")
    assert loop["arrivals"]["total"] == loop_seed.ARRIVALS
    arrived = loop["arrivals"]["by_group"]
    assert arrived["athlete"] + arrived["official"] == loop_seed.ATHLETES_AND_OFFICIALS
    assert loop["positives_at_entry"]["total"] == loop_seed.AIRPORT_POSITIVES
    assert loop["tests_inside"]["total"] == loop_seed.LOOP_TESTS
    tests = loop["tests_inside"]["by_group"]
    assert tests["athlete"] + tests["official"] == loop_seed.ATHLETE_AND_OFFICIAL_LOOP_TESTS
    assert loop["positives_inside"]["total"] == loop_seed.LOOP_POSITIVES
    for block in ("positives_at_entry", "positives_inside"):
        assert not {"athlete", "official"} & set(loop[block]["by_group"])
    assert loop["positivity_inside"] == round(33 / 336_421, 6)
    assert loop["sentence"] == (
        "From 4 to 22 January, 2,586 stakeholders arrived (171 athletes and team officials); "
        "39 tested positive at the airport and 33 of 336,421 tests inside the loop were "
        "positive; no athlete or team official has tested positive."
    )
    # The daily series adds up to the totals.
    daily = loop["daily"]
    assert sum(d["tests_inside"] for d in daily) == loop_seed.LOOP_TESTS
    assert sum(d["positives_at_entry"] + d["positives_inside"] for d in daily) == 72
    # The city has no case: the loop's are reported apart.
    assert bulletin["cumulative"]["total"] == 0
