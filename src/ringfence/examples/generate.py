"""A synthetic city at scale: every event table, consistent with the schema, for a seed.

`generate` writes persons in households across Beijing's sixteen districts, places of every
kind (with hotel → floor → room hierarchies and a closed loop), a stream of visits, daily PCR
screening, pooled mass-testing rounds with single-tube re-tests of positive pools, results
with Ct values, symptoms, arrivals and departures, sequences, purchases and badge proximity.

Everything is vectorised NumPy and pyarrow: Python loops run over days and chunks, never over
rows, and visits are streamed chunk by chunk so memory stays bounded whatever the size.

Text instants are ISO 8601 local time with the jurisdiction's offset
(``2022-01-10T08:15:00+08:00``); Parquet files hold typed columns (instants as UTC-adjusted
timestamps with time zone ``+08:00``, dates as ``date32``, booleans, 64-bit integers and
floats). The writing helpers (`TableWriter`, `write_table`, `format_ids`, `format_instants`)
are shared with the hand-made example in `scenario.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ringfence.examples import EXAMPLE_TABLES
from ringfence.schema import ColumnType, Table, arrow_type
from ringfence.schema import table as schema_table
from ringfence.schema.events import (
    OUTCOMES,
    PERSON_GROUPS,
    PLACE_KINDS,
    PURCHASE_CATEGORIES,
    SEVERITIES,
    VISIT_SOURCES,
)

Fmt = Literal["csv", "parquet"]
Progress = Callable[[str, int, int], None]
Arr: TypeAlias = npt.NDArray[Any]
#: A column as the writer takes it: an Arrow array, a NumPy array or a list of texts.
ColumnValues: TypeAlias = pa.Array | Arr | Sequence[str | None]

#: The offset written on every generated text instant. Asia/Shanghai has kept +08:00 all year
#: since 1991, so a fixed offset is exact for any date the generator produces.
UTC_OFFSET = "+08:00"
_OFFSET_SECONDS = 8 * 3600
_DAY = 86_400
_HOUR = 3_600
_MINUTE = 60

#: Rows per written batch: one CSV block or one Parquet row group, and one progress call.
CHUNK_ROWS = 1_000_000
# Visits are generated in smaller chunks: each row has many temporaries while it is drawn.
_VISIT_CHUNK_ROWS = 250_000


# --------------------------------------------------------------------------------------------
# Writing tables (shared with scenario.py)
# --------------------------------------------------------------------------------------------


def arrow_schema(table: Table, fmt: Fmt) -> pa.Schema:
    """The Arrow schema a file of `table` is written with.

    CSV keeps instants as text so that a caller may write any ISO 8601 form (the hand-made
    example mixes naive local times, offsets and UTC, as real inputs do); Parquet is typed.
    """
    fields = []
    for col in table.columns:
        typ = arrow_type(col.type, unit="s", timezone=UTC_OFFSET)
        if fmt == "csv" and col.type is ColumnType.INSTANT:
            typ = pa.string()
        fields.append(pa.field(col.name, typ))
    return pa.schema(fields)


def _fixed_width_strings(chars: npt.NDArray[np.uint8]) -> pa.Array:
    """A string array from an (n, width) matrix of ASCII bytes, one row per value.

    Building the bytes with array arithmetic and handing them to Arrow as buffers is an order
    of magnitude faster than formatting through Python or Arrow's strftime.
    """
    n, width = chars.shape
    big = (n + 1) * width >= 2**31
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64 if big else np.int32)
    data = pa.py_buffer(np.ascontiguousarray(chars))
    typ = pa.large_string() if big else pa.string()
    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets), data])


def _put_digits(chars: npt.NDArray[np.uint8], col: int, values: Arr, width: int) -> None:
    """Writes `values` as zero-padded decimals of `width` digits into chars[:, col:col+width]."""
    v = values.astype(np.int64)
    for k in range(width - 1, -1, -1):
        chars[:, col + k] = 48 + v % 10
        v = v // 10


def format_ids(
    prefix: str | Sequence[str], numbers: Arr, width: int = 8, codes: Arr | None = None
) -> pa.Array:
    """Ids such as ``P00000042``: a prefix, then `numbers` zero-padded to `width` digits.

    With several prefixes (all of one length), row i takes ``prefix[codes[i]]``.
    """
    numbers = np.asarray(numbers)
    if numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids {prefix!r}: numbers do not fit in {width} digits")
    heads = [prefix] if isinstance(prefix, str) else list(prefix)
    if len({len(h) for h in heads}) != 1:
        raise ValueError(f"prefixes {heads!r} differ in length")
    head_bytes = np.frombuffer("".join(heads).encode("ascii"), dtype=np.uint8)
    head_bytes = head_bytes.reshape(len(heads), -1)
    w = head_bytes.shape[1]
    chars = np.empty((numbers.size, w + width), dtype=np.uint8)
    chars[:, :w] = head_bytes[0] if codes is None else head_bytes[np.asarray(codes)]
    _put_digits(chars, w, numbers, width)
    return _fixed_width_strings(chars)


def format_instants(local: Arr, suffix: str = UTC_OFFSET) -> pa.Array:
    """ISO 8601 text for local wall-clock times (``datetime64[s]``), e.g. ``…T08:15:00+08:00``."""
    secs = np.asarray(local, dtype="datetime64[s]").astype(np.int64)
    tail = suffix.encode("ascii")
    chars = np.empty((secs.size, 19 + len(tail)), dtype=np.uint8)
    if secs.size:
        days, sod = np.divmod(secs, _DAY)
        first = int(days.min())
        span = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
        # Few distinct dates per chunk: format each once and gather rows by index.
        date_text = np.frombuffer(span.astype("S10").tobytes(), dtype=np.uint8).reshape(-1, 10)
        chars[:, :10] = date_text[days - first]
        chars[:, 10] = ord("T")
        _put_digits(chars, 11, sod // _HOUR, 2)
        chars[:, 13] = ord(":")
        _put_digits(chars, 14, sod // _MINUTE % 60, 2)
        chars[:, 16] = ord(":")
        _put_digits(chars, 17, sod % 60, 2)
        chars[:, 19:] = np.frombuffer(tail, dtype=np.uint8)
    return _fixed_width_strings(chars)


def _to_arrow(name: str, values: ColumnValues, typ: pa.DataType, fmt: Fmt) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == typ else values.cast(typ)
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "M" and np.datetime_data(values.dtype)[0] == "s":
            # Generated instants are local wall-clock times of the jurisdiction.
            if fmt == "csv":
                return format_instants(values)
            utc = values.astype(np.int64) - _OFFSET_SECONDS
            return pa.array(utc, type=typ)
        if values.dtype.kind == "f":
            return pa.array(values, mask=np.isnan(values)).cast(typ)
        return pa.array(values).cast(typ)
    text = pa.array(list(values), type=pa.string())
    if pa.types.is_timestamp(typ):
        raise ValueError(f"column {name}: text instants can only be written to CSV")
    return text if typ == pa.string() else text.cast(typ)


class TableWriter:
    """Writes one event table to ``out_dir/<table>.<fmt>`` batch by batch.

    Columns not given are written empty (null); a column the table does not have is an error.
    `progress(table, rows_written, total)` is called after every written batch.
    """

    def __init__(
        self,
        out_dir: Path,
        name: str,
        fmt: Fmt,
        *,
        total: int = 0,
        progress: Progress | None = None,
    ) -> None:
        self.table = schema_table(name)
        self.fmt = fmt
        self.schema = arrow_schema(self.table, fmt)
        self.path = Path(out_dir) / f"{name}.{fmt}"
        self.total = total
        self.rows = 0
        self._progress = progress
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter
        self._file: BinaryIO | None = None
        if fmt == "csv":
            # Unquoted output reads like hand-written CSV; Arrow refuses a value that would
            # need quotes, so a stray comma fails loudly instead of corrupting a row. Arrow
            # always quotes its header, so the header line is written here instead.
            self._file = self.path.open("wb")
            self._file.write((",".join(self.schema.names) + "\n").encode())
            options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
            self._writer = pa_csv.CSVWriter(self._file, self.schema, write_options=options)
        elif fmt == "parquet":
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        else:
            raise ValueError(f"unknown format {fmt!r}; expected 'csv' or 'parquet'")

    def write(self, columns: Mapping[str, ColumnValues]) -> None:
        """Appends rows given column by column (Arrow arrays, NumPy arrays or text lists)."""
        unknown = set(columns) - set(self.table.column_names)
        if unknown:
            raise ValueError(f"table {self.table.name}: unknown columns {sorted(unknown)}")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"table {self.table.name}: columns of different lengths {lengths}")
        n = lengths.pop() if lengths else 0
        arrays = [
            _to_arrow(f.name, columns[f.name], f.type, self.fmt)
            if f.name in columns
            else pa.nulls(n, f.type)
            for f in self.schema
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        for lo in range(0, max(n, 1), CHUNK_ROWS):
            part = batch.slice(lo, CHUNK_ROWS)
            if part.num_rows == 0:
                continue
            self._writer.write_batch(part)
            self.rows += part.num_rows
            if self._progress is not None:
                self._progress(self.table.name, self.rows, max(self.total, self.rows))

    def close(self) -> int:
        """Finishes the file and returns the number of rows written."""
        self._writer.close()
        if self._file is not None:
            self._file.close()
        return self.rows

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_table(
    out_dir: Path,
    name: str,
    columns: Mapping[str, ColumnValues],
    fmt: Fmt = "csv",
    progress: Progress | None = None,
) -> int:
    """Writes a whole table at once and returns its row count."""
    with TableWriter(out_dir, name, fmt, total=_length(columns), progress=progress) as w:
        w.write(columns)
        return w.rows


def _length(columns: Mapping[str, ColumnValues]) -> int:
    return max((len(v) for v in columns.values()), default=0)


# --------------------------------------------------------------------------------------------
# The synthetic city
# --------------------------------------------------------------------------------------------

# Beijing's districts with their 2020 census population (10,000s): people are drawn in
# proportion, so Chaoyang and Haidian are busy and Yanqing is quiet.
DISTRICTS: tuple[tuple[str, float], ...] = (
    ("Dongcheng", 70.9),
    ("Xicheng", 110.6),
    ("Chaoyang", 345.2),
    ("Fengtai", 201.9),
    ("Shijingshan", 56.8),
    ("Haidian", 313.3),
    ("Mentougou", 39.3),
    ("Fangshan", 131.3),
    ("Tongzhou", 184.0),
    ("Shunyi", 132.4),
    ("Changping", 226.9),
    ("Daxing", 199.4),
    ("Huairou", 44.1),
    ("Pinggu", 45.7),
    ("Miyun", 52.8),
    ("Yanqing", 34.6),
)
_CHAOYANG, _FENGTAI, _HAIDIAN, _SHUNYI, _DAXING, _YANQING = 2, 3, 5, 9, 11, 15
LOOP_ID = "BJ2022"

_KIND = {k: i for i, k in enumerate(PLACE_KINDS)}
# Every prefix has five characters, so that all place ids have one width.
_PREFIX = {
    "home": "HOME-",
    "workplace": "WORK-",
    "school": "SCHL-",
    "restaurant": "REST-",
    "market": "MRKT-",
    "cold_chain": "COLD-",
    "hospital": "HOSP-",
    "pharmacy": "PHAR-",
    "fever_clinic": "FEVR-",
    "hotel": "HOTL-",
    "room": "ROOM-",
    "venue": "VENU-",
    "transport": "TRAN-",
    "quarantine_site": "QUAR-",
    "airport": "AIRP-",
    "other": "OTHR-",
}

# Places per million people of the kinds people choose among (at least one of each). "other"
# here is the mail sorting centres; hotel floors are "other" too but are never chosen.
_PER_MILLION = {
    "workplace": 40_000,
    "school": 1_200,
    "restaurant": 3_000,
    "market": 500,
    "cold_chain": 20,
    "hospital": 10,
    "pharmacy": 300,
    "transport": 200,
    "venue": 10,
    "quarantine_site": 5,
    "other": 5,
    "hotel": 40,
}
_CAPACITY = {"restaurant": (40, 200), "school": (300, 2000), "hotel": (100, 600)}
_FLOORS_PER_HOTEL = (3, 10)
_ROOMS_PER_FLOOR = 20

# Where a person goes when not at work or school, with weights.
_LEISURE = (
    ("restaurant", 0.30),
    ("market", 0.22),
    ("transport", 0.20),
    ("workplace", 0.08),
    ("pharmacy", 0.05),
    ("venue", 0.05),
    ("hospital", 0.04),
    ("cold_chain", 0.03),
    ("other", 0.03),
)
_LEISURE_KIND = np.array([_KIND[k] for k, _ in _LEISURE])
_LEISURE_CUM = np.cumsum([w for _, w in _LEISURE]) / sum(w for _, w in _LEISURE)
# Inside the loop: venue, dining hall, shuttle.
_LOOP_CUM = np.cumsum([0.5, 0.3, 0.2])

# (median minutes, lognormal sigma) of a visit's duration, by kind.
_DURATION = {
    "workplace": (480, 0.25),
    "school": (420, 0.1),
    "restaurant": (60, 0.4),
    "market": (25, 0.6),
    "transport": (35, 0.5),
    "pharmacy": (8, 0.5),
    "venue": (150, 0.5),
    "hospital": (90, 0.6),
    "cold_chain": (30, 0.6),
    "other": (45, 0.6),
    "airport": (90, 0.4),
    "fever_clinic": (120, 0.4),
}
_MEDIAN = np.array([_DURATION.get(k, (45, 0.6))[0] for k in PLACE_KINDS], dtype=np.float64)
_SIGMA = np.array([_DURATION.get(k, (45, 0.6))[1] for k in PLACE_KINDS], dtype=np.float64)
# Visit source by kind (scan unless listed); codes index VISIT_SOURCES.
_SCAN, _BADGE, _ROSTER, _MANIFEST, _BOOKING = range(5)
_SOURCE = np.full(len(PLACE_KINDS), _SCAN)
_SOURCE[[_KIND["workplace"], _KIND["venue"]]] = _BADGE
_SOURCE[_KIND["school"]] = _ROSTER

_SEXES = ("female", "male")
_RESIDENT, _ATHLETE, _OFFICIAL, _MEDIA, _STAFF, _TRAVELLER, _DIPLOMAT = range(7)  # PERSON_GROUPS
_LOOP_GROUPS = (_ATHLETE, _OFFICIAL, _MEDIA, _STAFF)
_SCREENING, _ARRIVAL, _MASS, _DIAGNOSTIC, _ENVIRONMENT = range(5)
_PURPOSES = ("screening", "arrival", "mass", "diagnostic", "environment")
_COLD_ITEMS = ("imported frozen pork packaging", "frozen seafood surface", "cold-store door handle")
_MAIL_ITEMS = ("letter mailed from Canada", "parcel from Korea")
_POSITIVE, _NEGATIVE, _INVALID = range(3)
_PURCHASE_P = (0.35, 0.05, 0.15, 0.30, 0.15)  # by PURCHASE_CATEGORIES
_LINEAGES = ("BA.1", "BA.1.1", "BA.2", "AY.4", "B.1.617.2", "AY.122")
_LINEAGE_P = (0.20, 0.45, 0.05, 0.20, 0.05, 0.05)
_ORIGINS = (
    "United States",
    "Germany",
    "France",
    "Canada",
    "Japan",
    "Korea",
    "Russia",
    "Norway",
    "Italy",
    "United Kingdom",
    "Netherlands",
    "Switzerland",
)
_ORIGIN_NAMES = pa.array([*_ORIGINS, "Beijing"])
_AIRLINES = ("UA", "LH", "AF", "AC", "JL", "KE", "SU", "SK", "AZ", "BA", "KL", "LX")
_PORTS = ("PEK", "PKX")

POOL_SIZE = 10
_POOL_DILUTION_CT = 3.3  # log2(10): a 10-in-1 pool reads about 3.3 cycles later
_LAB_CUTOFF_CT = 40.0  # the lab calls positive below 40; the protocol decides what counts
_NEVER = 1 << 30  # a day index past any end

# Each table draws from its own stream, so changing one table leaves the others as they were.
_S_HOUSEHOLDS, _S_PLACES, _S_PERSONS, _S_COUNTS, _S_VISITS, _S_DAY, _S_MOVES = range(1, 8)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _vocab(values: Sequence[str | None]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _take(values: pa.Array, index: Arr) -> pa.Array:
    """values[index], with null where index is negative."""
    index = np.asarray(index, dtype=np.int64)
    return values.take(pa.array(index, mask=index < 0))


def _local(secs: Arr) -> Arr:
    """Seconds since the epoch on the local wall clock → ``datetime64[s]``."""
    return np.asarray(secs, dtype=np.int64).astype("datetime64[s]")


def _uniform_secs(rng: np.random.Generator, lo: float, hi: float, n: int) -> Arr:
    return rng.integers(int(lo), int(hi), n, dtype=np.int64)


def _ranks_in_groups(counts: Arr) -> Arr:
    """0, 1, … within each group of the layout ``np.repeat(x, counts)``."""
    starts: Arr = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum()), dtype=np.int64) - starts


def _ct_values(rng: np.random.Generator, ct: Arr) -> tuple[Arr, Arr, Arr]:
    """Reported (ct, ct_orf1ab, ct_n) for a true Ct; the gene targets scatter around it."""
    orf = np.clip(np.round(ct + rng.normal(0.4, 0.6, len(ct)), 1), 0, 50)
    n_gene = np.clip(np.round(ct + rng.normal(0.0, 0.6, len(ct)), 1), 0, 50)
    return np.minimum(orf, n_gene), orf, n_gene


@dataclass
class _Places:
    kind: Arr  # code in PLACE_KINDS
    district: Arr
    parent: Arr  # -1 for none
    loop: Arr  # bool
    capacity: Arr  # -1 for none
    ids: pa.Array
    # Ordinary places are contiguous by (kind, district): that is how a nearby one is chosen.
    start: Arr
    count: Arr
    kind_start: Arr
    kind_count: Arr
    hotel_rooms: Arr
    loop_rooms: Arr
    loop_places: Arr  # venue, dining hall, shuttle (indexed as _LOOP_CUM)
    loop_venues: Arr
    airports: Arr  # by _PORTS
    fever_clinic_of: Arr  # per district: the clinic its people go to

    def pick(self, rng: np.random.Generator, kind: Arr, district: Arr) -> Arr:
        """A random ordinary place of `kind` in `district`, or anywhere if the district has none."""
        u = rng.random(len(kind))
        near = self.count[kind, district]
        local = self.start[kind, district] + (u * near).astype(np.int64)
        anywhere = self.kind_start[kind] + (u * self.kind_count[kind]).astype(np.int64)
        return np.where(near > 0, local, anywhere)


class _PlaceBlocks:
    """Places appended block by block; parents always come before their children."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Arr]] = {
            k: [] for k in ("kind", "district", "parent", "loop", "capacity")
        }
        self.n = 0

    def add(
        self,
        kind: str,
        district: Arr,
        parent: Arr | None = None,
        loop: Arr | bool = False,
        capacity: Arr | None = None,
    ) -> Arr:
        n = len(district)
        self.columns["kind"].append(np.full(n, _KIND[kind], dtype=np.int64))
        self.columns["district"].append(np.asarray(district, dtype=np.int64))
        self.columns["parent"].append(np.full(n, -1) if parent is None else parent)
        self.columns["loop"].append(np.broadcast_to(np.asarray(loop, dtype=bool), (n,)))
        self.columns["capacity"].append(np.full(n, -1) if capacity is None else capacity)
        rows = np.arange(self.n, self.n + n)
        self.n += n
        return rows

    def concat(self) -> dict[str, Arr]:
        return {k: np.concatenate(v) for k, v in self.columns.items()}


def _make_places(rng: np.random.Generator, persons: int, home_district: Arr) -> _Places:
    n_dist = len(DISTRICTS)
    p_dist = _district_weights()
    b = _PlaceBlocks()
    start = np.zeros((len(PLACE_KINDS), n_dist), dtype=np.int64)
    count = np.zeros_like(start)
    # Home i is the home of household i, so HOME-… and H… share their number.
    b.add("home", home_district)
    rows: dict[str, Arr] = {}
    for kind, per_million in _PER_MILLION.items():
        n = max(1, round(persons * per_million / 1e6))
        district = np.sort(rng.choice(n_dist, n, p=p_dist))
        cap = _CAPACITY.get(kind)
        capacity = None if cap is None else rng.integers(cap[0], cap[1], n)
        rows[kind] = b.add(kind, district, capacity=capacity)
        count[_KIND[kind]] = np.bincount(district, minlength=n_dist)
        start[_KIND[kind]] = rows[kind][0] + np.cumsum(count[_KIND[kind]]) - count[_KIND[kind]]
    kind_start = start[:, 0].copy()
    kind_count = count.sum(axis=1)
    airports = b.add("airport", np.array([_SHUNYI, _DAXING]))

    hospitals = rows["hospital"]
    hospital_district = b.concat()["district"][hospitals]
    clinics = b.add("fever_clinic", hospital_district, parent=hospitals)
    fever_clinic_of = np.full(n_dist, clinics[0])
    # The ill go to their district's first clinic, or to clinic 0 if their district has none.
    served, first = np.unique(hospital_district, return_index=True)
    fever_clinic_of[served] = clinics[first]

    # The closed loop's contracted hotel is the last hotel, in Chaoyang.
    loop_hotel = b.add("hotel", np.array([_CHAOYANG]), loop=True, capacity=np.array([400]))
    hotels = np.append(rows["hotel"], loop_hotel)
    hotel_district = b.concat()["district"][hotels]
    n_floors = rng.integers(_FLOORS_PER_HOTEL[0], _FLOORS_PER_HOTEL[1], len(hotels), endpoint=True)
    floor_loop = np.repeat(hotels == loop_hotel[0], n_floors)
    # A floor is kind "other": it is a shared corridor, not a room anyone sleeps in.
    floors = b.add(
        "other", np.repeat(hotel_district, n_floors), np.repeat(hotels, n_floors), floor_loop
    )
    room_loop = np.repeat(floor_loop, _ROOMS_PER_FLOOR)
    rooms = b.add(
        "room",
        b.concat()["district"][np.repeat(floors, _ROOMS_PER_FLOOR)],
        np.repeat(floors, _ROOMS_PER_FLOOR),
        room_loop,
        np.full(len(room_loop), 2),
    )
    dining = b.add("restaurant", np.array([_CHAOYANG]), loop_hotel, True, np.array([300]))
    venues = b.add("venue", np.array([_CHAOYANG, _YANQING, _HAIDIAN]), loop=True)
    shuttles = b.add("transport", np.array([_CHAOYANG, _CHAOYANG]), loop=True)

    cols = b.concat()
    kinds = cols["kind"]
    # Number places within their kind so that ids read like ROOM-00000017.
    order = np.argsort(kinds, kind="stable")
    ordinal = np.empty(len(kinds), dtype=np.int64)
    ordinal[order] = _ranks_in_groups(np.bincount(kinds, minlength=len(PLACE_KINDS)))
    prefixes = [_PREFIX[k] for k in PLACE_KINDS]
    return _Places(
        kind=kinds,
        district=cols["district"],
        parent=cols["parent"],
        loop=cols["loop"],
        capacity=cols["capacity"],
        ids=format_ids(prefixes, ordinal, codes=kinds),
        start=start,
        count=count,
        kind_start=kind_start,
        kind_count=kind_count,
        hotel_rooms=rooms[~room_loop],
        loop_rooms=rooms[room_loop],
        loop_places=np.array([venues[0], dining[0], shuttles[0]]),
        loop_venues=venues,
        airports=airports,
        fever_clinic_of=fever_clinic_of,
    )


def _district_weights() -> Arr:
    w: Arr = np.array([pop for _, pop in DISTRICTS])
    shares: Arr = w / w.sum()
    return shares


@dataclass
class _Persons:
    n: int
    household: Arr
    district: Arr
    birth_year: Arr
    sex: Arr
    group: Arr
    pregnant: Arr  # -1 not recorded, 0, 1
    comorbidity: Arr  # -1 not recorded, 0, 1
    work: Arr  # place index or -1
    school: Arr
    room: Arr
    arrive_day: Arr  # -1: there before the first day
    depart_day: Arr  # _NEVER if the person stays
    infected_at: Arr  # local seconds, NaN if never
    ct_min: Arr
    lineage: Arr
    onset_day: Arr  # -1: no symptoms in range
    clinic_at: Arr  # local seconds of the fever-clinic visit on the report day
    report_day: Arr  # -1: no clinic report in range
    isolated_from: Arr  # first day the person is isolated (found positive)
    ids: pa.Array

    @property
    def in_loop(self) -> Arr:
        return (self.group >= _ATHLETE) & (self.group <= _STAFF)


def _household_sizes(rng: np.random.Generator, residents: int) -> Arr:
    """Household sizes 1–5 (shares as in a Chinese city) adding up to `residents`."""
    sizes = rng.choice(np.arange(1, 6), residents + 1, p=[0.25, 0.30, 0.25, 0.12, 0.08])
    total = np.cumsum(sizes)
    last = int(np.searchsorted(total, residents))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= total[last] - residents
    return sizes


def _ages(rng: np.random.Generator, n: int, adult: Arr) -> Arr:
    # Flat to 60, then thinning out to 95: close enough to Beijing's pyramid for tracing.
    w = np.interp(np.arange(96), [0, 60, 95], [1.0, 1.0, 0.05])
    age = rng.choice(96, n, p=w / w.sum())
    adult_w = w[18:] / w[18:].sum()
    age[adult] = 18 + rng.choice(len(adult_w), int(adult.sum()), p=adult_w)
    return age


def _make_persons(seed: int, n: int, days: int, start: dt.date) -> tuple[_Persons, _Places]:
    rng = _rng(seed, _S_PERSONS)
    n_loop = max(8, round(n * 0.002)) if n >= 200 else 0
    n_trav = round(n * 0.005)
    n_dipl = round(n * 0.0002)
    n_res = n - n_loop - n_trav - n_dipl
    sizes = _household_sizes(_rng(seed, _S_HOUSEHOLDS), n_res)
    p_dist = _district_weights()
    n_house = len(sizes)
    house_district = rng.choice(len(DISTRICTS), n_house, p=p_dist).astype(np.int8)
    places = _make_places(_rng(seed, _S_PLACES), n, house_district)
    i8, i32 = np.int8, np.int32
    # Narrow types, and draws only for the people concerned, keep a million people in well
    # under 100 MB while they are built and for the rest of the run.

    special = n - n_res
    household = np.concatenate(
        [np.repeat(np.arange(n_house, dtype=i32), sizes), n_house + np.arange(special, dtype=i32)]
    )
    group = np.concatenate(
        [
            np.zeros(n_res, dtype=i8),
            rng.choice(np.array(_LOOP_GROUPS, dtype=i8), n_loop, p=[0.35, 0.20, 0.25, 0.20]),
            np.full(n_trav, _TRAVELLER, dtype=i8),
            np.full(n_dipl, _DIPLOMAT, dtype=i8),
        ]
    )
    resident = np.flatnonzero(group == _RESIDENT)
    in_loop = np.flatnonzero((group >= _ATHLETE) & (group <= _STAFF))
    guests = np.flatnonzero((group == _TRAVELLER) | (group == _DIPLOMAT))
    district = np.full(n, _CHAOYANG, dtype=i8)
    district[resident] = house_district[household[resident]]
    travellers = np.flatnonzero(group == _TRAVELLER)
    district[travellers] = rng.choice(len(DISTRICTS), len(travellers), p=p_dist)
    adult = np.ones(n, dtype=bool)
    adult[:n_res] = _ranks_in_groups(sizes) == 0
    age = _ages(rng, n, adult).astype(np.int16)
    sex = rng.integers(0, 2, n, dtype=i8)

    pregnant = np.full(n, -1, dtype=i8)
    fertile = resident[(sex[resident] == 0) & (age[resident] >= 18) & (age[resident] <= 45)]
    pregnant[fertile] = rng.random(len(fertile)) < 0.04
    comorbidity = np.full(n, -1, dtype=i8)
    comorbidity[resident] = rng.random(len(resident)) < (
        0.05 + 0.005 * np.maximum(age[resident] - 40, 0)
    )

    work = np.full(n, -1, dtype=i32)
    employed = resident[(age[resident] >= 22) & (age[resident] <= 64)]
    employed = employed[rng.random(len(employed)) < 0.75]
    # One worker in seven commutes to another district.
    commute = np.where(
        rng.random(len(employed)) < 0.15,
        rng.integers(0, len(DISTRICTS), len(employed)),
        district[employed],
    )
    work[employed] = places.pick(rng, np.full(len(employed), _KIND["workplace"]), commute)
    school = np.full(n, -1, dtype=i32)
    pupils = resident[(age[resident] >= 6) & (age[resident] <= 17)]
    school[pupils] = places.pick(rng, np.full(len(pupils), _KIND["school"]), district[pupils])
    room = np.full(n, -1, dtype=i32)
    room[in_loop] = places.loop_rooms[np.arange(len(in_loop)) // 2 % len(places.loop_rooms)]
    room[guests] = rng.choice(places.hotel_rooms, len(guests))

    arrive_day = np.full(n, -1, dtype=i32)
    arrive_day[in_loop] = rng.integers(0, min(days, 5), len(in_loop))
    arrive_day[guests] = rng.integers(0, days, len(guests))
    depart_day = np.full(n, _NEVER, dtype=i32)
    leaving = guests[rng.random(len(guests)) < 0.4]
    depart_day[leaving] = arrive_day[leaving] + rng.integers(2, 8, len(leaving))

    t0 = _epoch_seconds(start)
    infected_at = np.full(n, np.nan)
    caught = resident[rng.random(len(resident)) < 0.004]
    infected_at[caught] = np.round(t0 + rng.uniform(-5, days, len(caught)) * _DAY)
    visitors = np.concatenate([in_loop, guests])
    abroad = visitors[rng.random(len(visitors)) < 0.02]  # caught before arriving
    infected_at[abroad] = np.round(
        t0 + (arrive_day[abroad] + 0.5 - rng.uniform(0.5, 6, len(abroad))) * _DAY
    )
    infected = np.concatenate([caught, abroad])
    ct_min = np.full(n, np.nan, dtype=np.float32)
    ct_min[infected] = np.clip(rng.normal(21, 3, len(infected)), 14, 30)
    lineage = np.zeros(n, dtype=i8)
    lineage[infected] = rng.choice(len(_LINEAGES), len(infected), p=_LINEAGE_P)
    ill = infected[rng.random(len(infected)) < 0.55]
    onset = np.floor((infected_at[ill] - t0) / _DAY + rng.uniform(2, 5, len(ill))).astype(i32)
    report = onset + rng.integers(0, 2, len(ill), dtype=i32)
    onset_day = np.full(n, -1, dtype=i32)
    report_day = np.full(n, -1, dtype=i32)
    onset_day[ill] = np.where((onset >= 0) & (onset < days), onset, -1)
    report_day[ill] = np.where((onset >= 0) & (report < days), report, -1)
    clinic_at = (
        t0 + report_day.astype(np.int64) * _DAY + _uniform_secs(rng, 8 * _HOUR, 17 * _HOUR, n)
    )

    persons = _Persons(
        n=n,
        household=household,
        district=district,
        birth_year=start.year - age,
        sex=sex,
        group=group,
        pregnant=pregnant,
        comorbidity=comorbidity,
        work=work,
        school=school,
        room=room,
        arrive_day=arrive_day,
        depart_day=depart_day,
        infected_at=infected_at,
        ct_min=ct_min,
        lineage=lineage,
        onset_day=onset_day,
        clinic_at=clinic_at,
        report_day=report_day,
        isolated_from=np.full(n, _NEVER, dtype=i32),
        ids=format_ids("P", np.arange(n)),
    )
    return persons, places


def _epoch_seconds(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * _DAY


def _true_ct(persons: _Persons, who: Arr, at: Arr) -> Arr:
    """The Ct a PCR of `who` at local time `at` would read (inf if no detectable RNA).

    Ct falls from ~40 to its minimum over the three days after infection, then climbs back by
    two cycles a day: a person is PCR-positive for roughly two weeks.
    """
    since = (at - persons.infected_at[who]) / _DAY
    peak = 3.0
    ct = persons.ct_min[who] + np.where(since < peak, (peak - since) * 6.0, (since - peak) * 2.0)
    return np.where(np.isnan(since) | (since < 0), np.inf, ct)


def _arrivals(rng: np.random.Generator, persons: _Persons, t0: int) -> tuple[Arr, Arr]:
    """Arrival instants (local seconds) and ports (index into _PORTS, -1 for none)."""
    n = persons.n
    day0 = t0 + persons.arrive_day.astype(np.int64) * _DAY
    arrived_at = day0 + _uniform_secs(rng, 6 * _HOUR, 22 * _HOUR, n)
    port = np.where(persons.in_loop, 0, rng.integers(0, len(_PORTS), n))
    # Beijing workforce enters the loop from the city, not through an airport.
    port = np.where((persons.arrive_day < 0) | (persons.group == _STAFF), -1, port)
    return arrived_at, port


@dataclass
class _Events:
    """Every table except visits, as output columns, plus what the visits stream needs."""

    tables: dict[str, Callable[[], dict[str, ColumnValues]]]
    """Columns of each table, built only when it is written, so they need not coexist."""
    arrived_at: Arr
    port: Arr


class _Accumulator:
    """Per-day arrays of one table, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, list[Arr]] = {}

    def add(self, **columns: Arr) -> None:
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(np.asarray(values))

    def get(self, name: str, dtype: Any = np.int64) -> Arr:
        parts = self.parts.get(name)
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _simulate(seed: int, persons: _Persons, places: _Places, days: int, start: dt.date) -> _Events:
    """Tests, results, symptoms, purchases and proximity, day by day.

    Days run in order because a person found positive on one day is isolated from the next:
    no more screening, visits or mass testing for them.
    """
    n = persons.n
    t0 = _epoch_seconds(start)
    arrived_at, port = _arrivals(_rng(seed, _S_MOVES), persons, t0)
    samples, results, sequences = _Accumulator(), _Accumulator(), _Accumulator()
    symptoms, purchases, proximity = _Accumulator(), _Accumulator(), _Accumulator()
    resident = persons.group == _RESIDENT
    guest = (persons.group == _TRAVELLER) | (persons.group == _DIPLOMAT)
    in_loop = persons.in_loop
    env_sites = np.concatenate(
        [
            places.kind_start[_KIND[k]] + np.arange(places.kind_count[_KIND[k]])
            for k in ("cold_chain", "other")
        ]
    )
    env_is_mail = places.kind[env_sites] == _KIND["other"]
    next_sample = next_pool = 0
    retest = np.empty(0, dtype=np.int64)
    for d in range(days):
        rng = _rng(seed, _S_DAY, d)
        day0 = t0 + d * _DAY
        alive = (persons.arrive_day <= d) & (d < persons.depart_day)
        free = alive & (d < persons.isolated_from)

        # Individual swabs: arrival, daily screening, fever-clinic diagnosis, pool re-tests.
        arrivals = np.flatnonzero(persons.arrive_day == d)
        screened = np.flatnonzero(
            free
            & (
                (in_loop & (persons.arrive_day < d))
                | (resident & (rng.random(n) < 0.05))
                | (guest & (persons.arrive_day + 2 == d))
            )  # the test within 72 h of arrival
        )
        diagnosed = np.flatnonzero(free & (persons.report_day == d))
        retest = retest[free[retest]]
        who = np.concatenate([arrivals, screened, diagnosed, retest])
        at = np.concatenate(
            [
                arrived_at[arrivals]
                + _uniform_secs(rng, 20 * _MINUTE, 60 * _MINUTE, len(arrivals)),
                day0 + _uniform_secs(rng, 7 * _HOUR, 11 * _HOUR, len(screened)),
                persons.clinic_at[diagnosed]
                + _uniform_secs(rng, 10 * _MINUTE, 30 * _MINUTE, len(diagnosed)),
                day0 + _uniform_secs(rng, 7 * _HOUR, 10 * _HOUR, len(retest)),
            ]
        )
        purpose = np.repeat(
            [_ARRIVAL, _SCREENING, _DIAGNOSTIC, _MASS],
            [len(arrivals), len(screened), len(diagnosed), len(retest)],
        )
        number = next_sample + np.arange(len(who))
        next_sample += len(who)
        samples.add(
            number=number,
            person=who,
            place=np.full(len(who), -1),
            at=at,
            pool=np.full(len(who), -1),
            purpose=purpose,
            item=np.full(len(who), -1),
        )
        ct = _true_ct(persons, who, at.astype(np.float64))
        outcome = _outcomes(rng, ct)
        reported = at + _uniform_secs(rng, 3 * _HOUR, 12 * _HOUR, len(who))
        _add_results(results, rng, number, np.full(len(who), -1), reported, outcome, ct)
        found = who[outcome == _POSITIVE]
        persons.isolated_from[found] = np.minimum(persons.isolated_from[found], d + 1)

        # Whole-genome sequencing of strong positives.
        seq = (outcome == _POSITIVE) & (ct < 30) & (rng.random(len(who)) < 0.5)
        sequences.add(
            sample=number[seq],
            lineage=persons.lineage[who[seq]],
            at=reported[seq] + _uniform_secs(rng, 2 * _DAY, 4 * _DAY, int(seq.sum())),
        )

        # A district-wide 10-in-1 mass-testing round every third day, Fengtai first.
        retest = np.empty(0, dtype=np.int64)
        if d % 3 == 1:
            district = (_FENGTAI + 5 * (d // 3)) % len(DISTRICTS)
            members = np.flatnonzero(free & resident & (persons.district == district))
            pool = next_pool + np.arange(len(members)) // POOL_SIZE
            at = day0 + _uniform_secs(rng, 8 * _HOUR, 18 * _HOUR, len(members))
            number = next_sample + np.arange(len(members))
            next_sample += len(members)
            samples.add(
                number=number,
                person=members,
                place=np.full(len(members), -1),
                at=at,
                pool=pool,
                purpose=np.full(len(members), _MASS),
                item=np.full(len(members), -1),
            )
            if len(members):
                first = np.flatnonzero(np.diff(pool, prepend=-1))
                pool_ct = (
                    np.minimum.reduceat(_true_ct(persons, members, at.astype(np.float64)), first)
                    + _POOL_DILUTION_CT
                )
                pool_outcome = _outcomes(rng, pool_ct)
                pool_reported = np.maximum.reduceat(at, first) + _uniform_secs(
                    rng, 4 * _HOUR, 10 * _HOUR, len(first)
                )
                _add_results(
                    results,
                    rng,
                    np.full(len(first), -1),
                    pool[first],
                    pool_reported,
                    pool_outcome,
                    pool_ct,
                )
                positive_pool = np.zeros(int(pool[-1] - next_pool) + 1, dtype=bool)
                positive_pool[pool_outcome == _POSITIVE] = True
                retest = members[positive_pool[pool - next_pool]]
                next_pool = int(pool[-1]) + 1

        # Environment samples at cold-chain markets and mail sorting centres.
        k = int(rng.poisson(1 + n / 500_000))
        site = rng.integers(0, len(env_sites), k)
        mail = env_is_mail[site]
        item = np.where(
            mail,
            len(_COLD_ITEMS) + rng.integers(0, len(_MAIL_ITEMS), k),
            rng.integers(0, len(_COLD_ITEMS), k),
        )
        at = day0 + _uniform_secs(rng, 9 * _HOUR, 16 * _HOUR, k)
        number = next_sample + np.arange(k)
        next_sample += k
        samples.add(
            number=number,
            person=np.full(k, -1),
            place=env_sites[site],
            at=at,
            pool=np.full(k, -1),
            purpose=np.full(k, _ENVIRONMENT),
            item=item,
        )
        env_ct = np.where(rng.random(k) < 0.05, rng.uniform(28, 38, k), np.inf)
        _add_results(
            results,
            rng,
            number,
            np.full(k, -1),
            at + _uniform_secs(rng, 4 * _HOUR, 12 * _HOUR, k),
            _outcomes(rng, env_ct),
            env_ct,
        )

        _add_symptoms(symptoms, rng, persons, d, day0, alive & in_loop)
        _add_purchases(purchases, rng, persons, places, d, day0, alive)
        _add_proximity(
            proximity, rng, np.flatnonzero(free & in_loop & (persons.arrive_day < d)), day0
        )

    tables: dict[str, Callable[[], dict[str, ColumnValues]]] = {
        "samples": lambda: _sample_columns(samples, persons, places),
        "results": lambda: _result_columns(results),
        "sequences": lambda: {
            "sample_id": format_ids("S", sequences.get("sample"), 10),
            "lineage": _take(_vocab(_LINEAGES), sequences.get("lineage")),
            "reported_at": _local(sequences.get("at")),
        },
        "symptoms": lambda: {
            "person_id": _take(persons.ids, symptoms.get("person")),
            "reported_at": _local(symptoms.get("at")),
            "onset": _dates(start, symptoms.get("onset"), symptoms.get("onset") < 0),
            "severity": _take(_vocab(SEVERITIES), symptoms.get("severity")),
            "temperature_c": symptoms.get("temperature", np.float64),
        },
        "purchases": lambda: {
            "person_id": _take(persons.ids, purchases.get("person")),
            "place_id": _take(places.ids, purchases.get("place")),
            "bought_at": _local(purchases.get("at")),
            "category": _take(_vocab(PURCHASE_CATEGORIES), purchases.get("category")),
        },
        "proximity": lambda: {
            "person_id": _take(persons.ids, proximity.get("person")),
            "other_person_id": _take(persons.ids, proximity.get("other")),
            "start": _local(proximity.get("start")),
            "end": _local(proximity.get("end")),
            "distance_m": proximity.get("distance", np.float64),
            "source": _take(_vocab(["badge"]), np.zeros(len(proximity.get("person")))),
        },
    }
    tables["arrivals"] = lambda: _arrival_columns(
        _rng(seed, _S_MOVES, 1), persons, arrived_at, port, days, start
    )
    tables["departures"] = lambda: _departure_columns(_rng(seed, _S_MOVES, 2), persons, days, start)
    return _Events(tables, arrived_at, port)


def _outcomes(rng: np.random.Generator, ct: Arr) -> Arr:
    outcome = np.where(ct < _LAB_CUTOFF_CT, _POSITIVE, _NEGATIVE)
    return np.where(rng.random(len(ct)) < 0.001, _INVALID, outcome)


def _add_results(
    acc: _Accumulator,
    rng: np.random.Generator,
    sample: Arr,
    pool: Arr,
    reported: Arr,
    outcome: Arr,
    ct: Arr,
) -> None:
    positive = outcome == _POSITIVE
    shown, orf, n_gene = _ct_values(rng, np.where(positive, ct, 0.0))
    nan = np.full(len(ct), np.nan)
    acc.add(
        sample=sample,
        pool=pool,
        at=reported,
        outcome=outcome,
        ct=np.where(positive, shown, nan),
        orf=np.where(positive, orf, nan),
        n=np.where(positive, n_gene, nan),
    )


def _add_symptoms(
    acc: _Accumulator,
    rng: np.random.Generator,
    persons: _Persons,
    d: int,
    day0: int,
    self_reporting: Arr,
) -> None:
    """A clinician's report on the report day; loop members' daily self-report in the app."""
    ill = np.flatnonzero(persons.report_day == d)
    severity = 1 + rng.choice(4, len(ill), p=[0.80, 0.15, 0.04, 0.01])
    daily = np.flatnonzero(self_reporting)
    sick = (persons.onset_day[daily] >= 0) & (persons.onset_day[daily] <= d)
    acc.add(
        person=np.concatenate([ill, daily]),
        # Self-reports come in 07:00–08:00 and clinic reports later, so keys never collide.
        at=np.concatenate(
            [persons.clinic_at[ill], day0 + _uniform_secs(rng, 7 * _HOUR, 8 * _HOUR, len(daily))]
        ),
        onset=np.concatenate(
            [persons.onset_day[ill], np.where(sick, persons.onset_day[daily], -1)]
        ),
        severity=np.concatenate([severity, sick.astype(np.int64)]),
        temperature=np.round(
            np.concatenate(
                [
                    rng.uniform(37.3, 39.5, len(ill)),
                    np.where(
                        sick,
                        rng.uniform(37.3, 38.5, len(daily)),
                        rng.uniform(36.1, 37.1, len(daily)),
                    ),
                ]
            ),
            1,
        ),
    )


def _add_purchases(
    acc: _Accumulator,
    rng: np.random.Generator,
    persons: _Persons,
    places: _Places,
    d: int,
    day0: int,
    alive: Arr,
) -> None:
    """Random pharmacy sales, and an antipyretic bought on the evening symptoms begin."""
    k = min(int(rng.poisson(0.001 * persons.n)), persons.n)
    buyers = rng.choice(persons.n, k, replace=False)
    buyers = buyers[alive[buyers]]
    sick = np.flatnonzero(alive & (persons.onset_day == d))
    who = np.concatenate([buyers, sick])
    acc.add(
        person=who,
        place=places.pick(rng, np.full(len(who), _KIND["pharmacy"]), persons.district[who]),
        at=day0
        + np.concatenate(
            [
                _uniform_secs(rng, 9 * _HOUR, 21 * _HOUR, len(buyers)),
                _uniform_secs(rng, 21 * _HOUR, 22 * _HOUR, len(sick)),
            ]
        ),
        category=np.concatenate(
            [
                rng.choice(len(_PURCHASE_P), len(buyers), p=_PURCHASE_P),
                np.zeros(len(sick), dtype=np.int64),
            ]
        ),
    )


def _add_proximity(acc: _Accumulator, rng: np.random.Generator, members: Arr, day0: int) -> None:
    """Badge encounters between loop members, each in its own slot of the working day."""
    if len(members) < 2:
        return
    m = rng.poisson(2.0, len(members))
    pos = np.repeat(np.arange(len(members)), m)
    j = _ranks_in_groups(m)
    slot = 12 * _HOUR / np.repeat(m, m)
    start = (day0 + 8 * _HOUR + (j + rng.random(len(j)) * 0.5) * slot).astype(np.int64)
    minutes = np.minimum(np.exp(np.log(10) + 0.8 * rng.standard_normal(len(j))), slot / 120)
    other = members[(pos + rng.integers(1, len(members), len(pos))) % len(members)]
    acc.add(
        person=members[pos],
        other=other,
        start=start,
        end=start + np.maximum(60, np.round(minutes * _MINUTE)).astype(np.int64),
        distance=np.clip(
            np.round(np.exp(np.log(1.5) + 0.7 * rng.standard_normal(len(j))), 1), 0.1, 50
        ),
    )


def _dates(start: dt.date, day: Arr, empty: Arr) -> Arr:
    """Day offsets from `start` → ``datetime64[D]``, NaT (written empty) where `empty`."""
    out = (np.datetime64(start, "D") + np.asarray(day, dtype=np.int64)).astype("datetime64[D]")
    return np.where(empty, np.datetime64("NaT", "D"), out)


def _sample_columns(
    acc: _Accumulator, persons: _Persons, places: _Places
) -> dict[str, ColumnValues]:
    pool = acc.get("pool")
    return {
        "sample_id": format_ids("S", acc.get("number"), 10),
        "person_id": _take(persons.ids, acc.get("person")),
        "place_id": _take(places.ids, acc.get("place")),
        "collected_at": _local(acc.get("at")),
        "test": _take(_vocab(["pcr"]), np.zeros(len(pool), dtype=np.int64)),
        "pool_id": _pool_ids(pool),
        "purpose": _take(_vocab(_PURPOSES), acc.get("purpose")),
        "item": _take(_vocab(_COLD_ITEMS + _MAIL_ITEMS), acc.get("item")),
    }


def _pool_ids(pool: Arr) -> pa.Array:
    ids = format_ids("Q", np.maximum(pool, 0))
    return pc.if_else(pa.array(pool < 0), pa.scalar(None, pa.string()), ids)


def _result_columns(acc: _Accumulator) -> dict[str, ColumnValues]:
    sample = acc.get("sample")
    ids = format_ids("S", np.maximum(sample, 0), 10)
    return {
        "result_id": format_ids("R", np.arange(len(sample)), 10),
        "sample_id": pc.if_else(pa.array(sample < 0), pa.scalar(None, pa.string()), ids),
        "pool_id": _pool_ids(acc.get("pool")),
        "reported_at": _local(acc.get("at")),
        "outcome": _take(_vocab(OUTCOMES), acc.get("outcome")),
        "ct": acc.get("ct", np.float64),
        "ct_orf1ab": acc.get("orf", np.float64),
        "ct_n": acc.get("n", np.float64),
    }


def _arrival_columns(
    rng: np.random.Generator,
    persons: _Persons,
    arrived_at: Arr,
    port: Arr,
    days: int,
    start: dt.date,
) -> dict[str, ColumnValues]:
    arr = np.flatnonzero((persons.arrive_day >= 0) & (persons.arrive_day < days))
    k = len(arr)
    staff = persons.group[arr] == _STAFF
    airline = rng.integers(0, len(_AIRLINES), k)
    flight = format_ids(_AIRLINES, rng.integers(100, 1000, k), 3, codes=airline)
    # Most completed their course months before; a few less than the 14 days the loop asks.
    vaccinated = persons.arrive_day[arr] - np.where(
        rng.random(k) < 0.02, rng.integers(1, 14, k), rng.integers(20, 400, k)
    )
    return {
        "person_id": _take(persons.ids, arr),
        "arrived_at": _local(arrived_at[arr]),
        "origin": _take(
            _ORIGIN_NAMES, np.where(staff, len(_ORIGINS), rng.integers(0, len(_ORIGINS), k))
        ),
        "port": _take(_vocab(_PORTS), port[arr]),
        "flight": pc.if_else(pa.array(staff), pa.scalar(None, pa.string()), flight),
        "vaccinated_on": _dates(start, vaccinated, rng.random(k) < 0.03),
    }


def _departure_columns(
    rng: np.random.Generator, persons: _Persons, days: int, start: dt.date
) -> dict[str, ColumnValues]:
    gone = np.flatnonzero(persons.depart_day < days)
    day0 = _epoch_seconds(start) + persons.depart_day[gone].astype(np.int64) * _DAY
    return {
        "person_id": _take(persons.ids, gone),
        "departed_at": _local(day0 + _uniform_secs(rng, 6 * _HOUR, 22 * _HOUR, len(gone))),
        "destination": _take(_ORIGIN_NAMES, rng.integers(0, len(_ORIGINS), len(gone))),
        "port": _take(_vocab(_PORTS), rng.integers(0, len(_PORTS), len(gone))),
    }


# --------------------------------------------------------------------------------------------
# Visits, streamed
# --------------------------------------------------------------------------------------------


@dataclass
class _VisitPlan:
    """Who visits what on one day in one chunk of persons; drawn identically on both passes."""

    counts: Arr  # ordinary visits per person of the chunk
    guests: Arr  # persons sleeping in a hotel room tonight
    arriving: Arr  # persons passing through an airport today
    clinic: Arr  # persons seen at a fever clinic today

    @property
    def rows(self) -> int:
        return int(self.counts.sum()) + len(self.guests) + len(self.arriving) + len(self.clinic)


def _visit_plan(
    seed: int, persons: _Persons, port: Arr, d: int, lo: int, hi: int, per_day: float
) -> _VisitPlan:
    arrive = persons.arrive_day[lo:hi]
    stays = (d < persons.depart_day[lo:hi]) & (d < persons.isolated_from[lo:hi])
    counts = np.minimum(_rng(seed, _S_COUNTS, d, lo).poisson(per_day, hi - lo), 8)
    # Nobody goes about their day before they have arrived or once they are isolated.
    counts[~(stays & (arrive < d))] = 0
    here = stays & (arrive <= d)
    return _VisitPlan(
        counts=counts,
        guests=lo + np.flatnonzero(here & (persons.room[lo:hi] >= 0)),
        arriving=lo + np.flatnonzero((arrive == d) & (port[lo:hi] >= 0)),
        clinic=lo + np.flatnonzero(stays & (persons.report_day[lo:hi] == d)),
    )


def _visit_chunk(
    seed: int,
    persons: _Persons,
    places: _Places,
    events: _Events,
    plan: _VisitPlan,
    d: int,
    lo: int,
    weekday: bool,
    day0: int,
) -> dict[str, ColumnValues]:
    rng = _rng(seed, _S_VISITS, d, lo)
    m = plan.counts
    who = lo + np.repeat(np.arange(len(m)), m)
    j = _ranks_in_groups(m)
    # The waking day (06:00–22:00) is cut into one slot per visit; each visit starts early in
    # its slot and ends before the next begins, so a person is never in two places at once and
    # (person, place, start) is unique without a check.
    slot = 16 * _HOUR / np.repeat(m, m)
    begin = day0 + 6 * _HOUR + j * slot
    start = (begin + rng.random(len(j)) * 0.25 * slot).astype(np.int64)
    limit = (begin + slot).astype(np.int64) - _MINUTE
    kind = _LEISURE_KIND[np.searchsorted(_LEISURE_CUM, rng.random(len(j)), side="right")]
    place = places.pick(rng, kind, persons.district[who])
    if weekday:
        for anchor, code in ((persons.work[who], "workplace"), (persons.school[who], "school")):
            use = (j == 0) & (anchor >= 0)
            place[use] = anchor[use]
            kind[use] = _KIND[code]
    source = _SOURCE[kind]
    loop = persons.in_loop[who]
    if loop.any():
        which = np.searchsorted(_LOOP_CUM, rng.random(int(loop.sum())), side="right")
        chosen = places.loop_places[which]
        venue = which == 0
        chosen[venue] = rng.choice(places.loop_venues, int(venue.sum()))
        place[loop] = chosen
        kind[loop] = places.kind[chosen]
        source[loop] = _BADGE
    noise = np.exp(_SIGMA[kind] * rng.standard_normal(len(j)))
    duration = np.round(_MEDIAN[kind] * _MINUTE * noise).astype(np.int64)
    end = start + np.clip(duration, 5 * _MINUTE, limit - start)

    g, a, c = plan.guests, plan.arriving, plan.clinic
    night = day0 + 22 * _HOUR + _uniform_secs(rng, 0, _HOUR, len(g))
    landed = events.arrived_at[a]
    seen = persons.clinic_at[c] - _uniform_secs(rng, 10 * _MINUTE, 40 * _MINUTE, len(c))
    clinic_minutes = np.exp(np.log(120) + 0.4 * rng.standard_normal(len(c)))
    return {
        "person_id": _take(persons.ids, np.concatenate([who, g, a, c])),
        "place_id": _take(
            places.ids,
            np.concatenate(
                [
                    place,
                    persons.room[g],
                    places.airports[events.port[a]],
                    places.fever_clinic_of[persons.district[c]],
                ]
            ),
        ),
        "start": _local(np.concatenate([start, night, landed, seen])),
        "end": _local(
            np.concatenate(
                [
                    end,
                    day0 + _DAY + 7 * _HOUR + _uniform_secs(rng, 0, _HOUR, len(g)),
                    landed + _uniform_secs(rng, 45 * _MINUTE, 3 * _HOUR, len(a)),
                    seen
                    + np.maximum(20 * _MINUTE, np.round(clinic_minutes * _MINUTE)).astype(np.int64),
                ]
            )
        ),
        "source": _take(
            _vocab(VISIT_SOURCES),
            np.concatenate(
                [
                    source,
                    np.full(len(g), _BOOKING),
                    np.full(len(a), _MANIFEST),
                    np.full(len(c), _SCAN),
                ]
            ),
        ),
    }


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _person_columns(persons: _Persons) -> dict[str, ColumnValues]:
    return {
        "person_id": persons.ids,
        "household_id": format_ids("H", persons.household),
        "birth_year": persons.birth_year,
        "district": _take(_vocab([name for name, _ in DISTRICTS]), persons.district),
        "sex": _take(_vocab(_SEXES), persons.sex),
        "group": _take(_vocab(PERSON_GROUPS), persons.group),
        "loop_id": _take(_vocab([LOOP_ID]), np.where(persons.in_loop, 0, -1)),
        "pregnant": pa.array(persons.pregnant == 1, mask=persons.pregnant < 0),
        "comorbidity": pa.array(persons.comorbidity == 1, mask=persons.comorbidity < 0),
    }


_PLACE_NAMES = (
    "Beijing Capital International Airport",
    "Beijing Daxing International Airport",
    "Closed-loop hotel",
    "Closed-loop dining hall",
    "National Speed Skating Oval",
    "Yanqing National Alpine Skiing Centre",
    "Main Media Centre",
    "Closed-loop shuttle",
)


def _place_columns(places: _Places) -> dict[str, ColumnValues]:
    name = np.full(len(places.kind), -1)
    name[places.airports] = [0, 1]
    name[places.loop & (places.kind == _KIND["hotel"])] = 2
    name[places.loop_places[1]] = 3
    name[places.loop_venues] = [4, 5, 6]
    name[places.loop & (places.kind == _KIND["transport"])] = 7
    return {
        "place_id": places.ids,
        "kind": _take(_vocab(PLACE_KINDS), places.kind),
        "district": _take(_vocab([n for n, _ in DISTRICTS]), places.district),
        "parent_id": _take(places.ids, places.parent),
        "loop_id": _take(_vocab([LOOP_ID]), np.where(places.loop, 0, -1)),
        "capacity": pa.array(places.capacity, mask=places.capacity < 0),
        "name": _take(_vocab(_PLACE_NAMES), name),
    }


def generate(
    out_dir: Path,
    *,
    persons: int,
    days: int,
    seed: int,
    visits_per_person_day: float = 1.0,
    fmt: Fmt = "csv",
    start: dt.date = dt.date(2022, 1, 10),
    progress: Progress | None = None,
) -> dict[str, int]:
    """Writes a synthetic city's event tables to `out_dir` and returns the rows per table.

    `persons` people live in households across Beijing's districts (with a few travellers,
    diplomats and a closed loop); over `days` days from `start` they make on average
    `visits_per_person_day` visits a day, are screened, pooled and re-tested, fall ill, buy
    medicines, arrive and leave. The same arguments always give byte-identical files.
    Files are ``<table>.csv`` or ``<table>.parquet``; `progress(table, done, total)` is called
    after each written chunk.
    """
    if persons < 1 or days < 1:
        raise ValueError("persons and days must be at least 1")
    if visits_per_person_day < 0:
        raise ValueError("visits_per_person_day must not be negative")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    people, places = _make_persons(seed, persons, days, start)
    events = _simulate(seed, people, places, days, start)

    rows = {
        "persons": write_table(out_dir, "persons", _person_columns(people), fmt, progress),
        "places": write_table(out_dir, "places", _place_columns(places), fmt, progress),
    }
    for name, columns in events.tables.items():
        rows[name] = write_table(out_dir, name, columns(), fmt, progress)
    rows["visits"] = _write_visits(
        out_dir, fmt, progress, seed, people, places, events, days, start, visits_per_person_day
    )
    return {name: rows[name] for name in EXAMPLE_TABLES}


def _write_visits(
    out_dir: Path,
    fmt: Fmt,
    progress: Progress | None,
    seed: int,
    persons: _Persons,
    places: _Places,
    events: _Events,
    days: int,
    start: dt.date,
    per_day: float,
) -> int:
    step = max(1000, int(_VISIT_CHUNK_ROWS / max(per_day, 0.05)))
    chunks = [
        (d, lo, min(lo + step, persons.n)) for d in range(days) for lo in range(0, persons.n, step)
    ]

    def plan(d: int, lo: int, hi: int) -> _VisitPlan:
        return _visit_plan(seed, persons, events.port, d, lo, hi, per_day)

    # A cheap first pass draws only the counts, so progress can show an exact total.
    total = sum(plan(d, lo, hi).rows for d, lo, hi in chunks)
    t0 = _epoch_seconds(start)
    with TableWriter(out_dir, "visits", fmt, total=total, progress=progress) as writer:
        for d, lo, hi in chunks:
            weekday = (start + dt.timedelta(days=d)).weekday() < 5
            writer.write(
                _visit_chunk(
                    seed, persons, places, events, plan(d, lo, hi), d, lo, weekday, t0 + d * _DAY
                )
            )
        return writer.rows
