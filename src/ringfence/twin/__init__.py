"""The digital twin: a simulated city or loop that emits the same events as the real one and
obeys the orders of the real control cycle, to try a protocol before imposing it."""

from .run import RunResult, TwinError, simulate
from .scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "TwinError", "load_scenario", "simulate"]
