"""Pango lineages to WHO labels: the `variant` of a case, from the data shipped here."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

# Longest prefix first: "B.1.1.529" must be tried before "B.1.1.7" could ever match it, and
# an alias (AY., BA.) stands for its whole sub-tree. Source: WHO "Tracking SARS-CoV-2
# variants" (the labels and the Pango lineages each covers).
LINEAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("B.1.617.2", "Delta"),
    ("B.1.1.529", "Omicron"),
    ("B.1.1.7", "Alpha"),
    ("B.1.351", "Beta"),
    ("B.1.617.1", "Kappa"),
    ("B.1.427", "Epsilon"),
    ("B.1.429", "Epsilon"),
    ("B.1.525", "Eta"),
    ("B.1.526", "Iota"),
    ("B.1.621", "Mu"),
    ("C.37", "Lambda"),
    ("P.1", "Gamma"),
    ("AY.", "Delta"),
    ("BA.", "Omicron"),
    ("BQ.", "Omicron"),
    ("BF.", "Omicron"),
    ("BN.", "Omicron"),
    ("CH.", "Omicron"),
    ("XBB", "Omicron"),
    ("JN.", "Omicron"),
    ("Q.", "Alpha"),
)


def who_label(lineage: ir.StringValue) -> ir.StringValue:
    """The WHO label of a Pango lineage ("BA.1.1" → "Omicron"), or "other"."""
    upper = lineage.upper()
    branches = [
        (
            (upper == prefix.rstrip("."))
            | upper.startswith(prefix if prefix.endswith(".") else prefix + "."),
            label,
        )
        for prefix, label in LINEAGE_PREFIXES
    ]
    return ibis.cases(*branches, else_="other")
