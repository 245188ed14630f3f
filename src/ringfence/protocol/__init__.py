"""Protocols as data: the rules of the control cycle, typed, validated and sourced.

`load_protocol("zero-covid-2022")` loads a shipped preset; `load_protocol(path)` a TOML file
of your own. See docs/protocols.md for the file format and every parameter.
"""

from __future__ import annotations

from .loading import (
    PARAMETERS,
    Amendment,
    ParameterInfo,
    Protocol,
    ProtocolError,
    describe_value,
    get_value,
    load_protocol,
    parameter_rows,
    parse_protocol,
    preset_names,
    protocol_diff,
)
from .model import Parameters

__all__ = [
    "PARAMETERS",
    "Amendment",
    "ParameterInfo",
    "Parameters",
    "Protocol",
    "ProtocolError",
    "describe_value",
    "get_value",
    "load_protocol",
    "parameter_rows",
    "parse_protocol",
    "preset_names",
    "protocol_diff",
]
