"""Step 1 of the cycle: read every result by the protocol, and find and classify the cases."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from .context import Context, seconds
from .variants import who_label

SEVERITY_RANK = {"none": 0, "mild": 1, "moderate": 2, "severe": 3, "critical": 4}


def read_results(ctx: Context) -> ir.Table:
    """Each result of a single tube with the protocol's reading of it.

    `reading` is positive, indeterminate, negative, invalid or antigen_positive, by the Ct
    thresholds in force when the sample was collected (a lab "positive" at Ct 37 under a
    Ct < 35 rule is indeterminate). `release_ok` says whether the test counts towards release
    (negative, or every Ct at least the release threshold).
    """
    samples = ctx.events("samples")
    results = ctx.events("results").filter(lambda r: r.sample_id.notnull())
    joined = results.join(samples, "sample_id")
    ct_low = ibis.least(joined.ct, joined.ct_orf1ab, joined.ct_n)
    at = joined.collected_at
    positive_below = ctx.param("pcr.positive_ct_below", at=at).cast("float64")
    indeterminate_below = ctx.param("pcr.indeterminate_ct_below", at=at).cast("float64")
    reading = ibis.cases(
        (joined.outcome == "invalid", "invalid"),
        (joined.outcome == "negative", "negative"),
        (joined.test == "antigen", "antigen_positive"),
        (ct_low.isnull(), "positive"),
        (ct_low < positive_below, "positive"),
        (ct_low < indeterminate_below, "indeterminate"),
        else_="negative",
    )
    release_ct = ctx.param("isolation.release_ct_min", at=at).cast("float64")
    release_ok = (joined.test == "pcr") & (
        (joined.outcome == "negative") | ((joined.outcome == "positive") & (ct_low >= release_ct))
    )
    return joined.select(
        "result_id",
        "sample_id",
        "person_id",
        "place_id",
        "pool_id",
        "test",
        "purpose",
        "collected_at",
        "reported_at",
        "outcome",
        ct_low=ct_low,
        reading=reading,
        release_ok=release_ok.fill_null(False),
    )


def read_pools(ctx: Context) -> ir.Table:
    """Each pooled tube's result, with the protocol's reading and when its samples were taken."""
    samples = ctx.events("samples").filter(lambda s: s.pool_id.notnull())
    tubes = samples.group_by("pool_id").agg(
        collected_at=samples.collected_at.min(), members=samples.person_id.nunique()
    )
    results = ctx.events("results").filter(lambda r: r.pool_id.notnull())
    joined = results.join(tubes, "pool_id")
    ct_low = ibis.least(joined.ct, joined.ct_orf1ab, joined.ct_n)
    below = ctx.param("pcr.indeterminate_ct_below", at=joined.collected_at).cast("float64")
    # A pool dilutes each sample, so any signal under the indeterminate bound calls its members.
    positive = (joined.outcome == "positive") & (ct_low.isnull() | (ct_low < below))
    return joined.select(
        "result_id", "pool_id", "collected_at", "reported_at", "members", ct_low=ct_low,
        positive=positive,
    )  # fmt: skip


def sequence_person_results(ctx: Context, readings: ir.Table) -> ir.Table:
    """Each person's PCR results in order, with the next two readings (for confirmations)."""
    pcr = readings.filter(
        readings.person_id.notnull() & (readings.test == "pcr") & (readings.reading != "invalid")
    )
    w = ibis.window(group_by="person_id", order_by=["collected_at", "reported_at", "result_id"])
    return pcr.mutate(
        next_reading=pcr.reading.lead().over(w),
        next_reported=pcr.reported_at.lead().over(w),
        second_reading=pcr.reading.lead(2).over(w),
        second_reported=pcr.reported_at.lead(2).over(w),
    )


def discordant_arrivals(ctx: Context, sequenced: ir.Table) -> ir.Table:
    """Airport positives whose confirmation test was negative: held, not (yet) cases.

    Under `arrival.discordant_requires_extra_negative` one more negative is needed before
    the person enters the loop: `cleared_at` is when it came; a positive instead makes a case.
    """
    extra = ctx.param("arrival.discordant_extra_negative")
    held = sequenced.filter(
        (sequenced.purpose == "arrival")
        & (sequenced.reading == "positive")
        & (sequenced.next_reading == "negative")
    )
    cleared_at = ibis.cases(
        (~extra.cast("boolean"), held.next_reported),
        (held.second_reading == "negative", held.second_reported),
        else_=ibis.null("timestamp('UTC')"),
    )
    return held.select(
        "person_id",
        "result_id",
        "sample_id",
        held_from=held.next_reported,
        cleared_at=cleared_at,
        confirmed_positive=(held.second_reading == "positive") & extra.cast("boolean"),
    )


def positive_results(ctx: Context, readings: ir.Table, discordant: ir.Table) -> ir.Table:
    """The person results that make a case: positive PCRs, not airport positives overruled by
    a negative confirmation, and antigen positives where the protocol needs no PCR."""
    needs_pcr = ctx.param("pcr.antigen_needs_pcr").cast("boolean")
    counting = readings.filter(
        readings.person_id.notnull()
        & (
            (readings.reading == "positive")
            | ((readings.reading == "antigen_positive") & ~needs_pcr)
        )
    )
    overruled = discordant.select("result_id")
    return counting.anti_join(overruled, "result_id")


def symptom_summary(ctx: Context) -> ir.Table:
    """Per person: onset date, first symptomatic report and the worst severity reported."""
    symptoms = ctx.events("symptoms")
    fever = ctx.param("isolation.fever_c").cast("float64")
    symptomatic = (symptoms.severity != "none") | (symptoms.temperature_c >= fever).fill_null(False)
    rank = symptoms.severity.cases(*SEVERITY_RANK.items(), else_=0)
    flagged = symptoms.mutate(symptomatic=symptomatic, rank=rank)
    sick = flagged.filter(flagged.symptomatic)
    onsets = sick.group_by("person_id").agg(
        onset=ibis.coalesce(sick.onset, ctx.local_date(sick.reported_at)).min(),
        first_symptom_at=sick.reported_at.min(),
        last_symptom_at=sick.reported_at.max(),
    )
    worst = flagged.group_by("person_id").agg(rank=flagged["rank"].max())
    return worst.left_join(onsets, "person_id").select(
        "person_id", "onset", "first_symptom_at", "last_symptom_at", "rank"
    )


def confirm_cases(ctx: Context, positives: ir.Table) -> ir.Table:
    """The first counting positive of each person: the case, confirmed when it was reported."""
    w = ibis.window(group_by="person_id", order_by=["collected_at", "reported_at", "result_id"])
    first = positives.mutate(n=ibis.row_number().over(w))
    return first.filter(first.n == 0).select(
        "person_id", "sample_id", "result_id", "purpose", "collected_at", "ct_low",
        confirmed_at=first.reported_at,
    )  # fmt: skip


def classify_cases(ctx: Context, confirmed: ir.Table, symptoms: ir.Table) -> ir.Table:
    """Confirmed or asymptomatic (converted when symptoms come later), origin, variant,
    severity, key group."""
    persons = ctx.events("persons")
    arrivals = ctx.events("arrivals")
    base = confirmed.join(persons, "person_id").left_join(symptoms, "person_id")
    base = base.select(
        *confirmed.columns,
        "loop_id",
        "birth_year",
        "pregnant",
        "comorbidity",
        "onset",
        "first_symptom_at",
        "rank",
    )
    window_days = ctx.param("origin.imported_within_days").cast("int64")
    local_origins = list(ctx.in_force.origin.local_origins)
    imports = arrivals.filter(~arrivals.origin.isin(local_origins)) if local_origins else arrivals
    recent = (
        base.select("person_id", "collected_at")
        .join(imports, "person_id")
        .filter(
            lambda t: (
                (t.arrived_at <= t.collected_at)
                & (t.arrived_at >= t.collected_at - window_days.as_interval("D"))
            )
        )
        .select("person_id")
        .distinct()
    )
    with_import = base.left_join(recent.mutate(after_arrival=True), "person_id").drop(
        "person_id_right"
    )
    t = with_import
    sick_at_confirmation = t.first_symptom_at.notnull() & (t.first_symptom_at <= t.confirmed_at)
    converted_at = ibis.cases(
        (t.first_symptom_at.notnull() & ~sick_at_confirmation, t.first_symptom_at),
        else_=ibis.null("timestamp('UTC')"),
    )
    classification = ibis.cases(
        (sick_at_confirmation | converted_at.notnull(), "confirmed"), else_="asymptomatic"
    )
    origin = ibis.cases(
        (with_import.loop_id.notnull() & (with_import.purpose == "arrival"), "loop_entry"),
        (with_import.loop_id.notnull(), "loop_inside"),
        (with_import.purpose == "arrival", "imported"),
        (with_import.after_arrival.fill_null(False), "imported"),
        else_="local",
    )
    severity = (
        with_import["rank"]
        .fill_null(0)
        .cases(*((rank, name) for name, rank in SEVERITY_RANK.items()), else_="none")
    )
    return with_import.mutate(
        case_id="C-" + with_import.person_id,
        classification=classification,
        converted_at=converted_at,
        origin=origin,
        severity=severity,
        key_group=key_group(ctx, with_import),
    )


def key_group(ctx: Context, persons: ir.Table) -> ir.StringValue:
    """Why a person is in a key group of the 2023 rules (the first reason that applies)."""
    groups = ctx.in_force.key_groups
    age = ctx.as_of.year - persons.birth_year
    checks: list[tuple[ir.BooleanValue, str]] = [(age >= groups.min_age, "elderly")]
    if groups.pregnant:
        checks.append((persons.pregnant.fill_null(False), "pregnant"))
    checks.append((age < groups.max_child_age, "young_child"))
    if groups.comorbidity:
        checks.append((persons.comorbidity.fill_null(False), "comorbidity"))
    return ibis.cases(*checks, else_=ibis.null("string"))


def case_variants(ctx: Context) -> ir.Table:
    """Per person, the WHO label of the latest lineage sequenced from any of their samples."""
    sequences = ctx.events("sequences")
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull())
    joined = sequences.join(samples, "sample_id")
    w = ibis.window(group_by="person_id", order_by=[ibis.desc("reported_at"), "sample_id"])
    latest = joined.mutate(n=ibis.row_number().over(w))
    latest = latest.filter(latest.n == 0)
    return latest.select("person_id", variant=who_label(latest.lineage))


def how_found(
    ctx: Context, cases: ir.Table, contacts: ir.Table, pools: ir.Table, confined: ir.Table
) -> ir.Table:
    """How each case was found: under control (a known contact of an earlier case, or in
    quarantine when sampled: `confined` has person_id, start, planned_end), at arrival, in
    mass testing, by a pharmacy signal, at a fever clinic, in screening, or otherwise.
    Returns case_id and `found_by`."""
    known = (
        contacts.select(person_id=contacts.person_id, known_at=contacts.case_confirmed_at)
        .group_by("person_id")
        .agg(known_at=lambda t: t.known_at.min())
    )
    quarantined = (
        cases.select("case_id", "person_id", "collected_at")
        .join(confined.select("person_id", "start", "planned_end"), "person_id")
        .filter(lambda t: (t.start <= t.collected_at) & (t.collected_at < t.planned_end))
        .select("case_id")
        .distinct()
        .mutate(quarantined=True)
    )
    samples = ctx.events("samples").filter(lambda s: s.person_id.notnull() & s.pool_id.notnull())
    positive_pools = pools.filter(pools.positive).select("pool_id", pool_reported=pools.reported_at)
    pooled = (
        samples.join(positive_pools, "pool_id")
        .group_by("person_id")
        .agg(pooled_at=lambda t: t.pool_reported.min())
    )
    signal = list(ctx.in_force.pharmacy.categories)
    within_h = ctx.param("pharmacy.test_within_h").cast("int64")
    purchases = ctx.events("purchases").filter(lambda p: p.category.isin(signal))
    places = ctx.events("places")
    clinics = ctx.events("visits").join(places.filter(places.kind == "fever_clinic"), "place_id")
    base = cases.select("case_id", "person_id", "collected_at", "purpose")
    bought = (
        base.join(purchases, "person_id")
        .filter(lambda t: seconds(t.collected_at, t.bought_at).between(0, within_h * 3_600))
        .select("case_id")
        .distinct()
        .mutate(bought=True)
    )
    clinic = (
        base.join(clinics, "person_id")
        .filter(lambda t: seconds(t.collected_at, t.start).between(-6 * 3_600, 86_400))
        .select("case_id")
        .distinct()
        .mutate(clinic=True)
    )
    joined = (
        base.left_join(known, "person_id")
        .select("case_id", "person_id", "collected_at", "purpose", "known_at")
        .left_join(pooled, "person_id")
        .select("case_id", "person_id", "collected_at", "purpose", "known_at", "pooled_at")
        .left_join(bought, "case_id")
        .select("case_id", "collected_at", "purpose", "known_at", "pooled_at", "bought")
        .left_join(clinic, "case_id")
        .drop("case_id_right")
        .left_join(quarantined, "case_id")
    )
    found_by = ibis.cases(
        ((joined.known_at <= joined.collected_at).fill_null(False), "under_control"),
        (joined.quarantined.fill_null(False), "under_control"),
        (joined.purpose.isin(["contact", "release"]), "under_control"),
        (joined.purpose.isin(["arrival", "predeparture"]), "arrival"),
        (joined.purpose == "mass", "mass_testing"),
        ((joined.pooled_at <= joined.collected_at).fill_null(False), "mass_testing"),
        (joined.bought.fill_null(False), "pharmacy"),
        (joined.clinic.fill_null(False), "fever_clinic"),
        (joined.purpose == "screening", "screening"),
        else_="other",
    )
    return joined.select(case_id=joined.case_id, found_by=found_by)
