"""The bundled example and the generator, read back independently of the code that wrote them.

Files are read with the standard `csv` module or with pyarrow and checked against the schema's
definitions (required columns, vocabularies, bounds, keys, references, row rules), then for
the stories later stages rely on.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from ringfence.examples import EXAMPLE_TABLES, example_dir
from ringfence.examples.generate import format_ids, format_instants, generate, write_table
from ringfence.examples.scenario import build_example
from ringfence.schema import (
    ColumnType,
    Different,
    ExactlyOne,
    NotAfter,
    Ordered,
    ingest_order,
    table,
)

LOCAL = dt.timezone(dt.timedelta(hours=8))
Row = dict[str, Any]
Tables = dict[str, list[Row]]


# ---------------------------------------------------------------------------------------------
# An independent reader and checker
# ---------------------------------------------------------------------------------------------


def _parse(kind: ColumnType, text: str) -> Any:
    if kind is ColumnType.INTEGER:
        return int(text)
    if kind is ColumnType.FLOAT:
        value = float(text)
        assert math.isfinite(value)
        return value
    if kind is ColumnType.BOOLEAN:
        assert text in ("true", "false"), text
        return text == "true"
    if kind is ColumnType.DATE:
        return dt.date.fromisoformat(text)
    if kind is ColumnType.INSTANT:
        at = dt.datetime.fromisoformat(text)
        # A naive instant is local time of the jurisdiction.
        return at.replace(tzinfo=LOCAL) if at.tzinfo is None else at
    return text


def read_csv_tables(folder: Path) -> tuple[Tables, dict[str, list[str]]]:
    """Every table as typed rows, and the raw text of each instant column (for format checks)."""
    tables: Tables = {}
    raw: dict[str, list[str]] = defaultdict(list)
    for name in EXAMPLE_TABLES:
        spec = table(name)
        with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames or ()) == spec.column_names, name
            rows = []
            for line, record in enumerate(reader, start=2):
                row: Row = {}
                for col in spec.columns:
                    text = record[col.name]
                    assert text is not None, f"{name} line {line}: short row"
                    try:
                        row[col.name] = _parse(col.type, text) if text != "" else None
                    except ValueError as e:  # pragma: no cover - reported as a failure
                        raise AssertionError(f"{name} line {line} {col.name}: {text!r}") from e
                    if col.type is ColumnType.INSTANT and text:
                        raw[name].append(text)
                rows.append(row)
        tables[name] = rows
    return tables, raw


def read_parquet_tables(folder: Path) -> Tables:
    tables: Tables = {}
    for name in EXAMPLE_TABLES:
        data = pq.read_table(folder / f"{name}.parquet")
        assert tuple(data.column_names) == table(name).column_names, name
        tables[name] = data.to_pylist()
    return tables


def check_tables(tables: Tables) -> None:
    """Asserts that every row obeys its table's definition and every reference resolves."""
    now = dt.datetime.now(LOCAL)
    for name, rows in tables.items():
        spec = table(name)
        keys: set[tuple[Any, ...]] = set()
        for i, row in enumerate(rows):
            where = f"{name} row {i}"
            for col in spec.columns:
                value = row[col.name]
                if value is None:
                    assert not col.required, f"{where}: {col.name} is required"
                    continue
                if col.allowed is not None:
                    assert value in col.allowed, f"{where}: {col.name}={value!r}"
                if col.minimum is not None:
                    assert value >= col.minimum, f"{where}: {col.name}={value}"
                if col.maximum is not None:
                    assert value <= col.maximum, f"{where}: {col.name}={value}"
                if col.type is ColumnType.STRING:
                    assert value.strip() and len(value) <= col.max_length, where
                if col.type is ColumnType.INSTANT:
                    assert value.tzinfo is not None, where
                    if col.not_future:
                        assert value <= now, where
                if col.type is ColumnType.INTEGER and col.not_future:
                    assert value <= now.year, where
            key = tuple(row[k] for k in spec.key)
            assert key not in keys, f"{where}: duplicate key {key}"
            keys.add(key)
            for rule in spec.rules:
                _check_rule(rule, row, where)
        for ref in spec.references:
            targets = {r[ref.target] for r in tables[ref.table]}
            missing = {r[ref.column] for r in rows if r[ref.column] is not None} - targets
            assert not missing, f"{name}.{ref.column}: unresolved {sorted(missing)[:5]}"


def _check_rule(rule: Any, row: Row, where: str) -> None:
    if isinstance(rule, Ordered):
        if row[rule.earlier] is not None and row[rule.later] is not None:
            assert row[rule.later] > row[rule.earlier], f"{where}: {rule.later} not after"
    elif isinstance(rule, ExactlyOne):
        present = [c for c in rule.columns if row[c] is not None]
        assert len(present) == 1, f"{where}: exactly one of {rule.columns}, got {present}"
    elif isinstance(rule, Different):
        assert row[rule.first] != row[rule.second], where
    elif isinstance(rule, NotAfter) and row[rule.date_column] is not None:
        day = row[rule.instant_column].astimezone(LOCAL).date()
        assert row[rule.date_column] <= day, f"{where}: {rule.date_column} too late"


def by(rows: list[Row], column: str) -> dict[Any, list[Row]]:
    out: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        out[row[column]].append(row)
    return out


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(LOCAL).date()


# ---------------------------------------------------------------------------------------------
# The bundled example
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> Tables:
    tables, _ = read_csv_tables(example_dir())
    return tables


def test_example_tables_are_listed_in_an_order_ingest_accepts() -> None:
    order = [t.name for t in ingest_order([table(n) for n in EXAMPLE_TABLES])]
    position = {name: EXAMPLE_TABLES.index(name) for name in EXAMPLE_TABLES}
    for name in EXAMPLE_TABLES:
        for ref in table(name).references:
            if ref.table != name:
                assert position[ref.table] < position[name], (ref.table, name)
    assert EXAMPLE_TABLES[:2] == ("persons", "places")
    assert sorted(order) == sorted(EXAMPLE_TABLES)
    assert {p.name for p in example_dir().glob("*.csv")} == {f"{n}.csv" for n in EXAMPLE_TABLES}


@pytest.mark.parametrize(
    "table_name, change, message",
    [
        ("visits", {"place_id": "NOWHERE"}, "unresolved"),
        ("visits", {"end": dt.datetime(2022, 1, 1, tzinfo=LOCAL)}, "not after"),
        ("samples", {"place_id": "PEK"}, "exactly one"),
        ("results", {"outcome": "maybe"}, "outcome"),
        ("results", {"ct": 51.0}, "ct="),
        ("persons", {"household_id": None}, "required"),
        ("persons", {}, "duplicate key"),
    ],
)
def test_the_checker_catches_bad_rows(
    example: Tables, table_name: str, change: Row, message: str
) -> None:
    # The checks below are only as good as this checker: it must reject each kind of fault.
    broken = {name: list(rows) for name, rows in example.items()}
    rows = broken[table_name]
    if change:
        rows[0] = {**rows[0], **change}
    else:
        rows.append(rows[0])
    with pytest.raises(AssertionError, match=message):
        check_tables(broken)


def test_example_obeys_the_schema(example: Tables) -> None:
    check_tables(example)
    assert all(example[name] for name in EXAMPLE_TABLES)


def test_shipped_files_are_what_the_builder_writes(tmp_path: Path) -> None:
    counts = build_example(tmp_path)
    for name in EXAMPLE_TABLES:
        shipped = (example_dir() / f"{name}.csv").read_bytes()
        assert (tmp_path / f"{name}.csv").read_bytes() == shipped, f"{name}.csv is stale"
        assert counts[name] == shipped.count(b"\n") - 1


def test_example_mixes_instant_formats_as_real_inputs_do() -> None:
    _, raw = read_csv_tables(example_dir())
    assert all(" " in s and "+" not in s for s in raw["visits"])  # naive local
    assert all(s.endswith("+08:00") for s in raw["results"])
    assert all(s.endswith("Z") for s in raw["sequences"])
    assert all("T" in s and "+" not in s and not s.endswith("Z") for s in raw["proximity"])


def test_closed_loop_members_places_and_arrivals(example: Tables) -> None:
    members = [p for p in example["persons"] if p["loop_id"] == "BJ2022"]
    assert 110 <= len(members) <= 130
    assert {p["group"] for p in members} == {"athlete", "official", "media", "staff"}
    places = {p["place_id"]: p for p in example["places"]}
    rooms = [p for p in places.values() if p["kind"] == "room" and p["loop_id"] == "BJ2022"]
    assert rooms
    for room in rooms:
        floor = places[room["parent_id"]]
        assert floor["kind"] == "other" and places[floor["parent_id"]]["kind"] == "hotel"
    loop_kinds = {p["kind"] for p in places.values() if p["loop_id"] == "BJ2022"}
    assert {"hotel", "room", "venue", "transport", "restaurant"} <= loop_kinds
    assert places["PEK"]["kind"] == "airport"

    ids = {p["person_id"] for p in members}
    arrivals = [a for a in example["arrivals"] if a["person_id"] in ids]
    assert {a["person_id"] for a in arrivals} == ids
    days = {local_day(a["arrived_at"]) for a in arrivals}
    assert min(days) == dt.date(2022, 1, 4) and max(days) <= dt.date(2022, 1, 10)
    flown = [a for a in arrivals if a["port"] == "PEK"]
    assert len(flown) >= 80 and all(a["flight"] for a in flown)
    late = [
        a
        for a in arrivals
        if a["vaccinated_on"] and (local_day(a["arrived_at"]) - a["vaccinated_on"]).days < 14
    ]
    assert [a["person_id"] for a in late] == ["L012"]

    arrival_samples = {s["person_id"] for s in example["samples"] if s["purpose"] == "arrival"}
    assert ids <= arrival_samples


def _results_of(example: Tables) -> dict[str, list[Row]]:
    return by([r for r in example["results"] if r["sample_id"]], "sample_id")


def test_airport_positives(example: Tables) -> None:
    samples = {s["sample_id"]: s for s in example["samples"]}
    results = _results_of(example)
    positives = {
        samples[sid]["person_id"]: rows[0]
        for sid, rows in results.items()
        if samples[sid]["purpose"] == "arrival" and rows[0]["outcome"] == "positive"
    }
    assert set(positives) == {"L070", "L050", "L080"}
    clear = positives["L070"]
    assert 22 <= clear["ct"] <= 26 and clear["ct_orf1ab"] and clear["ct_n"]
    assert positives["L050"]["ct"] == 37.1  # indeterminate under a Ct < 35 rule
    # L080: the confirmatory test and the one after it are negative, 24 h or more apart.
    confirm = sorted(
        (
            s
            for s in example["samples"]
            if s["person_id"] == "L080" and s["purpose"] == "diagnostic"
        ),
        key=lambda s: s["collected_at"],
    )
    assert len(confirm) == 2
    assert all(results[s["sample_id"]][0]["outcome"] == "negative" for s in confirm)
    assert confirm[1]["collected_at"] - confirm[0]["collected_at"] >= dt.timedelta(hours=24)


def test_daily_screening_covers_every_member_present(example: Tables) -> None:
    screened = {
        s["person_id"]
        for s in example["samples"]
        if s["purpose"] == "screening" and local_day(s["collected_at"]) == dt.date(2022, 1, 18)
    }
    members = {p["person_id"] for p in example["persons"] if p["loop_id"] == "BJ2022"}
    departed = {d["person_id"] for d in example["departures"]}
    assert screened == members - departed - {"L088"}


def test_loop_case_found_on_screening_with_proximity_and_shared_visits(example: Tables) -> None:
    results = _results_of(example)
    screens = sorted(
        (s for s in example["samples"] if s["person_id"] == "L088" and s["purpose"] == "screening"),
        key=lambda s: s["collected_at"],
    )
    outcomes = [
        (local_day(s["collected_at"]), results[s["sample_id"]][0]["outcome"]) for s in screens
    ]
    assert outcomes[-1] == (dt.date(2022, 1, 14), "positive")
    assert outcomes[-2] == (dt.date(2022, 1, 13), "negative")
    near = [p for p in example["proximity"] if p["person_id"] == "L088"]
    assert {p["other_person_id"] for p in near} >= {"L089", "L090", "L101"}
    assert all(p["distance_m"] is not None for p in near)

    visits = example["visits"]
    kinds = {p["place_id"]: p["kind"] for p in example["places"]}
    case_visits = [v for v in visits if v["person_id"] == "L088"]
    shared = set()
    for v in visits:
        if v["person_id"] == "L088":
            continue
        for c in case_visits:
            if v["place_id"] == c["place_id"] and v["start"] < c["end"] and c["start"] < v["end"]:
                shared.add(kinds[c["place_id"]])
    assert {"venue", "restaurant", "transport"} <= shared


def test_fengtai_households_and_people(example: Tables) -> None:
    residents = [
        p for p in example["persons"] if p["district"] == "Fengtai" and p["group"] == "resident"
    ]
    assert 240 <= len(residents) <= 260
    sizes = Counter(p["household_id"] for p in residents)
    assert set(sizes.values()) == {1, 2, 3, 4, 5}
    ages = [2022 - p["birth_year"] for p in residents]
    assert min(ages) <= 5 and max(ages) >= 75
    assert 1 <= sum(bool(p["pregnant"]) for p in residents) <= 5
    assert sum(bool(p["comorbidity"]) for p in residents) >= 5
    kinds = Counter(p["kind"] for p in example["places"] if p["district"] == "Fengtai")
    for kind in (
        "home",
        "workplace",
        "school",
        "restaurant",
        "market",
        "cold_chain",
        "pharmacy",
        "fever_clinic",
        "hospital",
        "quarantine_site",
    ):
        assert kinds[kind] >= 1, kind
    sources = {v["source"] for v in example["visits"] if v["place_id"].startswith("F-")}
    assert {"scan", "roster"} <= sources


def test_omicron_case_at_the_fever_clinic(example: Tables) -> None:
    results = _results_of(example)
    clinic = [
        s
        for s in example["samples"]
        if s["purpose"] == "diagnostic" and results[s["sample_id"]][0]["outcome"] == "positive"
    ]
    assert len(clinic) == 1
    case = clinic[0]["person_id"]
    onset = [s for s in example["symptoms"] if s["person_id"] == case]
    assert onset and onset[0]["onset"] == dt.date(2022, 1, 13)
    assert onset[0]["severity"] == "mild" and onset[0]["temperature_c"] >= 37.3
    lineages = {q["sample_id"]: q["lineage"] for q in example["sequences"]}
    assert lineages[clinic[0]["sample_id"]] == "BA.1.1"
    assert any(
        p["person_id"] == case and p["category"] == "antipyretic" for p in example["purchases"]
    )
    fever = {p["place_id"] for p in example["places"] if p["kind"] == "fever_clinic"}
    assert any(v["person_id"] == case and v["place_id"] in fever for v in example["visits"])


def test_one_positive_pool_retested_single_tube(example: Tables) -> None:
    pooled = [s for s in example["samples"] if s["pool_id"]]
    assert pooled and all(s["purpose"] == "mass" for s in pooled)
    members = by(pooled, "pool_id")
    assert max(len(m) for m in members.values()) == 10
    pool_results = [r for r in example["results"] if r["pool_id"]]
    assert {r["pool_id"] for r in pool_results} == set(members)
    positive = [r for r in pool_results if r["outcome"] == "positive"]
    assert len(positive) == 1
    in_pool = {s["person_id"] for s in members[positive[0]["pool_id"]]}
    assert len(in_pool) == 10
    pool_day = local_day(members[positive[0]["pool_id"]][0]["collected_at"])
    retests = [
        s
        for s in example["samples"]
        if s["purpose"] == "mass" and not s["pool_id"] and local_day(s["collected_at"]) > pool_day
    ]
    assert {s["person_id"] for s in retests} == in_pool
    results = _results_of(example)
    hits = [s for s in retests if results[s["sample_id"]][0]["outcome"] == "positive"]
    assert len(hits) == 1
    lineages = {q["sample_id"]: q["lineage"] for q in example["sequences"]}
    assert lineages[hits[0]["sample_id"]] == "AY.4"
    # The Delta case works at the cold-chain market.
    cold = {p["place_id"] for p in example["places"] if p["kind"] == "cold_chain"}
    assert any(
        v["person_id"] == hits[0]["person_id"] and v["place_id"] in cold for v in example["visits"]
    )


def test_letter_from_canada_is_an_environment_positive(example: Tables) -> None:
    env = [s for s in example["samples"] if s["purpose"] == "environment"]
    assert env and all(s["place_id"] and not s["person_id"] for s in env)
    letter = [s for s in env if s["item"] == "letter mailed from Canada"]
    assert len(letter) == 1
    result = _results_of(example)[letter[0]["sample_id"]][0]
    assert result["outcome"] == "positive" and 32 <= result["ct"] <= 34


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------

SMALL = {"persons": 2000, "days": 3, "seed": 7}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for fmt in ("csv", "parquet"):
        folder = tmp_path_factory.mktemp(fmt)
        generate(folder, fmt=fmt, **SMALL)  # type: ignore[arg-type]
        out[fmt] = folder
    return out


def test_generated_csv_obeys_the_schema(generated: dict[str, Path]) -> None:
    tables, raw = read_csv_tables(generated["csv"])
    check_tables(tables)
    assert len(tables["persons"]) == SMALL["persons"]
    # One instant format throughout: local time with the jurisdiction's offset.
    assert all(len(s) == 25 and s.endswith("+08:00") for texts in raw.values() for s in texts)


def test_generated_parquet_obeys_the_schema_and_matches_csv(generated: dict[str, Path]) -> None:
    tables = read_parquet_tables(generated["parquet"])
    check_tables(tables)
    from_csv, _ = read_csv_tables(generated["csv"])
    for name in EXAMPLE_TABLES:
        assert tables[name] == from_csv[name], name


def test_generated_data_tells_the_stories(generated: dict[str, Path]) -> None:
    t, _ = read_csv_tables(generated["csv"])
    places = {p["place_id"]: p for p in t["places"]}
    assert {p["kind"] for p in places.values()} == set(table("places").column("kind").allowed or ())
    room = next(p for p in places.values() if p["kind"] == "room")
    assert places[places[room["parent_id"]]["parent_id"]]["kind"] == "hotel"
    assert Counter(p["household_id"] for p in t["persons"]).most_common(1)[0][1] <= 5
    assert any(p["loop_id"] for p in t["persons"])
    pools = by([s for s in t["samples"] if s["pool_id"]], "pool_id")
    assert pools and max(len(m) for m in pools.values()) == 10
    assert {r["pool_id"] for r in t["results"] if r["pool_id"]} == set(pools)
    positives = [r for r in t["results"] if r["outcome"] == "positive"]
    assert positives and all(r["ct"] is not None and r["ct"] < 40 for r in positives)
    assert all(r["ct"] is None for r in t["results"] if r["outcome"] != "positive")
    assert {s["purpose"] for s in t["samples"]} >= {"screening", "arrival", "mass", "environment"}
    assert t["symptoms"] and t["arrivals"] and t["purchases"]
    minutes = sorted((v["end"] - v["start"]).total_seconds() / 60 for v in t["visits"])
    assert minutes[0] >= 5 and minutes[len(minutes) // 2] < minutes[-1] / 4  # long-tailed


def test_generator_is_deterministic_for_a_seed(tmp_path: Path, generated: dict[str, Path]) -> None:
    generate(tmp_path / "same", fmt="csv", **SMALL)  # type: ignore[arg-type]
    generate(tmp_path / "other", fmt="csv", **{**SMALL, "seed": 8})  # type: ignore[arg-type]
    for name in EXAMPLE_TABLES:
        expected = (generated["csv"] / f"{name}.csv").read_bytes()
        assert (tmp_path / "same" / f"{name}.csv").read_bytes() == expected, name
    differs = [
        name
        for name in EXAMPLE_TABLES
        if (tmp_path / "other" / f"{name}.csv").read_bytes()
        != (generated["csv"] / f"{name}.csv").read_bytes()
    ]
    assert {"persons", "visits", "samples"} <= set(differs)


def test_generator_reports_progress_and_counts(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    counts = generate(
        tmp_path,
        persons=3000,
        days=2,
        seed=1,
        visits_per_person_day=2.0,
        progress=lambda name, done, total: calls.append((name, done, total)),
    )
    assert list(counts) == list(EXAMPLE_TABLES)
    visits = [(done, total) for name, done, total in calls if name == "visits"]
    assert visits and visits[-1] == (counts["visits"], counts["visits"])
    assert all(a[0] < b[0] for a, b in itertools.pairwise(visits))
    assert 2.0 * 3000 * 2 * 0.8 < counts["visits"] < 2.0 * 3000 * 2 * 1.3
    with (tmp_path / "visits.csv").open() as f:
        assert sum(1 for _ in f) == counts["visits"] + 1


def test_generator_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path, persons=0, days=1, seed=1)
    with pytest.raises(ValueError, match="format"):
        generate(tmp_path, persons=10, days=1, seed=1, fmt="xlsx")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The shared writing helpers
# ---------------------------------------------------------------------------------------------


def test_formatting_helpers_agree_with_the_standard_library() -> None:
    import numpy as np

    secs = np.array(
        ["2022-01-10T00:00:00", "2022-01-31T23:59:59", "2021-12-31T08:05:09"], dtype="datetime64[s]"
    )
    expected = [dt.datetime.fromisoformat(str(s)).strftime("%Y-%m-%dT%H:%M:%S+08:00") for s in secs]
    assert format_instants(secs).to_pylist() == expected
    assert format_ids("P", np.array([0, 42, 99_999_999])).to_pylist() == [
        "P00000000",
        "P00000042",
        "P99999999",
    ]
    assert format_ids(("AB", "CD"), np.array([7, 8]), 3, codes=np.array([1, 0])).to_pylist() == [
        "CD007",
        "AB008",
    ]
    with pytest.raises(ValueError):
        format_ids("P", np.array([100]), 2)


def test_writer_refuses_unknown_columns_and_values_that_need_quotes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown columns"):
        write_table(tmp_path, "departures", {"person_id": ["a"], "flight": ["x"]})
    with pytest.raises(Exception, match="structural"):
        write_table(
            tmp_path,
            "departures",
            {"person_id": ["a,b"], "departed_at": ["2022-01-10"], "destination": ["x"]},
        )
