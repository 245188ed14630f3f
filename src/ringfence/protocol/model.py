"""The protocol model: every parameter the control cycle reads, typed, bounded and sourced.

A protocol file is TOML. Its sections mirror the classes below; `[[amendments]]` change
parameters from a date on (the Playbook amended on 23 January 2022), `[groups.NAME]`
override parameters for one population group (a diplomat, an athlete), and `[sources]`
cites where each value comes from. Each parameter's default source is the row of the
default table in the reference notes (protocols.md §6) that gives it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ringfence.schema.decisions import ORDER_KINDS
from ringfence.schema.events import PLACE_KINDS, PURCHASE_CATEGORIES, SEVERITIES

PersonOrder = Literal[
    "isolation",
    "hospital",
    "quarantine_central",
    "quarantine_home",
    "health_monitoring",
    "contact_management",
    "none",
]
assert set(PersonOrder.__args__) - {"none"} <= set(ORDER_KINDS)  # type: ignore[attr-defined]


def param(default: Any, description: str, source: str, **bounds: Any) -> Any:
    """A protocol parameter: its default, a one-line description and the source it comes from."""
    return Field(default, description=description, json_schema_extra={"source": source}, **bounds)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _test_days(days: tuple[int, ...], info: ValidationInfo, length_field: str) -> tuple[int, ...]:
    """Test days are distinct, increasing, and inside the order they belong to."""
    if any(b <= a for a, b in pairwise(days)):
        raise ValueError(f"must be distinct days in increasing order, got {list(days)}")
    length = info.data.get(length_field)
    if days and length is not None and (days[0] < 1 or days[-1] > length):
        raise ValueError(
            f"must lie within days 1..{length} of the order ({length_field} = {length}), "
            f"got {list(days)}"
        )
    return days


class Pcr(Section):
    positive_ct_below: float = param(
        35, "A PCR result is positive when its Ct is below this.", "§6 pcr.positive_ct_below [3]",
        ge=0, le=50,
    )  # fmt: skip
    indeterminate_ct_below: float = param(
        40, "Ct from the positive threshold up to this is indeterminate; above is negative.",
        "§6 pcr.indeterminate_ct_range [3]", ge=0, le=50,
    )  # fmt: skip
    indeterminate_management_days: int = param(
        7, "Days an indeterminate result is managed as a contact (0: not managed).",
        "§6 pcr.indeterminate_ct_range [3]", ge=0, le=60,
    )  # fmt: skip
    antigen_needs_pcr: bool = param(
        True, "An antigen positive is a case only once a PCR confirms it.", "§4 Tokyo [62][63]"
    )

    @field_validator("indeterminate_ct_below")
    @classmethod
    def _band(cls, value: float, info: ValidationInfo) -> float:
        positive = info.data.get("positive_ct_below")
        if positive is not None and value < positive:
            raise ValueError(f"must not be below pcr.positive_ct_below ({value} < {positive})")
        return value


class Origin(Section):
    local_origins: tuple[str, ...] = param(
        (), "Origins inside the country: a positive after arriving from them is local.",
        "§3 NHC bulletin: imported means from abroad [49]",
    )  # fmt: skip
    imported_within_days: int = param(
        14, "A positive within this many days after an arrival is imported.", "§2 inbound [30]",
        ge=0, le=60,
    )  # fmt: skip


class Arrival(Section):
    predeparture_pcr_count: int = param(
        2, "PCR tests required before departure (0: none).", "§6 predeparture [6]", ge=0, le=10
    )
    predeparture_window_h: int = param(
        96, "All pre-departure tests within this many hours of arrival.", "§6 predeparture [6]",
        ge=0, le=720,
    )  # fmt: skip
    predeparture_min_gap_h: int = param(
        24, "Hours at least between two pre-departure tests.", "§6 predeparture [6]", ge=0, le=720
    )
    predeparture_one_within_h: int = param(
        72, "One pre-departure test within this many hours of arrival.", "§6 predeparture [6]",
        ge=0, le=720,
    )  # fmt: skip
    vaccination_min_days: int = param(
        14, "Vaccination completed at least this many days before arrival (0: not required).",
        "§6 vaccination.min_days_before_departure [12]", ge=0, le=365,
    )  # fmt: skip
    unvaccinated_quarantine_days: int = param(
        21, "Quarantine on arrival for an arrival not vaccinated in time.",
        "§6 vaccination.unvaccinated_quarantine_days [12]", ge=0, le=60,
    )  # fmt: skip
    quarantine_central_days: int = param(
        0, "Centralised quarantine for every inbound arrival.", "§2 inbound travellers [30]",
        ge=0, le=60,
    )  # fmt: skip
    quarantine_home_days: int = param(
        0, "Home monitoring after the inbound centralised quarantine.",
        "§2 inbound travellers [30]", ge=0, le=60,
    )  # fmt: skip
    discordant_extra_negative: bool = param(
        True, "An airport positive whose confirmation is negative needs one more negative.",
        "§6 arrival.discordant_requires_extra_negative [1]",
    )  # fmt: skip


class Contact(Section):
    distance_m: float = param(
        1, "Proximity within this distance can make a close contact.",
        "§6 contact.distance_m [62][68]", ge=0, le=1000,
    )  # fmt: skip
    min_minutes: float = param(
        15, "Cumulative minutes of exposure that make a close contact.",
        "§6 contact.min_minutes [62][68]", ge=0, le=24 * 60,
    )  # fmt: skip
    lookback_days: int = param(
        2, "Exposure window starts this many days before onset (or the first positive sample).",
        "§6 contact.lookback_days_before_onset_or_sample [32][68]", ge=0, le=30,
    )  # fmt: skip
    from_last_negative: bool = param(
        True, "For a case found by serial screening, the window starts at the last negative.",
        "§2 close contact definition [32]",
    )  # fmt: skip
    household: bool = param(True, "Household members of a case are close contacts.", "§2 [32]")
    presence_place_kinds: tuple[Literal[PLACE_KINDS], ...] = param(  # type: ignore[valid-type]
        PLACE_KINDS,
        "Places where being there with a case for the minutes makes a close contact; "
        "elsewhere only a proximity record within the distance does (badges in a venue).",
        "§2 spatiotemporal companion [36][37]: any place shared with a case",
    )  # fmt: skip
    same_space: bool = param(
        False, "People in a sibling space (same floor, same carriage) are same-space contacts.",
        "§2 spatiotemporal companion [36][37]",
    )  # fmt: skip
    order: PersonOrder = param(
        "quarantine_central", "What a close contact is ordered to do.",
        "§6 contact.community_quarantine [28]",
    )  # fmt: skip
    central_days: int = param(
        7, "Days of the close contact's first order, counted from the last exposure.",
        "§6 contact.community_quarantine [28][41]", ge=0, le=60,
    )  # fmt: skip
    home_days: int = param(
        3, "Days of home monitoring after the first order.", "§6 contact.community_quarantine [28]",
        ge=0, le=60,
    )  # fmt: skip
    test_days: tuple[int, ...] = param(
        (1, 2, 3, 5, 7), "PCR days of the first order (day 1 is the day it starts).",
        "§6 contact.test_days [29]",
    )  # fmt: skip
    home_test_days: tuple[int, ...] = param(
        (3,), "PCR days of the home monitoring.", "§6 contact.test_days [29]"
    )
    tests_per_day: int = param(
        1, "PCR tests on each test day.", "§2 edition 9's close-contact PCR days [29]: one a day",
        ge=1, le=4,
    )  # fmt: skip
    child_age: int = param(
        14, "A child younger than this is never quarantined without a guardian.",
        "DESIGN: a child is never quarantined without a guardian", ge=0, le=18,
    )  # fmt: skip

    @field_validator("test_days")
    @classmethod
    def _central_test_days(cls, days: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        return _test_days(days, info, "central_days")

    @field_validator("home_test_days")
    @classmethod
    def _home_test_days(cls, days: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        return _test_days(days, info, "home_days")


class Secondary(Section):
    enabled: bool = param(
        True,
        "Trace secondary contacts (off under the 20 measures).",
        "§6 secondary_contact [28][41]",
    )
    min_minutes: float = param(
        15, "Minutes sharing a closed space with a close contact that make a secondary contact.",
        "§2 secondary close contact [34]", ge=0, le=24 * 60,
    )  # fmt: skip
    place_kinds: tuple[Literal[PLACE_KINDS], ...] = param(  # type: ignore[valid-type]
        ("home", "workplace", "school", "restaurant", "room", "quarantine_site"),
        "Closed spaces where sharing time with a close contact makes a secondary contact.",
        "§2 secondary close contact: lived, worked in the same closed space, or ate [34]",
    )  # fmt: skip
    order: PersonOrder = param(
        "quarantine_home", "What a secondary contact is ordered to do.", "§6 secondary_contact [28]"
    )
    days: int = param(
        7, "Days of the secondary contact's order.", "§6 secondary_contact [28]", ge=0, le=60
    )
    test_days: tuple[int, ...] = param(
        (1, 4, 7), "PCR days of the secondary contact's order.", "§6 secondary_contact [30]"
    )

    @field_validator("test_days")
    @classmethod
    def _within(cls, days: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        return _test_days(days, info, "days")


class Environment(Section):
    lookback_days: int = param(
        14, "Visitors of a place this many days before a positive environment sample are traced.",
        "§2 cold chain; letter [57]", ge=0, le=60,
    )  # fmt: skip
    order: PersonOrder = param(
        "health_monitoring", "What a visitor of a contaminated place is ordered to do.", "§2 [57]"
    )
    days: int = param(7, "Days of that order, from the last visit.", "§2 [35]", ge=0, le=60)


class SameSpace(Section):
    order: PersonOrder = param(
        "health_monitoring", "What a same-space contact is ordered to do.", "§2 [35]"
    )
    days: int = param(7, "Days of that order, from the last shared time.", "§2 [35]", ge=0, le=60)


class Isolation(Section):
    hospital_severities: tuple[Literal[SEVERITIES], ...] = param(  # type: ignore[valid-type]
        ("moderate", "severe", "critical"), "Severities that send a case to hospital.", "§1 [7]"
    )
    symptomatic_to_hospital: bool = param(
        True, "Any symptomatic case goes to a designated hospital.", "§1 positive, symptomatic [7]"
    )
    release_negatives: int = param(
        2,
        "Consecutive negatives that release a case.",
        "§6 release.asymptomatic [7][40]",
        ge=1,
        le=5,
    )
    release_gap_h: int = param(
        24, "Hours at least between those negatives.", "§6 release.asymptomatic [7]", ge=0, le=240
    )
    release_ct_min: float = param(
        35, "For release, a test counts as negative when every Ct is at least this.",
        "§2 case release, protocol v9 [40]", ge=0, le=50,
    )  # fmt: skip
    alt_release_min_days: int = param(
        0, "Alternative release after this many days (0: none).",
        "§1 release from 23 Jan 2022 [3]: 10 days in the loop; elsewhere not offered",
        ge=0, le=60,
    )  # fmt: skip
    alt_release_consecutive_days: int = param(
        3, "... with Ct at least release_ct_min on each of the last this many days.",
        "§6 release.alt [3]", ge=1, le=14,
    )  # fmt: skip
    afebrile_days: int = param(
        3, "A hospital case is discharged after this many days without fever.",
        "§6 release.symptomatic [7]", ge=0, le=14,
    )  # fmt: skip
    fever_c: float = param(
        37.3, "Temperature counted as fever.", "§6 monitoring.fever_c [9][71]", ge=35, le=42
    )
    order: PersonOrder = param(
        "isolation", "What a case without hospital criteria is ordered to do.", "§1 [7]"
    )


class Closure(Section):
    place_kinds: tuple[Literal[PLACE_KINDS], ...] = param(  # type: ignore[valid-type]
        ("restaurant", "market", "cold_chain"), "Kinds of place that are closed.", "§2 [60]"
    )
    min_cases: int = param(
        1, "Linked cases within the window that close a place (0: never close).", "§2 [60]",
        ge=0, le=1000,
    )  # fmt: skip
    window_days: int = param(14, "Window for linked cases, in days.", "§2 [52]", ge=1, le=60)
    reopen_after_days: int = param(
        14, "A closed place reopens after this many days without a linked case.", "§2 [31]",
        ge=0, le=60,
    )  # fmt: skip


class RiskArea(Section):
    enabled: bool = param(True, "Designate risk areas.", "§2 risk areas [31]")
    high_days: int = param(
        7, "Days a residence stays high risk after its last case.", "§6 risk_area [31]", ge=0, le=60
    )
    medium_days: int = param(
        3, "Days it then stays medium before it is low.", "§6 risk_area [31]", ge=0, le=60
    )
    district_medium_cases: int = param(
        2, "Local cases in a district within the window that make it medium risk (0: never).",
        "§2 Beijing Jan 2022 [52]", ge=0, le=10_000,
    )  # fmt: skip
    district_window_days: int = param(14, "That window, in days.", "§2 [52]", ge=1, le=60)
    district_medium_days: int = param(
        7, "Days a medium district stays medium after its last local case.", "§6 risk_area [31]",
        ge=0, le=60,
    )  # fmt: skip


class Screening(Section):
    loop_daily: bool = param(
        True, "Everyone in a closed loop is tested every day.", "§6 screening [1]"
    )
    missed_test_hours: int = param(
        36, "A loop member without a sample for this many hours is called for a test.",
        "§1 screening [1][7]", ge=1, le=240,
    )  # fmt: skip
    exit_test_within_h: int = param(
        48, "A departure needs a negative PCR collected within this many hours (0: none).",
        "§2 reopening [42]", ge=0, le=240,
    )  # fmt: skip


class Pool(Section):
    default_size: int = param(10, "Persons per pooled tube.", "§6 pool.size [44][48]", ge=1, le=50)
    max_size: int = param(
        20, "Largest pool, used only at low prevalence.", "§6 pool.size [44]", ge=1, le=50
    )
    mass_testing: bool = param(
        True, "High-risk areas get mass-testing rounds.", "§2 mass testing [43]"
    )
    rounds: int = param(3, "Rounds of mass testing, one a day.", "§2 [43b]", ge=0, le=14)

    @field_validator("max_size")
    @classmethod
    def _sizes(cls, value: int, info: ValidationInfo) -> int:
        default = info.data.get("default_size")
        if default is not None and value < default:
            raise ValueError(f"is below pool.default_size ({value} < {default})")
        return value


class Pharmacy(Section):
    enabled: bool = param(True, "A purchase of signal medicine calls for a test.", "§2 [58]")
    test_within_h: int = param(
        72, "Hours the buyer has to test.", "§6 pharmacy_signal [58]", ge=1, le=240
    )
    categories: tuple[Literal[PURCHASE_CATEGORIES], ...] = param(  # type: ignore[valid-type]
        ("antipyretic", "antiviral", "antibiotic", "cough"), "Categories that signal.", "§2 [58]"
    )


class KeyGroups(Section):
    min_age: int = param(
        65, "People this old or older are a key group (prioritised on the follow-up list).",
        "§2 reopening, Class B [42]", ge=0, le=120,
    )  # fmt: skip
    pregnant: bool = param(True, "Pregnant women are a key group.", "§2 reopening [42]")
    comorbidity: bool = param(True, "People with comorbidities are a key group.", "§2 [42]")
    max_child_age: int = param(
        3, "Children younger than this are a key group.", "§2 [42]", ge=0, le=18
    )


class Bulletin(Section):
    cutoff_local_time: str = param(
        "24:00", "The daily bulletin covers the 24 hours ending at this local time.",
        "§6 bulletin.cutoff_local_time [49][52]",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$",
    )  # fmt: skip
    serial_interval_mean_days: float = param(
        4.7, "Mean serial interval (onset to onset) used to estimate Rt.",
        "Literature: Nishiura, Linton & Akhmetzhanov (2020), Int J Infect Dis 93:284-6: mean 4.7",
        gt=1, le=30,
    )  # fmt: skip
    serial_interval_sd_days: float = param(
        2.9, "Standard deviation of the serial interval used to estimate Rt.",
        "Literature: Nishiura, Linton & Akhmetzhanov (2020), Int J Infect Dis 93:284-6: SD 2.9",
        gt=0, le=30,
    )  # fmt: skip
    rt_window_days: int = param(
        7, "Rt is estimated over sliding windows of this many days (Cori et al. 2013).",
        "Literature: Cori et al. (2013), Am J Epidemiol 178(9):1505-1512: weekly windows",
        ge=1, le=28,
    )  # fmt: skip


class Parameters(Section):
    """Every parameter of a protocol, by section."""

    pcr: Pcr = Pcr()
    origin: Origin = Origin()
    arrival: Arrival = Arrival()
    contact: Contact = Contact()
    secondary: Secondary = Secondary()
    same_space: SameSpace = SameSpace()
    environment: Environment = Environment()
    isolation: Isolation = Isolation()
    closure: Closure = Closure()
    risk_area: RiskArea = RiskArea()
    screening: Screening = Screening()
    pool: Pool = Pool()
    pharmacy: Pharmacy = Pharmacy()
    key_groups: KeyGroups = KeyGroups()
    bulletin: Bulletin = Bulletin()
