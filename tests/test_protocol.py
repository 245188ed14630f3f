"""Protocols as data: the presets say what the published rules say, every parameter is
described and sourced, a bad file is refused with the file, the key and why, and the
`ringfence protocol` commands work as documented in docs/protocols.md.

The published figures are written here as literals, each with the section of the reference
notes on protocols (`reference/protocols.md`) that gives it, so that a change to a preset that
departs from its source fails a test.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from itertools import product
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ringfence.cli.main import app
from ringfence.protocol import (
    PARAMETERS,
    Parameters,
    Protocol,
    ProtocolError,
    get_value,
    load_protocol,
    preset_names,
    protocol_diff,
)
from ringfence.schema.events import PERSON_GROUPS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "protocols.md"
PRESETS = ["beijing-2022-loop", "class-b-2023", "who-contact-tracing", "zero-covid-2022"]
# 23 January 2022, 00:00 in Beijing (UTC+8): the Playbook amendment comes into force.
LOOP_AMENDED = datetime(2022, 1, 22, 16, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# The module, not the function `ringfence.cli.main` that the package exports under that name.
CLI = importlib.import_module("ringfence.cli.main")


def write(tmp_path: Path, text: str, name: str = "city.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> str:
    """The message of the ProtocolError that loading `text` from a file raises; it always
    starts with the file's name."""
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    return message.removeprefix(f"{path}: ")


def assert_refused(message: str, expected: str | tuple[str, ...]) -> None:
    """`expected` is how the message starts, or how it starts and what else it says."""
    if isinstance(expected, str):
        expected = (expected,)
    start, *parts = expected
    assert message.startswith(start), message
    for part in parts:
        assert part in message, message


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def console_width(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Print the command's tables `width` columns wide, whatever the terminal (or pytest-xdist)
    says: the console `ringfence` makes, with a fixed width."""
    monkeypatch.setattr(CLI, "out", Console(highlight=False, soft_wrap=True, width=width))


def values(protocol: Protocol, key: str) -> list[Any]:
    """The values a parameter takes in the timeline, without the dates."""
    return [value for _since, value in protocol.timeline(key)]


# --- the presets ---------------------------------------------------------------------------


def test_the_four_presets_ship_and_load() -> None:
    assert preset_names() == PRESETS
    for name in PRESETS:
        protocol = load_protocol(name)
        assert protocol.name == name
        assert protocol.title and protocol.description.strip()
        assert protocol.origin == f"preset {name}"


def test_zero_covid_2022_is_edition_9_with_beijing_january_2022() -> None:
    zero = load_protocol("zero-covid-2022")
    p = zero.parameters
    assert zero.timezone == "Asia/Shanghai"
    assert zero.amendments == ()
    # §2 edition 9: close contacts 7 days centralised + 3 days home monitoring [28][29].
    assert p.contact.order == "quarantine_central"
    assert (p.contact.central_days, p.contact.home_days) == (7, 3)
    # §2 edition 9: PCR days 1, 2, 3, 5, 7 + home day 3 [29].
    assert p.contact.test_days == (1, 2, 3, 5, 7)
    assert p.contact.home_test_days == (3,)
    # §2 edition 9: window from 2 days before onset or sampling [32].
    assert p.contact.lookback_days == 2
    # §2 edition 9: secondary contacts 7 days home isolation, PCR days 1, 4, 7 [28][30].
    assert p.secondary.enabled is True
    assert p.secondary.order == "quarantine_home"
    assert p.secondary.days == 7
    assert p.secondary.test_days == (1, 4, 7)
    # §2 edition 9: inbound travellers 7 + 3 [30].
    assert (p.arrival.quarantine_central_days, p.arrival.quarantine_home_days) == (7, 3)
    # §2 case release, protocol v9: cut-off 40 [40].
    assert p.pcr.positive_ct_below == 40
    # §2 Beijing, Jan 2022: a negative PCR taken <= 48 h before arrival [59].
    assert p.arrival.predeparture_pcr_count == 1
    assert p.arrival.predeparture_window_h == 48
    # §2 Beijing, Jan 2022: medium risk after 2 local cases in 14 days [52].
    assert (p.risk_area.district_medium_cases, p.risk_area.district_window_days) == (2, 14)
    # §6 risk_area: high -> medium after 7 days, medium -> low after 3 more [31].
    assert (p.risk_area.high_days, p.risk_area.medium_days) == (7, 3)
    # §2 Beijing, Jan 2022: cold-chain-linked markets closed [60].
    assert {"market", "cold_chain"} <= set(p.closure.place_kinds)
    assert p.closure.min_cases >= 1
    # §2 Beijing, Jan 2022: buyers of fever medicine must test within 72 h [58].
    assert p.pharmacy.enabled is True
    assert p.pharmacy.test_within_h == 72
    # §6 pool.size: default 10, max 20 [44][48]; §2 mass testing [43].
    assert (p.pool.default_size, p.pool.max_size) == (10, 20)
    assert p.pool.mass_testing is True
    # §3 Beijing CDC press conferences: 16:00 to 16:00 [52][53].
    assert p.bulletin.cutoff_local_time == "16:00"


def test_beijing_loop_is_the_playbook_amended_on_23_january_2022() -> None:
    loop = load_protocol("beijing-2022-loop")
    assert loop.timezone == "Asia/Shanghai"
    assert [a.effective for a in loop.amendments] == [date(2022, 1, 23)]
    assert loop.amendments[0].starts_at == LOOP_AMENDED
    # §1 positive threshold: Ct < 40 until 22 Jan; Ct < 35 from 23 Jan [3][19].
    assert loop.timeline("pcr.positive_ct_below") == [(None, 40), (LOOP_AMENDED, 35)]
    assert loop.at(LOOP_AMENDED - MICROSECOND).pcr.positive_ct_below == 40
    assert loop.at(LOOP_AMENDED).pcr.positive_ct_below == 35
    # §1 indeterminate band: 35 <= Ct < 40, managed as a close contact for 7 days [3].
    after = loop.at(LOOP_AMENDED)
    assert (after.pcr.positive_ct_below, after.pcr.indeterminate_ct_below) == (35, 40)
    assert after.pcr.indeterminate_management_days == 7
    # §1 close contact: 14 days -> 7 days (23 Jan) [3]; PCR 2x/day [3][4][13].
    assert loop.timeline("contact.central_days") == [(None, 14), (LOOP_AMENDED, 7)]
    assert values(loop, "contact.tests_per_day") == [2]
    assert values(loop, "contact.test_days") == [tuple(range(1, 15)), tuple(range(1, 8))]
    assert values(loop, "contact.home_days") == [0]
    # §1: close contacts stay inside the loop, managed, not sent to a city quarantine site [8].
    assert values(loop, "contact.order") == ["contact_management"]
    # §1 pre-departure PCR: 2 tests, >= 24 h apart, within 96 h, one within 72 h [6].
    arrival = loop.parameters.arrival
    assert arrival.predeparture_pcr_count == 2
    assert arrival.predeparture_min_gap_h == 24
    assert arrival.predeparture_window_h == 96
    assert arrival.predeparture_one_within_h == 72
    # §1 vaccination: >= 14 days before departure, else 21 days' quarantine [12][27].
    assert arrival.vaccination_min_days == 14
    assert arrival.unvaccinated_quarantine_days == 21
    # §1 airport positive, confirmatory negative: one more negative [1].
    assert arrival.discordant_extra_negative is True
    # §1 screening: daily PCR for everyone in the loop [1][7].
    assert loop.parameters.screening.loop_daily is True
    # §1 positive, asymptomatic: release after 2 consecutive negatives >= 24 h apart [7].
    isolation = loop.parameters.isolation
    assert (isolation.release_negatives, isolation.release_gap_h) == (2, 24)
    # §1 alternative release from 23 Jan: >= 10 days, Ct >= 35 on each of the last 3 days [3].
    assert loop.timeline("isolation.alt_release_min_days") == [(None, 0), (LOOP_AMENDED, 10)]
    assert (isolation.release_ct_min, isolation.alt_release_consecutive_days) == (35, 3)
    # §1 positive, symptomatic: designated hospital; normal temperature for 3 days [7].
    assert isolation.symptomatic_to_hospital is True
    assert isolation.afebrile_days == 3
    # §1: the loop isolates people; no secondary contacts, risk areas or closures.
    assert loop.parameters.secondary.enabled is False
    assert loop.parameters.risk_area.enabled is False
    assert loop.parameters.closure.min_cases == 0


def test_class_b_2023_stops_quarantining_contacts() -> None:
    class_b = load_protocol("class-b-2023")
    p = class_b.parameters
    assert class_b.amendments == ()
    # §2 reopening: Class B management, no quarantine from 8 Jan 2023 [42]: a close contact
    # gets no order at all (not a health-monitoring order of 0 days).
    assert p.contact.order == "none"
    assert (p.contact.central_days, p.contact.home_days) == (0, 0)
    assert p.contact.test_days == () and p.contact.home_test_days == ()
    # §2 "20 measures": secondary contacts no longer traced [41].
    assert p.secondary.enabled is False
    # §2 reopening: no quarantine on arrival; PCR <= 48 h before departure [42].
    assert (p.arrival.quarantine_central_days, p.arrival.quarantine_home_days) == (0, 0)
    assert p.arrival.predeparture_pcr_count == 1
    assert p.arrival.predeparture_window_h == 48
    # §2 reopening: no risk areas, no closures, no testing of whole areas [41][42].
    assert p.risk_area.enabled is False
    assert p.closure.min_cases == 0
    assert p.pool.mass_testing is False
    # DESIGN: the 2023 preset turns to severe cases and key groups.
    assert p.isolation.hospital_severities == ("severe", "critical")
    assert p.isolation.symptomatic_to_hospital is False
    assert p.key_groups.min_age == 65
    assert p.key_groups.pregnant and p.key_groups.comorbidity
    assert p.key_groups.max_child_age > 0


def test_who_contact_tracing_is_1_m_15_min_2_days_14_days() -> None:
    who = load_protocol("who-contact-tracing")
    p = who.parameters
    assert who.amendments == () and who.groups == {}
    # §4 WHO: within 1 m for >= 15 min [68].
    assert (p.contact.distance_m, p.contact.min_minutes) == (1, 15)
    # §4 WHO: from 2 days before onset (or the sample, if asymptomatic) [68].
    assert p.contact.lookback_days == 2
    # §4 WHO: quarantine for 14 days after the last contact [68].
    assert p.contact.order in ("quarantine_home", "quarantine_central")
    assert p.contact.central_days == 14
    assert p.contact.home_days == 0
    # §4 WHO traces contacts of cases; no risk areas, closures or mass testing.
    assert p.secondary.enabled is False
    assert p.risk_area.enabled is False
    assert p.closure.min_cases == 0
    assert p.pool.mass_testing is False


def test_model_defaults_follow_the_default_table() -> None:
    """A default that cites a row of the default table (§6) has that row's value."""
    section_6 = {
        "arrival.vaccination_min_days": 14,  # vaccination.min_days_before_departure [12]
        "arrival.unvaccinated_quarantine_days": 21,  # vaccination.unvaccinated_... [12]
        "arrival.predeparture_pcr_count": 2,  # predeparture.pcr_count 2 [6]
        "arrival.predeparture_window_h": 96,  # predeparture.window_h 96 [6]
        "arrival.predeparture_min_gap_h": 24,  # predeparture.min_gap_h 24 [6]
        "arrival.predeparture_one_within_h": 72,  # predeparture.one_within_h 72 [6]
        "arrival.discordant_extra_negative": True,  # discordant_requires_extra_negative [1]
        "screening.loop_daily": True,  # screening.frequency_per_day 1 [1]
        "isolation.fever_c": 37.3,  # monitoring.fever_c 37.3 [9][71]
        "pcr.positive_ct_below": 35,  # pcr.positive_ct_below 35 [3]
        "pcr.indeterminate_ct_below": 40,  # pcr.indeterminate_ct_range [35, 40) [3]
        "pcr.indeterminate_management_days": 7,  # ... -> 7 [3]
        "isolation.release_negatives": 2,  # release.asymptomatic negatives 2 [7]
        "isolation.release_gap_h": 24,  # release.asymptomatic gap_h 24 [7]
        "isolation.alt_release_min_days": 10,  # release.alt min_days 10 [3]
        "isolation.alt_release_consecutive_days": 3,  # release.alt consecutive_days 3 [3]
        "isolation.afebrile_days": 3,  # release.symptomatic afebrile_days 3 [7]
        "contact.distance_m": 1,  # contact.distance_m 1 [62][68]
        "contact.min_minutes": 15,  # contact.min_minutes 15 [62][68]
        "contact.lookback_days": 2,  # contact.lookback_days_before_onset_or_sample 2
        "contact.tests_per_day": 2,  # contact.loop_management_days / tests_per_day 7 / 2 [3]
        "contact.central_days": 7,  # contact.community_quarantine 7 + 3 [28][41]
        "contact.home_days": 3,  # contact.community_quarantine 7 + 3 [28]
        "contact.test_days": (1, 2, 3, 5, 7),  # contact.test_days [1, 2, 3, 5, 7] [29]
        "contact.home_test_days": (3,),  # ... + home day 3 [29]
        "secondary.days": 7,  # secondary_contact.home_days 7 [28]
        "secondary.test_days": (1, 4, 7),  # secondary_contact.test_days [1, 4, 7]
        "risk_area.high_days": 7,  # risk_area.high_to_medium 7 [31]
        "risk_area.medium_days": 3,  # risk_area.medium_to_low 3 [31]
        "pool.default_size": 10,  # pool.size default 10 [44][48]
        "pool.max_size": 20,  # pool.size max 20 [44]
        "pharmacy.test_within_h": 72,  # pharmacy_signal.test_within_h 72 [58]
        "bulletin.cutoff_local_time": "24:00",  # bulletin.cutoff_local_time 24:00 [49]
    }
    defaults = Parameters()
    cites_section_6 = {key for key in section_6 if PARAMETERS[key].source.startswith("§6 ")}
    assert len(cites_section_6) >= 25, "most of these defaults should cite the §6 table"
    wrong = {
        key: (get_value(defaults, key), section_6[key], PARAMETERS[key].source)
        for key in sorted(cites_section_6)
        if get_value(defaults, key) != section_6[key]
    }
    assert not wrong, f"default differs from the §6 row it cites (default, §6, source): {wrong}"


# --- every parameter is described and sourced ----------------------------------------------


def test_parameters_are_every_key_of_the_model() -> None:
    dumped = Parameters().model_dump()
    keys = {f"{section}.{name}" for section, fields in dumped.items() for name in fields}
    assert set(PARAMETERS) == keys
    for key, info in PARAMETERS.items():
        assert info.key == key


@pytest.mark.parametrize("name", PRESETS)
def test_every_parameter_of_every_preset_has_a_description_and_a_source(name: str) -> None:
    protocol = load_protocol(name)
    for key, info in PARAMETERS.items():
        assert info.description.strip(), key
        assert protocol.source(key).strip(), (name, key)
    for key, citation in protocol.sources.items():
        assert protocol.source(key) == citation


def test_default_sources_name_the_reference_notes_or_the_design() -> None:
    for key, info in PARAMETERS.items():
        # The reference notes, the design, or a published paper with its year and journal.
        assert re.match(r"§[1-6] |DESIGN: |Literature: .+ \(\d{4}\), .+:", info.source), (
            key,
            info.source,
        )
        for number in re.findall(r"\[(\d+)[a-z]?\]", info.source):
            assert 1 <= int(number) <= 71, (key, info.source)  # the notes have 71 references


def uncited_changes(protocol: Protocol) -> dict[str, Any]:
    """The parameters a protocol sets to something else than the default (in any period or
    for any group) without citing a source of its own: key -> (values, default source)."""
    defaults = Parameters()
    periods = (protocol.parameters, *(a.parameters for a in protocol.amendments))
    changed = {
        key
        for key in PARAMETERS
        if any(get_value(p, key) != get_value(defaults, key) for p in periods)
    }
    changed |= {key for overrides in protocol.groups.values() for key in overrides}
    return {
        key: (values(protocol, key), PARAMETERS[key].source)
        for key in sorted(changed - set(protocol.sources))
    }


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_cites_every_value_it_changes_from_the_defaults(name: str) -> None:
    """The default source describes the default value: a preset that sets another value must
    say where that value comes from, or `protocol show` cites a source that says otherwise."""
    uncited = uncited_changes(load_protocol(name))
    assert not uncited, f"{name}: values changed without a citation of their own: {uncited}"


# --- invalid files are refused with the file, the key and why ------------------------------

REFUSED = [
    ("unknown top-level key", 'name = "x"\ncolour = "red"\n', "colour: not a protocol parameter"),
    (
        "unknown key in a section",
        'name = "x"\n[contact]\ncentral_dayz = 7\n',
        "contact.central_dayz: not a protocol parameter",
    ),
    ("unknown section", 'name = "x"\n[contacts]\ncentral_days = 7\n', "contacts: not a protocol"),
    (
        "unknown key in an amendment's set",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\nset = { "contact.central_dayz" = 7 }\n',
        "amendments[0].set: contact.central_dayz: not a protocol parameter",
    ),
    (
        "unknown key in an amendment",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\nsets = { "contact.central_days" = 7 }\n',
        "amendments[0].sets: not an amendment key (from, reason, set)",
    ),
    (
        "unknown key in a group",
        'name = "x"\n[groups.diplomat]\n"contact.central_dayz" = 7\n',
        "groups.diplomat: contact.central_dayz: not a protocol parameter",
    ),
    (
        "unknown key in sources",
        'name = "x"\n[sources]\n"contact.central_dayz" = "edition 9 [28]"\n',
        "sources.contact.central_dayz: not a protocol parameter",
    ),
    (
        "a section cited as a key in sources",
        'name = "x"\n[sources]\ncontact = "edition 9 [28]"\n',
        "sources.contact: not a protocol parameter",
    ),
    (
        "an empty citation",
        'name = "x"\n[sources]\n"contact.central_days" = " "\n',
        "sources.contact.central_days: must be a non-empty string",
    ),
    (
        "a word for a number",
        'name = "x"\n[contact]\ncentral_days = "seven"\n',
        "contact.central_days: Input should be a valid integer",
    ),
    (
        "a fraction for a whole number",
        'name = "x"\n[contact]\ncentral_days = 7.5\n',
        "contact.central_days: Input should be a valid integer",
    ),
    (
        "a number for a list",
        'name = "x"\n[contact]\ntest_days = 3\n',
        "contact.test_days: Input should be a valid ",
    ),
    (
        "a word for a number in an amendment",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\n'
        'set = { "pcr.positive_ct_below" = "low" }\n',
        "amendments[0].set: pcr.positive_ct_below: Input should be a valid number",
    ),
    (
        "a number for a section",
        'name = "x"\npcr = 35\n',
        "pcr: Input should be ",
    ),
    (
        "negative days",
        'name = "x"\n[contact]\ncentral_days = -1\n',
        "contact.central_days: Input should be greater than or equal to 0",
    ),
    (
        "negative days in a group",
        'name = "x"\n[groups.diplomat]\n"secondary.days" = -7\n',
        "groups.diplomat: secondary.days: Input should be greater than or equal to 0",
    ),
    (
        "a Ct threshold above 50",
        'name = "x"\n[pcr]\npositive_ct_below = 51\nindeterminate_ct_below = 51\n',
        "pcr.positive_ct_below: Input should be less than or equal to 50",
    ),
    (
        "a Ct threshold below 0",
        'name = "x"\n[pcr]\npositive_ct_below = -1\n',
        "pcr.positive_ct_below: Input should be greater than or equal to 0",
    ),
    (
        "an indeterminate bound below the positive threshold",
        'name = "x"\n[pcr]\npositive_ct_below = 35\nindeterminate_ct_below = 30\n',
        ("pcr", "must not be below pcr.positive_ct_below"),
    ),
    (
        "an amendment raising the positive threshold above the indeterminate bound",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\nset = { "pcr.positive_ct_below" = 45 }\n',
        ("amendments[0].set: pcr", "must not be below pcr.positive_ct_below"),
    ),
    (
        "overlapping test days",
        'name = "x"\n[contact]\ntest_days = [1, 2, 2, 5]\n',
        ("contact", "must be distinct days in increasing order, got [1, 2, 2, 5]"),
    ),
    (
        "test days out of order",
        'name = "x"\n[contact]\ntest_days = [1, 5, 3]\n',
        ("contact", "must be distinct days in increasing order, got [1, 5, 3]"),
    ),
    (
        "overlapping secondary test days",
        'name = "x"\n[secondary]\ntest_days = [1, 4, 4]\n',
        ("secondary", "must be distinct days in increasing order, got [1, 4, 4]"),
    ),
    (
        "test days beyond the quarantine days",
        'name = "x"\n[contact]\ncentral_days = 7\ntest_days = [1, 2, 9]\n',
        ("contact", "must lie within days 1..7"),
    ),
    (
        "a test day 0",
        'name = "x"\n[contact]\ntest_days = [0, 1]\n',
        ("contact", "must lie within days 1..7"),
    ),
    (
        "home test days beyond the home days",
        'name = "x"\n[contact]\nhome_days = 3\nhome_test_days = [5]\n',
        ("contact", "home_test_days", "must lie within days 1..3"),
    ),
    (
        "secondary test days beyond its days",
        'name = "x"\n[secondary]\ndays = 7\ntest_days = [1, 8]\n',
        ("secondary", "must lie within days 1..7"),
    ),
    (
        "an amendment shortening the quarantine without its test days",
        'name = "x"\n[[amendments]]\nfrom = 2022-11-11\nset = { "contact.central_days" = 5 }\n',
        ("amendments[0].set: contact", "must lie within days 1..5"),
    ),
    (
        "a largest pool below the default pool",
        'name = "x"\n[pool]\ndefault_size = 30\n',
        ("pool", "below pool.default_size (20 < 30)"),
    ),
    (
        "an order that does not exist",
        'name = "x"\n[contact]\norder = "jail"\n',
        "contact.order: Input should be 'isolation', 'hospital', 'quarantine_central'",
    ),
    (
        "a severity that does not exist",
        'name = "x"\n[isolation]\nhospital_severities = ["severe", "dire"]\n',
        "isolation.hospital_severities[1]: Input should be 'none', 'mild'",
    ),
    (
        "a bulletin cut-off that is not a time",
        'name = "x"\n[bulletin]\ncutoff_local_time = "25:00"\n',
        "bulletin.cutoff_local_time: String should match pattern",
    ),
    (
        "an unknown group",
        'name = "x"\n[groups.martian]\n"contact.order" = "none"\n',
        f"groups.martian: not a population group ({', '.join(PERSON_GROUPS)})",
    ),
    (
        "a group that is not a table",
        'name = "x"\n[groups]\ndiplomat = "quarantine_home"\n',
        "groups.diplomat: must be a table of parameter = value",
    ),
    (
        "a group override invalid once an amendment is in force",
        'name = "x"\n[[amendments]]\nfrom = 2022-11-11\n'
        'set = { "contact.central_days" = 5, "contact.test_days" = [1, 2, 3, 5] }\n'
        '[groups.athlete]\n"contact.test_days" = [1, 7]\n',
        ("groups.athlete: contact", "must lie within days 1..5"),
    ),
    (
        "amendments out of date order",
        'name = "x"\n[[amendments]]\nfrom = 2022-02-01\nset = { "pcr.positive_ct_below" = 30 }\n'
        '[[amendments]]\nfrom = 2022-01-23\nset = { "pcr.positive_ct_below" = 35 }\n',
        "amendments[1].from: amendments must be in increasing date order",
    ),
    (
        "two amendments on the same date",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\nset = { "pcr.positive_ct_below" = 30 }\n'
        '[[amendments]]\nfrom = 2022-01-23\nset = { "pcr.positive_ct_below" = 35 }\n',
        "amendments[1].from: amendments must be in increasing date order",
    ),
    (
        "an amendment without a date",
        'name = "x"\n[[amendments]]\nset = { "pcr.positive_ct_below" = 30 }\n',
        "amendments[0].from: required, a date such as 2022-01-23",
    ),
    (
        "an amendment dated by a string",
        'name = "x"\n[[amendments]]\nfrom = "23 Jan"\nset = { "pcr.positive_ct_below" = 30 }\n',
        "amendments[0].from: required, a date such as 2022-01-23",
    ),
    (
        "an amendment that sets nothing",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\n',
        "amendments[0].set: a table of parameter = value is required",
    ),
    (
        "amendments as a table",
        'name = "x"\n[amendments]\nfrom = 2022-01-23\n',
        "amendments: must be an array of tables ([[amendments]])",
    ),
    ("no name", 'title = "x"\n', "name: required"),
    ("a name that is not text", "name = 7\n", "name: must be a string"),
    (
        "an unknown time zone",
        'name = "x"\ntimezone = "Asia/Beijing"\n',
        "timezone: unknown time zone 'Asia/Beijing'",
    ),
    (
        "not TOML at all",
        "This is not a protocol.\n",
        "not valid TOML: Expected '=' after a key in a key/value pair (at line 1, column 6)",
    ),
    ("a TOML error on a later line", 'name = "x"\n[pcr\n', "not valid TOML: "),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_an_invalid_file_is_refused_with_the_key_and_the_reason(
    tmp_path: Path, text: str, expected: str | tuple[str, ...]
) -> None:
    """`expected` is the start of the message after the file name; for a check between two
    keys, the start (the section) and the reason."""
    assert_refused(refusal(tmp_path, text), expected)


CROSS_CHECKS = [
    (
        "overlapping test days",
        'name = "x"\n[contact]\ntest_days = [1, 2, 2, 5]\n',
        ["contact.test_days"],
    ),
    (
        "test days beyond the quarantine days",
        'name = "x"\n[contact]\ncentral_days = 7\ntest_days = [1, 2, 9]\n',
        ["contact.test_days"],
    ),
    (
        "an indeterminate bound below the positive threshold",
        'name = "x"\n[pcr]\npositive_ct_below = 35\nindeterminate_ct_below = 30\n',
        ["pcr.indeterminate_ct_below", "pcr.positive_ct_below"],
    ),
    (
        "an amendment raising the positive threshold above the indeterminate bound",
        'name = "x"\n[[amendments]]\nfrom = 2022-01-23\nset = { "pcr.positive_ct_below" = 45 }\n',
        ["pcr.indeterminate_ct_below", "pcr.positive_ct_below"],
    ),
]


@pytest.mark.parametrize(
    ("text", "keys"), [c[1:] for c in CROSS_CHECKS], ids=[c[0] for c in CROSS_CHECKS]
)
def test_a_check_between_two_keys_names_the_dotted_key(
    tmp_path: Path, text: str, keys: list[str]
) -> None:
    """Like every other refusal, a check between two parameters names the key by its dotted
    path (`contact.test_days`), the way it is written in `[sources]`, `set` and `[groups]`."""
    message = refusal(tmp_path, text)
    assert any(key in message for key in keys), message


WRONG_TYPES = [
    ("a quoted number for a whole number", 'name = "x"\n[contact]\ncentral_days = "7"\n'),
    ("a quoted number for a Ct", 'name = "x"\n[pcr]\npositive_ct_below = "35"\n'),
    ("a boolean for a whole number", 'name = "x"\n[closure]\nmin_cases = true\n'),
    ("a number for a boolean", 'name = "x"\n[contact]\nhousehold = 1\n'),
    ("a quoted test day", 'name = "x"\n[contact]\ntest_days = [1, "2", 3]\n'),
]


@pytest.mark.parametrize("text", [c[1] for c in WRONG_TYPES], ids=[c[0] for c in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_refused_not_converted(tmp_path: Path, text: str) -> None:
    """TOML has types: a protocol file that quotes a number or writes `true` for a count is
    wrong, and a protocol is too important to guess what was meant."""
    message = refusal(tmp_path, text)
    assert re.match(r"(pcr|contact|closure)\.\w+(\[\d+\])?: Input should be a valid", message), (
        message
    )


@pytest.mark.parametrize(
    "dates",
    [["2022-01-23T10:00:00"], ["2022-01-22", "2022-01-23T10:00:00+08:00"]],
    ids=["a date and time", "a date, then a date and time"],
)
def test_an_amendment_from_a_date_and_time_is_refused(tmp_path: Path, dates: list[str]) -> None:
    """An amendment starts at local midnight of a date; a time of day would be dropped."""
    text = 'name = "x"\n' + "".join(
        f'[[amendments]]\nfrom = {day}\nset = {{ "pcr.positive_ct_below" = {30 + i} }}\n'
        for i, day in enumerate(dates)
    )
    index = len(dates) - 1
    assert refusal(tmp_path, text).startswith(f"amendments[{index}].from: required, a date")


def test_a_test_day_of_an_order_of_no_days_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, 'name = "x"\n[contact]\ncentral_days = 0\ntest_days = [1]\n')
    assert "test_days" in message


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == (
        f"no protocol {str(path)!r}: not a file and not a preset ({', '.join(PRESETS)})"
    )


def test_a_file_that_is_not_utf8_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes('name = "北京"\n'.encode("gbk"))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == f"{path}: not UTF-8 text"


def test_a_minimal_file_takes_every_default(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, 'name = "minimal"\n'))
    assert protocol.name == protocol.title == "minimal"
    assert protocol.timezone == "Asia/Shanghai"
    assert protocol.parameters == Parameters()
    assert protocol.amendments == () and protocol.groups == {} and protocol.sources == {}
    for key, info in PARAMETERS.items():
        assert protocol.source(key) == info.source


# --- with_changes -------------------------------------------------------------------------


def test_with_changes_keeps_the_amendments() -> None:
    loop = load_protocol("beijing-2022-loop")
    stricter = loop.with_changes({"contact.tests_per_day": 3}, name="loop-3-tests")
    assert stricter.name == "loop-3-tests"
    assert [a.effective for a in stricter.amendments] == [date(2022, 1, 23)]
    assert values(stricter, "contact.tests_per_day") == [3]
    assert stricter.at(LOOP_AMENDED).contact.tests_per_day == 3
    for key in ("pcr.positive_ct_below", "contact.central_days", "isolation.alt_release_min_days"):
        assert stricter.timeline(key) == loop.timeline(key), key
    assert protocol_diff(loop, stricter) == [("contact.tests_per_day", "2", "3")]
    assert stricter.fingerprint() != loop.fingerprint()
    # The original is unchanged.
    assert values(loop, "contact.tests_per_day") == [2]
    assert loop.with_changes({}).fingerprint() == loop.fingerprint()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"contact.central_dayz": 7}, "contact.central_dayz: not a protocol parameter"),
        ({"contact": 7}, "contact: not a protocol parameter"),
        ({"contact.central_days": -1}, "contact.central_days: Input should be greater than"),
        ({"contact.central_days": "seven"}, "contact.central_days: Input should be a valid int"),
        ({"pcr.positive_ct_below": 60}, "pcr.positive_ct_below: Input should be less than"),
        ({"contact.test_days": [3, 1]}, ("contact", "must be distinct days")),
        # Valid before 23 Jan (14 days), not once the amendment cuts the days to 7.
        ({"contact.test_days": list(range(1, 15))}, ("contact", "must lie within days 1..7")),
    ],
)
def test_with_changes_validates_like_a_file(
    changes: dict[str, Any], expected: str | tuple[str, ...]
) -> None:
    loop = load_protocol("beijing-2022-loop")
    with pytest.raises(ProtocolError) as caught:
        loop.with_changes(changes)
    message = str(caught.value)
    assert message.startswith("changes to beijing-2022-loop: "), message
    assert_refused(message.removeprefix("changes to beijing-2022-loop: "), expected)


def test_with_changes_to_an_amended_key_shows_in_the_amendment_and_the_fingerprint() -> None:
    """`with_changes` applies through every amendment, so the loop with Ct < 40 throughout
    decides differently from the loop: its fingerprint must differ, and its amendment must
    not claim a value that is no longer in force."""
    loop = load_protocol("beijing-2022-loop")
    ct40 = loop.with_changes({"pcr.positive_ct_below": 40})
    assert ct40.at(LOOP_AMENDED).pcr.positive_ct_below == 40
    assert protocol_diff(loop, ct40) == [("pcr.positive_ct_below", "40; from 2022-01-23: 35", "40")]
    assert ct40.fingerprint() != loop.fingerprint()
    for amendment in ct40.amendments:
        for key, value in amendment.changes.items():
            expected = tuple(value) if isinstance(value, list) else value
            assert get_value(amendment.parameters, key) == expected, key


# --- group overrides -----------------------------------------------------------------------


def test_a_diplomat_quarantines_at_the_residence_under_zero_covid() -> None:
    zero = load_protocol("zero-covid-2022")
    assert zero.groups == {"diplomat": {"contact.order": "quarantine_home"}}
    assert zero.group_timelines("contact.order") == {
        None: [(None, "quarantine_central")],
        "diplomat": [(None, "quarantine_home")],
    }
    assert zero.timeline("contact.order", "diplomat") == [(None, "quarantine_home")]
    assert zero.timeline("contact.order", "athlete") == [(None, "quarantine_central")]
    # A key no group overrides has only the timeline for everyone.
    assert zero.group_timelines("contact.central_days") == {None: [(None, 7)]}
    # The override is not a parameter for everyone.
    assert zero.get("contact.order") == "quarantine_central"


def test_a_group_override_holds_through_every_amendment(tmp_path: Path) -> None:
    text = """
name = "athletes"
[[amendments]]
from = 2022-11-11
set = { "contact.central_days" = 5, "contact.test_days" = [1, 2, 3, 5] }
[groups.athlete]
"contact.central_days" = 3
"contact.test_days" = [1, 3]
"""
    protocol = load_protocol(write(tmp_path, text))
    eleventh = datetime(2022, 11, 10, 16, 0, tzinfo=UTC)  # 11 Nov 2022 00:00 in Beijing
    assert protocol.group_timelines("contact.central_days") == {
        None: [(None, 7), (eleventh, 5)],
        "athlete": [(None, 3)],
    }
    assert protocol.group_timelines("contact.test_days")["athlete"] == [(None, (1, 3))]
    assert protocol.group_timelines("contact.order") == {None: [(None, "quarantine_central")]}


def test_a_group_override_must_be_valid_with_the_rules_it_joins(tmp_path: Path) -> None:
    # 3 days for athletes, but the test days for everyone run to day 7.
    text = 'name = "x"\n[groups.athlete]\n"contact.central_days" = 3\n'
    message = refusal(tmp_path, text)
    assert message.startswith("groups.athlete: contact"), message
    assert "must lie within days 1..3" in message


# --- protocol_diff -------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_does_not_differ_from_itself(name: str) -> None:
    assert protocol_diff(load_protocol(name), load_protocol(name)) == []


@pytest.mark.parametrize(("first", "second"), [p for p in product(PRESETS, PRESETS) if p[0] < p[1]])
def test_diff_lists_exactly_the_keys_whose_rules_differ(first: str, second: str) -> None:
    a, b = load_protocol(first), load_protocol(second)
    expected = [key for key in PARAMETERS if a.group_timelines(key) != b.group_timelines(key)]
    if a.timezone != b.timezone:
        expected.insert(0, "timezone")
    assert [key for key, _, _ in protocol_diff(a, b)] == expected
    assert [key for key, _, _ in protocol_diff(b, a)] == expected


def test_diff_zero_covid_against_class_b_by_hand() -> None:
    diff = protocol_diff(load_protocol("zero-covid-2022"), load_protocol("class-b-2023"))
    # Read off the two preset files.
    assert {key for key, _, _ in diff} == {
        "pcr.positive_ct_below",
        "pcr.indeterminate_ct_below",
        "origin.local_origins",
        "arrival.quarantine_central_days",
        "arrival.quarantine_home_days",
        "arrival.discordant_extra_negative",
        "contact.same_space",
        "contact.order",
        "contact.central_days",
        "contact.home_days",
        "contact.test_days",
        "contact.home_test_days",
        "secondary.enabled",
        "isolation.hospital_severities",
        "isolation.symptomatic_to_hospital",
        "closure.min_cases",
        "risk_area.enabled",
        "screening.loop_daily",
        "pool.mass_testing",
        "pharmacy.enabled",
        "bulletin.cutoff_local_time",
    }
    rows = {key: (left, right) for key, left, right in diff}
    assert rows["contact.order"] == ("quarantine_central | diplomat: quarantine_home", "none")
    assert rows["contact.central_days"] == ("7", "0")
    assert rows["contact.test_days"] == ("[1, 2, 3, 5, 7]", "[]")
    assert rows["pcr.positive_ct_below"] == ("40", "35")
    assert rows["isolation.hospital_severities"] == (
        "[moderate, severe, critical]",
        "[severe, critical]",
    )
    assert rows["bulletin.cutoff_local_time"] == ("16:00", "24:00")


def test_diff_shows_amendments_and_time_zones() -> None:
    loop, zero = load_protocol("beijing-2022-loop"), load_protocol("zero-covid-2022")
    rows = {key: (left, right) for key, left, right in protocol_diff(loop, zero)}
    # Ct < 40 at the start in both; the loop's amendment makes the difference.
    assert rows["pcr.positive_ct_below"] == ("40; from 2022-01-23: 35", "40")
    assert rows["contact.central_days"] == ("14; from 2022-01-23: 7", "7")
    assert "timezone" not in rows
    who_diff = protocol_diff(zero, load_protocol("who-contact-tracing"))
    assert who_diff[0] == ("timezone", "Asia/Shanghai", "UTC")


# --- the command line ----------------------------------------------------------------------


def test_cli_protocol_list_names_the_four_presets() -> None:
    result = run("protocol", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == PRESETS
    assert lines[0] == f"beijing-2022-loop: {load_protocol('beijing-2022-loop').title}"


def test_cli_protocol_show_prints_every_parameter_and_the_amendment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console_width(monkeypatch, 400)
    result = run("protocol", "show", "beijing-2022-loop")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("beijing-2022-loop: Beijing 2022 closed loop")
    for key in PARAMETERS:
        assert re.search(rf"│ {re.escape(key)} +│", out), key
    assert "from 2022-01-23: pcr.positive_ct_below = 35" in out
    assert "40; from 2022-01-23: 35" in out
    assert "Ct < 40 until 22 Jan, Ct < 35 from 23 Jan [3][19]" in out
    assert f"fingerprint {load_protocol('beijing-2022-loop').fingerprint()}" in out


def test_cli_protocol_show_keeps_every_key_whole_at_80_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an 80-column terminal (or piped to a file) the keys are what a reader copies into a
    protocol file: they must not be cut to `arrival.predepar…`."""
    console_width(monkeypatch, 80)
    result = run("protocol", "show", "beijing-2022-loop")
    assert result.exit_code == 0, result.output
    cut = [key for key in PARAMETERS if key not in result.stdout]
    assert not cut, f"keys cut or wrapped: {cut}"


def test_cli_protocol_show_and_diff_print_list_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list of words such as `[restaurant, market, cold_chain]` is a value, not markup."""
    console_width(monkeypatch, 400)
    show = run("protocol", "show", "zero-covid-2022").stdout
    assert re.search(r"│ closure\.place_kinds +│ \[restaurant, market, cold_chain\]", show)
    assert "[moderate, severe, critical]" in show
    assert "[antipyretic, antiviral, antibiotic, cough]" in show
    diff = run("protocol", "diff", "zero-covid-2022", "class-b-2023").stdout
    assert "[severe, critical]" in diff


def test_cli_protocol_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    console_width(monkeypatch, 400)
    result = run("protocol", "diff", "zero-covid-2022", "class-b-2023")
    assert result.exit_code == 0, result.output
    assert re.search(r"│ contact\.central_days +│ 7 +│ 0 +│", result.stdout)
    assert result.stdout.rstrip().endswith("21 parameters differ")
    same = run("protocol", "diff", "class-b-2023", "class-b-2023")
    assert same.exit_code == 0
    assert same.stdout == "class-b-2023 and class-b-2023 decide alike: no parameter differs\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\n[contact]\ncentral_days = -1\n', "contact.central_days: Input should be"),
        ('name = "x"\n[contact]\ncentral_dayz = 7\n', "contact.central_dayz: not a protocol"),
        ("not a protocol\n", "not valid TOML: "),
    ],
)
def test_cli_protocol_check_refuses_a_bad_file_in_one_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text, "bad.toml")
    result = run("protocol", "check", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"ringfence: error: {path}: {expected}")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_protocol_check_accepts_a_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "good"\n[contact]\ncentral_days = 14\n', "good.toml")
    result = run("protocol", "check", str(path))
    assert result.exit_code == 0, result.output
    fingerprint = load_protocol(path).fingerprint()
    assert result.stdout == (
        f"{path}: valid protocol 'good' (0 amendments, fingerprint {fingerprint})\n"
    )


@pytest.mark.parametrize("command", [["show"], ["check"], ["diff", "zero-covid-2022"]])
def test_cli_protocol_refuses_an_unknown_name(command: list[str]) -> None:
    result = run("protocol", *command, "NOSUCH")
    assert result.exit_code == 2
    assert result.stderr == (
        f"ringfence: error: no protocol 'NOSUCH': not a file and not a preset "
        f"({', '.join(PRESETS)})\n"
    )


def test_cli_cycle_refuses_a_bad_protocol_before_opening_the_database(tmp_path: Path) -> None:
    bad = write(tmp_path, 'name = "x"\n[pcr]\npositive_ct_below = 60\n', "bad.toml")
    db = tmp_path / "never.duckdb"
    result = run("cycle", "--db", str(db), "--protocol", str(bad), "--as-of", "2022-01-20T16:00")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"ringfence: error: {bad}: pcr.positive_ct_below: ")
    assert not db.exists()


# --- docs/protocols.md ---------------------------------------------------------------------


def _doc_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_protocols", ROOT / "docs" / "gen_protocols.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # The generator imports its sibling `generated`, as it does when run as a script.
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "docs"))
    return module


def test_protocol_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_protocols.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_tables_are_checked_not_just_copied() -> None:
    generator = _generator()
    current = DOC.read_text(encoding="utf-8")
    assert generator.render(current) == current
    stale = current.replace("| `contact.central_days` | `7` |", "| `contact.central_days` | `5` |")
    assert stale != current
    assert generator.render(stale) == current
    for key, info in PARAMETERS.items():
        assert f"| `{key}` |" in current, key
        assert info.description.split("|")[0].strip() in current, key


def test_the_example_in_the_doc_is_a_valid_protocol(tmp_path: Path) -> None:
    blocks = _doc_blocks("toml")
    assert blocks, "docs/protocols.md has no ```toml example"
    for index, block in enumerate(blocks):
        path = write(tmp_path, block, f"example-{index}.toml")
        result = run("protocol", "check", str(path))
        assert result.exit_code == 0, result.output
        assert "valid protocol" in result.stdout
    example = load_protocol(tmp_path / "example-0.toml")
    # What the prose around the example says it does.
    eleventh = datetime(2022, 11, 10, 16, 0, tzinfo=UTC)
    assert example.timeline("contact.central_days") == [(None, 7), (eleventh, 5)]
    assert example.timeline("secondary.enabled") == [(None, True), (eleventh, False)]
    assert example.timeline("contact.order", "diplomat") == [(None, "quarantine_home")]
    assert example.parameters.bulletin.cutoff_local_time == "16:00"
    # The doc tells readers to cite every value they change; its example does.
    assert uncited_changes(example) == {}


def test_the_example_runs_the_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, _doc_blocks("toml")[0], "my-city.toml")
    db = str(tmp_path / "city.duckdb")
    assert run("init", "--db", db).exit_code == 0
    result = run("cycle", "--db", db, "--protocol", str(path), "--as-of", "2022-11-12T16:00")
    assert result.exit_code == 0, result.output
    assert f"under my-city-2022 ({load_protocol(path).fingerprint()})" in result.stdout


def test_the_python_example_in_the_doc_runs() -> None:
    (block,) = _doc_blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/protocols.md", "exec"), namespace)
    loop = namespace["loop"]
    assert protocol_diff(loop, namespace["stricter"]) == [("contact.tests_per_day", "2", "3")]


def test_the_doc_names_every_preset_command_and_cited_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in PRESETS:
        assert f"`{name}`" in text, name
    for command in ("list", "show", "diff", "check"):
        assert f"`ringfence protocol {command}" in text, command
    assert "`ringfence cycle --protocol" in text
    for key in ("[[amendments]]", "[groups.NAME]", "[sources]", "`from`", "`set`"):
        assert key in text, key
    references = text[text.index("## References") :]
    listed = set(re.findall(r"^- \[(\d+)\] ", references, re.M))
    cited: set[str] = set()
    for info in PARAMETERS.values():
        cited |= set(re.findall(r"\[(\d+)[a-z]?\]", info.source))
    for name in PRESETS:
        protocol = load_protocol(name)
        for key in PARAMETERS:
            cited |= set(re.findall(r"\[(\d+)[a-z]?\]", protocol.source(key)))
    assert cited, "no citation found"
    assert cited <= listed, f"cited but not listed in References: {sorted(cited - listed)}"
