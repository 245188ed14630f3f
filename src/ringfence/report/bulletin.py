"""The daily bulletin: the official counts for the 24 hours ending at the cut-off hour.

Counts follow the national report's definitions (reference notes §3 and §7):

- a *case* is a confirmed case or an asymptomatic infection; *new* cases are those detected
  in the window (`total`); `confirmed` counts those with symptoms at detection plus those
  converted from asymptomatic in the window (`converted_from_asymptomatic`), `asymptomatic`
  those without symptoms at detection — so one person can be new asymptomatic on Monday and
  new confirmed (converted) on Wednesday, as the national report counts them;
- the city's counts are of cases in the community (origin local or imported); a closed
  loop's cases are reported in its own block (`loops`), as Beijing and the organisers of the
  2022 Games reported them separately;
- stocks (in isolation, in quarantine, under observation, risk areas, closures) are those
  open at the end of the window; flows are those of the window; cumulative counts run from
  `since` to the end of the window.

A positive counts only when the protocol in force at its sample's time called it positive:
the cases come from the control cycle, which reads every result by that rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ringfence.control.why import last_run
from ringfence.protocol import Protocol
from ringfence.store import Store, StoreError

from .daily import ReportData, Rows, first_day, load_report_data
from .loops import loop_blocks
from .stocks import population_counts
from .tally import Row, between, both, by, on, open_at, share, total
from .trends import doubling_time_today, rt_today

CITY_ORIGINS = ("local", "imported")


def _city(r: Row) -> bool:
    return r.get("loop_id") is None


def _asymptomatic_at_detection(r: Row) -> bool:
    return r["classification"] == "asymptomatic" or r["converted_day"] is not None


def new_case_counts(rows: Rows, day: date) -> dict[str, int]:
    """New cases of report day `day` (see the module's definitions)."""
    found = on(day)
    converted = on(day, "converted_day")
    return {
        "total": total(rows, found),
        "confirmed": total(rows, both(found, lambda r: not _asymptomatic_at_detection(r)))
        + total(rows, converted),
        "asymptomatic": total(rows, both(found, _asymptomatic_at_detection)),
        "local": total(rows, both(found, lambda r: r["origin"] == "local")),
        "imported": total(rows, both(found, lambda r: r["origin"] == "imported")),
        "converted_from_asymptomatic": total(rows, converted),
    }


def cumulative_case_counts(rows: Rows, since: date, day: date) -> dict[str, int]:
    """Cases detected from `since` to `day`, classified as they stood at the end of `day`."""
    period = between(since, day)

    def confirmed(r: Row) -> bool:
        return r["classification"] == "confirmed" and (
            r["converted_day"] is None or r["converted_day"] <= day
        )

    return {
        "total": total(rows, period),
        "confirmed": total(rows, both(period, confirmed)),
        "asymptomatic": total(rows, both(period, lambda r: not confirmed(r))),
        "local": total(rows, both(period, lambda r: r["origin"] == "local")),
        "imported": total(rows, both(period, lambda r: r["origin"] == "imported")),
    }


def _split(rows: Rows, key: str, count: Any) -> dict[str, dict[str, int]]:
    """`count(rows of one value)` per value of `key`, leaving out values with nothing."""
    values = sorted({str(r[key]) for r in rows})
    blocks = {v: count([r for r in rows if str(r[key]) == v]) for v in values}
    return {v: b for v, b in blocks.items() if any(b.values())}


def build_bulletin(
    data: ReportData,
    since: date | None = None,
    *,
    issued_at: datetime | None = None,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bulletin as a JSON-ready dictionary (the contract of DESIGN.md), from the daily
    rows of one cycle run. `since` starts the cumulative counts (default: the day of the
    city's first case)."""
    window = data.window
    day = window.day
    city_cases = [r for r in data.cases if r["origin"] in CITY_ORIGINS]
    start = since or first_day(city_cases) or day
    new = new_case_counts(city_cases, day)
    found = [r for r in city_cases if r["day"] == day]
    # The splits count conversions too: a case found last week and sick today is new
    # confirmed today, in its district and variant.
    changed = [r for r in city_cases if day in (r["day"], r["converted_day"])]
    cumulative = cumulative_case_counts(city_cases, start, day)
    city = population_counts(data, day, _city)
    areas = data.risk_areas
    closures = data.closures
    mass_samples = [r for r in data.samples if r["purpose"] == "mass" and r["day"] == day]
    mass_pools = [r for r in data.pools if r["purpose"] == "mass" and r["day"] == day]
    person_tests = [
        r for r in data.results if not r["environment"] and _city(r) and r["test"] == "pcr"
    ]
    tests_today = total(person_tests, on(day))
    positive_today = total(person_tests, both(on(day), lambda r: r["reading"] == "positive"))
    environment = [r for r in data.results if r["environment"] and r["reading"] == "positive"]
    bulletin: dict[str, Any] = {
        "as_of": window.local(data.as_of).isoformat(),
        "window_start": window.local(window.start).isoformat(),
        "window_end": window.local(window.end).isoformat(),
        "report_day": day.isoformat(),
        "timezone": window.timezone,
        "protocol": data.protocol.name,
        "new": {
            **new,
            "by_variant": _split(changed, "variant", lambda rows: new_case_counts(rows, day)),
            "by_district": _split(changed, "district", lambda rows: new_case_counts(rows, day)),
            "found_under_control": total(found, lambda r: r["found_by"] == "under_control"),
            "found_by": by(found, "found_by"),
        },
        "cumulative": {
            "since": start.isoformat(),
            **cumulative,
            "by_variant": _split(
                [r for r in city_cases if between(start, day)(r)],
                "variant",
                lambda rows: cumulative_case_counts(rows, start, day),
            ),
        },
        **city,
        "rt": rt_today(data, start),
        "doubling_time_days": doubling_time_today(data, start),
        "tests": {
            "pcr": tests_today,
            "positive": positive_today,
            "positivity": share(positive_today, tests_today),
        },
        "risk_areas": {
            "high": total(areas, both(open_at(day), lambda r: r["level"] == "high")),
            "medium": total(areas, both(open_at(day), lambda r: r["level"] == "medium")),
            "new": total(areas, both(on(day, "start_day"), lambda r: r["level"] != "low")),
        },
        "closures": {
            "open": total(closures, open_at(day)),
            "new": total(closures, on(day, "start_day")),
            "reopened": total(closures, on(day, "end_day")),
            "by_kind": by(closures, "place_kind", open_at(day)),
        },
        "mass_testing": {
            "samples": total(mass_samples),
            "pools": int(sum(r["pools"] for r in mass_samples)),
            "positive_pools": total(mass_pools, lambda r: r["positive"]),
        },
        "environment_positives": total(environment, on(day)),
        "environment": {
            "positives_since": total(environment, between(start, day)),
            "by_item": by(
                environment,
                "item",
                both(between(start, day), lambda r: r["item"] is not None),
            ),
        },
        "loops": loop_blocks(data, since),
    }
    if run is not None:
        bulletin["cycle_run"] = run
    if issued_at is not None:
        bulletin["issued_at"] = window.local(issued_at).isoformat()
    return bulletin


def bulletin_data(
    store: Store, as_of: datetime | None = None, protocol: Protocol | None = None
) -> tuple[ReportData, dict[str, Any]]:
    """The daily rows of the last cycle run, checked to be the run at `as_of` (default: the
    last run's), and a description of that run."""
    run = last_run(store)
    chosen = protocol or run.protocol
    if as_of is not None and abs((as_of - run.as_of).total_seconds()) >= 1:
        zone = ZoneInfo(chosen.timezone if chosen else "UTC")
        made, wanted = (m.astimezone(zone).isoformat() for m in (run.as_of, as_of))
        raise StoreError(
            f"the decisions on this database were made as of {made}, not {wanted}; "
            f"run `ringfence cycle --as-of {wanted}` first"
        )
    if chosen is None:
        raise StoreError(
            f"the protocol of the last cycle run ({run.protocol_name}) cannot be found; "
            "pass --protocol"
        )
    data = load_report_data(store, chosen, run.as_of)
    described = {
        "run_id": run.run_id,
        "as_of": data.window.local(run.as_of).isoformat(),
        "protocol": run.protocol_name,
    }
    return data, described


def daily_bulletin(
    store: Store,
    as_of: datetime | None = None,
    since: date | None = None,
    protocol: Protocol | None = None,
) -> dict[str, Any]:
    """The bulletin of the last cycle run (which must be the run at `as_of`, if given)."""
    data, run = bulletin_data(store, as_of, protocol)
    return build_bulletin(data, since, issued_at=datetime.now(UTC), run=run)
