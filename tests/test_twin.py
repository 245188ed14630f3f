"""The digital twin: its epidemic against the theory it claims, the world obeying the real
cycle's orders, control measured against no control, and pinned baselines.

Update the pinned baselines (after a deliberate change to the twin) with:

    RINGFENCE_UPDATE_BASELINES=1 pytest tests/test_twin.py -k baseline -n 0
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import brentq
from typer.testing import CliRunner

from ringfence.cli.main import app as cli
from ringfence.control import run_cycle
from ringfence.protocol import load_protocol
from ringfence.store import open_store
from ringfence.twin import ScenarioError, load_scenario, simulate
from ringfence.twin.disease import gamma
from ringfence.twin.run import orders_in_force, store_events
from ringfence.twin.scenario import scenario_from_data
from ringfence.twin.world import FREE, World, agent_of, place_of

BASELINES = Path(__file__).parent / "baselines" / "twin.json"


def final_size(r0: float) -> float:
    """The root z > 0 of z = 1 - exp(-R0 z) (Kermack and McKendrick 1927)."""
    return float(brentq(lambda z: z - 1 + math.exp(-r0 * z), 1e-9, 1.0))


def test_final_size_matches_the_final_size_equation() -> None:
    scenario = load_scenario("homogeneous")
    v = scenario.variant
    # R0 = infections per hour with the whole mix infectious x 24 h x mean infectious days.
    r0 = scenario.beta_per_hour["other"] * 24 * v.infectious_days[0]
    assert r0 == pytest.approx(2.0, rel=1e-6)
    sizes = [simulate(scenario, None, seed).infections / scenario.persons for seed in (1, 2, 3)]
    # 20,000 people: the final size varies by well under a percent between seeds.
    assert np.mean(sizes) == pytest.approx(final_size(r0), abs=0.015)
    assert max(sizes) - min(sizes) < 0.03


def growth_rate_from_theory(r0: float, latent: tuple[float, float],
                            infectious: tuple[float, float]) -> float:  # fmt: skip
    """r from the Euler-Lotka equation for constant infectiousness between the end of the
    latent period L and recovery L + D: 1 = b E[(exp(-rL) - exp(-r(L+D))) / r], b = R0/E[D]
    (Wallinga and Lipsitch 2007), the expectation over the scenario's gamma durations."""
    rng = np.random.default_rng(7)
    lat = gamma(rng, latent, 400_000)
    dur = gamma(rng, infectious, 400_000)
    b = r0 / dur.mean()

    def lotka(r: float) -> float:
        return float(b * np.mean((np.exp(-r * lat) - np.exp(-r * (lat + dur))) / r) - 1)

    return float(brentq(lotka, 1e-4, 5.0))


def test_early_doubling_time_matches_the_generation_interval() -> None:
    scenario = dataclasses.replace(load_scenario("homogeneous"), persons=400_000, days=60,
                                   seed_infections=200)  # fmt: skip
    v = scenario.variant
    r0 = scenario.beta_per_hour["other"] * 24 * v.infectious_days[0]
    expected = math.log(2) / growth_rate_from_theory(r0, v.latent_days, v.infectious_days)
    fitted = []
    for seed in (1, 2):
        run = simulate(scenario, None, seed)
        new = np.array([d.new_infections for d in run.days], dtype=float)
        cumulative = np.cumsum(new)
        # The exponential phase: past the seeds' own dynamics, before susceptibles run short.
        days = np.flatnonzero((cumulative > 0.002 * scenario.persons)
                              & (cumulative < 0.05 * scenario.persons))  # fmt: skip
        assert len(days) >= 6, days
        slope = np.polyfit(days, np.log(new[days]), 1)[0]
        fitted.append(math.log(2) / slope)
    assert np.mean(fitted) == pytest.approx(expected, rel=0.10), (fitted, expected)


def test_a_scenario_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    scenario = dataclasses.replace(load_scenario("city-small"), persons=5_000, days=20)
    first, again, other = (simulate(scenario, None, s) for s in (4, 4, 5))
    assert [d.new_infections for d in first.days] == [d.new_infections for d in again.days]
    assert [d.new_infections for d in first.days] != [d.new_infections for d in other.days]


def run_baselines() -> dict[str, dict[str, object]]:
    small = dataclasses.replace(load_scenario("city-small"), persons=3_000, days=25)
    homogeneous = dataclasses.replace(load_scenario("homogeneous"), persons=5_000, days=80)
    return {
        "city-small 3000x25 seed 1": simulate(small, None, 1).summary(),
        "homogeneous 5000x80 seed 1": simulate(homogeneous, None, 1).summary(),
    }


def test_seeded_baselines_are_unchanged() -> None:
    produced = json.loads(json.dumps(run_baselines()))
    if os.environ.get("RINGFENCE_UPDATE_BASELINES"):
        BASELINES.parent.mkdir(exist_ok=True)
        BASELINES.write_text(json.dumps(produced, indent=2, sort_keys=True) + "\n")
    pinned = json.loads(BASELINES.read_text())
    assert produced == pinned, "the twin's outputs changed; if on purpose, update the baselines"


def test_the_world_obeys_the_orders_of_the_cycle(tmp_path: Path) -> None:
    scenario = dataclasses.replace(load_scenario("city-small"), persons=3_000, days=9,
                                   compliance=1.0, seed_infections=15)  # fmt: skip
    world = World(scenario, 3)
    protocol = load_protocol("zero-covid-2022")
    confined_days = closed_days = 0
    done: set[str] = set()
    with open_store(tmp_path / "twin.duckdb", create=True) as store:
        for day in range(scenario.days):
            confined = set(np.flatnonzero(world.confined != FREE).tolist())
            closed = set(np.flatnonzero(world.closed).tolist())
            events = world.step(day)
            visitors = {agent_of(p) for p in events["visits"]["person_id"]}
            visited = {place_of(p) for p in events["visits"]["place_id"]}
            assert not visitors & confined, f"day {day}: confined agents went out"
            assert not visited & closed, f"day {day}: closed places received visitors"
            confined_days += len(confined)
            closed_days += len(closed)
            as_of = world.end_of_day(day)
            store_events(store, events, tmp_path / f"day-{day}", as_of)
            run_cycle(store, protocol, as_of)
            world.obey(*orders_in_force(store, as_of, done))
        # The orders obeyed are the cycle's: some people were confined, some places closed.
        assert confined_days > 0 and closed_days > 0
        # Every person the cycle isolated was an infection of the twin (no false positives
        # from a test of a person never infected).
        cases = [agent_of(str(p)) for (p,) in store.fetchall("SELECT person_id FROM cases")]
    assert cases and not np.isnan(world.infections.infected[cases]).any()
    assert sum(d.children_separated for d in world.counts) == 0


def test_control_keeps_a_loop_far_below_no_control() -> None:
    scenario = dataclasses.replace(load_scenario("loop-small"), persons=800, days=10,
                                   arrival_days=4, entry_positivity=0.02)  # fmt: skip
    protocol = load_protocol("beijing-2022-loop")
    left_alone, controlled = [], []
    for seed in (1, 2):
        left_alone.append(simulate(scenario, None, seed).infections)
        run = simulate(scenario, protocol, seed)
        controlled.append(run.infections)
        assert run.detected > 0
    # Infections brought in are the same either way; control stops what follows.
    assert np.mean(controlled) < 0.35 * np.mean(left_alone), (controlled, left_alone)


def _instants(values: Any) -> np.ndarray:
    return np.asarray(values.cast("int64").to_numpy(zero_copy_only=False), dtype=np.int64)


def test_badges_record_encounters_of_people_at_the_same_place_at_the_same_time() -> None:
    """Every proximity record is two people whose visits to one place (not a home or a
    single room) both cover it, checked against the visits pair by pair."""
    scenario = dataclasses.replace(load_scenario("loop-small"), persons=600, arrival_days=1)
    world = World(scenario, 4)
    kinds = world.people.places.kind
    for day in range(3):
        events = world.step(day)
        near = events["proximity"]
        visits = events["visits"]
        stays: dict[int, list[tuple[int, int, int]]] = {}
        for person, place, start, end in zip(
            [agent_of(p) for p in visits["person_id"]], [place_of(p) for p in visits["place_id"]],
            _instants(visits["start"]), _instants(visits["end"]), strict=True,
        ):  # fmt: skip
            stays.setdefault(person, []).append((place, int(start), int(end)))
        starts, ends = _instants(near["start"]), _instants(near["end"])
        assert len(starts) > 3 * scenario.persons  # several encounters each a day
        for a, b, s, e in zip(near["person_id"], near["other_person_id"], starts, ends,
                              strict=True):  # fmt: skip
            shared = {
                place for place, s1, e1 in stays[agent_of(a)] if s1 <= s and e <= e1
            } & {place for place, s2, e2 in stays[agent_of(b)] if s2 <= s and e <= e2}
            assert shared, (a, b)
            assert all(kinds[place] not in ("home", "room") for place in shared)
        distances = np.asarray(near["distance_m"])
        assert distances.min() >= 0.3 and distances.max() <= 3.0


def test_a_loop_without_badges_records_no_proximity_but_still_meets() -> None:
    scenario = dataclasses.replace(
        load_scenario("loop-small"), persons=600, arrival_days=1, badges=False,
        beta_per_hour={"near": 2.0}, entry_positivity=0.05,
    )  # fmt: skip
    world = World(scenario, 2)
    infected_by_encounters = 0
    for day in range(6):
        before = ~np.isnan(world.infections.infected)
        events = world.step(day)
        assert "proximity" not in events
        infected_by_encounters += int(np.count_nonzero(~np.isnan(world.infections.infected)
                                                       & ~before))  # fmt: skip
    # The only way to be infected here is a close encounter: they happen, unrecorded.
    assert infected_by_encounters > 0


def test_unvaccinated_arrivals_carry_no_vaccination_and_are_quarantined(tmp_path: Path) -> None:
    scenario = dataclasses.replace(load_scenario("loop-small"), persons=300, days=2,
                                   arrival_days=1, vaccinated=0.5)  # fmt: skip
    world = World(scenario, 5)
    events = world.step(0)
    arrivals = events["arrivals"]
    missing = {p for p, v in zip(arrivals["person_id"], arrivals["vaccinated_on"].to_pylist(),
                                 strict=True) if v is None}  # fmt: skip
    expected = {f"T{i:07d}" for i in np.flatnonzero(~world.vaccinated)}
    assert missing == expected and 0.35 < len(missing) / 300 < 0.65
    with open_store(tmp_path / "twin.duckdb", create=True) as store:
        as_of = world.end_of_day(0)
        store_events(store, events, tmp_path / "day-0", as_of)
        run_cycle(store, load_protocol("beijing-2022-loop"), as_of)
        quarantined = {str(p) for (p,) in store.fetchall(
            "SELECT person_id FROM orders WHERE rule = 'arrival.unvaccinated'")}  # fmt: skip
        cases = {str(p) for (p,) in store.fetchall("SELECT person_id FROM cases")}
    # Every unvaccinated arrival is quarantined, unless found positive on arrival (isolated).
    assert quarantined <= missing and missing - quarantined <= cases
    assert len(quarantined) > 0.9 * len(missing)


def test_a_bad_scenario_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\nkind = "village"\npersons = 100\n')
    with pytest.raises(ScenarioError, match=r"bad\.toml: scenario\.kind: 'village' is not"):
        load_scenario(path)
    base = {"scenario": {"kind": "city", "persons": 100, "days": 10, "seed_infections": 1}}
    for change, message in [
        ({"control": {"compliance": 1.5}}, "control.compliance: must be a share"),
        ({"control": {"frobnicate": 1}}, "control.frobnicate: unknown setting"),
        ({"scenario": {**base["scenario"], "variant": "omega"}}, "unknown variant 'omega'"),
        ({"population": {"household_sizes": [0.5, 0.2]}}, "add"),
        ({"scenario": {"kind": "city", "persons": 100}}, "scenario.days: missing"),
        ({"scenario": {**base["scenario"], "persons": "many"}}, "persons: 'many' is not a whole"),
        ({"control": {"compliance": "most"}}, "compliance: 'most' is not a number"),
        ({"loop": {"badges": "yes"}}, "badges: 'yes' is not true or false"),
        ({"loop": {"near_minutes": 0}}, "loop.near_minutes: must be a positive"),
    ]:
        with pytest.raises(ScenarioError, match=message):
            scenario_from_data({**base, **change}, "x.toml")
    path.write_text("not toml [")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="city-small"):
        load_scenario("no-such-scenario")


def test_the_simulate_command_compares_protocols(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    result = CliRunner().invoke(cli, [
        "simulate", "homogeneous", "-p", "none", "--runs", "3", "--persons", "2000",
        "--days", "60", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["seeds"] == [1, 2, 3] and report["protocols"] == ["none"]
    infections = [r["summary"]["infections"] for r in report["runs"]]
    spread = report["spread"]["none"]["infections"]
    assert spread["mean"] == pytest.approx(np.mean(infections), abs=0.01)
    # The middle 95% of three runs lies within their range.
    assert min(infections) <= spread["low"] <= spread["high"] <= max(infections)
    assert spread["low"] == pytest.approx(np.percentile(infections, 2.5), abs=0.01)
    html = tmp_path / "compare.html"
    result = CliRunner().invoke(cli, ["simulate", "homogeneous", "--persons", "500", "--days",
                                      "20", "--out", str(html)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "protocols compared" in html.read_text() and "chart-infections" in html.read_text()
    # A report it cannot write is refused before any run, not after.
    wrong = CliRunner().invoke(cli, ["simulate", "homogeneous", "--out", str(tmp_path / "r.txt")])
    assert wrong.exit_code == 2 and "write .html or .json" in wrong.stderr
    assert not (tmp_path / "r.txt").exists()
    bad = CliRunner().invoke(cli, ["simulate", "nowhere"])
    assert bad.exit_code == 2 and "no scenario 'nowhere'" in bad.stderr


def test_compiled_steps_reused_across_days_decide_exactly_as_compiled_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ringfence.control import cycle

    scenario = dataclasses.replace(load_scenario("city-small"), persons=2_000, days=5,
                                   seed_infections=10)  # fmt: skip
    protocol = load_protocol("zero-covid-2022")

    def decisions(folder: Path) -> dict[str, list[tuple[object, ...]]]:
        folder.mkdir()
        world, done = World(scenario, 5), set[str]()
        with open_store(folder / "twin.duckdb", create=True) as store:
            for day in range(scenario.days):
                events = world.step(day)
                as_of = world.end_of_day(day)
                store_events(store, events, folder / f"day-{day}", as_of)
                run_cycle(store, protocol, as_of)
                world.obey(*orders_in_force(store, as_of, done))
            return {
                t: sorted(store.fetchall(f'SELECT * FROM "{t}"'), key=repr)
                for t in ("cases", "contacts", "orders", "test_plans", "risk_areas", "alerts")
            }

    reused = decisions(tmp_path / "reused")
    class Afresh(cycle.CompiledSteps):
        def sql(self, key: object, now: str, expr: Any, dialect: str) -> str:
            return super().sql(None, now, expr, dialect)

    monkeypatch.setattr(cycle, "COMPILED", Afresh())
    fresh = decisions(tmp_path / "fresh")
    assert reused["cases"] and reused["orders"]
    assert reused == fresh
