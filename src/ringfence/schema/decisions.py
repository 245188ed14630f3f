"""The decision tables: what the control cycle decides. Defined here, filled by the cycle."""

from __future__ import annotations

from .columns import Column, ColumnType, Table

S, T, D, L = (
    ColumnType.STRING,
    ColumnType.INSTANT,
    ColumnType.DATE,
    ColumnType.STRING_LIST,
)

CASE_CLASSIFICATIONS = ("confirmed", "asymptomatic")
CASE_ORIGINS = ("local", "imported", "loop_entry", "loop_inside")
FOUND_BY = (
    "under_control",
    "arrival",
    "screening",
    "mass_testing",
    "fever_clinic",
    "pharmacy",
    "other",
)
CONTACT_KINDS = ("close", "secondary", "same_space", "environment", "household")
ORDER_KINDS = (
    "isolation", "hospital", "quarantine_central", "quarantine_home", "health_monitoring",
    "contact_management", "closure",
)  # fmt: skip
RISK_LEVELS = ("high", "medium", "low")

CASES = Table(
    "cases",
    "decision",
    "Confirmed infections and asymptomatic infections, classified.",
    (
        Column("case_id", S, True),
        Column("person_id", S, True),
        Column("confirmed_at", T, True),
        Column("classification", S, True, allowed=CASE_CLASSIFICATIONS),
        Column("converted_at", T, description="When an asymptomatic case developed symptoms."),
        Column("origin", S, True, allowed=CASE_ORIGINS),
        Column("variant", S),
        Column("severity", S),
        Column("found_by", S, allowed=FOUND_BY),
        Column("onset", D, description="Date symptoms began, if they have."),
        Column("sample_id", S, description="The sample whose result made the case."),
        Column("key_group", S, description="Why the person is in a key group (age, pregnancy...)."),
    ),
    key=("case_id",),
)

CONTACTS = Table(
    "contacts",
    "decision",
    "People exposed to a case, with the exposure that made them a contact.",
    (
        Column("person_id", S, True),
        Column("case_person_id", S, True),
        Column("kind", S, True, allowed=CONTACT_KINDS),
        Column("first_exposure", T, True),
        Column("last_exposure", T, True),
        Column("minutes", ColumnType.FLOAT, True, minimum=0),
        Column("place_ids", L),
    ),
    key=("person_id", "case_person_id", "kind"),
)

ORDERS = Table(
    "orders",
    "decision",
    "Isolation, quarantine, monitoring and closure orders.",
    (
        Column("order_id", S, True),
        Column("person_id", S),
        Column("place_id", S),
        Column("kind", S, True, allowed=ORDER_KINDS),
        Column("start", T, True),
        Column("planned_end", T),
        Column("released_at", T),
        Column("rule", S, True),
        Column("guardian_of", S, description="The child this person stays with."),
    ),
    key=("order_id",),
)

RISK_AREAS = Table(
    "risk_areas",
    "decision",
    "High, medium and low risk areas with the rule that designated them.",
    (
        Column("area_id", S, True),
        Column("level", S, True, allowed=RISK_LEVELS),
        Column("start", T, True),
        Column("end", T),
        Column("rule", S, True),
    ),
    key=("area_id", "start"),
)

TEST_PLANS = Table(
    "test_plans",
    "decision",
    "Who is to be tested on which day, for what, in which pooled tube.",
    (
        Column("plan_id", S, True),
        Column("date", D, True),
        Column("person_id", S, True),
        Column("purpose", S, True),
        Column("pool_id", S),
        Column("place_id", S, description="Where the test is taken (a loop member's hotel)."),
    ),
    key=("plan_id",),
)

EXPLANATIONS = Table(
    "explanations",
    "decision",
    "Why each decision was taken: the rule, the protocol parameter and its source, the evidence.",
    (
        Column("decision_table", S, True),
        Column("decision_key", S, True),
        Column("rule", S, True),
        Column("parameter", S),
        Column("source", S),
        Column("evidence", S, max_length=100_000, description="The evidence rows, as JSON."),
    ),
    key=("decision_table", "decision_key", "rule"),
)

ALERT_KINDS = (
    "predeparture_tests", "unvaccinated", "departure_under_order", "departure_without_exit_test",
    "missed_test", "discordant_arrival", "ambiguous_result",
)  # fmt: skip

ALERTS = Table(
    "alerts",
    "decision",
    "What a person must look at: a breach of the rules, a missed test, an ambiguous result.",
    (
        Column("alert_id", S, True),
        Column("person_id", S, True),
        Column("kind", S, True, allowed=ALERT_KINDS),
        Column("at", T, True),
        Column("rule", S, True),
    ),
    key=("alert_id",),
)

DECISION_TABLES: tuple[Table, ...] = (
    CASES, CONTACTS, ORDERS, RISK_AREAS, TEST_PLANS, ALERTS, EXPLANATIONS,
)  # fmt: skip
