"""What is recorded of a control-cycle run, in a database's `cycle_runs` or a lake's runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunRecord:
    """One run of the control cycle: when it decided, under which protocol, and its counts
    (`summary`, JSON)."""

    run_id: int
    as_of: datetime
    protocol: str
    fingerprint: str
    started_at: datetime
    finished_at: datetime
    summary: str
