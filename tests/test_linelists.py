"""Line lists of cases and contacts, checked against the decision tables and against what the
event rows say, in each format, on both engines.

The story is the bulletin's outbreak with a few additions: every person has a name, a phone
number, a sex and a birth year (so that leaking the first two or mixing up the others would
show); a case confirmed at 05:00 on New Year's Day in Beijing (still 2021 in UTC, so age
counts the jurisdiction's calendar); a contact who met the case in two restaurants; and one
who stood beside the case with no place recorded.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ringfence.report import linelists
from ringfence.report.linelists import LineListError, line_list, write_line_list
from ringfence.store import Store, UsageError, open_store

from .scenario import BEIJING, Scenario, local
from .test_bulletin import outbreak

PROTOCOL = "zero-covid-2022"
AS_OF = "2022-01-20 18:30"
FORMATS = ("csv", "xlsx", "parquet")


def story() -> Scenario:
    s = outbreak()
    # N is confirmed at 05:00 on 1 January in Beijing: 21:00 on 31 December in UTC.
    s.person("N", district="Xicheng")
    s.test("N", "2021-12-31 20:00", "2022-01-01 05:00", "positive", ct=24)
    # K dined beside A in two restaurants; L stood beside A (a badge), in no recorded place.
    s.place("R2", "restaurant")
    s.person("K").person("L")
    s.visit("A", "R2", "2022-01-17 19:00", "2022-01-17 20:00")
    s.visit("K", "R2", "2022-01-17 19:00", "2022-01-17 20:00")
    s.visit("K", "R1", "2022-01-18 12:00", "2022-01-18 13:00")
    s.near("A", "L", "2022-01-18 15:00", "2022-01-18 15:40")
    for n, person in enumerate(s.rows["persons"]):
        person["name"] = f"Wang Xiuying {person['person_id']}"
        person["phone"] = f"+86 138 {n:04d} {7000 + n:04d}"
        person["sex"] = ("female", "male")[n % 2]
        person["birth_year"] = 1940 + (n * 7) % 60
    return s


def run(db: str, folder: Path) -> Scenario:
    s = story()
    s.run(db, folder, PROTOCOL, AS_OF)
    return s


def table(store: Store, name: str) -> list[dict[str, Any]]:
    return store.fetch_records(f'SELECT * FROM "{name}"')


def persons(s: Scenario) -> dict[str, dict[str, Any]]:
    return {p["person_id"]: p for p in s.rows["persons"]}


def years_at(moment: datetime, birth_year: int) -> int:
    """Age as a health officer in Beijing counts it from a birth year."""
    return moment.astimezone(BEIJING).year - birth_year


def current(orders: list[dict[str, Any]], as_of: datetime) -> dict[str, Any] | None:
    """The order open at `as_of`, else the one that starts last."""
    if not orders:
        return None

    def rank(o: dict[str, Any]) -> tuple[bool, datetime]:
        is_open = o["start"] <= as_of and (o["released_at"] is None or o["released_at"] > as_of)
        return is_open, o["start"]

    return max(orders, key=rank)


def test_the_cases_line_list_matches_the_decisions_and_the_events(
    db_url: str, tmp_path: Path
) -> None:
    s = run(db_url, tmp_path / "events")
    people = persons(s)
    with open_store(db_url) as store:
        listed = line_list(store, "cases").to_pylist()
        cases = table(store, "cases")
        contacts = table(store, "contacts")
        orders = table(store, "orders")

    assert [r["case_id"] for r in listed] == [
        c["case_id"] for c in sorted(cases, key=lambda c: (c["confirmed_at"], c["case_id"]))
    ]
    by_id = {c["case_id"]: c for c in cases}
    for row in listed:
        case = by_id[row["case_id"]]
        for column, value in case.items():
            assert row[column] == value, (row["case_id"], column)
        person = people[row["person_id"]]
        assert row["age"] == years_at(case["confirmed_at"], person["birth_year"])
        for column in ("sex", "district", "group"):
            assert row[column] == person[column], (row["case_id"], column)
        assert row["loop_id"] == (person["loop_id"] or None)
        traced = {k["person_id"] for k in contacts if k["case_person_id"] == row["person_id"]}
        assert row["contacts_traced"] == len(traced)
        order = current(
            [o for o in orders
             if o["person_id"] == row["person_id"] and o["kind"] in ("isolation", "hospital")],
            local(AS_OF),
        )  # fmt: skip
        assert order is not None, row["case_id"]
        assert (row["order_kind"], row["order_start"], row["order_released_at"]) == (
            order["kind"], order["start"], order["released_at"],
        )  # fmt: skip

    listed_by_person = {r["person_id"]: r for r in listed}
    # The story exercises what it should: A's contacts counted, B converted and in hospital,
    # N a year older in Beijing than in UTC.
    assert listed_by_person["A"]["contacts_traced"] == 3  # D, K and L
    assert listed_by_person["B"]["order_kind"] == "hospital"
    assert listed_by_person["B"]["converted_at"] is not None
    n = listed_by_person["N"]
    assert n["confirmed_at"].astimezone(UTC).year == 2021
    assert n["age"] == 2022 - people["N"]["birth_year"]


def test_the_contacts_line_list_matches_the_decisions_and_the_events(
    db_url: str, tmp_path: Path
) -> None:
    s = run(db_url, tmp_path / "events")
    people = persons(s)
    with open_store(db_url) as store:
        listed = line_list(store, "contacts").to_pylist()
        contacts = table(store, "contacts")
        cases = {c["person_id"]: c for c in table(store, "cases")}
        orders = table(store, "orders")

    key = ("person_id", "case_person_id", "kind")
    assert [tuple(r[k] for k in key) for r in listed] == sorted(
        tuple(k[c] for c in key) for k in contacts
    )
    by_key = {tuple(k[c] for c in key): k for k in contacts}
    contact_kinds = ("quarantine_central", "quarantine_home", "health_monitoring",
                     "contact_management")  # fmt: skip
    for row in listed:
        contact = by_key[tuple(row[k] for k in key)]
        for column in ("first_exposure", "last_exposure", "minutes"):
            assert row[column] == contact[column], (row["person_id"], column)
        assert row["place_ids"] == ("; ".join(contact["place_ids"] or []) or None)
        person = people[row["person_id"]]
        assert row["age"] == years_at(contact["first_exposure"], person["birth_year"])
        assert (row["district"], row["group"]) == (person["district"], person["group"])
        index = cases.get(row["case_person_id"])
        assert row["case_id"] == (index["case_id"] if index else None)
        own = cases.get(row["person_id"])
        traced_at = index["confirmed_at"] if index else contact["first_exposure"]
        later = own["confirmed_at"] if own and own["confirmed_at"] > traced_at else None
        assert row["became_case_at"] == later
        order = current(
            [o for o in orders
             if o["person_id"] == row["person_id"] and o["kind"] in contact_kinds
             and o["rule"].startswith("contact.") and o["guardian_of"] is None],
            local(AS_OF),
        )  # fmt: skip
        got = (row["order_kind"], row["order_start"], row["order_planned_end"],
               row["order_released_at"])  # fmt: skip
        want = (None,) * 4 if order is None else (
            order["kind"], order["start"], order["planned_end"], order["released_at"]
        )  # fmt: skip
        assert got == want, row["person_id"]

    rows = {(r["person_id"], r["case_person_id"]): r for r in listed}
    # Two restaurants, joined; a badge's contact has no place.
    assert rows[("K", "A")]["place_ids"] == "R1; R2"
    assert rows[("L", "A")]["place_ids"] is None
    # D became a case after being traced; A, D's contact, was the case before D.
    assert rows[("D", "A")]["became_case_at"] == cases["D"]["confirmed_at"]
    assert rows[("A", "D")]["became_case_at"] is None
    # E is in central quarantine at the run; the home quarantine planned after it is not yet.
    assert rows[("E", "B")]["order_kind"] == "quarantine_central"
    assert rows[("E", "B")]["order_released_at"] is None
    assert any(o["person_id"] == "E" and o["kind"] == "quarantine_home" for o in orders)
    # D's quarantine ended when D became a case.
    assert rows[("D", "A")]["order_released_at"] == cases["D"]["confirmed_at"]


def _typed(text: str, kind: pa.DataType) -> Any:
    """A CSV cell read back as the Arrow type of its column."""
    if text == "":
        return None
    if pa.types.is_timestamp(kind):
        assert text.endswith("+00:00"), text  # UTC, said so
        return datetime.fromisoformat(text)
    if pa.types.is_date(kind):
        return date.fromisoformat(text)
    if pa.types.is_integer(kind):
        return int(text)
    if pa.types.is_floating(kind):
        return float(text)
    return text


def read_csv(path: Path, schema: pa.Schema) -> tuple[list[str], list[list[Any]]]:
    lines = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header, rows = lines[0], lines[1:]
    return header, [[_typed(v, f.type) for v, f in zip(r, schema, strict=True)] for r in rows]


def read_xlsx(path: Path, schema: pa.Schema) -> tuple[list[str], list[list[Any]]]:
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    cells = list(sheet.iter_rows(values_only=True))
    header = [str(v) for v in cells[0]]
    rows = []
    for values in cells[1:]:
        row = []
        for value, field in zip(values, schema, strict=True):
            if value is not None and pa.types.is_timestamp(field.type):
                value = value.replace(tzinfo=UTC)  # naive UTC, as the header's note says
            elif value is not None and pa.types.is_date(field.type):
                value = value.date()
            row.append(value)
        rows.append(row)
    return header, rows


def test_csv_xlsx_and_parquet_hold_the_same_rows(db_url: str, tmp_path: Path) -> None:
    run(db_url, tmp_path / "events")
    for kind in ("cases", "contacts"):
        with open_store(db_url) as store:
            expected = line_list(store, kind)
            written = {
                fmt: write_line_list(store, kind, tmp_path / f"{kind}.{fmt}") for fmt in FORMATS
            }
        assert expected.num_rows > 2, kind
        assert written == dict.fromkeys(FORMATS, expected.num_rows), kind
        schema = expected.schema
        rows = [list(r.values()) for r in expected.to_pylist()]

        parquet = pq.read_table(tmp_path / f"{kind}.parquet")
        assert parquet.equals(expected), kind
        assert parquet.schema.field(linelists.AGE_AT[kind]).type == pa.timestamp("us", tz="UTC")

        header, from_csv = read_csv(tmp_path / f"{kind}.csv", schema)
        assert header == schema.names, kind
        assert from_csv == rows, kind

        header, from_xlsx = read_xlsx(tmp_path / f"{kind}.xlsx", schema)
        assert header == schema.names, kind
        assert from_xlsx == rows, kind

        sheet = openpyxl.load_workbook(tmp_path / f"{kind}.xlsx").worksheets[0]
        assert sheet.title == kind
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
        instant = schema.get_field_index(linelists.AGE_AT[kind]) + 1
        assert "UTC" in sheet.cell(1, instant).comment.text
        assert sheet.cell(2, instant).number_format == 'yyyy-mm-dd"T"hh:mm:ss"Z"'
        assert isinstance(sheet.cell(2, instant).value, datetime)  # a real date, not text
    assert not list(tmp_path.glob("*.partial"))


def test_no_line_list_holds_a_name_or_a_phone_number(db_url: str, tmp_path: Path) -> None:
    s = run(db_url, tmp_path / "events")
    secrets = [p[c] for p in s.rows["persons"] for c in ("name", "phone")]
    assert len(secrets) == 2 * len(s.rows["persons"])
    with open_store(db_url) as store:
        for kind in ("cases", "contacts"):
            listed = line_list(store, kind)
            assert not {"name", "phone"} & set(listed.schema.names)
            values = [str(v) for r in listed.to_pylist() for v in r.values()]
            for fmt in FORMATS:
                path = tmp_path / f"{kind}.{fmt}"
                write_line_list(store, kind, path)
                if fmt == "csv":
                    values.append(path.read_text(encoding="utf-8"))
                elif fmt == "xlsx":
                    sheet = openpyxl.load_workbook(path).worksheets[0]
                    values += [str(v) for r in sheet.iter_rows(values_only=True) for v in r]
                else:
                    values += [str(v) for r in pq.read_table(path).to_pylist() for v in r.values()]
            for secret in secrets:
                assert not any(secret in v for v in values), secret
            assert not any("Xiuying" in v or "+86" in v for v in values)


def test_duckdb_and_postgresql_write_the_same_csv_bytes(tmp_path: Path, pg_url: str) -> None:
    duck = str(tmp_path / "a.duckdb")
    for db in (duck, pg_url):
        run(db, tmp_path / "events")
    files: dict[str, list[bytes]] = {}
    for name, db in (("duckdb", duck), ("postgresql", pg_url)):
        with open_store(db) as store:
            for kind in ("cases", "contacts"):
                path = tmp_path / f"{name}-{kind}.csv"
                write_line_list(store, kind, path)
                files.setdefault(kind, []).append(path.read_bytes())
    for kind, (one, two) in files.items():
        assert one.count(b"\n") > 3, kind
        assert one == two, kind


def test_unknown_kinds_and_formats_are_refused_with_the_choices(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb", create=True) as store:
        with pytest.raises(ValueError, match="unknown line list 'orders'; use one of: cases, "
                           "contacts"):  # fmt: skip
            line_list(store, "orders")
        with pytest.raises(ValueError, match="use one of: cases, contacts"):
            write_line_list(store, "persons", tmp_path / "x.csv")
        with pytest.raises(
            ValueError, match="unknown format 'pdf'; use one of: csv, xlsx, parquet"
        ):
            write_line_list(store, "cases", tmp_path / "x.csv", format="pdf")
        with pytest.raises(ValueError, match=r"name the file \.csv, \.xlsx or \.parquet"):
            write_line_list(store, "cases", tmp_path / "x.json")
        # The command line reports it as a usage error (exit status 2), like `export`.
        with pytest.raises(UsageError):
            write_line_list(store, "cases", tmp_path / "x.xls")
        assert not list(tmp_path.glob("x.*"))

        # Before any cycle run the lists are empty, with their header; an explicit format
        # wins over the suffix.
        assert line_list(store, "contacts").num_rows == 0
        assert write_line_list(store, "cases", tmp_path / "cases.txt", format="CSV") == 0
        text = (tmp_path / "cases.txt").read_text(encoding="utf-8")
        assert text.startswith("case_id,person_id,age,sex,district,group,")
        assert text.count("\n") == 1


def test_a_list_longer_than_a_sheet_is_refused_for_xlsx_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Scenario()
    for person in ("P1", "P2", "P3"):
        s.person(person)
        s.test(person, "2022-01-19 08:00", "2022-01-19 12:00", "positive", ct=25)
    db = str(tmp_path / "three.duckdb")
    s.run(db, tmp_path / "events", PROTOCOL, AS_OF)
    monkeypatch.setattr(linelists, "XLSX_MAX_ROWS", 2)  # a sheet of two rows, for the test
    with open_store(db) as store:
        with pytest.raises(LineListError, match=r"more than an Excel sheet holds.*CSV or Parquet"):
            write_line_list(store, "cases", tmp_path / "cases.xlsx")
        assert not (tmp_path / "cases.xlsx").exists()
        assert write_line_list(store, "cases", tmp_path / "cases.csv") == 3
        assert write_line_list(store, "cases", tmp_path / "cases.parquet") == 3
