"""The event tables: everything that comes into ringfence, as immutable rows.

The columns are the contract of DESIGN.md ("Contracts that do not change without a reason").
A correction is a new event with its own key, never an update in place.
"""

from __future__ import annotations

from .columns import (
    Column,
    ColumnType,
    Different,
    ExactlyOne,
    NotAfter,
    Ordered,
    Reference,
    Table,
)

S, INT, F, B, D, T = (
    ColumnType.STRING,
    ColumnType.INTEGER,
    ColumnType.FLOAT,
    ColumnType.BOOLEAN,
    ColumnType.DATE,
    ColumnType.INSTANT,
)

PERSON_GROUPS = ("resident", "athlete", "official", "media", "staff", "traveller", "diplomat")
PLACE_KINDS = (
    "home", "workplace", "school", "restaurant", "market", "cold_chain", "hospital", "pharmacy",
    "fever_clinic", "hotel", "room", "venue", "transport", "quarantine_site", "airport", "other",
)  # fmt: skip
VISIT_SOURCES = ("scan", "badge", "roster", "manifest", "booking")
TESTS = ("pcr", "antigen")
SAMPLE_PURPOSES = (
    "screening", "arrival", "predeparture", "contact", "release", "diagnostic", "mass",
    "environment",
)  # fmt: skip
OUTCOMES = ("positive", "negative", "invalid")
SEVERITIES = ("none", "mild", "moderate", "severe", "critical")
PURCHASE_CATEGORIES = ("antipyretic", "antiviral", "antibiotic", "cough", "other")
ACTION_KINDS = ("confirm", "override", "release", "reopen", "note")
SEXES = ("female", "male", "other", "unknown")


def _ct(name: str, description: str) -> Column:
    return Column(name, F, minimum=0, maximum=50, description=description)


PERSONS = Table(
    "persons",
    "event",
    "People known to the system: residents, loop members, travellers.",
    (
        Column("person_id", S, True, "Pseudonymous id, unique in the jurisdiction."),
        Column("household_id", S, True, "The household the person lives in."),
        Column("birth_year", INT, True, "Year of birth.", minimum=1890, not_future=True),
        Column("district", S, True, "District of residence."),
        Column("sex", S, allowed=SEXES),
        Column("group", S, allowed=PERSON_GROUPS, description="Population group."),
        Column("loop_id", S, description="The closed loop the person belongs to, if any."),
        Column("pregnant", B),
        Column(
            "comorbidity", B, description="Has a condition that raises the risk of severe disease."
        ),
        Column("name", S, personal=True),
        Column("phone", S, personal=True, max_length=40),
    ),
    key=("person_id",),
)

PLACES = Table(
    "places",
    "event",
    "Places people visit; a hotel holds floors, a floor holds rooms (parent_id).",
    (
        Column("place_id", S, True),
        Column("kind", S, True, allowed=PLACE_KINDS),
        Column("district", S, True),
        Column("parent_id", S, description="The place this one is part of (hotel → floor → room)."),
        Column("loop_id", S),
        Column("capacity", INT, minimum=0),
        Column("name", S),
    ),
    key=("place_id",),
    references=(Reference("parent_id", "places", "place_id"),),
    rules=(Different("place_id", "parent_id"),),
)

VISITS = Table(
    "visits",
    "event",
    "A person present at a place from start to end (a scan, a badge, a roster, a booking).",
    (
        Column("person_id", S, True),
        Column("place_id", S, True),
        Column("start", T, True, not_future=True),
        Column("end", T, True, not_future=True),
        Column("source", S, allowed=VISIT_SOURCES),
    ),
    key=("person_id", "place_id", "start"),
    references=(
        Reference("person_id", "persons", "person_id"),
        Reference("place_id", "places", "place_id"),
    ),
    rules=(Ordered("start", "end"),),
)

PROXIMITY = Table(
    "proximity",
    "event",
    "Two people near each other from start to end (badges, Bluetooth).",
    (
        Column("person_id", S, True),
        Column("other_person_id", S, True),
        Column("start", T, True, not_future=True),
        Column("end", T, True, not_future=True),
        Column("distance_m", F, minimum=0, maximum=1000),
        Column("source", S),
    ),
    key=("person_id", "other_person_id", "start"),
    references=(
        Reference("person_id", "persons", "person_id"),
        Reference("other_person_id", "persons", "person_id"),
    ),
    rules=(Ordered("start", "end"), Different("person_id", "other_person_id")),
)

SAMPLES = Table(
    "samples",
    "event",
    "A swab of a person, or an environment sample of a place (a letter, cold-chain goods).",
    (
        Column("sample_id", S, True),
        Column("person_id", S),
        Column("place_id", S, description="For an environment sample."),
        Column("collected_at", T, True, not_future=True),
        Column("test", S, True, allowed=TESTS),
        Column(
            "pool_id", S, description="The pooled tube this sample went into (10-in-1, 20-in-1)."
        ),
        Column("purpose", S, allowed=SAMPLE_PURPOSES),
        Column("item", S, description="What an environment sample was taken from."),
    ),
    key=("sample_id",),
    references=(
        Reference("person_id", "persons", "person_id"),
        Reference("place_id", "places", "place_id"),
    ),
    rules=(ExactlyOne(("person_id", "place_id")),),
)

RESULTS = Table(
    "results",
    "event",
    "A lab result for one sample or one pooled tube.",
    (
        Column("result_id", S, True),
        Column("sample_id", S),
        Column("pool_id", S),
        Column("reported_at", T, True, not_future=True),
        Column("outcome", S, True, allowed=OUTCOMES),
        _ct("ct", "Cycle threshold (whole RNA or the lowest gene)."),
        _ct("ct_orf1ab", "Cycle threshold of the ORF1ab gene."),
        _ct("ct_n", "Cycle threshold of the N gene."),
    ),
    key=("result_id",),
    references=(
        Reference("sample_id", "samples", "sample_id"),
        Reference("pool_id", "samples", "pool_id"),
    ),
    rules=(ExactlyOne(("sample_id", "pool_id")),),
)

SYMPTOMS = Table(
    "symptoms",
    "event",
    "A health report: the daily self-report of a loop member, or a clinician's assessment.",
    (
        Column("person_id", S, True),
        Column("reported_at", T, True, not_future=True),
        Column("onset", D, description="Date symptoms began (a date, never time-zone shifted)."),
        Column("severity", S, True, allowed=SEVERITIES),
        Column("temperature_c", F, minimum=30, maximum=45),
    ),
    key=("person_id", "reported_at"),
    references=(Reference("person_id", "persons", "person_id"),),
    rules=(NotAfter("onset", "reported_at"),),
)

ARRIVALS = Table(
    "arrivals",
    "event",
    "A person arriving in the jurisdiction or entering a loop.",
    (
        Column("person_id", S, True),
        Column("arrived_at", T, True, not_future=True),
        Column("origin", S, True),
        Column("port", S),
        Column("flight", S),
        Column("vaccinated_on", D, description="Date the vaccination course was completed."),
    ),
    key=("person_id", "arrived_at"),
    references=(Reference("person_id", "persons", "person_id"),),
    rules=(NotAfter("vaccinated_on", "arrived_at"),),
)

DEPARTURES = Table(
    "departures",
    "event",
    "A person leaving the jurisdiction or a loop.",
    (
        Column("person_id", S, True),
        Column("departed_at", T, True, not_future=True),
        Column("destination", S, True),
        Column("port", S),
    ),
    key=("person_id", "departed_at"),
    references=(Reference("person_id", "persons", "person_id"),),
)

SEQUENCES = Table(
    "sequences",
    "event",
    "A sequencing result: the Pango lineage found in a sample.",
    (
        Column("sample_id", S, True),
        Column("lineage", S, True, max_length=100),
        Column("reported_at", T, True, not_future=True),
    ),
    key=("sample_id", "reported_at"),
    references=(Reference("sample_id", "samples", "sample_id"),),
)

PURCHASES = Table(
    "purchases",
    "event",
    "A pharmacy sale of a signal medicine (fever, cough, anti-infective).",
    (
        Column("person_id", S, True),
        Column("place_id", S, True),
        Column("bought_at", T, True, not_future=True),
        Column("category", S, True, allowed=PURCHASE_CATEGORIES),
    ),
    key=("person_id", "place_id", "bought_at"),
    references=(
        Reference("person_id", "persons", "person_id"),
        Reference("place_id", "places", "place_id"),
    ),
)

ACTIONS = Table(
    "actions",
    "event",
    "A person's decision recorded as an event: confirm, override, release, reopen, note.",
    (
        Column("action_id", S, True),
        Column("at", T, True, not_future=True),
        Column("actor", S, True),
        Column("kind", S, True, allowed=ACTION_KINDS),
        Column("target", S, True, description="What the action is about (a decision's key)."),
        Column("reason", S, True, max_length=4000),
    ),
    key=("action_id",),
)

EVENT_TABLES: tuple[Table, ...] = (
    PERSONS,
    PLACES,
    VISITS,
    PROXIMITY,
    SAMPLES,
    RESULTS,
    SYMPTOMS,
    ARRIVALS,
    DEPARTURES,
    SEQUENCES,
    PURCHASES,
    ACTIONS,
)
