"""Lab message adapters: FHIR R4 Bundles and HL7 v2.5.1 ORU^R01, mapped onto event rows.

An adapter turns one message file into `LabRows`: plain text values per event row, exactly as
if they had been read from a CSV file, so that they pass through the same validation,
deduplication and reference checks as every other input. Problems with the message itself
(malformed JSON, a wrong resource type, a missing code) are `LabProblem`s; a message with any
problem stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabRecord:
    """One event row taken from a message.

    `table` is "persons", "samples" or "results"; `location` says where in the message the
    row came from ("entry 3" in a Bundle, "line 5" for an HL7 segment); `values` maps column
    names of that table to text (ISO 8601 instants keep their offset) or None.
    """

    table: str
    location: str
    values: dict[str, str | None]


@dataclass(frozen=True)
class LabProblem:
    """Why a message cannot be used: where, which field, and the reason."""

    location: str
    field: str
    reason: str


@dataclass
class LabRows:
    """What one message file yields."""

    records: list[LabRecord] = field(default_factory=list)
    problems: list[LabProblem] = field(default_factory=list)


__all__ = ["LabProblem", "LabRecord", "LabRows"]
