"""The control cycle: from events to cases, contacts, orders, closures, risk areas, test
plans and alerts — automatic, protocol-driven, explainable, and the same on every engine.

`run_cycle(store, protocol, as_of)` decides and stores; `explain_person` says why.
"""

from __future__ import annotations

from .context import Context
from .cycle import CycleReport, run_cycle

__all__ = ["Context", "CycleReport", "run_cycle"]
