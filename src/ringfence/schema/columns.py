"""The building blocks of a table definition: column types, columns, row rules, references.

Everything here is declarative. The store compiles these definitions into DDL and into
the vectorised checks that ingest runs; nothing here knows about a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """The logical type of a column, the same on every engine."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    """A calendar date (onset, collection): never shifted by a time zone."""
    INSTANT = "instant"
    """A moment in time, stored as UTC; a naive input is read as the jurisdiction's local time."""
    STRING_LIST = "string_list"


#: The longest text a free-text field may hold; anything longer is refused, not truncated.
DEFAULT_MAX_LENGTH = 1000


@dataclass(frozen=True)
class Column:
    """One column of a table.

    `allowed` restricts a string column to a fixed vocabulary; `minimum`/`maximum` bound a
    number; `not_future` refuses values later than the ingest clock plus its tolerance (for
    an integer column the value is read as a calendar year).
    """

    name: str
    type: ColumnType
    required: bool = False
    description: str = ""
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    not_future: bool = False
    personal: bool = False
    """Identifies or describes a named person beyond a pseudonymous id (name, phone)."""


@dataclass(frozen=True)
class Reference:
    """`column` must name an existing row of `table` (its `target` column)."""

    column: str
    table: str
    target: str


@dataclass(frozen=True)
class Ordered:
    """Row rule: `later` must be strictly after `earlier` when both are present."""

    earlier: str
    later: str


@dataclass(frozen=True)
class ExactlyOne:
    """Row rule: exactly one of `columns` is present."""

    columns: tuple[str, ...]


@dataclass(frozen=True)
class Different:
    """Row rule: the two columns must hold different values (no self-contact)."""

    first: str
    second: str


@dataclass(frozen=True)
class NotAfter:
    """Row rule: the date in `date_column` is not after the date of the instant in `instant_column`.

    The instant is read in the jurisdiction's time zone, so an onset reported at 01:00 local
    time on 5 January may be 5 January although the UTC instant is on 4 January.
    """

    date_column: str
    instant_column: str


RowRule = Ordered | ExactlyOne | Different | NotAfter


@dataclass(frozen=True)
class Table:
    """A table of ringfence: an event table (input) or a decision table (output).

    `key` names the columns that identify one event: the same key twice stores one row, and
    the same key with other content is a conflict.
    """

    name: str
    kind: str  # "event" or "decision"
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    rules: tuple[RowRule, ...] = ()
    _by_name: dict[str, Column] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"table {self.name}: duplicate column names")
        for name in self.key:
            if name not in by_name:
                raise ValueError(f"table {self.name}: key column {name} is not a column")
        self._by_name.update(by_name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def non_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name not in self.key)

    def column(self, name: str) -> Column:
        """The column called `name`; `KeyError` if there is none."""
        return self._by_name[name]

    def has_column(self, name: str) -> bool:
        return name in self._by_name
