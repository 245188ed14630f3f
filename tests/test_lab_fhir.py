"""The FHIR R4 Bundle adapter: real bundles map to exact rows, broken ones to exact problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ringfence.store.lab import LabRows
from ringfence.store.lab.fhir import read_fhir_bundle

DATA = Path(__file__).parent / "data" / "lab"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def read(name: str) -> LabRows:
    return read_fhir_bundle((DATA / name).read_bytes())


def values(rows: LabRows, table: str) -> list[dict[str, str | None]]:
    return [r.values for r in rows.records if r.table == table]


def locations(rows: LabRows, table: str) -> list[str]:
    return [r.location for r in rows.records if r.table == table]


def where(rows: LabRows) -> list[tuple[str, str]]:
    return [(p.location, p.field) for p in rows.problems]


def bundle(*resources: dict[str, Any]) -> bytes:
    """A collection Bundle whose entries are addressed as "Type/id" (FHIR's relative form)."""
    entries = [
        {"fullUrl": f"https://lab.example/{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources
    ]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def patient(id_: str = "p1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id_, "identifier": [{"value": f"P-{id_}"}]}


def specimen(id_: str = "s1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Specimen",
        "id": id_,
        "identifier": [{"value": f"S-{id_}"}],
        "subject": {"reference": "Patient/p1"},
        "collection": {"collectedDateTime": "2022-04-01T08:30:00+08:00"},
        **extra,
    }


def observation(id_: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "issued": "2022-04-01T14:00:00+08:00",
        "specimen": {"reference": "Specimen/s1"},
        **extra,
    }


def detected() -> dict[str, Any]:
    return {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260373001"}]}}


def ct(value: float, unit: str = "{Ct_value}") -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}}


# -- realistic bundles -------------------------------------------------------------------------


def test_single_patient_pcr_positive_with_ct_components() -> None:
    rows = read("fhir_pcr_positive_ct_components.json")

    assert rows.problems == []
    assert values(rows, "persons") == [
        {
            "person_id": "P-110108-000123",
            "household_id": "HH-110108-0042",
            "birth_year": "1985",
            "district": "Haidian",
            "sex": "female",
        }
    ]
    assert values(rows, "samples") == [
        {
            "sample_id": "S-20220401-0001",
            "person_id": "P-110108-000123",
            "place_id": None,
            "collected_at": "2022-04-01T08:30:00+08:00",
            "test": "pcr",
            "pool_id": None,
            "purpose": None,
            "item": None,
        }
    ]
    # No whole-RNA Ct: `ct` is the lowest gene Ct, here ORF1ab.
    assert values(rows, "results") == [
        {
            "result_id": "R-20220401-0001",
            "sample_id": "S-20220401-0001",
            "pool_id": None,
            "reported_at": "2022-04-01T14:05:00+08:00",
            "outcome": "positive",
            "ct": "24.1",
            "ct_orf1ab": "24.1",
            "ct_n": "26.35",
        }
    ]
    assert [r.location for r in rows.records] == ["entry 1", "entry 2", "entry 4"]


def test_no_name_phone_or_street_reaches_a_row() -> None:
    rows = read("fhir_pcr_positive_ct_components.json")

    text = repr([r.values for r in rows.records])
    for personal in ("Wang", "0013", "Zhongguancun", "Beijing"):
        assert personal not in text


def test_ten_in_one_pool_with_a_positive_pool_result() -> None:
    rows = read("fhir_pool_10in1_positive.json")

    assert rows.problems == []
    samples = values(rows, "samples")
    assert [s["sample_id"] for s in samples] == [f"S-20220402-P07-{i:02d}" for i in range(1, 11)]
    assert [s["person_id"] for s in samples] == [f"P-110105-{i:06d}" for i in range(1, 11)]
    assert {s["pool_id"] for s in samples} == {"POOL-20220402-07"}
    assert {s["test"] for s in samples} == {"pcr"}
    assert samples[0]["collected_at"] == "2022-04-02T01:03:00Z"
    # The pool tube is no sample of its own, and its result names the pool, not a sample.
    assert values(rows, "results") == [
        {
            "result_id": "R-20220402-POOL-07",
            "sample_id": None,
            "pool_id": "POOL-20220402-07",
            "reported_at": "2022-04-02T11:42:00+08:00",
            "outcome": "positive",
            "ct": "33.8",  # the whole-RNA Ct wins over the lower ORF1ab one
            "ct_orf1ab": "32.9",
            "ct_n": None,
        }
    ]
    assert locations(rows, "results") == ["entry 22"]


def test_pool_members_without_a_household_are_samples_but_not_persons() -> None:
    rows = read("fhir_pool_10in1_positive.json")

    assert [p["person_id"] for p in values(rows, "persons")] == [
        f"P-110105-{i:06d}" for i in range(1, 9)
    ]
    assert values(rows, "persons")[1] == {
        "person_id": "P-110105-000002",
        "household_id": "HH-110105-0001",
        "birth_year": "1958",
        "district": "Chaoyang",
        "sex": "female",
    }


def test_environment_sample_of_a_letter() -> None:
    rows = read("fhir_environment_letter.json")

    assert rows.problems == []
    assert values(rows, "persons") == []
    assert values(rows, "samples") == [
        {
            "sample_id": "ENV-20220115-0031",
            "person_id": None,
            "place_id": "PL-HD-POST-0007",
            "collected_at": "2022-01-15T10:20:00+08:00",
            "test": "pcr",
            "pool_id": None,
            "purpose": "environment",
            "item": "Surface swab of an international letter (envelope)",
        }
    ]
    result = values(rows, "results")[0]
    # No whole-RNA Ct, so the E gene counts: it is the lowest. The RNase P control is ignored.
    assert (result["ct"], result["ct_orf1ab"], result["ct_n"]) == ("35.2", "36.8", None)
    assert result["sample_id"] == "ENV-20220115-0031"


def test_antigen_positive_reported_by_effective_time() -> None:
    rows = read("fhir_antigen_positive.json")

    assert rows.problems == []
    assert values(rows, "persons") == []  # no household, no district: not enough for a person
    assert values(rows, "samples") == [
        {
            "sample_id": "RAT-20220503-8812",  # the accession id: the Specimen has no identifier
            "person_id": "P-310104-009912",
            "place_id": None,
            "collected_at": "2022-05-03T19:30:00+08:00",
            "test": "antigen",
            "pool_id": None,
            "purpose": None,
            "item": None,
        }
    ]
    assert values(rows, "results") == [
        {
            "result_id": "rat-8812",  # the resource id: the Observation has no identifier
            "sample_id": "RAT-20220503-8812",
            "pool_id": None,
            "reported_at": "2022-05-03T19:45:00+08:00",
            "outcome": "positive",
            "ct": None,
            "ct_orf1ab": None,
            "ct_n": None,
        }
    ]


def test_separate_ct_observations_merge_into_the_qualitative_result() -> None:
    rows = read("fhir_separate_ct_observations.json")

    assert rows.problems == []
    positive, negative = values(rows, "results")
    assert positive == {
        "result_id": "R-20220620-3-0001",
        "sample_id": "S-20220620-3-0001",
        "pool_id": None,
        "reported_at": "2022-06-20T16:10:00+08:00",
        "outcome": "positive",
        "ct": "22",  # whole RNA, although the E gene Ct (21) is lower
        "ct_orf1ab": "23.5",
        "ct_n": "24.8",  # the lower of N1 (25.2) and N2 (24.8)
    }
    # The entered-in-error "Detected" on the same specimen is no result at all.
    assert negative["outcome"] == "negative"
    assert negative["sample_id"] == "S-20220620-3-0002"
    assert locations(rows, "results") == ["entry 3", "entry 11"]


def test_household_identifier_listed_first_is_not_the_person_id() -> None:
    rows = read("fhir_separate_ct_observations.json")

    first, second = values(rows, "persons")
    assert (first["person_id"], first["household_id"]) == ("P-440305-004411", "HH-440305-0771")
    assert first["sex"] == "other"
    assert second["sex"] is None  # no gender given


# -- one malformed file per failure class ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "fhir_bad_json.json",
            [("bundle", "json", "malformed JSON at line 10, column 9: Expecting ',' delimiter")],
        ),
        (
            "fhir_not_a_bundle.json",
            [("bundle", "resourceType", "the file holds a Patient resource, not a FHIR Bundle")],
        ),
        ("fhir_wrong_resource_type.json", [("entry 4", "resourceType", "'Immunization'")]),
        ("fhir_unknown_loinc.json", [("entry 3", "code", "(it had http://loinc.org|94762-2)")]),
        (
            "fhir_missing_value.json",
            [("entry 3", "valueCodeableConcept", "the qualitative result has no value")],
        ),
        (
            "fhir_unresolved_reference.json",
            [
                ("entry 2", "subject", "'Patient/p-404' does not resolve"),
                ("entry 3", "specimen", "'urn:uuid:1e7f-9999' does not resolve"),
            ],
        ),
        (
            "fhir_refused_by_fhir_resources.json",
            [
                ("entry 1", "birthDate", "day value is outside expected range"),
                ("entry 2", "collection.collectedDateTime", "needs a UTC offset"),
            ],
        ),
        ("fhir_latin1.json", [("bundle", "encoding", "byte 0xFC on line 17 (offset 339)")]),
    ],
)
def test_each_failure_class_is_one_exact_problem(
    name: str, expected: list[tuple[str, str, str]]
) -> None:
    rows = read(name)

    assert where(rows) == [(location, field) for location, field, _ in expected]
    for problem, (_, _, words) in zip(rows.problems, expected, strict=True):
        assert words in problem.reason


@pytest.mark.parametrize(
    "name", ["fhir_refused_by_fhir_resources.json", "fhir_latin1.json", "fhir_not_a_bundle.json"]
)
def test_no_personal_data_in_problem_reasons(name: str) -> None:
    rows = read(name)

    assert rows.problems
    reasons = " ".join(p.reason for p in rows.problems)
    for personal in ("Zhang", "Wei", "1234 5678", "ller", "rgen", "Wang", "1985-02-30"):
        assert personal not in reasons


def test_a_wrong_resource_type_does_not_hide_the_rows_of_the_others() -> None:
    rows = read("fhir_wrong_resource_type.json")

    assert values(rows, "results")[0]["outcome"] == "negative"
    assert values(rows, "samples")[0]["sample_id"] == "S-20220401-0777"


# -- smaller cases, built inline -----------------------------------------------------------------


def test_a_ct_observation_without_a_qualitative_one_is_a_problem() -> None:
    rows = read_fhir_bundle(bundle(patient(), specimen(), observation("ct1", "94745-7", **ct(30))))

    assert where(rows) == [("entry 2", "test"), ("entry 3", "specimen")]
    assert "needs exactly one qualitative result" in rows.problems[1].reason
    assert values(rows, "results") == []


def test_an_unrecognised_snomed_value_names_the_code_it_had() -> None:
    value = {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "419984006"}]}}
    rows = read_fhir_bundle(bundle(patient(), specimen(), observation("q", "94500-6", **value)))

    assert where(rows) == [("entry 3", "valueCodeableConcept")]
    assert "http://snomed.info/sct|419984006" in rows.problems[0].reason


def test_a_qualitative_code_outside_loinc_is_unknown() -> None:
    obs = observation("q", "94500-6", **detected())
    obs["code"]["coding"][0]["system"] = "http://local.lab/codes"
    rows = read_fhir_bundle(bundle(patient(), specimen(), obs))

    assert where(rows) == [("entry 3", "code")]
    assert "http://local.lab/codes|94500-6" in rows.problems[0].reason


def test_a_collection_date_without_time_is_a_problem() -> None:
    spec = specimen(collection={"collectedDateTime": "2022-04-01"})
    rows = read_fhir_bundle(bundle(patient(), spec, observation("q", "94500-6", **detected())))

    assert where(rows) == [("entry 2", "collection.collectedDateTime")]
    assert rows.problems[0].reason == "'2022-04-01' is a date without a time of day"


def test_a_ct_in_another_unit_is_a_problem() -> None:
    obs = observation("q", "94500-6", **detected())
    obs["component"] = [{"code": {"coding": [{"system": LOINC, "code": "94644-2"}]}, **ct(9, "s")}]
    rows = read_fhir_bundle(bundle(patient(), specimen(), obs))

    assert where(rows) == [("entry 3", "component[0].valueQuantity")]
    assert "unit 's'" in rows.problems[0].reason


def test_a_specimen_reference_to_a_patient_is_a_problem() -> None:
    obs = observation("q", "94500-6", **detected(), specimen={"reference": "Patient/p1"})
    rows = read_fhir_bundle(bundle(patient(), specimen(), obs))

    assert ("entry 3", "specimen") in where(rows)
    assert "points at a Patient (entry 1), not a Specimen" in rows.problems[-1].reason


def test_a_tube_in_two_pools_is_a_problem() -> None:
    pool_a = specimen("pa", parent=[{"reference": "Specimen/s1"}])
    pool_b = specimen("pb", parent=[{"reference": "Specimen/s1"}])
    rows = read_fhir_bundle(
        bundle(patient(), specimen(), pool_a, pool_b, observation("q", "94500-6", **detected()))
    )

    assert where(rows) == [("entry 4", "parent")]
    assert "already in the pool of entry 3" in rows.problems[0].reason


def test_an_unknown_gender_is_a_problem() -> None:
    person = {**patient(), "gender": "f"}
    rows = read_fhir_bundle(bundle(person, specimen(), observation("q", "94500-6", **detected())))

    assert where(rows) == [("entry 1", "gender")]


def test_every_problem_is_reported_not_only_the_first() -> None:
    rows = read_fhir_bundle(
        bundle(
            {**patient(), "gender": "f"},
            specimen(collection={"collectedDateTime": "2022-04-01"}),
            observation("q", "94500-6"),
            observation("x", "94762-2", **detected()),
            {"resourceType": "Practitioner", "id": "dr"},
        )
    )

    assert where(rows) == [
        ("entry 1", "gender"),
        ("entry 2", "collection.collectedDateTime"),
        ("entry 3", "valueCodeableConcept"),
        ("entry 4", "code"),
        ("entry 5", "resourceType"),
    ]


def test_a_json_array_is_not_a_bundle() -> None:
    rows = read_fhir_bundle(b"[]")

    assert where(rows) == [("bundle", "resourceType")]
    assert rows.problems[0].reason == "the file holds a JSON array, not a FHIR Bundle"


def test_a_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + (DATA / "fhir_antigen_positive.json").read_bytes()

    rows = read_fhir_bundle(data)

    assert rows.problems == []
    assert len(values(rows, "results")) == 1
