"""Load a protocol from TOML: validate every key, apply dated amendments and group overrides."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from ringfence.schema.events import PERSON_GROUPS

from .model import Parameters

PRESETS_PACKAGE = "ringfence.protocol.presets"
TOP_LEVEL_KEYS = {"name", "title", "description", "timezone", "amendments", "groups", "sources"}


class ProtocolError(ValueError):
    """A protocol file is unreadable or invalid; the message names the file, the key and why."""


@dataclass(frozen=True)
class ParameterInfo:
    """One parameter: its dotted key, description and default source."""

    key: str
    description: str
    source: str


@dataclass(frozen=True)
class Amendment:
    """Parameters changed from a local date on."""

    effective: date
    starts_at: datetime
    changes: Mapping[str, Any]
    reason: str
    parameters: Parameters


@dataclass(frozen=True)
class Protocol:
    """A validated protocol: base parameters, amendments in date order, group overrides."""

    name: str
    title: str
    description: str
    timezone: str
    parameters: Parameters
    amendments: tuple[Amendment, ...] = ()
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""

    def get(self, key: str) -> Any:
        """The value of a parameter before any amendment, e.g. `get("contact.min_minutes")`."""
        return get_value(self.parameters, key)

    def timeline(self, key: str, group: str | None = None) -> list[tuple[datetime | None, Any]]:
        """The value of `key` (for `group`) from the start, then from each amendment on."""
        steps: list[tuple[datetime | None, Any]] = [
            (None, self._value(self.parameters, key, group))
        ]
        for amendment in self.amendments:
            value = self._value(amendment.parameters, key, group)
            if value != steps[-1][1]:
                steps.append((amendment.starts_at, value))
        return steps

    def group_timelines(self, key: str) -> dict[str | None, list[tuple[datetime | None, Any]]]:
        """The timeline of `key` for everyone (None) and for each group that overrides it."""
        timelines: dict[str | None, list[tuple[datetime | None, Any]]] = {None: self.timeline(key)}
        for group, overrides in self.groups.items():
            if key in overrides:
                timelines[group] = self.timeline(key, group)
        return timelines

    def at(self, moment: datetime) -> Parameters:
        """The parameters in force at `moment` (for everyone)."""
        current = self.parameters
        for amendment in self.amendments:
            if amendment.starts_at <= moment:
                current = amendment.parameters
        return current

    def source(self, key: str) -> str:
        """Where the value of `key` comes from: the file's citation, else the default table."""
        return self.sources.get(key) or PARAMETERS[key].source

    def fingerprint(self) -> str:
        """A short hash of everything that can change a decision."""
        content = {
            "parameters": self.parameters.model_dump(mode="json"),
            "amendments": [
                (a.effective.isoformat(), a.parameters.model_dump(mode="json"))
                for a in self.amendments
            ],
            "groups": {g: dict(v) for g, v in sorted(self.groups.items())},
            "timezone": self.timezone,
        }
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:12]

    def with_changes(self, changes: Mapping[str, Any], name: str | None = None) -> Protocol:
        """This protocol with `changes` (dotted key → value) applied from the start, through
        every amendment; validated like a file."""
        where = f"changes to {self.name}"
        amendments = tuple(
            replace(
                a,
                parameters=_apply(a.parameters, changes, where),
                changes={k: changes.get(k, v) for k, v in a.changes.items()},
            )
            for a in self.amendments
        )
        return replace(
            self,
            name=name or self.name,
            parameters=_apply(self.parameters, changes, where),
            amendments=amendments,
            origin=f"{self.origin} with {dict(changes)}",
        )

    def _value(self, parameters: Parameters, key: str, group: str | None) -> Any:
        if group is not None and key in self.groups.get(group, {}):
            return self.groups[group][key]
        return get_value(parameters, key)


def _walk(model: type[BaseModel], prefix: str = "") -> Iterator[ParameterInfo]:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _walk(annotation, f"{prefix}{name}.")
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        yield ParameterInfo(f"{prefix}{name}", info.description or "", str(extra.get("source", "")))


PARAMETERS: dict[str, ParameterInfo] = {p.key: p for p in _walk(Parameters)}
"""Every parameter a protocol can set, by dotted key."""


def get_value(parameters: Parameters, key: str) -> Any:
    """The value of a dotted key in a parameter set."""
    value: Any = parameters
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value
    return nested


def _apply(parameters: Parameters, changes: Mapping[str, Any], where: str) -> Parameters:
    unknown = sorted(set(changes) - set(PARAMETERS))
    if unknown:
        raise ProtocolError(f"{where}: {unknown[0]}: not a protocol parameter")
    data = parameters.model_dump()
    for section, values in _nested(changes).items():
        data[section] = {**data[section], **values}
    return _validate(data, where)


def _validate(data: Mapping[str, Any], where: str) -> Parameters:
    # Strict: "7" is not 7 and true is not 1 in a protocol; JSON keeps lists and numbers as
    # TOML wrote them, and lets a strict tuple field take a list.
    try:
        return Parameters.model_validate_json(json.dumps(data, default=str), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "(top level)"
        if isinstance(first["loc"][-1], int) and len(first["loc"]) > 1:
            path += f"[{first['loc'][-1]}]"
        reason = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            reason = "not a protocol parameter"
        raise ProtocolError(f"{where}: {path}: {reason}") from None


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def parse_protocol(text: str, origin: str) -> Protocol:
    """Validate the TOML text of a protocol; `origin` names it in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{origin}: not valid TOML: {exc}") from None
    sections = {k: v for k, v in raw.items() if k not in TOP_LEVEL_KEYS}
    for key in ("name", "title", "description", "timezone"):
        if key in raw and not isinstance(raw[key], str):
            raise ProtocolError(f"{origin}: {key}: must be a string")
    if not str(raw.get("name", "")).strip():
        raise ProtocolError(f"{origin}: name: required, a non-empty string")
    timezone = raw.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProtocolError(f"{origin}: timezone: unknown time zone {timezone!r}") from None
    base = _validate(sections, origin)
    amendments = _amendments(raw.get("amendments", []), base, timezone, origin)
    groups = _groups(raw.get("groups", {}), base, amendments, origin)
    sources = raw.get("sources", {})
    if not isinstance(sources, dict):
        raise ProtocolError(f"{origin}: sources: must be a table of parameter = citation")
    for key, citation in sources.items():
        if key not in PARAMETERS:
            raise ProtocolError(f"{origin}: sources.{key}: not a protocol parameter")
        if not isinstance(citation, str) or not citation.strip():
            raise ProtocolError(f"{origin}: sources.{key}: must be a non-empty string")
    return Protocol(
        name=raw["name"],
        title=raw.get("title", raw["name"]),
        description=raw.get("description", ""),
        timezone=timezone,
        parameters=base,
        amendments=amendments,
        groups=groups,
        sources=sources,
        origin=origin,
    )


def _amendments(raw: Any, base: Parameters, timezone: str, origin: str) -> tuple[Amendment, ...]:
    if not isinstance(raw, list):
        raise ProtocolError(f"{origin}: amendments: must be an array of tables ([[amendments]])")
    amendments: list[Amendment] = []
    current = base
    for index, entry in enumerate(raw):
        where = f"{origin}: amendments[{index}]"
        moment = entry.get("from") if isinstance(entry, dict) else None
        if not isinstance(moment, date) or isinstance(moment, datetime):
            raise ProtocolError(f"{where}.from: required, a date such as 2022-01-23")
        unknown = sorted(set(entry) - {"from", "reason", "set"})
        if unknown:
            raise ProtocolError(f"{where}.{unknown[0]}: not an amendment key (from, reason, set)")
        effective: date = entry["from"]
        if amendments and effective <= amendments[-1].effective:
            raise ProtocolError(f"{where}.from: amendments must be in increasing date order")
        changes = entry.get("set", {})
        if not isinstance(changes, dict) or not changes:
            raise ProtocolError(f"{where}.set: a table of parameter = value is required")
        current = _apply(current, changes, f"{where}.set")
        amendments.append(
            Amendment(
                effective=effective,
                starts_at=_local_midnight(effective, timezone),
                changes=changes,
                reason=str(entry.get("reason", "")),
                parameters=current,
            )
        )
    return tuple(amendments)


def _groups(
    raw: Any, base: Parameters, amendments: tuple[Amendment, ...], origin: str
) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{origin}: groups: must be a table of group = overrides")
    groups: dict[str, dict[str, Any]] = {}
    for group, overrides in raw.items():
        where = f"{origin}: groups.{group}"
        if group not in PERSON_GROUPS:
            raise ProtocolError(f"{where}: not a population group ({', '.join(PERSON_GROUPS)})")
        if not isinstance(overrides, dict):
            raise ProtocolError(f"{where}: must be a table of parameter = value")
        validated = [
            _apply(p, overrides, where) for p in (base, *(a.parameters for a in amendments))
        ]
        groups[group] = {key: get_value(validated[0], key) for key in overrides}
    return groups


def preset_names() -> list[str]:
    """The names of the protocols shipped with ringfence."""
    folder = resources.files(PRESETS_PACKAGE)
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_protocol(name_or_path: str | Path) -> Protocol:
    """A shipped preset by name (`zero-covid-2022`) or a protocol file by path."""
    text_name = str(name_or_path)
    if text_name in preset_names():
        preset = resources.files(PRESETS_PACKAGE) / f"{text_name}.toml"
        return parse_protocol(preset.read_text(encoding="utf-8"), f"preset {text_name}")
    path = Path(name_or_path)
    if not path.is_file():
        raise ProtocolError(
            f"no protocol {text_name!r}: not a file and not a preset ({', '.join(preset_names())})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not UTF-8 text") from None
    return parse_protocol(text, str(path))


def describe_value(protocol: Protocol, key: str) -> str:
    """The value of `key` as people read it, with its amendments and group overrides:
    "40; from 2022-01-23: 35", "quarantine_central | diplomat: quarantine_home"."""
    parts = []
    for group, steps in protocol.group_timelines(key).items():
        label = "" if group is None else f"{group}: "
        shown = [
            f"{label}{_show(value)}"
            if since is None
            else f"from {_day(since, protocol)}: {_show(value)}"
            for since, value in steps
        ]
        parts.append("; ".join(shown))
    return " | ".join(parts)


def parameter_rows(protocol: Protocol) -> list[tuple[str, str, str, str]]:
    """(key, value with its amendments and group overrides, description, source) per parameter."""
    return [
        (key, describe_value(protocol, key), info.description, protocol.source(key))
        for key, info in PARAMETERS.items()
    ]


def protocol_diff(a: Protocol, b: Protocol) -> list[tuple[str, str, str]]:
    """(key, value in a, value in b) for every parameter whose values differ."""
    left = {row[0]: row[1] for row in parameter_rows(a)}
    right = {row[0]: row[1] for row in parameter_rows(b)}
    changed = [(key, left[key], right[key]) for key in PARAMETERS if left[key] != right[key]]
    if a.timezone != b.timezone:
        changed.insert(0, ("timezone", a.timezone, b.timezone))
    return changed


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _day(moment: datetime, protocol: Protocol) -> str:
    return moment.astimezone(ZoneInfo(protocol.timezone)).date().isoformat()
