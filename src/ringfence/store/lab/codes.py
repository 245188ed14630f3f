"""The code tables both lab adapters read, and how Ct readings become result columns.

FHIR and HL7 v2 carry the same LOINC and SNOMED CT codes, only wrapped differently, so the
tables live here once: a code added for one format is then understood by the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

LOINC_SYSTEM = "http://loinc.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
#: HL7 v2 table 0396 names for the same code systems (CWE.3 / CWE.6).
HL7_LOINC = "LN"
HL7_SNOMED = "SCT"
#: The UCUM code labs use for a cycle threshold, which has no real unit.
CT_UNIT = "{Ct_value}"

#: Qualitative SARS-CoV-2 tests: LOINC code → the `samples.test` it means.
QUALITATIVE_TESTS: dict[str, str] = {
    "94500-6": "pcr",  # RNA [Presence] in Respiratory specimen by NAA with probe detection
    "94309-2": "pcr",  # RNA [Presence] in Specimen by NAA with probe detection
    "94531-1": "pcr",  # RNA panel, Respiratory specimen by NAA with probe detection
    "94558-4": "antigen",  # Ag [Presence] in Respiratory specimen by Rapid immunoassay
    "95209-3": "antigen",  # SARS-CoV+SARS-CoV-2 Ag [Presence] in Respiratory specimen
}

#: Qualitative result values: SNOMED CT code → `results.outcome`.
OUTCOMES: dict[str, str] = {
    "260373001": "positive",  # Detected
    "10828004": "positive",  # Positive
    "260415000": "negative",  # Not detected
    "260385009": "negative",  # Negative
    "455371000124106": "invalid",  # Invalid result
    "125154007": "invalid",  # Specimen unsatisfactory for evaluation
}

WHOLE_RNA = "whole RNA"
ORF1AB = "ORF1ab"
N_GENE = "N"

#: Cycle threshold observations: LOINC code → the target it measures.
CT_TARGETS: dict[str, str] = {
    "94745-7": WHOLE_RNA,
    "94644-2": ORF1AB,
    "94510-5": N_GENE,
    "94311-8": N_GENE,  # CDC primer-probe set N1
    "94312-6": N_GENE,  # CDC primer-probe set N2
    "96764-6": "E",
    "94642-6": "S",
    "94646-7": "RdRp",
}

#: Result statuses that withdraw an observation: FHIR Observation.status and HL7 OBX-11
#: (D deleted, W wrong, X cannot be obtained). A withdrawn result must not become a result row.
WITHDRAWN_FHIR_STATUSES = frozenset({"cancelled", "entered-in-error"})
WITHDRAWN_HL7_STATUSES = frozenset({"D", "W", "X"})


def known_loinc(code: str) -> bool:
    """Whether `code` is a qualitative SARS-CoV-2 test or a Ct reading this package reads."""
    return code in QUALITATIVE_TESTS or code in CT_TARGETS


def describe_codes(codes: Iterable[str]) -> str:
    """The codes a message had, for a problem reason ("no code" when there were none)."""
    shown = [c for c in codes if c][:3]
    return ", ".join(shown) if shown else "no code"


def format_ct(value: float) -> str:
    """A Ct value as column text: no trailing zeros, no exponent for the 0–50 range."""
    return f"{value:g}"


@dataclass
class CtReadings:
    """The Ct values reported for one result, whether as components or as observations."""

    by_code: dict[str, float] = field(default_factory=dict)

    def add(self, code: str, value: float) -> str | None:
        """Record one reading; the reason it conflicts with an earlier one, else None."""
        earlier = self.by_code.get(code)
        if earlier is not None and earlier != value:
            return (
                f"two different Ct values for {code} ({CT_TARGETS[code]}): "
                f"{format_ct(earlier)} and {format_ct(value)}"
            )
        self.by_code[code] = value
        return None

    def merge(self, other: CtReadings) -> str | None:
        """Add every reading of `other`; the first conflict's reason, else None."""
        for code, value in other.by_code.items():
            conflict = self.add(code, value)
            if conflict is not None:
                return conflict
        return None

    def columns(self) -> dict[str, str | None]:
        """The `ct`, `ct_orf1ab` and `ct_n` columns of the result.

        A whole-RNA Ct is the assay's own summary, so it wins. Without one, `ct` is the lowest
        Ct of any gene: the strongest signal is what the contact-tracing rules care about.
        Two N-gene targets (N1 and N2) are one column, so `ct_n` keeps the lower of them too.
        """
        has_whole = any(CT_TARGETS[code] == WHOLE_RNA for code in self.by_code)
        return {
            "ct": _text(self._lowest(WHOLE_RNA if has_whole else None)),
            "ct_orf1ab": _text(self._lowest(ORF1AB)),
            "ct_n": _text(self._lowest(N_GENE)),
        }

    def _lowest(self, target: str | None) -> float | None:
        values = [v for c, v in self.by_code.items() if target in (None, CT_TARGETS[c])]
        return min(values, default=None)


def _text(value: float | None) -> str | None:
    return None if value is None else format_ct(value)


__all__ = [
    "CT_TARGETS",
    "CT_UNIT",
    "HL7_LOINC",
    "HL7_SNOMED",
    "LOINC_SYSTEM",
    "OUTCOMES",
    "QUALITATIVE_TESTS",
    "SNOMED_SYSTEM",
    "WITHDRAWN_FHIR_STATUSES",
    "WITHDRAWN_HL7_STATUSES",
    "CtReadings",
    "describe_codes",
    "format_ct",
    "known_loinc",
]
