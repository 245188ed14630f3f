"""Example data: the bundled Beijing, January 2022 scenario and a generator for data at scale.

`example_dir()` is the folder of the bundled CSV files, one per event table (see
`scenario.py` for the stories they tell); `ringfence.examples.generate.generate` writes a
synthetic city of any size. This package imports only `ringfence.schema`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

#: The bundled tables in ingest order: persons and places first, then the tables that refer to
#: them, with samples before results and sequences (which refer to samples).
EXAMPLE_TABLES: tuple[str, ...] = (
    "persons",
    "places",
    "visits",
    "proximity",
    "samples",
    "results",
    "symptoms",
    "arrivals",
    "departures",
    "sequences",
    "purchases",
)


EXAMPLE_AS_OF = datetime(2022, 1, 20, 16, 0, tzinfo=timezone(timedelta(hours=8)))
"""When the demo runs the control cycle: the 16:00 cut-off of Beijing's press conferences,
after the last event of the example."""

EXAMPLE_PROTOCOL = "zero-covid-2022"
"""The protocol the demo decides under."""


def example_dir() -> Path:
    """The folder holding the bundled example, ``<table>.csv`` for each of `EXAMPLE_TABLES`."""
    # The package is installed as plain files (setuptools, never zipped), so the resource
    # folder is a real directory that ingest can open by path.
    return Path(str(files(__name__).joinpath("data")))


__all__ = ["EXAMPLE_AS_OF", "EXAMPLE_PROTOCOL", "EXAMPLE_TABLES", "example_dir"]
