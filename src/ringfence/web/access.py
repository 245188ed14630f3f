"""Who may call what: one table, every route named in it, checked on every request.

A route missing from `RULES` is refused to everyone (and fails the role-matrix test), so a
new endpoint cannot be reachable by accident.
"""

from __future__ import annotations

from .accounts import ROLES

STAFF = frozenset({"admin", "epidemiologist", "tracer", "analyst"})
SIGNED_IN = frozenset(set(ROLES) - {"public"})
EVERYONE = frozenset(ROLES)
DECIDERS = frozenset({"admin", "epidemiologist"})
"""Who may confirm or override the cycle's decisions, and run it."""
LOOPS = frozenset({"admin", "epidemiologist", "loop_manager"})

RULES: dict[str, frozenset[str]] = {
    "login": EVERYONE,
    "logout": SIGNED_IN,
    "me": SIGNED_IN,
    "bulletin": EVERYONE,
    "cases": STAFF,
    "case": STAFF,
    # A member reads only their own record (checked in the route); a site its people.
    "why": frozenset({"admin", "epidemiologist", "tracer", "site", "member"}),
    "ingest": frozenset({"admin", "epidemiologist", "lab"}),
    "revoke_sessions": frozenset({"admin"}),
    "contacts": STAFF,
    "orders": STAFF,
    "closures": STAFF | {"site", "loop_manager"},
    # Risk areas were published: aggregates of places, no person in them.
    "risk_areas": EVERYONE,
    "test_plans": STAFF | {"loop_manager"},
    "place": STAFF,
    "loops": LOOPS,
    "actions": DECIDERS,
    "cycle": DECIDERS,
    # Pages
    "static": EVERYONE,
    "login_page": EVERYONE,
    "home": EVERYONE,
    "public_page": EVERYONE,
    "cases_page": STAFF,
    "case_rows": STAFF,
    "sitrep_page": STAFF,
    "report_static": EVERYONE,
    "case_page": STAFF,
    # A member reads only their own page (checked in the route).
    "person_page": frozenset({"admin", "epidemiologist", "tracer", "site", "member"}),
    "follow_up_page": frozenset({"admin", "epidemiologist", "tracer"}),
    "follow_up_outcome": frozenset({"admin", "epidemiologist", "tracer"}),
    "site_page": frozenset({"admin", "epidemiologist", "site"}),
    "site_release": frozenset({"admin", "epidemiologist", "site"}),
    "my_page": frozenset({"member"}),
    "my_report": frozenset({"member"}),
    "lab_page": frozenset({"admin", "epidemiologist", "lab"}),
    "lab_upload": frozenset({"admin", "epidemiologist", "lab"}),
    "chart": EVERYONE,
    "decide": DECIDERS,
    "place_page": STAFF,
    "loops_page": LOOPS,
    "audit": frozenset({"admin"}),
}
"""Route name → the roles allowed to call it."""


def allowed(route: str, role: str) -> bool:
    """Whether `role` may call `route` (unknown routes: nobody)."""
    return role in RULES.get(route, frozenset())


LAB_WRITES = frozenset({"samples", "results", "fhir", "hl7"})
"""A lab writes samples and results only (directly, or as FHIR or HL7 messages)."""


def may_write(role: str, kind: str) -> bool:
    """Whether `role` may ingest events of `kind` (past the route's own rule)."""
    return role != "lab" or kind in LAB_WRITES
