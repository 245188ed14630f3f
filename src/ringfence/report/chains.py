"""Transmission chains: which cases infected which, grouped into clusters, and the graph.

A link is a contact row whose contact became a case after the index case was confirmed (the
tracer found them first, the lab later). Clusters are the connected groups of linked cases;
a case with no link is sporadic. The graph has the cases and, while it stays readable, their
contacts as nodes, and the exposures as edges. It names people by their ids: it belongs to
the staff's situation report, never to the public bulletin.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from ringfence.control.context import unbound
from ringfence.control.cycle import fetch
from ringfence.schema import TABLES
from ringfence.store import Store

from .daily import decisions

MAX_NODES = 2_000
"""Contacts are drawn as nodes only while the graph stays below this many nodes."""


@dataclass(frozen=True)
class Chains:
    """Clusters of linked cases and the graph of cases, contacts and exposures."""

    clusters: list[dict[str, Any]]
    sporadic: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    contacts_shown: bool

    def graph(self) -> dict[str, Any]:
        """The graph as cytoscape.js elements (`{"nodes": [{"data": …}], "edges": …}`)."""
        return {
            "nodes": [{"data": n} for n in self.nodes],
            "edges": [{"data": e} for e in self.edges],
        }


def _case_rows() -> ir.Table:
    cases = decisions("cases")
    return cases.select(
        "person_id", "case_id", "confirmed_at", "classification", "origin", "found_by",
        variant=cases.variant.fill_null("unknown"),
    )  # fmt: skip


def _links(cases_only: bool) -> ir.Table:
    """Contact rows with the index case's confirmation and, if any, the contact's own."""
    contacts = decisions("contacts")
    cases = decisions("cases")
    index = cases.select(case_person_id="person_id", index_confirmed_at="confirmed_at")
    own = cases.select(contact_person_id="person_id", own_confirmed_at="confirmed_at")
    rows = contacts.join(index, "case_person_id")
    rows = rows.left_join(own, rows.person_id == own.contact_person_id).drop("contact_person_id")
    # An earlier case among a later case's contacts is not a link: it was a case already.
    rows = rows.filter(
        rows.own_confirmed_at.isnull() | (rows.own_confirmed_at > rows.index_confirmed_at)
    )
    if cases_only:
        rows = rows.filter(rows.own_confirmed_at.notnull())
    return rows.select(
        "person_id", "case_person_id", "kind", "minutes", "own_confirmed_at",
        places=rows.place_ids.join(";").fill_null(""),
    )  # fmt: skip


def _contact_counts() -> ir.Table:
    links = _links(cases_only=False)
    return links.group_by("case_person_id").agg(contacts=links.person_id.nunique())


def _place_names(place_ids: list[str]) -> ir.Table:
    """Names and kinds of these places (a city has hundreds of thousands; clusters name few)."""
    places = unbound(TABLES["places"])
    places = places.filter(places.place_id.isin(place_ids))
    return places.select("place_id", "kind", name=ibis.coalesce(places.name, places.place_id))


def transmission_chains(store: Store, timezone: str = "UTC", max_nodes: int = MAX_NODES) -> Chains:
    """The clusters and the graph of the last cycle run's cases and contacts (times in
    `timezone`, the jurisdiction's)."""
    zone = ZoneInfo(timezone)

    def _iso(moment: Any) -> str | None:
        return moment.astimezone(zone).isoformat() if isinstance(moment, datetime) else None

    cases = fetch(store, _case_rows().order_by("confirmed_at", "case_id"))
    links = fetch(store, _links(cases_only=True).order_by("case_person_id", "person_id", "kind"))
    counts = {r["case_person_id"]: int(r["contacts"]) for r in fetch(store, _contact_counts())}
    index = {c["person_id"]: i for i, c in enumerate(cases)}
    n = len(cases)
    pairs = [(index[r["case_person_id"]], index[r["person_id"]]) for r in links]
    rows = np.array([a for a, _ in pairs], dtype=np.int64)
    cols = np.array([b for _, b in pairs], dtype=np.int64)
    graph = coo_array((np.ones(len(pairs)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=True, connection="weak") if n else (0, [])
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[int(label)].append(i)
    # Clusters are numbered by their first case, so a cluster keeps its number from day to day.
    ordered = sorted((m for m in members.values() if len(m) > 1), key=lambda m: min(m))
    cluster_of: dict[int, str] = {}
    linked = sorted({p for r in links for p in r["places"].split(";") if p})
    names = {r["place_id"]: r for r in fetch(store, _place_names(linked))} if linked else {}
    clusters: list[dict[str, Any]] = []
    for number, group in enumerate(ordered, start=1):
        cluster_id = f"C{number}"
        people = {cases[i]["person_id"] for i in group}
        for i in group:
            cluster_of[i] = cluster_id
        places = sorted({p for r in links if r["case_person_id"] in people
                         for p in r["places"].split(";") if p})  # fmt: skip
        times = [cases[i]["confirmed_at"] for i in group]
        clusters.append({
            "cluster_id": cluster_id,
            "size": len(group),
            "first_case": _iso(min(times)),
            "last_case": _iso(max(times)),
            "variants": dict(sorted(Counter(cases[i]["variant"] for i in group).items())),
            "places": [
                {"place_id": p, "name": names[p]["name"] if p in names else p,
                 "kind": names[p]["kind"] if p in names else None}
                for p in places
            ],
            "generations": _generations(group, pairs),
        })  # fmt: skip
    clusters.sort(key=lambda c: (-int(c["size"]), int(str(c["cluster_id"])[1:])))
    nodes = [
        {
            "id": c["person_id"], "label": c["case_id"], "type": "case",
            "variant": c["variant"], "classification": c["classification"],
            "origin": c["origin"], "found_by": c["found_by"],
            "confirmed_at": _iso(c["confirmed_at"]), "cluster": cluster_of.get(i),
            "contacts": counts.get(c["person_id"], 0),
        }
        for i, c in enumerate(cases)
    ]  # fmt: skip
    edges = [
        {"id": f"{r['case_person_id']}>{r['person_id']}:{r['kind']}",
         "source": r["case_person_id"], "target": r["person_id"], "kind": r["kind"],
         "minutes": round(float(r["minutes"]), 1), "places": r["places"]}
        for r in links
    ]  # fmt: skip
    shown = n + sum(counts.values()) <= max_nodes
    if shown:
        _add_contacts(store, nodes, edges, index)
    return Chains(clusters, sum(1 for m in members.values() if len(m) == 1), nodes, edges, shown)


def _add_contacts(
    store: Store, nodes: list[dict[str, Any]], edges: list[dict[str, Any]], index: dict[str, int]
) -> None:
    """Contacts who did not become cases, as nodes with their exposure edges."""
    rows = fetch(store, _links(cases_only=False).order_by("case_person_id", "person_id", "kind"))
    seen: set[str] = set()
    for r in rows:
        if r["person_id"] in index:
            continue
        if r["person_id"] not in seen:
            seen.add(r["person_id"])
            nodes.append({"id": r["person_id"], "label": r["person_id"], "type": "contact"})
        edges.append({
            "id": f"{r['case_person_id']}>{r['person_id']}:{r['kind']}",
            "source": r["case_person_id"], "target": r["person_id"], "kind": r["kind"],
            "minutes": round(float(r["minutes"]), 1), "places": r["places"],
        })  # fmt: skip


def _generations(group: list[int], pairs: list[tuple[int, int]]) -> int:
    """How many generations deep the cluster goes from its first cases (1 = no onward link)."""
    inside = set(group)
    children: dict[int, list[int]] = defaultdict(list)
    has_parent: set[int] = set()
    for a, b in pairs:
        if a in inside and b in inside:
            children[a].append(b)
            has_parent.add(b)
    depth = {i: 1 for i in group if i not in has_parent}
    frontier = list(depth)
    while frontier:
        nxt = []
        for a in frontier:
            for b in children[a]:
                if depth.get(b, 0) < depth[a] + 1 and depth[a] + 1 <= len(group):
                    depth[b] = depth[a] + 1
                    nxt.append(b)
        frontier = nxt
    return max(depth.values(), default=1)
