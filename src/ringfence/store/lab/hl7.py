"""Read HL7 v2.5.1 ORU^R01 lab result messages into `persons`, `samples` and `results` rows.

A file holds one or more messages, each starting at MSH; segments end in \\r, \\n or \\r\\n and
may be wrapped in MLLP framing. Problems are located as "line N", N being the 1-based number
of the segment in the file (blank lines and framing bytes are not segments).

hl7apy parses each message first, but it is lenient in ways that can move data: in tolerant
mode it folds surplus components and fields into others and refuses segments it does not
know. A segment whose hl7apy reading does not give back the text it came from is therefore
read by position from the text instead, and so is a message hl7apy refuses. Either way the
mapping sees the same fields, and values are looked up by HL7 position (PID-3, OBX-5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import get_message_info, parse_message

from ...schema.events import PERSONS, SAMPLES
from . import LabProblem, LabRecord, LabRows
from .codes import (
    CT_UNIT,
    HL7_LOINC,
    HL7_SNOMED,
    OUTCOMES,
    QUALITATIVE_TESTS,
    WITHDRAWN_HL7_STATUSES,
    CtReadings,
    describe_codes,
    known_loinc,
)
from .times import birth_year, hl7_instant

#: Batch and file envelope segments: they wrap messages and say nothing about results.
ENVELOPE_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})
#: HL7 table 0001 (administrative sex) → `persons.sex`.
HL7_SEXES = {"F": "female", "M": "male", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}
#: CX.5 identifier type code of the household identifier among the PID-3 repetitions.
HOUSEHOLD_TYPE = "HH"
_MLLP_FRAMING = re.compile(rb"[\x0b\x1c]")
_SEGMENT_END = re.compile(rb"\r\n|\r|\n")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def read_hl7_oru(data: bytes) -> LabRows:
    """Map a file of HL7 v2.5.1 ORU^R01 messages onto persons, samples and results rows.

    Returns every row that could be read and every problem found; a file with any problem
    must be stored not at all (see `ringfence.store.lab`).
    """
    rows = LabRows()
    lines = _decoded_lines(data, rows.problems)
    for message in _split_messages(lines, rows.problems):
        segments = _parsed_segments(message, rows.problems)
        if segments:
            _MessageReader(segments, rows).read()
    rows.problems.sort(key=lambda p: int(p.location.removeprefix("line ")))
    return rows


# -- lines and messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    number: int
    text: str

    @property
    def name(self) -> str:
        return self.text[:3].upper()


def _decoded_lines(data: bytes, problems: list[LabProblem]) -> list[_Line]:
    """The segments of the file as text, numbered; bytes that are not UTF-8 are reported."""
    data = _MLLP_FRAMING.sub(b"", data.removeprefix(b"\xef\xbb\xbf"))
    lines: list[_Line] = []
    for raw in _SEGMENT_END.split(data):
        if raw.strip():
            lines.append(_Line(len(lines) + 1, _decode(len(lines) + 1, raw.strip(), problems)))
    return lines


def _decode(number: int, raw: bytes, problems: list[LabProblem]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Keep reading so every other problem is found too; the file is refused anyway.
        text = raw.decode("latin-1")
        problems.append(LabProblem(f"line {number}", _field_at(text, exc.start), _not_utf8(exc)))
        return text


def _field_at(text: str, offset: int) -> str:
    """The "SEG-n" label of the field holding character `offset` of a segment."""
    name, separator = text[:3].upper(), text[3:4] or "|"
    number = text[:offset].count(separator)
    return f"{name}-{number + 1 if name == 'MSH' else number}"


def _not_utf8(exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start]
    return (
        f"byte 0x{byte:02X} is not valid UTF-8 (a latin-1 or GB 18030 export?); "
        "send HL7 files as UTF-8"
    )


def _split_messages(lines: list[_Line], problems: list[LabProblem]) -> list[list[_Line]]:
    """Group the lines into messages, each starting at its MSH."""
    messages: list[list[_Line]] = []
    for line in lines:
        if line.name in ENVELOPE_SEGMENTS:
            continue
        if line.name == "MSH":
            messages.append([line])
        elif messages:
            messages[-1].append(line)
        else:
            reason = f"{line.name} segment before the first MSH; every message starts with MSH"
            problems.append(LabProblem(f"line {line.number}", line.name, reason))
    return messages


# -- segments and fields -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    """The delimiters a message declares in MSH-1 and MSH-2."""

    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str

    def unescape(self, text: str) -> str:
        if self.escape not in text:
            return text
        replacements = {
            "F": self.field,
            "S": self.component,
            "T": self.subcomponent,
            "R": self.repetition,
            "E": self.escape,
        }
        for code, char in replacements.items():
            text = text.replace(f"{self.escape}{code}{self.escape}", char)
        return text


@dataclass(frozen=True)
class _Segment:
    """One segment, its fields addressed by HL7 position: `fields[n]` is field n as ER7 text."""

    line: int
    name: str
    fields: tuple[str, ...]
    encoding: _Encoding

    def label(self, number: int) -> str:
        return f"{self.name}-{number}"

    def repetitions(self, number: int) -> list[str]:
        text = self.fields[number] if number < len(self.fields) else ""
        return text.split(self.encoding.repetition) if text else []

    def value(self, number: int, component: int = 1, sub: int = 1, repetition: int = 0) -> str:
        """One value, unescaped; "" when absent (HL7 does not tell absent from empty here)."""
        repetitions = self.repetitions(number)
        if repetition >= len(repetitions):
            return ""
        return _part(repetitions[repetition], component, sub, self.encoding)

    def coded(self, number: int, repetition: int = 0) -> list[tuple[str, str]]:
        """(code, coding system) pairs of a CWE/CE field: the primary and the alternate."""
        pairs = []
        for component in (1, 4):
            code = self.value(number, component, repetition=repetition)
            system = self.value(number, component + 2, repetition=repetition)
            if code:
                pairs.append((code, system.upper()))
        return pairs


def _part(text: str, component: int, sub: int, encoding: _Encoding) -> str:
    components = text.split(encoding.component)
    if component > len(components):
        return ""
    subs = components[component - 1].split(encoding.subcomponent)
    return encoding.unescape(subs[sub - 1]) if sub <= len(subs) else ""


def _parsed_segments(message: list[_Line], problems: list[LabProblem]) -> list[_Segment]:
    """The message's segments, read by hl7apy where it is faithful, by position otherwise."""
    header = message[0]
    try:
        chars, _, _ = get_message_info(header.text)
    except Exception as exc:  # hl7apy raises several unrelated types for a broken MSH
        reason = f"MSH does not declare usable delimiters: {' '.join(str(exc).split())[:120]}"
        problems.append(LabProblem(f"line {header.number}", "MSH-2", reason))
        return []
    encoding = _Encoding(
        field=chars["FIELD"],
        component=chars["COMPONENT"],
        repetition=chars["REPETITION"],
        escape=chars["ESCAPE"],
        subcomponent=chars["SUBCOMPONENT"],
    )
    by_text = [_segment_from_text(line, encoding) for line in message]
    by_hl7apy = _hl7apy_fields(message, encoding)
    return [
        _Segment(text.line, text.name, fields, encoding)
        if fields is not None and _canonical(fields, encoding) == _canonical(text.fields, encoding)
        else text
        for text, fields in zip(by_text, by_hl7apy, strict=True)
    ]


def _segment_from_text(line: _Line, encoding: _Encoding) -> _Segment:
    parts = line.text.split(encoding.field)
    name = line.name
    # MSH-1 is the field separator itself, so MSH fields sit one place further along.
    fields = (name, encoding.field, *parts[1:]) if name == "MSH" else (name, *parts[1:])
    return _Segment(line.number, name, tuple(fields), encoding)


def _hl7apy_fields(message: list[_Line], encoding: _Encoding) -> list[tuple[str, ...] | None]:
    """hl7apy's reading of each segment's fields; None for all if it refuses the message."""
    try:
        parsed = parse_message(
            "\r".join(line.text for line in message),
            find_groups=False,
            validation_level=VALIDATION_LEVEL.TOLERANT,
        )
        fields = [_fields_of(child, encoding) for child in parsed.children]
    except Exception:  # hl7apy fails on real-world quirks in many ways; position reading copes
        return [None] * len(message)
    return fields if len(fields) == len(message) else [None] * len(message)


def _fields_of(segment: Any, encoding: _Encoding) -> tuple[str, ...] | None:
    name = str(segment.name)
    by_number: dict[int, list[str]] = {}
    for child in segment.children:
        prefix, _, number = str(child.name).rpartition("_")
        if prefix != name or not number.isdigit():
            return None  # a field hl7apy could not place: read this segment from its text
        by_number.setdefault(int(number), []).append(str(child.to_er7()))
    last = max(by_number, default=0)
    return (name, *(encoding.repetition.join(by_number.get(n, [])) for n in range(1, last + 1)))


def _canonical(fields: tuple[str, ...], encoding: _Encoding) -> list[Any]:
    """Fields with trailing empty parts dropped at every level, as hl7apy writes them."""
    return _trimmed([_canonical_field(f, encoding) for f in fields])


def _canonical_field(text: str, encoding: _Encoding) -> list[Any]:
    return _trimmed(
        [
            _trimmed(
                [_trimmed(c.split(encoding.subcomponent)) for c in r.split(encoding.component)]
            )
            for r in text.split(encoding.repetition)
        ]
    )


def _trimmed(parts: list[Any]) -> list[Any]:
    while parts and parts[-1] in ("", []):
        parts = parts[:-1]
    return parts


# -- the mapping -------------------------------------------------------------------------------


@dataclass
class _Group:
    """The segments of one OBR: its result OBXs, its SPM(s), and the OBXs after an SPM."""

    line: int
    person_id: str | None
    obr: _Segment | None
    results: list[_Segment] = field(default_factory=list)
    specimens: list[_Segment] = field(default_factory=list)
    specimen_observations: list[_Segment] = field(default_factory=list)


@dataclass
class _Qualitative:
    obx: _Segment
    test: str
    outcome: str | None
    reported_at: str | None


@dataclass
class _Specimen:
    """Everything one message says about one specimen (one SPM-2 sample id)."""

    spm: _Segment
    sample_id: str
    person_id: str | None
    collected_at: str | None
    results: list[_Qualitative] = field(default_factory=list)
    cts: CtReadings = field(default_factory=CtReadings)
    ct_lines: list[_Segment] = field(default_factory=list)


class _MessageReader:
    """Maps one ORU^R01 message; every problem is added to `rows`."""

    def __init__(self, segments: list[_Segment], rows: LabRows) -> None:
        self.msh = segments[0]
        self.segments = segments[1:]
        self.rows = rows
        self.unread_results = 0

    def read(self) -> None:
        if not self.is_oru():
            return
        control_id = self.control_id()
        groups = self.read_groups()
        specimens: dict[str, _Specimen] = {}
        for group in groups:
            self.read_group(group, specimens)
        for specimen in specimens.values():
            self.emit(specimen, control_id)

    # -- helpers

    def problem(self, line: int, field_name: str, reason: str) -> None:
        self.rows.problems.append(LabProblem(f"line {line}", field_name, reason))

    def record(self, table: str, segment: _Segment, values: dict[str, str | None]) -> None:
        self.rows.records.append(LabRecord(table, f"line {segment.line}", values))

    def instant(self, segment: _Segment, number: int, text: str) -> str | None:
        try:
            return hl7_instant(text)
        except ValueError as exc:
            self.problem(segment.line, segment.label(number), str(exc))
            return None

    # -- header

    def is_oru(self) -> bool:
        kind = (self.msh.value(9, 1), self.msh.value(9, 2))
        if kind == ("ORU", "R01"):
            return True
        shown = "^".join(k for k in kind if k) or "empty"
        reason = f"message type {shown!r} is not ORU^R01; only lab results are read here"
        self.problem(self.msh.line, "MSH-9", reason)
        return False

    def control_id(self) -> str:
        control_id = self.msh.value(10)
        if not control_id:
            reason = "the message has no control id (MSH-10), which names its results"
            self.problem(self.msh.line, "MSH-10", reason)
        return control_id

    # -- structure

    def read_groups(self) -> list[_Group]:
        """Split the message at PID and OBR; OBX and SPM belong to the group they follow."""
        groups: list[_Group] = []
        person_id: str | None = None
        seen_pid = False
        for segment in self.segments:
            if segment.name == "PID":
                seen_pid, person_id = True, self.read_pid(segment)
                groups.append(_Group(segment.line, person_id, None))
            elif segment.name == "OBR":
                groups.append(_Group(segment.line, person_id, segment))
            elif segment.name in ("OBX", "SPM"):
                if not groups:
                    groups.append(_Group(segment.line, person_id, None))
                _place(groups[-1], segment)
        if not seen_pid:
            self.problem(self.msh.line, "PID", "the message has no PID segment for its patient")
        groups = [g for g in groups if g.results or g.specimens or g.specimen_observations]
        if not groups:
            self.problem(self.msh.line, "OBX", "the message has no OBX result segment")
        return groups

    # -- patient

    def read_pid(self, pid: _Segment) -> str | None:
        """The person_id of PID-3, with a persons row when the PID has all it requires."""
        ids = [
            (pid.value(3, 1, repetition=r), pid.value(3, 5, repetition=r))
            for r in range(len(pid.repetitions(3)))
        ]
        person_id = next((v for v, kind in ids if v and kind != HOUSEHOLD_TYPE), None)
        household_id = next((v for v, kind in ids if v and kind == HOUSEHOLD_TYPE), None)
        if person_id is None:
            self.problem(pid.line, "PID-3", "no patient identifier (PID-3.1) to use as person_id")
        values = {
            "person_id": person_id,
            "household_id": household_id,
            "birth_year": self.birth_year(pid),
            "district": pid.value(11, 9) or None,
            "sex": self.sex(pid),
        }
        if all(values[c] for c in PERSONS.required):
            self.record("persons", pid, values)
        return person_id

    def birth_year(self, pid: _Segment) -> str | None:
        text = pid.value(7)
        year = birth_year(text) if text else None
        if text and year is None:
            # The birth date itself is not repeated: it helps identify a person.
            self.problem(pid.line, "PID-7", "the birth date does not start with a 4-digit year")
        return year

    def sex(self, pid: _Segment) -> str | None:
        code = pid.value(8)
        if not code or code in HL7_SEXES:
            return HL7_SEXES.get(code)
        reason = f"sex {code[:10]!r} is not an HL7 table 0001 code ({', '.join(HL7_SEXES)})"
        self.problem(pid.line, "PID-8", reason)
        return None

    # -- specimens and observations

    def read_group(self, group: _Group, specimens: dict[str, _Specimen]) -> None:
        specimen = self.group_specimen(group, specimens)
        for obx in group.results:
            self.read_obx(obx, specimen, group, answers_allowed=False)
        for obx in group.specimen_observations:
            self.read_obx(obx, specimen, group, answers_allowed=True)

    def group_specimen(self, group: _Group, specimens: dict[str, _Specimen]) -> _Specimen | None:
        """The specimen the group's results are for: its one SPM, merged by sample id."""
        if not group.specimens:
            if group.results:
                reason = "no SPM segment names the specimen these results are for"
                self.problem(group.line, "SPM", reason)
            return None
        for extra in group.specimens[1:]:
            reason = "a second SPM under one OBR: the results cannot be tied to one specimen"
            self.problem(extra.line, "SPM", reason)
        spm = group.specimens[0]
        sample_id = spm.value(2, 1) or spm.value(2, 2)
        if not sample_id:
            self.problem(spm.line, "SPM-2", "no specimen id (SPM-2 placer or filler id)")
            return None
        if sample_id not in specimens:
            collected_at = self.collected_at(spm)
            specimens[sample_id] = _Specimen(spm, sample_id, group.person_id, collected_at)
        return specimens[sample_id]

    def collected_at(self, spm: _Segment) -> str | None:
        text = spm.value(17, 1)
        if not text:
            self.problem(spm.line, "SPM-17", "no collection time (SPM-17.1)")
            return None
        return self.instant(spm, 17, text)

    def read_obx(
        self, obx: _Segment, specimen: _Specimen | None, group: _Group, answers_allowed: bool
    ) -> None:
        codes = obx.coded(3)
        code = next((c for c, s in codes if s == HL7_LOINC and known_loinc(c)), None)
        if code is None:
            # An OBX after the SPM may answer an ask-at-order-entry question (symptoms,
            # first test?): not a result, and not a reason to refuse the message.
            if not answers_allowed:
                reason = (
                    "not a SARS-CoV-2 PCR, antigen or Ct LOINC code "
                    f"(it had {describe_codes(f'{c}^{s}' for c, s in codes)})"
                )
                self.problem(obx.line, "OBX-3", reason)
                self.unread_results += 1
            return
        if obx.value(11) in WITHDRAWN_HL7_STATUSES:
            return  # a withdrawn result must not become a row
        if code in QUALITATIVE_TESTS:
            result = _Qualitative(
                obx, QUALITATIVE_TESTS[code], self.outcome(obx), self.reported_at(obx, group)
            )
            if specimen is not None:
                specimen.results.append(result)
        else:
            self.read_ct(obx, code, specimen)

    def outcome(self, obx: _Segment) -> str | None:
        codes = obx.coded(5)
        outcome = next((OUTCOMES[c] for c, s in codes if s == HL7_SNOMED and c in OUTCOMES), None)
        if outcome is None:
            reason = (
                "the result is not a SNOMED CT code for detected, not detected or invalid "
                f"(it had {describe_codes(f'{c}^{s}' for c, s in codes)})"
            )
            self.problem(obx.line, "OBX-5", reason)
        return outcome

    def reported_at(self, obx: _Segment, group: _Group) -> str | None:
        """OBX-14, else the OBR-22 status change time, else the message time MSH-7."""
        sources = [(obx, 14), (group.obr, 22), (self.msh, 7)]
        for segment, number in sources:
            if segment is not None and segment.value(number):
                return self.instant(segment, number, segment.value(number))
        self.problem(obx.line, "OBX-14", "no result time in OBX-14, OBR-22 or MSH-7")
        return None

    def read_ct(self, obx: _Segment, code: str, specimen: _Specimen | None) -> None:
        kind, text, unit = obx.value(2), obx.value(5), obx.coded(6)
        if kind != "NM":
            self.problem(obx.line, "OBX-2", f"a Ct reading has value type {kind!r}, not NM")
        elif not _NUMBER.fullmatch(text):
            self.problem(obx.line, "OBX-5", f"the Ct reading {code} is not a number: {text[:20]!r}")
        elif unit and unit[0][1] == "UCUM" and unit[0][0] != CT_UNIT:
            reason = f"the Ct reading {code} has unit {unit[0][0][:20]!r}, not {CT_UNIT}"
            self.problem(obx.line, "OBX-6", reason)
        elif specimen is not None:
            conflict = specimen.cts.add(code, float(text))
            if conflict is not None:
                self.problem(obx.line, "OBX-5", conflict)
            specimen.ct_lines.append(obx)

    # -- rows

    def emit(self, specimen: _Specimen, control_id: str) -> None:
        """The samples row, and the results row of its one qualitative result."""
        test = self.check_results(specimen)
        sample: dict[str, str | None] = dict.fromkeys(SAMPLES.column_names)
        sample.update(
            sample_id=specimen.sample_id,
            person_id=specimen.person_id,
            collected_at=specimen.collected_at,
            test=test,
        )
        self.record("samples", specimen.spm, sample)
        for result in specimen.results[:1]:
            values: dict[str, str | None] = {
                "result_id": f"{control_id}-{specimen.sample_id}",
                "sample_id": specimen.sample_id,
                "pool_id": None,
                "reported_at": result.reported_at,
                "outcome": result.outcome,
                **specimen.cts.columns(),
            }
            self.record("results", result.obx, values)

    def check_results(self, specimen: _Specimen) -> str | None:
        """The specimen's test, after checking it has exactly one qualitative result."""
        results = specimen.results
        for extra in results[1:]:
            reason = (
                f"a second qualitative result for specimen {specimen.sample_id!r} in one "
                "message; send one result per specimen per message"
            )
            self.problem(extra.obx.line, "OBX-3", reason)
        if results:
            return results[0].test
        for obx in specimen.ct_lines[:1]:
            reason = "a Ct reading needs a qualitative result OBX for the same specimen"
            self.problem(obx.line, "OBX-3", reason)
        if not self.unread_results:  # else the missing result was most likely reported already
            reason = "no OBX with a SARS-CoV-2 PCR or antigen result for this specimen"
            self.problem(specimen.spm.line, "OBX", reason)
        return None


def _place(group: _Group, segment: _Segment) -> None:
    if segment.name == "SPM":
        group.specimens.append(segment)
    elif group.specimens:
        group.specimen_observations.append(segment)
    else:
        group.results.append(segment)


__all__ = ["read_hl7_oru"]
