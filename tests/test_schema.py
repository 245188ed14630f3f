"""The schema is the contract of DESIGN.md: every event and decision column it names exists,
with the same required/optional split, and the vocabularies it lists."""

from __future__ import annotations

import pytest

from ringfence.schema import DECISION_TABLES, EVENT_TABLES, TABLES, ingest_order, table

# DESIGN.md, "Contracts": optional columns in brackets there, marked "?" here.
CONTRACT = {
    "persons": "person_id household_id birth_year district sex? group? loop_id? pregnant? name? "
    "phone?",
    "places": "place_id kind district parent_id? loop_id? capacity? name?",
    "visits": "person_id place_id start end source?",
    "proximity": "person_id other_person_id start end distance_m? source?",
    "samples": "sample_id person_id? place_id? collected_at test pool_id? purpose? item?",
    "results": "result_id sample_id? pool_id? reported_at outcome ct? ct_orf1ab? ct_n?",
    "symptoms": "person_id reported_at onset? severity temperature_c?",
    "arrivals": "person_id arrived_at origin port? flight? vaccinated_on?",
    "departures": "person_id departed_at destination port?",
    "sequences": "sample_id lineage reported_at",
    "purchases": "person_id place_id bought_at category",
    "actions": "action_id at actor kind target reason",
    "cases": "case_id person_id confirmed_at classification converted_at? origin variant? "
    "severity? found_by?",
    "contacts": "person_id case_person_id kind first_exposure last_exposure minutes place_ids?",
    "orders": "order_id person_id? place_id? kind start planned_end? released_at? rule "
    "guardian_of?",
    "risk_areas": "area_id level start end? rule",
    "test_plans": "plan_id date person_id purpose pool_id?",
    "explanations": "decision_table decision_key rule parameter? source? evidence?",
}
# Decision tables beyond DESIGN.md's minimum ("at least these"): the breaches and missed
# tests the control cycle flags for a person to look at.
EXTENSIONS = {"alerts": "alert_id person_id kind at rule"}

VOCABULARIES = {
    ("persons", "group"): "resident athlete official media staff traveller diplomat",
    ("places", "kind"): "home workplace school restaurant market cold_chain hospital pharmacy "
    "fever_clinic hotel room venue transport quarantine_site airport other",
    ("visits", "source"): "scan badge roster manifest booking",
    ("samples", "test"): "pcr antigen",
    ("samples", "purpose"): "screening arrival predeparture contact release diagnostic mass "
    "environment",
    ("results", "outcome"): "positive negative invalid",
    ("symptoms", "severity"): "none mild moderate severe critical",
    ("purchases", "category"): "antipyretic antiviral antibiotic cough other",
    ("actions", "kind"): "confirm override release reopen note",
    ("cases", "origin"): "local imported loop_entry loop_inside",
    ("orders", "kind"): "isolation hospital quarantine_central quarantine_home "
    "health_monitoring contact_management closure",
}


@pytest.mark.parametrize("name", list(CONTRACT))
def test_contract_columns_exist_with_their_required_flag(name: str) -> None:
    defined = table(name)
    for word in CONTRACT[name].split():
        column = defined.column(word.rstrip("?"))
        # The contract's "onset" is optional here: a daily report of no symptoms has none.
        if (name, column.name) != ("symptoms", "onset"):
            assert column.required is not word.endswith("?"), f"{name}.{column.name}"


@pytest.mark.parametrize(("name", "column"), list(VOCABULARIES))
def test_vocabularies_match_the_contract(name: str, column: str) -> None:
    assert table(name).column(column).allowed == tuple(VOCABULARIES[(name, column)].split())


def test_every_table_is_in_the_contract() -> None:
    assert set(TABLES) == set(CONTRACT) | set(EXTENSIONS)
    for name, columns in EXTENSIONS.items():
        assert [c.name for c in table(name).columns] == columns.split()
    assert {t.kind for t in EVENT_TABLES} == {"event"}
    assert {t.kind for t in DECISION_TABLES} == {"decision"}


def test_references_point_at_existing_columns_and_order_is_respected() -> None:
    order = [t.name for t in ingest_order(list(EVENT_TABLES))]
    for defined in EVENT_TABLES:
        for reference in defined.references:
            assert table(reference.table).has_column(reference.target)
            if reference.table != defined.name:
                assert order.index(reference.table) < order.index(defined.name)


def test_personal_columns_are_marked() -> None:
    personal = {(t.name, c.name) for t in EVENT_TABLES for c in t.columns if c.personal}
    assert personal == {("persons", "name"), ("persons", "phone")}


def test_unknown_table_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known tables: persons, places"):
        table("visit")
