"""Read one FHIR R4 Bundle of SARS-CoV-2 lab results into `persons`, `samples` and `results` rows.

The Bundle is checked in three passes: the bytes (UTF-8, JSON, a Bundle at all), each entry on
its own against fhir.resources (so one broken resource does not hide the problems of the
others), and then the lab meaning (codes, references, pools). Every problem is reported; the
caller stores nothing from a file that has any.

fhir.resources has no R4 package; R4B is wire-compatible with R4 for the resources read here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.fhirresourcemodel import FHIRResourceModel
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.specimen import Specimen
from pydantic import ValidationError

from ...schema.events import PERSONS, SAMPLES, SEXES
from . import LabProblem, LabRecord, LabRows
from .codes import (
    CT_TARGETS,
    CT_UNIT,
    LOINC_SYSTEM,
    OUTCOMES,
    QUALITATIVE_TESTS,
    SNOMED_SYSTEM,
    WITHDRAWN_FHIR_STATUSES,
    CtReadings,
    describe_codes,
    known_loinc,
)
from .times import birth_year, is_naive_iso, iso_instant

#: Resources that can name an environment sample's place (Specimen.subject in R4).
PLACE_TYPES = ("Location", "Substance", "Device")
#: Resources a lab bundle may carry that say nothing the event tables hold.
IGNORED_TYPES = ("DiagnosticReport", "ServiceRequest")
ACCEPTED_TYPES = ("Patient", "Specimen", "Observation", *PLACE_TYPES, *IGNORED_TYPES)
#: fhir.resources messages can be long; a problem reason stays one readable line.
_MAX_MESSAGE = 200


def read_fhir_bundle(data: bytes) -> LabRows:
    """Map one FHIR R4 Bundle (JSON bytes) onto persons, samples and results rows.

    Returns every row that could be read and every problem found; a file with any problem
    must be stored not at all (see `ringfence.store.lab`).
    """
    rows = LabRows()
    raw = _load_bundle(data, rows.problems)
    if raw is None:
        return rows
    raw_entries = _raw_entries(raw, rows.problems)
    _validate_envelope(raw, raw_entries, rows.problems)
    entries = _validated_entries(raw_entries, rows.problems)
    _BundleReader(entries, raw_entries, rows).read()
    rows.problems.sort(key=_problem_order)
    return rows


def _problem_order(problem: LabProblem) -> int:
    """Bundle-level problems first, then by entry, as a person reads the file."""
    number = problem.location.removeprefix("entry ")
    return int(number) if number.isdigit() else 0


# -- pass 1: bytes, JSON, Bundle ---------------------------------------------------------------


def _load_bundle(data: bytes, problems: list[LabProblem]) -> dict[str, Any] | None:
    """The Bundle as a JSON object, or None after reporting why the file is not one."""
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is legal and common from Windows
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = (
            f"byte 0x{data[exc.start]:02X} on line {line} (offset {exc.start}) is not valid "
            "UTF-8; FHIR JSON must be sent as UTF-8"
        )
        problems.append(LabProblem("bundle", "encoding", reason))
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        problems.append(LabProblem("bundle", "json", reason))
        return None
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        reason = f"the file holds {_what_json_is(raw)}, not a FHIR Bundle"
        problems.append(LabProblem("bundle", "resourceType", reason))
        return None
    return raw


def _what_json_is(raw: object) -> str:
    if isinstance(raw, dict):
        kind = raw.get("resourceType")
        return f"a {str(kind)[:40]} resource" if kind else "a JSON object without resourceType"
    if isinstance(raw, list):
        return "a JSON array"
    return "a JSON string" if isinstance(raw, str) else "a single JSON value"


# -- pass 2: each entry against fhir.resources -------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One usable Bundle entry: its 1-based number, its parsed resource and its raw JSON.

    The raw JSON is kept because fhir.resources turns timestamps into datetime objects, and
    an instant must leave here as the text the lab wrote.
    """

    number: int
    raw_entry: dict[str, Any]
    resource: FHIRResourceModel
    raw: dict[str, Any]

    @property
    def location(self) -> str:
        return f"entry {self.number}"

    @property
    def type(self) -> str:
        return str(self.raw["resourceType"])

    def text(self, *path: str) -> str | None:
        """The raw JSON string at `path` (e.g. "collection", "collectedDateTime")."""
        value: Any = self.raw
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, str) else None


def _raw_entries(raw: dict[str, Any], problems: list[LabProblem]) -> list[Any]:
    raw_entries = raw.get("entry", [])
    if isinstance(raw_entries, list):
        return raw_entries
    problems.append(LabProblem("bundle", "entry", "Bundle.entry is not a list"))
    return []


def _validated_entries(raw_entries: list[Any], problems: list[LabProblem]) -> list[_Entry]:
    """The entries fhir.resources accepts, reporting every one it does not."""
    entries = []
    for number, raw_entry in enumerate(raw_entries, start=1):
        entry = _validated_entry(number, raw_entry, problems)
        if entry is not None:
            entries.append(entry)
    return entries


def _validate_envelope(
    raw: dict[str, Any], raw_entries: list[Any], problems: list[LabProblem]
) -> None:
    """Check the Bundle itself (type, fullUrls) without its resources, checked one by one."""
    shell = {**raw, "entry": [_without_resource(e) for e in raw_entries] or None}
    try:
        get_fhir_model_class("Bundle").model_validate(shell)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            if loc[:1] == ("entry",) and len(loc) > 1 and isinstance(loc[1], int):
                where, path = f"entry {loc[1] + 1}", loc[2:]
            else:
                where, path = "bundle", loc
            reason = _refusal(error, raw)
            problems.append(LabProblem(where, _field_path(path, "Bundle"), reason))


def _without_resource(raw_entry: Any) -> Any:
    if isinstance(raw_entry, dict):
        return {k: v for k, v in raw_entry.items() if k != "resource"}
    return raw_entry


def _validated_entry(number: int, raw_entry: Any, problems: list[LabProblem]) -> _Entry | None:
    location = f"entry {number}"
    resource = raw_entry.get("resource") if isinstance(raw_entry, dict) else None
    if not isinstance(resource, dict):
        problems.append(LabProblem(location, "resource", "the entry has no resource"))
        return None
    kind = resource.get("resourceType")
    if kind not in ACCEPTED_TYPES:
        reason = (
            f"resource type {str(kind)[:40]!r} is not part of a lab result message "
            f"(expected one of {', '.join(ACCEPTED_TYPES)})"
        )
        problems.append(LabProblem(location, "resourceType", reason))
        return None
    try:
        model = get_fhir_model_class(kind).model_validate(resource)
    except ValidationError as exc:
        for error in exc.errors():
            reason = _refusal(error, resource)
            problems.append(LabProblem(location, _field_path(error["loc"], kind), reason))
        return None
    assert isinstance(model, FHIRResourceModel)
    return _Entry(number, raw_entry, model, resource)


def _field_path(loc: tuple[int | str, ...], default: str) -> str:
    """A pydantic location as FHIR path text: ("component", 0, "code") → "component[0].code"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or default


def _refusal(error: Any, raw: dict[str, Any]) -> str:
    """fhir.resources' message, on one line and short.

    Only the message is used, never pydantic's `input`, which would repeat the sender's data
    (a name, a phone number) into logs and reports.
    """
    message = " ".join(str(error["msg"]).split()).removeprefix("Value error, ")
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    if _naive_time_at(raw, error["loc"]):
        # The regex message alone leaves a lab guessing; a missing offset is the usual cause.
        message += " (FHIR needs a UTC offset on a time of day, e.g. +08:00)"
    return f"refused by fhir.resources: {message}"


def _naive_time_at(raw: Any, loc: tuple[int | str, ...]) -> bool:
    for part in loc:
        if isinstance(part, int) and isinstance(raw, list) and part < len(raw):
            raw = raw[part]
        elif isinstance(part, str) and isinstance(raw, dict):
            raw = raw.get(part)
        else:
            return False
    return isinstance(raw, str) and is_naive_iso(raw)


# -- pass 3: lab meaning -----------------------------------------------------------------------


@dataclass
class _Result:
    """A qualitative Observation, with the Ct readings that belong to it."""

    entry: _Entry
    specimen: _Entry
    result_id: str | None
    test: str
    outcome: str | None
    reported_at: str | None
    cts: CtReadings


@dataclass
class _CtObservation:
    """An Observation holding only a Ct value; it must join a qualitative result."""

    entry: _Entry
    specimen: _Entry
    cts: CtReadings


@dataclass
class _Findings:
    """What the Observations of one Specimen say."""

    results: list[_Result] = field(default_factory=list)
    cts: list[_CtObservation] = field(default_factory=list)


@dataclass
class _Pools:
    """Pooled tubes: a pool Specimen lists its constituents in `parent` (R4 has no `combined`)."""

    ids: dict[int, str | None] = field(default_factory=dict)
    """Pool Specimen entry number → the pool id."""
    members: dict[int, int] = field(default_factory=dict)
    """Constituent Specimen entry number → the entry number of the pool it went into."""

    def pool_of(self, member: int) -> str | None:
        pool = self.members.get(member)
        return None if pool is None else self.ids[pool]


class _BundleReader:
    """Turns the validated entries into rows; holds the reference index of the bundle."""

    def __init__(self, entries: list[_Entry], raw_entries: list[Any], rows: LabRows) -> None:
        self.entries = entries
        self.rows = rows
        self.index = {key: entry for entry in entries for key in _entry_keys(entry.raw_entry)}
        # References to entries already reported as unusable are not reported again.
        self.unusable = {key for raw in raw_entries for key in _entry_keys(raw)} - set(self.index)
        self.unread_observations = 0

    def read(self) -> None:
        self.read_persons()
        pools = self.read_pools()
        findings = self.read_observations()
        self.read_samples(pools, findings)
        self.read_results(pools, findings)

    # -- helpers

    def problem(self, entry: _Entry, field_name: str, reason: str) -> None:
        self.rows.problems.append(LabProblem(entry.location, field_name, reason))

    def record(self, table: str, entry: _Entry, values: dict[str, str | None]) -> None:
        self.rows.records.append(LabRecord(table, entry.location, values))

    def of_type(self, kind: type[FHIRResourceModel]) -> list[_Entry]:
        return [e for e in self.entries if isinstance(e.resource, kind)]

    def resolve(
        self, source: _Entry, field_name: str, ref: Reference | None, types: tuple[str, ...]
    ) -> _Entry | None:
        """The entry `ref` points at, or None after reporting why it cannot be used."""
        if ref is None or not ref.reference:
            reason = f"the {source.type} has no {field_name} reference to an entry of this bundle"
            self.problem(source, field_name, reason)
            return None
        keys = _reference_keys(ref.reference)
        target = next((self.index[k] for k in keys if k in self.index), None)
        if target is None and self.unusable.intersection(keys):
            return None
        if target is None:
            reason = f"reference {ref.reference!r} does not resolve to any entry of this bundle"
            self.problem(source, field_name, reason)
            return None
        if target.type not in types:
            reason = f"points at a {target.type} ({target.location}), not a {' or '.join(types)}"
            self.problem(source, field_name, reason)
            return None
        return target

    # -- persons

    def read_persons(self) -> None:
        """A persons row for each Patient that carries everything the table requires."""
        for entry in self.of_type(Patient):
            values = self.person_values(entry)
            if all(values[c] for c in PERSONS.required):
                self.record("persons", entry, values)

    def person_values(self, entry: _Entry) -> dict[str, str | None]:
        patient = entry.resource
        assert isinstance(patient, Patient)
        birth = entry.text("birthDate")
        address = patient.address[0] if patient.address else None
        return {
            "person_id": _person_id(patient),
            "household_id": _household_id(patient),
            "birth_year": birth_year(birth) if birth else None,
            "district": address.district if address else None,
            "sex": self.sex(entry, patient.gender),
        }

    def sex(self, entry: _Entry, gender: str | None) -> str | None:
        if gender is None or gender in SEXES:
            return gender
        self.problem(entry, "gender", f"gender {gender[:20]!r} is not one of {', '.join(SEXES)}")
        return None

    # -- pools

    def read_pools(self) -> _Pools:
        pools = _Pools()
        for entry in self.of_type(Specimen):
            specimen = entry.resource
            assert isinstance(specimen, Specimen)
            if not specimen.parent:
                continue
            pools.ids[entry.number] = self.specimen_id(entry, specimen)
            for i, ref in enumerate(specimen.parent):
                member = self.resolve(entry, f"parent[{i}]", ref, ("Specimen",))
                if member is not None:
                    self.join_pool(pools, member, entry)
        return pools

    def join_pool(self, pools: _Pools, member: _Entry, pool: _Entry) -> None:
        earlier = pools.members.setdefault(member.number, pool.number)
        if earlier != pool.number:
            reason = f"{member.location} is already in the pool of entry {earlier}"
            self.problem(pool, "parent", reason)

    def specimen_id(self, entry: _Entry, specimen: Specimen) -> str | None:
        sample_id = _specimen_id(specimen)
        if sample_id is None:
            reason = "the specimen has no identifier, accessionIdentifier or id to use as sample_id"
            self.problem(entry, "identifier", reason)
        return sample_id

    # -- observations

    def read_observations(self) -> dict[int, _Findings]:
        """The qualitative results and Ct readings of each Specimen, by its entry number."""
        findings: dict[int, _Findings] = defaultdict(_Findings)
        for entry in self.of_type(Observation):
            observation = entry.resource
            assert isinstance(observation, Observation)
            # A withdrawn result must not become a row.
            if observation.status not in WITHDRAWN_FHIR_STATUSES:
                self.read_observation(entry, observation, findings)
        return findings

    def read_observation(
        self, entry: _Entry, observation: Observation, findings: dict[int, _Findings]
    ) -> None:
        code = _loinc_code(observation.code)
        if code is None:
            reason = (
                "code is not a SARS-CoV-2 PCR, antigen or Ct LOINC code "
                f"(it had {describe_codes(_codings(observation.code))})"
            )
            self.problem(entry, "code", reason)
            self.unread_observations += 1
            return
        specimen = self.resolve(entry, "specimen", observation.specimen, ("Specimen",))
        if specimen is None:
            self.unread_observations += 1
        elif code in QUALITATIVE_TESTS:
            result = self.qualitative(entry, observation, code, specimen)
            findings[specimen.number].results.append(result)
        else:
            cts = CtReadings()
            self.add_ct(cts, entry, "valueQuantity", code, observation.valueQuantity)
            findings[specimen.number].cts.append(_CtObservation(entry, specimen, cts))

    def qualitative(
        self, entry: _Entry, observation: Observation, code: str, specimen: _Entry
    ) -> _Result:
        cts = CtReadings()
        for i, component in enumerate(observation.component or []):
            component_code = _loinc_code(component.code)
            # Components also carry assay details the results table has no column for.
            if component_code in CT_TARGETS:
                where = f"component[{i}].valueQuantity"
                self.add_ct(cts, entry, where, component_code, component.valueQuantity)
        return _Result(
            entry=entry,
            specimen=specimen,
            result_id=self.result_id(entry, observation),
            test=QUALITATIVE_TESTS[code],
            outcome=self.outcome(entry, observation.valueCodeableConcept),
            reported_at=self.reported_at(entry),
            cts=cts,
        )

    def result_id(self, entry: _Entry, observation: Observation) -> str | None:
        result_id = _first_value(observation.identifier) or observation.id
        if result_id is None:
            reason = "the Observation has no identifier or id to use as result_id"
            self.problem(entry, "identifier", reason)
        return result_id

    def outcome(self, entry: _Entry, value: CodeableConcept | None) -> str | None:
        if value is None:
            self.problem(entry, "valueCodeableConcept", "the qualitative result has no value")
            return None
        for coding in value.coding or []:
            if coding.system == SNOMED_SYSTEM and coding.code in OUTCOMES:
                return OUTCOMES[coding.code]
        reason = (
            "value is not a SNOMED CT code for detected, not detected or invalid "
            f"(it had {describe_codes(_codings(value))})"
        )
        self.problem(entry, "valueCodeableConcept", reason)
        return None

    def reported_at(self, entry: _Entry) -> str | None:
        for name in ("issued", "effectiveDateTime"):
            text = entry.text(name)
            if text is not None:
                return self.instant(entry, name, text)
        self.problem(entry, "issued", "the result has neither issued nor effectiveDateTime")
        return None

    def instant(self, entry: _Entry, field_name: str, text: str) -> str | None:
        try:
            return iso_instant(text)
        except ValueError as exc:
            self.problem(entry, field_name, str(exc))
            return None

    def add_ct(
        self, cts: CtReadings, entry: _Entry, where: str, code: str, quantity: Quantity | None
    ) -> None:
        if quantity is None or quantity.value is None:
            self.problem(entry, where, f"the Ct reading {code} has no valueQuantity value")
            return
        if quantity.code not in (None, CT_UNIT):
            reason = f"the Ct reading {code} has unit {quantity.code[:20]!r}, not {CT_UNIT}"
            self.problem(entry, where, reason)
            return
        conflict = cts.add(code, float(quantity.value))
        if conflict is not None:
            self.problem(entry, where, conflict)

    # -- samples

    def read_samples(self, pools: _Pools, findings: dict[int, _Findings]) -> None:
        """A samples row for each Specimen that is not itself a pool."""
        for entry in self.of_type(Specimen):
            if entry.number in pools.ids:
                continue
            specimen = entry.resource
            assert isinstance(specimen, Specimen)
            values: dict[str, str | None] = dict.fromkeys(SAMPLES.column_names)
            values.update(
                sample_id=self.specimen_id(entry, specimen),
                collected_at=self.collected_at(entry),
                test=self.test(entry, pools, findings),
                pool_id=pools.pool_of(entry.number),
                **self.subject_values(entry, specimen),
            )
            self.record("samples", entry, values)

    def collected_at(self, entry: _Entry) -> str | None:
        text = entry.text("collection", "collectedDateTime")
        if text is None:
            reason = "the specimen has no collection.collectedDateTime"
            self.problem(entry, "collection.collectedDateTime", reason)
            return None
        return self.instant(entry, "collection.collectedDateTime", text)

    def test(self, entry: _Entry, pools: _Pools, findings: dict[int, _Findings]) -> str | None:
        """PCR or antigen, from the results on this specimen, else on the pool it went into."""
        results = findings[entry.number].results if entry.number in findings else []
        pool = pools.members.get(entry.number)
        if not results and pool in findings:
            results = findings[pool].results
        tests = sorted({r.test for r in results})
        if len(tests) == 1:
            return tests[0]
        if tests:
            reason = "both a PCR and an antigen result on one specimen; a sample has one test"
        elif self.unread_observations:
            return None  # the missing result is most likely one already reported as unreadable
        else:
            reason = (
                "no PCR or antigen Observation in this bundle is on this specimen "
                "(or its pool), so its test is unknown"
            )
        self.problem(entry, "test", reason)
        return None

    def subject_values(self, entry: _Entry, specimen: Specimen) -> dict[str, str | None]:
        """person_id for a swab of a Patient; place_id, purpose and item for an environment one."""
        subject = self.resolve(entry, "subject", specimen.subject, ("Patient", *PLACE_TYPES))
        if subject is None:
            return {}
        if isinstance(subject.resource, Patient):
            person_id = _person_id(subject.resource)
            if person_id is None:
                reason = f"the Patient ({subject.location}) has no identifier to use as person_id"
                self.problem(entry, "subject", reason)
            return {"person_id": person_id}
        place_id = _first_value(getattr(subject.resource, "identifier", None))
        if place_id is None:
            reason = f"the {subject.type} ({subject.location}) has no identifier to use as place_id"
            self.problem(entry, "subject", reason)
        return {"place_id": place_id, "purpose": "environment", "item": _type_text(specimen)}

    # -- results

    def read_results(self, pools: _Pools, findings: dict[int, _Findings]) -> None:
        """A results row per qualitative Observation, with the Ct readings merged into it."""
        for found in findings.values():
            self.merge_cts(found)
            for result in found.results:
                self.record("results", result.entry, self.result_values(result, pools))

    def merge_cts(self, found: _Findings) -> None:
        for ct in found.cts:
            if len(found.results) != 1:
                reason = (
                    "a Ct reading needs exactly one qualitative result on the same specimen "
                    f"({ct.specimen.location}); this bundle has {len(found.results)}"
                )
                self.problem(ct.entry, "specimen", reason)
                continue
            conflict = found.results[0].cts.merge(ct.cts)
            if conflict is not None:
                self.problem(ct.entry, "valueQuantity", conflict)

    def result_values(self, result: _Result, pools: _Pools) -> dict[str, str | None]:
        """A result on a pool Specimen fills pool_id; on a single swab, sample_id."""
        specimen = result.specimen.resource
        assert isinstance(specimen, Specimen)
        in_pool = result.specimen.number in pools.ids
        return {
            "result_id": result.result_id,
            "sample_id": None if in_pool else _specimen_id(specimen),
            "pool_id": pools.ids[result.specimen.number] if in_pool else None,
            "reported_at": result.reported_at,
            "outcome": result.outcome,
            **result.cts.columns(),
        }


# -- small readers of FHIR datatypes -----------------------------------------------------------


def _entry_keys(raw_entry: Any) -> list[str]:
    """What a reference to this entry may say: its fullUrl, or "Type/id"."""
    if not isinstance(raw_entry, dict):
        return []
    resource = raw_entry.get("resource")
    keys = [raw_entry.get("fullUrl")]
    if isinstance(resource, dict) and resource.get("id"):
        keys.append(f"{resource.get('resourceType')}/{resource.get('id')}")
    return [k for k in keys if isinstance(k, str) and k]


def _reference_keys(reference: str) -> list[str]:
    """Index keys a reference may match: itself (a fullUrl) and its trailing "Type/id"."""
    reference = reference.split("/_history/")[0]
    parts = reference.split("/")
    return [reference, "/".join(parts[-2:])] if len(parts) >= 2 else [reference]


def _codings(concept: CodeableConcept | None) -> list[str]:
    if concept is None:
        return []
    return [f"{c.system or '?'}|{c.code}" for c in concept.coding or [] if c.code]


def _loinc_code(concept: CodeableConcept | None) -> str | None:
    """The first LOINC coding of `concept` that this package knows."""
    for coding in concept.coding or [] if concept else []:
        if coding.system == LOINC_SYSTEM and coding.code and known_loinc(coding.code):
            return coding.code
    return None


def _first_value(identifiers: list[Identifier] | None) -> str | None:
    return next((i.value for i in identifiers or [] if i.value), None)


def _is_household(identifier: Identifier) -> bool:
    names = (identifier.system or "", identifier.type.text or "" if identifier.type else "")
    return any("household" in name.lower() for name in names)


def _person_id(patient: Patient) -> str | None:
    """The first identifier that is not the household's: a household id names many people."""
    return _first_value([i for i in patient.identifier or [] if not _is_household(i)])


def _household_id(patient: Patient) -> str | None:
    return _first_value([i for i in patient.identifier or [] if _is_household(i)])


def _specimen_id(specimen: Specimen) -> str | None:
    accession = specimen.accessionIdentifier.value if specimen.accessionIdentifier else None
    return _first_value(specimen.identifier) or accession or specimen.id


def _type_text(specimen: Specimen) -> str | None:
    kind = specimen.type
    if kind is None:
        return None
    return kind.text or next((c.display for c in kind.coding or [] if c.display), None)


__all__ = ["read_fhir_bundle"]
