"""The HL7 v2.5.1 ORU^R01 adapter: real messages map to exact rows, broken ones to problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.store.lab import LabRows, hl7
from ringfence.store.lab.hl7 import read_hl7_oru
from ringfence.store.lab.times import hl7_instant

DATA = Path(__file__).parent / "data" / "lab"
MSH = "MSH|^~\\&|LIMS|LAB|RINGFENCE|HEALTH|20220410120000+0800||ORU^R01^ORU_R01|M-1|P|2.5.1"
PID = "PID|1||P-1^^^MPI^PI~HH-1^^^MPI^HH||Doe^Jane||19900101|F|||^^^^^^^^Xicheng"
OBR = "OBR|1|ORD-1||94500-6^SARS-CoV-2 RNA^LN"
PCR = "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||F|||202204101100+0800"
SPM = "SPM|1|S-1||258500001^NP swab^SCT|||||||||||||202204100800+0800"


def read(name: str) -> LabRows:
    return read_hl7_oru((DATA / name).read_bytes())


def message(*segments: str) -> bytes:
    return ("\r".join(segments) + "\r").encode()


def values(rows: LabRows, table: str) -> list[dict[str, str | None]]:
    return [r.values for r in rows.records if r.table == table]


def where(rows: LabRows) -> list[tuple[str, str]]:
    return [(p.location, p.field) for p in rows.problems]


# -- realistic messages ------------------------------------------------------------------------


def test_single_patient_pcr_positive_with_orf1ab_and_n_ct() -> None:
    rows = read("hl7_pcr_positive_ct.hl7")

    # The OBX after SPM answers "has symptoms?" (95419-8): not a result, and not a problem.
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
            "sample_id": "S-20220401-0001",  # the placer id, SPM-2.1
            "person_id": "P-110108-000123",
            "place_id": None,
            "collected_at": "2022-04-01T08:30:00+08:00",
            "test": "pcr",
            "pool_id": None,
            "purpose": None,
            "item": None,
        }
    ]
    assert values(rows, "results") == [
        {
            "result_id": "LIMS-20220401-000123-S-20220401-0001",
            "sample_id": "S-20220401-0001",
            "pool_id": None,
            "reported_at": "2022-04-01T14:02:00+08:00",  # OBX-14
            "outcome": "positive",
            "ct": "24.1",
            "ct_orf1ab": "24.1",
            "ct_n": "26.35",
        }
    ]
    assert [r.location for r in rows.records] == ["line 3", "line 9", "line 6"]


def test_several_mllp_framed_messages_in_one_file() -> None:
    rows = read("hl7_batch_mllp.hl7")

    assert rows.problems == []
    assert [(r["result_id"], r["outcome"], r["reported_at"]) for r in values(rows, "results")] == [
        # OBX-14 empty: OBR-22; a naive timestamp stays naive.
        ("FC-20220503-000019-RAT-20220503-0019", "positive", "2022-05-03T19:45:00"),
        ("LIMS-20220503-004410-S-20220503-0311", "negative", "2022-05-03T22:08:00+08:00"),
        # OBX-14 and OBR-22 empty: the message time MSH-7.
        ("LIMS-20220503-004411-S-20220503-0312", "invalid", "2022-05-03T22:16:00+08:00"),
    ]
    assert [(s["sample_id"], s["test"], s["person_id"]) for s in values(rows, "samples")] == [
        ("RAT-20220503-0019", "antigen", "P-110101-000310"),
        ("S-20220503-0311", "pcr", "P-110101-000311"),
        ("S-20220503-0312", "pcr", "P-110101-000312"),
    ]
    assert values(rows, "samples")[0]["collected_at"] == "2022-05-03T19:30:00"
    # The second patient has no household id nor district: no persons row for them.
    assert [p["person_id"] for p in values(rows, "persons")] == [
        "P-110101-000310",
        "P-110101-000312",
    ]
    # Segments are numbered across the file; framing bytes are not lines.
    assert [r.location for r in rows.records if r.table == "results"] == [
        "line 5",
        "line 10",
        "line 15",
    ]


def test_a_message_hl7apy_refuses_is_read_by_position() -> None:
    rows = read("hl7_hl7apy_refuses.hl7")  # 2.3.1 header with an SPM: hl7apy gives up

    assert rows.problems == []
    assert values(rows, "results") == [
        {
            "result_id": "OLD-LIS-0000071-S-20220402-CY-0009",
            "sample_id": "S-20220402-CY-0009",
            "pool_id": None,
            "reported_at": "2022-04-02T10:25:00+08:00",
            "outcome": "positive",
            "ct": "29.7",  # whole RNA wins over the lower E gene Ct
            "ct_orf1ab": None,
            "ct_n": None,
        }
    ]
    assert values(rows, "persons")[0]["household_id"] == "HH-110105-0005"


def test_without_hl7apy_the_mapping_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = read("hl7_pcr_positive_ct.hl7")

    def refuse(*args: object, **kwargs: object) -> None:
        raise ValueError("hl7apy refuses")

    monkeypatch.setattr(hl7, "parse_message", refuse)
    assert read("hl7_pcr_positive_ct.hl7") == expected


def test_a_segment_hl7apy_would_rewrite_is_read_from_its_text() -> None:
    # hl7apy folds surplus CX components into CX.11; position reading keeps them in place.
    lines = [hl7._Line(1, MSH), hl7._Line(2, "PID|1||P-1^^^MPI^PI^^^^^^^^^^^^^^^spare")]

    segments = hl7._parsed_segments(lines, [])

    assert segments[1].value(3, 20) == "spare"
    assert segments[1].value(3, 11) == ""


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_any_segment_separator(separator: str) -> None:
    data = separator.join([MSH, PID, OBR, PCR, SPM]).encode()

    rows = read_hl7_oru(data)

    assert rows.problems == []
    assert values(rows, "samples")[0]["sample_id"] == "S-1"
    assert values(rows, "persons")[0]["district"] == "Xicheng"


def test_results_of_one_specimen_in_two_obr_groups_are_one_result() -> None:
    ct_obr = "OBR|2|ORD-1||94745-7^SARS-CoV-2 RNA Ct^LN"
    ct_obx = "OBX|1|NM|94745-7^SARS-CoV-2 RNA Ct^LN||31.5|{Ct_value}^^UCUM|||||F"
    rows = read_hl7_oru(message(MSH, PID, OBR, PCR, SPM, ct_obr, ct_obx, SPM))

    assert rows.problems == []
    assert [(r["result_id"], r["ct"]) for r in values(rows, "results")] == [("M-1-S-1", "31.5")]
    assert len(values(rows, "samples")) == 1


def test_a_withdrawn_result_is_no_row() -> None:
    wrong = "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||W"
    negative = "OBX|2|CWE|94500-6^SARS-CoV-2 RNA^LN||260415000^Not detected^SCT||||||C"
    rows = read_hl7_oru(message(MSH, PID, OBR, wrong, negative, SPM))

    assert rows.problems == []
    assert [r["outcome"] for r in values(rows, "results")] == ["negative"]


# -- one malformed file per failure class ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "hl7_no_obx.hl7",
            [("line 5", "OBX", "no OBX with a SARS-CoV-2 PCR or antigen result")],
        ),
        (
            "hl7_bad_timestamp.hl7",
            [
                ("line 4", "OBX-14", "'2022-04-05 14:02' is not an HL7 timestamp"),
                ("line 5", "SPM-17", "'20220405' is a date without a time of day"),
            ],
        ),
        (
            "hl7_not_oru.hl7",
            [("line 1", "MSH-9", "message type 'ADT^A01' is not ORU^R01")],
        ),
        ("hl7_unknown_loinc.hl7", [("line 4", "OBX-3", "(it had 94762-2^LN)")]),
        ("hl7_unrecognised_value.hl7", [("line 4", "OBX-5", "(it had POS^L)")]),
        ("hl7_latin1.hl7", [("line 2", "PID-5", "byte 0xFC is not valid UTF-8")]),
    ],
)
def test_each_failure_class_is_an_exact_problem(
    name: str, expected: list[tuple[str, str, str]]
) -> None:
    rows = read(name)

    assert where(rows) == [(location, field) for location, field, _ in expected]
    for problem, (_, _, words) in zip(rows.problems, expected, strict=True):
        assert words in problem.reason


def test_a_message_that_is_not_oru_yields_no_rows() -> None:
    assert read("hl7_not_oru.hl7").records == []


def test_no_personal_data_in_problem_reasons() -> None:
    rows = read("hl7_latin1.hl7")

    assert rows.problems
    for problem in rows.problems:
        assert "ller" not in problem.reason
        assert "rgen" not in problem.reason


def test_a_bad_birth_date_is_reported_without_repeating_it() -> None:
    rows = read_hl7_oru(message(MSH, PID.replace("19900101", "1/1/90"), OBR, PCR, SPM))

    assert where(rows) == [("line 2", "PID-7")]
    assert "1/1/90" not in rows.problems[0].reason


# -- smaller cases, built inline -----------------------------------------------------------------


def test_a_message_without_pid_is_a_problem() -> None:
    rows = read_hl7_oru(message(MSH, OBR, PCR, SPM))

    assert where(rows) == [("line 1", "PID")]


def test_results_without_spm_are_a_problem_at_their_obr() -> None:
    rows = read_hl7_oru(message(MSH, PID, OBR, PCR))

    assert where(rows) == [("line 3", "SPM")]
    assert values(rows, "results") == []


def test_a_message_with_no_result_segment_at_all() -> None:
    rows = read_hl7_oru(message(MSH, PID))

    assert where(rows) == [("line 1", "OBX")]


def test_a_ct_without_a_qualitative_result_is_a_problem() -> None:
    ct_obx = "OBX|1|NM|94644-2^ORF1ab Ct^LN||28|{Ct_value}^^UCUM|||||F"
    rows = read_hl7_oru(message(MSH, PID, OBR, ct_obx, SPM))

    assert where(rows) == [("line 4", "OBX-3"), ("line 5", "OBX")]
    assert "a Ct reading needs a qualitative result" in rows.problems[0].reason


def test_a_ct_that_is_not_numeric_is_a_problem() -> None:
    ct_obx = "OBX|2|ST|94644-2^ORF1ab Ct^LN||>40||||||F"
    rows = read_hl7_oru(message(MSH, PID, OBR, PCR, ct_obx, SPM))

    assert where(rows) == [("line 5", "OBX-2")]
    assert "value type 'ST', not NM" in rows.problems[0].reason


def test_two_qualitative_results_for_one_specimen_in_one_message() -> None:
    again = PCR.replace("OBX|1|", "OBX|2|")
    rows = read_hl7_oru(message(MSH, PID, OBR, PCR, again, SPM))

    assert where(rows) == [("line 5", "OBX-3")]
    assert "one result per specimen per message" in rows.problems[0].reason


def test_a_segment_before_the_first_msh_is_a_problem() -> None:
    rows = read_hl7_oru(message(PID, MSH, PID, OBR, PCR, SPM))

    assert where(rows) == [("line 1", "PID")]
    assert len(values(rows, "results")) == 1


def test_batch_envelope_segments_are_not_problems() -> None:
    rows = read_hl7_oru(
        message("FHS|^~\\&|LIMS", "BHS|^~\\&|LIMS", MSH, PID, OBR, PCR, SPM, "BTS|1", "FTS|1")
    )

    assert rows.problems == []
    assert [r.location for r in rows.records if r.table == "samples"] == ["line 7"]


def test_broken_delimiters_are_a_problem() -> None:
    rows = read_hl7_oru(message(MSH.replace("^~\\&", "^~"), PID, OBR, PCR, SPM))

    assert where(rows) == [("line 1", "MSH-2")]


def test_problems_of_all_messages_are_reported() -> None:
    bad_time = PCR.replace("202204101100+0800", "20221301")
    data = message(MSH, PID, OBR, bad_time, SPM) + message(
        MSH.replace("ORU^R01^ORU_R01", "ACK"), "MSA|AA|M-0"
    )

    rows = read_hl7_oru(data)

    assert where(rows) == [("line 4", "OBX-14"), ("line 6", "MSH-9")]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("202204011402", "2022-04-01T14:02:00"),
        ("20220401140230+0800", "2022-04-01T14:02:30+08:00"),
        ("20220401140230.25-0530", "2022-04-01T14:02:30.25-05:30"),
        ("20220401140230+0000", "2022-04-01T14:02:30+00:00"),
    ],
)
def test_hl7_timestamps_become_iso_text_keeping_the_offset(text: str, iso: str) -> None:
    assert hl7_instant(text) == iso


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("20220401", "'20220401' is a date without a time of day"),
        ("2022-04-01T14:02", "'2022-04-01T14:02' is not an HL7 timestamp"),
        ("202213011402", "'202213011402' is not a real date and time"),
        ("202204011402+2500", "'202204011402+2500' is not a real date and time"),
    ],
)
def test_malformed_hl7_timestamps_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("+", r"\+")):
        hl7_instant(text)
