"""Who is confined or observed at the end of a report day, for the city or one loop."""

from __future__ import annotations

from datetime import date
from typing import Any

from .daily import CONTACT_RULES, ReportData
from .tally import Row, Where, both, by, on, open_at, total

ISOLATION_KINDS = ("isolation", "hospital")
QUARANTINE_KINDS = ("quarantine_central", "quarantine_home", "contact_management")


def population_counts(data: ReportData, day: date, where: Where) -> dict[str, Any]:
    """People in isolation, under treatment, in quarantine and under observation at the end
    of `day`, and contacts traced and released on it — for the city or one loop (`where`)."""
    orders = [r for r in data.orders if where(r)]
    now = open_at(day)

    def open_kind(*kinds: str) -> Where:
        return both(now, lambda r: r["kind"] in kinds)

    isolated = open_kind(*ISOLATION_KINDS)

    def confirmed_by_day(r: Row) -> bool:
        return bool(r["confirmed_case"]) and (
            r["converted_day"] is None or r["converted_day"] <= day
        )

    home_days = data.protocol.at(data.as_of).contact.home_days

    def released(r: Row) -> bool:
        # A centralised quarantine followed by home observation is not the end of it.
        followed = r["kind"] == "quarantine_central" and r["rule"] == "contact.close"
        return not r["ended_as_case"] and not (followed and home_days > 0)

    contacts = [r for r in data.contacts if where(r)]
    return {
        "under_treatment": {
            "total": total(orders, both(isolated, confirmed_by_day)),
            "severe": total(orders, both(isolated, confirmed_by_day, lambda r: r["severe"])),
        },
        "in_isolation": {
            "total": total(orders, isolated),
            "facility": total(orders, open_kind("isolation")),
            "hospital": total(orders, open_kind("hospital")),
        },
        "in_quarantine": {
            "total": total(orders, open_kind(*QUARANTINE_KINDS)),
            "central": total(orders, open_kind("quarantine_central")),
            "home": total(orders, open_kind("quarantine_home")),
            "contact_management": total(orders, open_kind("contact_management")),
        },
        "health_monitoring": total(orders, open_kind("health_monitoring")),
        "contacts": {
            "new": total(contacts, both(on(day), lambda r: r["kind"] == "any_close")),
            "under_observation": total(orders, both(now, lambda r: r["rule"] in CONTACT_RULES)),
            "released": total(
                orders,
                both(on(day, "end_day"), lambda r: r["rule"] in CONTACT_RULES, released),
            ),
            "indeterminate_managed": total(
                orders, both(now, lambda r: r["rule"] == "pcr.indeterminate")
            ),
            "new_by_kind": by(contacts, "kind", both(on(day), lambda r: r["kind"] != "any_close")),
        },
    }
