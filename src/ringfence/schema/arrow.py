"""The Arrow type of each column type: one mapping for every reader and writer."""

from __future__ import annotations

import pyarrow as pa

from .columns import ColumnType


def arrow_type(kind: ColumnType, *, unit: str = "us", timezone: str = "UTC") -> pa.DataType:
    """The Arrow type holding a column of `kind`; instants in `unit` and `timezone`."""
    if kind is ColumnType.INSTANT:
        return pa.timestamp(unit, tz=timezone)
    return {
        ColumnType.STRING: pa.string(),
        ColumnType.INTEGER: pa.int64(),
        ColumnType.FLOAT: pa.float64(),
        ColumnType.BOOLEAN: pa.bool_(),
        ColumnType.DATE: pa.date32(),
        ColumnType.STRING_LIST: pa.list_(pa.string()),
    }[kind]
