"""A few events, written as a health officer would tell them, run through the real cycle.

`Scenario` collects event rows (local Beijing times unless an offset is given), writes them
as CSV files, ingests them through the real ingest, runs the cycle, and reads the decision
tables back as plain dictionaries with local times, for asserts that read like the rules.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ringfence.control import CycleReport, run_cycle
from ringfence.protocol import Protocol, load_protocol
from ringfence.schema import EVENT_TABLES, TABLES, ingest_order
from ringfence.store import ingest_files, open_store

BEIJING = ZoneInfo("Asia/Shanghai")
DECISIONS = ("cases", "contacts", "orders", "risk_areas", "test_plans", "alerts", "explanations")


def local(text: str) -> datetime:
    """A Beijing wall-clock time such as "2022-01-20 19:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


class Scenario:
    """Events of a story, in any order; `run` ingests and decides."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._ids = 0

    def _next(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:04d}"

    def person(self, person_id: str, household: str | None = None, *, birth_year: int = 1980,
               district: str = "Fengtai", group: str = "resident", loop_id: str = "",
               pregnant: str = "", comorbidity: str = "") -> Scenario:  # fmt: skip
        self.rows["persons"].append(
            {"person_id": person_id, "household_id": household or f"H-{person_id}",
             "birth_year": birth_year, "district": district, "group": group,
             "loop_id": loop_id, "pregnant": pregnant, "comorbidity": comorbidity}
        )  # fmt: skip
        return self

    def place(self, place_id: str, kind: str = "restaurant", *, parent: str = "",
              district: str = "Fengtai", loop_id: str = "") -> Scenario:  # fmt: skip
        self.rows["places"].append(
            {"place_id": place_id, "kind": kind, "district": district, "parent_id": parent,
             "loop_id": loop_id}
        )  # fmt: skip
        return self

    def visit(self, person: str, place: str, start: str, end: str) -> Scenario:
        self.rows["visits"].append(
            {"person_id": person, "place_id": place, "start": start, "end": end}
        )
        return self

    def near(self, person: str, other: str, start: str, end: str, metres: float = 0.5) -> Scenario:
        self.rows["proximity"].append(
            {"person_id": person, "other_person_id": other, "start": start, "end": end,
             "distance_m": metres, "source": "badge"}
        )  # fmt: skip
        return self

    def test(self, person: str, collected: str, reported: str, outcome: str = "negative", *,
             ct: float | None = None, purpose: str = "screening", test: str = "pcr",
             pool: str = "", sample_id: str | None = None, place: str = "",
             ct_genes: tuple[float, float] | None = None, item: str = "") -> str:  # fmt: skip
        """A sample and its result; returns the sample id."""
        sample = sample_id or self._next("S")
        self.rows["samples"].append(
            {"sample_id": sample, "person_id": "" if place else person, "place_id": place,
             "collected_at": collected, "test": test, "pool_id": pool, "purpose": purpose,
             "item": item}
        )  # fmt: skip
        if reported:
            self.rows["results"].append(
                {"result_id": "R" + sample, "sample_id": sample, "pool_id": "",
                 "reported_at": reported, "outcome": outcome, "ct": "" if ct is None else ct,
                 "ct_orf1ab": "" if ct_genes is None else ct_genes[0],
                 "ct_n": "" if ct_genes is None else ct_genes[1]}
            )  # fmt: skip
        return sample

    def pool_result(self, pool: str, reported: str, outcome: str, ct: float | None = None) -> None:
        self.rows["results"].append(
            {"result_id": "R" + pool, "sample_id": "", "pool_id": pool, "reported_at": reported,
             "outcome": outcome, "ct": "" if ct is None else ct, "ct_orf1ab": "", "ct_n": ""}
        )  # fmt: skip

    def symptom(self, person: str, reported: str, severity: str = "mild", *, onset: str = "",
                temperature: float | None = None) -> Scenario:  # fmt: skip
        self.rows["symptoms"].append(
            {"person_id": person, "reported_at": reported, "onset": onset, "severity": severity,
             "temperature_c": "" if temperature is None else temperature}
        )  # fmt: skip
        return self

    def arrival(self, person: str, at: str, origin: str = "Canada", *,
                vaccinated_on: str = "2021-10-01") -> Scenario:  # fmt: skip
        self.rows["arrivals"].append(
            {"person_id": person, "arrived_at": at, "origin": origin, "port": "PEK",
             "vaccinated_on": vaccinated_on}
        )  # fmt: skip
        return self

    def departure(self, person: str, at: str, destination: str = "Canada") -> Scenario:
        self.rows["departures"].append(
            {"person_id": person, "departed_at": at, "destination": destination}
        )
        return self

    def sequence(self, sample: str, lineage: str, reported: str) -> Scenario:
        self.rows["sequences"].append(
            {"sample_id": sample, "lineage": lineage, "reported_at": reported}
        )
        return self

    def purchase(self, person: str, place: str, at: str, category: str = "antipyretic") -> Scenario:
        self.rows["purchases"].append(
            {"person_id": person, "place_id": place, "bought_at": at, "category": category}
        )
        return self

    def action(self, kind: str, target: str, at: str, reason: str = "reviewed") -> Scenario:
        self.rows["actions"].append(
            {"action_id": self._next("A"), "at": at, "actor": "epidemiologist", "kind": kind,
             "target": target, "reason": reason}
        )  # fmt: skip
        return self

    def write(self, folder: Path, reverse: bool = False) -> dict[str, Path]:
        """One CSV per event table (rows reversed with `reverse`, to test order independence)."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for table in ingest_order(list(EVENT_TABLES)):
            rows = self.rows.get(table.name)
            if not rows:
                continue
            path = folder / f"{table.name}.csv"
            columns = [c.name for c in table.columns if any(c.name in r for r in rows)]
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, columns)
                writer.writeheader()
                for row in reversed(rows) if reverse else rows:
                    writer.writerow(row)
            paths[table.name] = path
        return paths

    def run(self, db: str, folder: Path, protocol: str | Protocol, as_of: str,
            reverse: bool = False) -> Decisions:  # fmt: skip
        """Ingest into `db` (a fresh database), run the cycle at local `as_of`, read back."""
        chosen = load_protocol(protocol) if isinstance(protocol, str) else protocol
        with open_store(db, create=True) as store:
            for kind, path in self.write(folder, reverse).items():
                report = ingest_files(store, kind, [path], write_rejects=False)
                assert report.rejected_count == 0, [str(r) for r in report.rejections]
            report = run_cycle(store, chosen, local(as_of))
            return Decisions.read(store, report)


class Decisions:
    """The decision tables of one run, rows as dictionaries with Beijing local times."""

    def __init__(self, tables: dict[str, list[dict[str, Any]]], report: CycleReport) -> None:
        self.tables = tables
        self.report = report

    @classmethod
    def read(cls, store: Any, report: CycleReport) -> Decisions:
        tables = {}
        for name in DECISIONS:
            columns = [c.name for c in TABLES[name].columns]
            quoted = ", ".join(f'"{c}"' for c in columns)
            rows = store.fetchall(f'SELECT {quoted} FROM "{name}"')
            tables[name] = sorted(
                (dict(zip(columns, [_plain(v) for v in row], strict=True)) for row in rows),
                key=lambda r: tuple(str(v) for v in r.values()),
            )
        return cls(tables, report)

    def of(self, table: str, **match: Any) -> list[dict[str, Any]]:
        """Rows of `table` whose columns equal `match`."""
        return [r for r in self.tables[table] if all(r.get(k) == v for k, v in match.items())]

    def one(self, table: str, **match: Any) -> dict[str, Any]:
        rows = self.of(table, **match)
        assert len(rows) == 1, f"expected one {table} row for {match}, got {rows}"
        return rows[0]

    def contact_pairs(self, kind: str = "close") -> set[tuple[str, str]]:
        return {(r["person_id"], r["case_person_id"]) for r in self.of("contacts", kind=kind)}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return list(value)
    return value
