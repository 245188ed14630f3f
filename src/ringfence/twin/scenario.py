"""Scenarios as files: the population, its places and habits, the disease, and how people
follow orders. Everything the twin assumes is in the file, with its source.

A scenario is TOML. `kind = "city"` builds households, workplaces, schools, restaurants,
markets, cold-chain businesses and pharmacies in districts; `kind = "loop"` builds a closed
loop of groups (athletes and officials, media, workforce) with hotels and venues, arriving
over time; `kind = "homogeneous"` is everyone in one place all day, with no households (the
textbook SIR, for validation). Variants' natural history comes from `variants.toml` beside
the bundled scenarios, and any value can be overridden in the scenario's own
`[variants.NAME]` table.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

KINDS = ("city", "loop", "homogeneous")
REQUIRED = ("persons", "days", "seed_infections")
NUMBERS: dict[str, type] = {
    "persons": int, "days": int, "seed_infections": int, "districts": int,
    "arrival_days": int, "bus_capacity": int, "child_fraction": float,
    "workers_fraction": float, "school_fraction": float, "hours_at_home": float,
    "compliance": float, "test_sensitivity": float, "symptom_reporting": float,
    "result_delay_hours": float, "entry_positivity": float, "near_per_hour": float,
    "near_minutes": float, "vaccinated": float,
}  # fmt: skip
"""Settings that must be numbers (whole numbers for counts)."""
BOOLEANS = ("badges",)
"""Settings that must be true or false."""
SCENARIO_SUFFIX = ".toml"


class ScenarioError(ValueError):
    """A scenario file that cannot be used, naming the file and the field."""


@dataclass(frozen=True)
class Variant:
    """A variant's natural history: durations as gamma (mean, sd) in days."""

    name: str
    latent_days: tuple[float, float]
    presymptomatic_days: float
    infectious_days: tuple[float, float]
    asymptomatic_fraction: float
    asymptomatic_infectiousness: float
    severe_fraction: float
    ct_peak: tuple[float, float]
    relative_transmissibility: float


@dataclass(frozen=True)
class Visits:
    """One kind of outing: how likely on a day, for how long, and where."""

    kind: str
    per_day: float
    minutes: float
    weekdays_only: bool = False


@dataclass(frozen=True)
class Scenario:
    """Everything a simulation run needs besides the protocol and the seed."""

    name: str
    kind: str
    persons: int
    days: int
    start: date
    timezone: str
    variant: Variant
    seed_infections: int
    districts: int = 4
    household_sizes: tuple[float, ...] = (0.25, 0.30, 0.22, 0.15, 0.08)
    child_fraction: float = 0.15
    places_per_1000: dict[str, float] = field(default_factory=dict)
    workers_fraction: float = 0.6
    school_fraction: float = 1.0
    outings: tuple[Visits, ...] = ()
    beta_per_hour: dict[str, float] = field(default_factory=dict)
    """Infections per hour spent with one fully infectious person, by place kind (and
    `household`, for the hours at home)."""
    hours_at_home: float = 12.0
    compliance: float = 1.0
    """The share of people who obey an order (the others carry on as before)."""
    test_sensitivity: float = 0.95
    symptom_reporting: float = 0.6
    """The share of people with symptoms who report them (and go to a fever clinic)."""
    result_delay_hours: float = 8.0
    groups: dict[str, float] = field(default_factory=dict)
    """For a loop: the share of each group (athlete, official, media, staff)."""
    arrival_days: int = 0
    """For a loop: arrivals spread over the first days (0: everyone there from the start)."""
    entry_positivity: float = 0.0
    """For a loop: the share of arrivals infected before they come."""
    bus_capacity: int = 40
    """For a loop: the members a bus of the loop carries (its buses are sized by it)."""
    vaccinated: float = 1.0
    """For a loop: the share of arrivals vaccinated months before they come (the others
    arrive unvaccinated, and a protocol may quarantine them)."""
    badges: bool = False
    """For a loop: members wear proximity badges, and their close encounters are recorded."""
    near_per_hour: float = 0.5
    """For a loop: close encounters (someone within a few metres) per hour at a shared
    place; each is recorded by the badges, and infects at `beta_per_hour.near`."""
    near_minutes: float = 10.0
    """For a loop: the mean length of a close encounter, in minutes."""
    loop_id: str = "LOOP"
    source: str = ""

    @property
    def loop(self) -> bool:
        """Whether this is a closed loop."""
        return self.kind == "loop"


def bundled() -> dict[str, Path]:
    """The scenarios that come with ringfence, by name."""
    folder = resources.files("ringfence.twin").joinpath("scenarios")
    return {
        Path(str(p)).stem: Path(str(p))
        for p in folder.iterdir()
        if str(p).endswith(SCENARIO_SUFFIX) and Path(str(p)).stem != "variants"
    }


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name, or a scenario file."""
    found = bundled().get(str(name_or_path))
    path = found or Path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(bundled()))
        raise ScenarioError(f"no scenario {str(name_or_path)!r}: not a file, nor one of {known}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return scenario_from_data(data, str(path))


def _variants() -> dict[str, Any]:
    text = resources.files("ringfence.twin").joinpath("scenarios", "variants.toml").read_text()
    return dict(tomllib.loads(text)["variants"])


def scenario_from_data(data: dict[str, Any], origin: str = "<scenario>") -> Scenario:
    """A scenario from parsed TOML, every value checked (errors name `origin` and the field)."""

    def fail(where: str, why: str) -> ScenarioError:
        return ScenarioError(f"{origin}: {where}: {why}")

    top = data.get("scenario")
    if not isinstance(top, dict):
        raise fail("[scenario]", "missing: the table naming the scenario, its kind and size")
    kind = top.get("kind")
    if kind not in KINDS:
        raise fail("scenario.kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    variants = _variants()
    for name, given in data.get("variants", {}).items():
        variants[name] = {**variants.get(name, {}), **given}
    variant_name = top.get("variant", "omicron_ba2")
    if variant_name not in variants:
        raise fail("scenario.variant", f"unknown variant {variant_name!r}; known: "
                   f"{', '.join(sorted(variants))}")  # fmt: skip
    variant = _variant(variant_name, variants[variant_name], fail)
    outings = tuple(
        Visits(k, float(v["per_day"]), float(v["minutes"]), bool(v.get("weekdays_only", False)))
        for k, v in data.get("outings", {}).items()
    )
    values: dict[str, Any] = {
        "name": str(top.get("name", Path(origin).stem)),
        "kind": kind,
        "variant": variant,
        "outings": outings,
        "source": origin,
    }
    simple = {f.name: f for f in fields(Scenario)}
    for section in ("scenario", "population", "control", "loop"):
        for key, value in data.get(section, {}).items():
            if key in ("kind", "name", "variant"):
                continue
            if key not in simple:
                raise fail(f"{section}.{key}", "unknown setting")
            values[key] = value
    values["places_per_1000"] = dict(data.get("places_per_1000", {}))
    values["beta_per_hour"] = dict(data.get("beta_per_hour", {}))
    values["groups"] = dict(data.get("groups", values.get("groups", {})))
    try:
        values["start"] = date.fromisoformat(str(values.get("start", "2022-01-01")))
    except ValueError:
        raise fail("scenario.start", f"{values.get('start')!r} is not a date (YYYY-MM-DD)"
                   ) from None  # fmt: skip
    values.setdefault("timezone", "Asia/Shanghai")
    for key in REQUIRED:
        if key not in values:
            raise fail(f"scenario.{key}", "missing: every scenario says how many people, for "
                       "how many days, and how many are infected at the start")  # fmt: skip
    for f in fields(Scenario):
        wanted = NUMBERS.get(f.name)
        if wanted is not None and f.name in values and not _is_number(values[f.name], wanted):
            kind = "a whole number" if wanted is int else "a number"
            raise fail(f.name, f"{values[f.name]!r} is not {kind}")
    for key in BOOLEANS:
        if key in values and not isinstance(values[key], bool):
            raise fail(key, f"{values[key]!r} is not true or false")
    if "household_sizes" in values:
        values["household_sizes"] = tuple(float(x) for x in values["household_sizes"])
    scenario = Scenario(**values)
    _check(scenario, fail)
    return scenario


def _is_number(value: Any, wanted: type) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if wanted is int else isinstance(value, int | float)


def _variant(name: str, raw: dict[str, Any], fail: Any) -> Variant:
    try:
        return Variant(
            name=name,
            latent_days=(float(raw["latent_days"][0]), float(raw["latent_days"][1])),
            presymptomatic_days=float(raw["presymptomatic_days"]),
            infectious_days=(float(raw["infectious_days"][0]), float(raw["infectious_days"][1])),
            asymptomatic_fraction=float(raw["asymptomatic_fraction"]),
            asymptomatic_infectiousness=float(raw["asymptomatic_infectiousness"]),
            severe_fraction=float(raw["severe_fraction"]),
            ct_peak=(float(raw["ct_peak"][0]), float(raw["ct_peak"][1])),
            relative_transmissibility=float(raw.get("relative_transmissibility", 1.0)),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise fail(f"variants.{name}", f"incomplete or not numbers ({exc})") from None


def _check(s: Scenario, fail: Any) -> None:
    """Refuse values that would make the run meaningless."""
    checks: list[tuple[str, bool, str]] = [
        ("scenario.persons", s.persons >= 10, "at least 10 people"),
        ("scenario.days", 1 <= s.days <= 3_650, "between 1 and 3,650 days"),
        ("scenario.seed_infections", 0 <= s.seed_infections <= s.persons,
         "between 0 and the number of persons"),
        ("control.compliance", 0 <= s.compliance <= 1, "a share between 0 and 1"),
        ("control.test_sensitivity", 0 <= s.test_sensitivity <= 1, "a share between 0 and 1"),
        ("control.symptom_reporting", 0 <= s.symptom_reporting <= 1, "a share between 0 and 1"),
        ("population.household_sizes", abs(sum(s.household_sizes) - 1) < 1e-6,
         "shares of households of 1, 2, ... people, adding up to 1"),
        ("population.districts", s.districts >= 1, "at least one district"),
        ("beta_per_hour", all(v >= 0 for v in s.beta_per_hour.values()), "rates of 0 or more"),
        ("loop.entry_positivity", 0 <= s.entry_positivity <= 1, "a share between 0 and 1"),
        ("loop.vaccinated", 0 <= s.vaccinated <= 1, "a share between 0 and 1"),
        ("loop.near_per_hour", s.near_per_hour >= 0, "a rate of 0 or more"),
        ("loop.near_minutes", s.near_minutes > 0, "a positive number of minutes"),
    ]  # fmt: skip
    for where, ok, why in checks:
        if not ok:
            raise fail(where, f"must be {why}")
    if s.loop and (not s.groups or abs(sum(s.groups.values()) - 1) > 1e-6):
        raise fail("groups", "a loop needs the share of each group, adding up to 1")
    v = s.variant
    for name, value in (("latent_days", v.latent_days), ("infectious_days", v.infectious_days)):
        if value[0] <= 0 or value[1] < 0:
            raise fail(f"variants.{v.name}.{name}", "a positive mean and a non-negative sd")
