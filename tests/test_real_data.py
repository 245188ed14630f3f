"""Real data no one here made: the SFHH 2009 conference badges (SocioPatterns, CC0), turned
into proximity events, ingested, and checked against published counts."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from ringfence.examples.sociopatterns import write_events
from ringfence.store import Store, ingest_files


def _find_sfhh() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "sfhh-2009" / "tij_SFHH.dat"
        if candidate.exists():
            return candidate
    return None


SFHH = _find_sfhh()


@pytest.fixture
def sfhh() -> Path:
    if SFHH is None:
        if os.environ.get("CI"):
            pytest.fail("the SFHH data set (shared/data/sfhh-2009) is missing beside the repo")
        pytest.skip("the SFHH data set is not beside this checkout")
    return SFHH


def _episodes_by_hand(path: Path) -> list[tuple[str, str, int, int]]:
    """Contact episodes computed row by row, independently of the vectorised converter."""
    slots: dict[tuple[int, int], list[int]] = defaultdict(list)
    for line in path.read_text().splitlines():
        t, i, j = (int(x) for x in line.split())
        slots[(min(i, j), max(i, j))].append(t)
    episodes = []
    for (i, j), times in slots.items():
        times.sort()
        start = previous = times[0]
        for t in times[1:]:
            if t - previous != 20:
                episodes.append((f"B{i}", f"B{j}", start - 20, previous))
                start = t
            previous = t
        episodes.append((f"B{i}", f"B{j}", start - 20, previous))
    return episodes


def test_sfhh_proximity_ingests_whole_and_matches_published_counts(
    store: Store, sfhh: Path, tmp_path: Path
) -> None:
    counts = write_events(sfhh, tmp_path, day_zero=datetime(2009, 6, 4), timezone="Europe/Paris")
    expected = _episodes_by_hand(sfhh)
    assert counts["proximity"] == len(expected)
    for kind in ("persons", "proximity"):
        report = ingest_files(store, kind, [tmp_path / f"{kind}.csv"])
        assert report.rejected_count == 0, [str(r) for r in report.rejections[:5]]
        assert report.added == counts[kind]
    # Published for this file (SocioPatterns SFHH; see the benchmarks reference):
    # 9,565 pairs met; 279 for 15 minutes or more in all; 49 in one unbroken episode.
    pairs = store.fetchall(
        "SELECT count(*), sum(CASE WHEN total >= 900 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN longest >= 900 THEN 1 ELSE 0 END) FROM (SELECT person_id, "
        'other_person_id, sum(extract(epoch FROM "end" - "start")) AS total, '
        'max(extract(epoch FROM "end" - "start")) AS longest FROM proximity '
        "GROUP BY person_id, other_person_id) AS p"
    )
    assert tuple(int(x) for x in pairs[0]) == (9565, 279, 49)
    # The first episode of the file: 4 June 2009, 09:01:40–09:02:00 in Nice (CEST, UTC+2).
    first = min(expected, key=lambda e: e[2])
    stored = store.fetchall(
        'SELECT person_id, other_person_id, "start" FROM proximity ORDER BY "start", '
        "person_id, other_person_id LIMIT 1"
    )
    assert stored[0][:2] == first[:2]
    assert stored[0][2].isoformat() == "2009-06-04T07:01:40+00:00"
    again = ingest_files(store, "proximity", [tmp_path / "proximity.csv"])
    assert (again.added, again.duplicates) == (0, counts["proximity"])
