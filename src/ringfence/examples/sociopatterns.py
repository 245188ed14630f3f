"""SocioPatterns contact files (`t i j` per 20-second slot) as ringfence proximity events.

Face-to-face badges record, for each 20-second slot, which pairs were facing each other
within about 1.5 m. Consecutive slots of the same pair form one contact episode; each
episode becomes one `proximity` event, and each badge one person. Real data no one here
made, to test ingest and tracing on (e.g. the SFHH 2009 conference, CC0).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SLOT_SECONDS = 20


def read_slots(path: Path) -> np.ndarray:
    """The (t, i, j) rows of a SocioPatterns `tij` file, with i < j in every row."""
    slots = np.loadtxt(path, dtype=np.int64, ndmin=2)
    low = np.minimum(slots[:, 1], slots[:, 2])
    high = np.maximum(slots[:, 1], slots[:, 2])
    return np.column_stack([slots[:, 0], low, high])


def contact_episodes(slots: np.ndarray) -> np.ndarray:
    """Episodes as rows (i, j, start, end) in seconds: runs of consecutive slots of a pair.

    A slot recorded at `t` covers the 20 seconds ending at `t`.
    """
    order = np.lexsort((slots[:, 0], slots[:, 2], slots[:, 1]))
    t, i, j = slots[order, 0], slots[order, 1], slots[order, 2]
    same_pair = (i[1:] == i[:-1]) & (j[1:] == j[:-1])
    continues = same_pair & (t[1:] - t[:-1] == SLOT_SECONDS)
    starts = np.concatenate([[True], ~continues])
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:] - 1, [len(t) - 1]])
    return np.column_stack([i[first], j[first], t[first] - SLOT_SECONDS, t[last]])


def write_events(
    tij: Path, out_dir: Path, *, day_zero: datetime, timezone: str, prefix: str = "B"
) -> dict[str, int]:
    """Write persons.csv and proximity.csv for a `tij` file; returns rows per table.

    `day_zero` is the local midnight the file's seconds count from, in `timezone`.
    """
    episodes = contact_episodes(read_slots(tij))
    origin = np.datetime64(
        day_zero.replace(tzinfo=ZoneInfo(timezone))
        .astimezone(ZoneInfo("UTC"))
        .replace(tzinfo=None),
        "s",
    )
    badges = np.unique(episodes[:, :2])

    def ids(values: np.ndarray) -> pa.Array:
        return pc.binary_join_element_wise(prefix, pa.array(values).cast(pa.string()), "")

    def instants(seconds: np.ndarray) -> pa.Array:
        utc = pa.array(origin + seconds.astype("timedelta64[s]"))
        return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")

    persons = pa.table(
        {
            "person_id": ids(badges),
            "household_id": pc.binary_join_element_wise("HH-", ids(badges), ""),
            "birth_year": pa.array([1970] * len(badges), pa.int64()),
            "district": pa.array(["conference"] * len(badges)),
            "group": pa.array(["traveller"] * len(badges)),
        }
    )
    proximity = pa.table(
        {
            "person_id": ids(episodes[:, 0]),
            "other_person_id": ids(episodes[:, 1]),
            "start": instants(episodes[:, 2]),
            "end": instants(episodes[:, 3]),
            "distance_m": pa.array([1.0] * len(episodes)),
            "source": pa.array(["badge"] * len(episodes)),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(quoting_style="none")
    pacsv.write_csv(persons, out_dir / "persons.csv", options)
    pacsv.write_csv(proximity, out_dir / "proximity.csv", options)
    return {"persons": persons.num_rows, "proximity": proximity.num_rows}
