"""Timestamps of lab messages as ISO 8601 text, shared by the FHIR and HL7 adapters.

Instants leave an adapter as text, exactly as a CSV file would give them: the offset the
sender wrote is kept, and a value without one stays without one, because ingest reads a
naive instant in the jurisdiction's local time and must be the only place that does so.
Each function raises `ValueError` whose message is the reason, ready for a `LabProblem`.
"""

from __future__ import annotations

import re
from datetime import datetime

_ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"
)
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:\d{2})$")
_ISO_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")
_HL7_INSTANT = re.compile(
    r"(?P<date>\d{8})(?P<hour>\d{2})(?P<minute>\d{2})"
    r"(?:(?P<second>\d{2})(?:\.(?P<fraction>\d{1,4}))?)?"
    r"(?P<offset>[+-]\d{4})?"
)
_HL7_DATE = re.compile(r"\d{4}(?:\d{2}(?:\d{2})?)?")
_YEAR = re.compile(r"(\d{4})(?:\D|\d{2}|$)")


def iso_instant(text: str) -> str:
    """Check that `text` is an ISO 8601 date and time of day (offset optional); return it.

    A date alone is refused: a sample or a result needs the moment, and midnight would be
    an invention.
    """
    if _ISO_DATE.fullmatch(text):
        raise ValueError(f"{text!r} is a date without a time of day")
    if not _ISO_INSTANT.fullmatch(text):
        raise ValueError(f"{text!r} is not an ISO 8601 date and time")
    _check_real(text)
    return text


def is_naive_iso(text: str) -> bool:
    """Whether `text` is an ISO 8601 date and time of day without an offset."""
    return bool(_ISO_INSTANT.fullmatch(text)) and not _OFFSET.search(text)


def hl7_instant(text: str) -> str:
    """Turn an HL7 v2 timestamp YYYYMMDDHHMM[SS[.S]][+/-ZZZZ] into ISO 8601 text.

    The offset is kept as ±HH:MM when present; a value without one stays naive.
    """
    if _HL7_DATE.fullmatch(text):
        raise ValueError(f"{text!r} is a date without a time of day")
    match = _HL7_INSTANT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an HL7 timestamp YYYYMMDDHHMM[SS][+/-ZZZZ]")
    date, offset, fraction = match["date"], match["offset"], match["fraction"]
    iso = (
        f"{date[:4]}-{date[4:6]}-{date[6:]}T{match['hour']}:{match['minute']}"
        f":{match['second'] or '00'}"
        + (f".{fraction}" if fraction else "")
        + (f"{offset[:3]}:{offset[3:]}" if offset else "")
    )
    _check_real(iso, shown=text)
    return iso


def birth_year(text: str) -> str | None:
    """The year of a birth date written YYYY-MM-DD (FHIR) or YYYYMMDD (HL7); None if absent."""
    match = _YEAR.match(text)
    return match.group(1) if match else None


def _check_real(iso: str, shown: str | None = None) -> None:
    """Refuse well-formed text that names no real moment (month 13, 25:00, offset +25:00)."""
    try:
        datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"{shown or iso!r} is not a real date and time") from None


__all__ = ["birth_year", "hl7_instant", "is_naive_iso", "iso_instant"]
