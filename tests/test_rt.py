"""Rt by Cori et al. (2013) against R's EpiEstim, and against epidemics of known Rt.

The reference numbers in `tests/data/epiestim_flu2009.json` are EpiEstim's own saved test
outputs (repository mrc-ide/EpiEstim, file `tests/testthat/_snaps/estimate_R.md`, commits
a2c3a7ce and 2ca76bb6, EpiEstim 3.0.0), printed there to 7-8 significant digits; the Flu2009
incidence and serial interval are the ones printed in the same file. Every row and every
column (mean, std and the seven quantiles) must agree within TOLERANCE = 1e-6 absolute.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import gamma

from ringfence.report.rt import (
    QUANTILES,
    discretise_serial_interval,
    doubling_time,
    estimate_rt,
)

TOLERANCE = 1e-6
"""Absolute tolerance against EpiEstim's printed outputs (which are rounded to ≤ 5e-8)."""

REFERENCE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "epiestim_flu2009.json").read_text()
)
FLU2009 = REFERENCE["flu2009_incidence"]
STAT_COLUMNS = ["mean", "std", *(name for name, _ in QUANTILES)]


def _max_error(table: pa.Table, expected: list[dict[str, float]]) -> float:
    got = table.to_pydict()
    assert got["t_start"] == [row["t_start"] for row in expected]
    assert got["t_end"] == [row["t_end"] for row in expected]
    return max(
        abs(float(value) - row[column])
        for column in STAT_COLUMNS
        for value, row in zip(got[column], expected, strict=True)
    )


# ----------------------------------------------------------------------------------------
# EpiEstim's saved outputs
# ----------------------------------------------------------------------------------------


def test_flu2009_data_is_the_published_series() -> None:
    assert len(FLU2009) == 32
    si = np.array(REFERENCE["flu2009_si_distr"])
    moments = REFERENCE["example1_non_parametric_si"]["si_moments"]
    k = np.arange(si.size)
    mean = float(np.dot(k, si))
    assert mean == pytest.approx(moments["mean"], abs=1e-9)
    assert math.sqrt(float(np.dot(k**2, si)) - mean**2) == pytest.approx(moments["std"], abs=1e-6)


def test_example1_non_parametric_si_matches_epiestim() -> None:
    """estimate_R(Flu2009$incidence, "non_parametric_si", si_distr = Flu2009$si_distr)."""
    table = estimate_rt(FLU2009, None, None, si_distribution=REFERENCE["flu2009_si_distr"])
    expected = REFERENCE["example1_non_parametric_si"]["R"]
    assert table.num_rows == len(expected) == 25
    assert _max_error(table, expected) <= TOLERANCE


def test_example3_parametric_si_matches_epiestim() -> None:
    """estimate_R(Flu2009$incidence, "parametric_si", mean_si = 2.6, std_si = 1.5), weekly
    windows 2-8 … 26-32, prior mean 5 sd 5."""
    table = estimate_rt(FLU2009, 2.6, 1.5, 7, mean_prior=5.0, std_prior=5.0)
    expected = REFERENCE["example3_parametric_si"]["R"]
    assert table.num_rows == len(expected) == 25
    assert _max_error(table, expected) <= TOLERANCE


def test_example2_imported_cases_match_epiestim() -> None:
    """Local and imported cases (an incidence object with groups), parametric SI 2.6/1.5."""
    example = REFERENCE["example2_imported_parametric_si"]
    table = estimate_rt(example["I"], 2.6, 1.5, imported=example["I_imported"])
    assert table.num_rows == len(example["R"]) == 20
    assert _max_error(table, example["R"]) <= TOLERANCE


def test_imported_cases_change_the_estimate() -> None:
    """Counting Example 2's imported cases as local gives different (wrong) numbers."""
    example = REFERENCE["example2_imported_parametric_si"]
    table = estimate_rt(example["I"], 2.6, 1.5)
    assert _max_error(table, example["R"]) > 0.1


def test_day_one_is_imported_whatever_the_split() -> None:
    """EpiEstim treats every case of day 1 as imported; no window contains day 1."""
    as_vector = estimate_rt(FLU2009, 2.6, 1.5)
    day_one_imported = estimate_rt(FLU2009, 2.6, 1.5, imported=[FLU2009[0]] + [0] * 31)
    assert as_vector.equals(day_one_imported)


# ----------------------------------------------------------------------------------------
# The serial interval
# ----------------------------------------------------------------------------------------


def test_discretised_si_matches_epiestim_discr_si() -> None:
    """discr_si(0:31, 2.6, 1.5) as printed in Example 3 (7 significant digits)."""
    expected = np.array(REFERENCE["example3_parametric_si"]["si_distr"][:32])
    w = discretise_serial_interval(2.6, 1.5, 31)
    assert w.shape == (32,)
    assert w[0] == 0.0
    np.testing.assert_allclose(w, expected, rtol=1e-6, atol=1e-14)
    assert float(np.max(np.abs(w - expected))) < 5e-8


@pytest.mark.parametrize(
    ("mean", "sd"),
    [(2.6, 1.5), (4.7, 2.9), (5.2, 2.8), (8.4, 3.8), (14.9, 3.9), (22.0, 8.0), (1.2, 0.1)],
)
def test_discretised_si_sums_to_one_and_keeps_the_mean(mean: float, sd: float) -> None:
    w = discretise_serial_interval(mean, sd, 200)
    assert np.all(w >= 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(np.dot(np.arange(w.size), w)) == pytest.approx(mean, abs=1e-6)


def test_si_moments_as_epiestim_reports_them() -> None:
    """EpiEstim's SI.Moments of the truncated distributions it used (T - 1 = 26 and 31)."""
    for key, max_days in (("example2_imported_parametric_si", 26), ("example3_parametric_si", 31)):
        w = discretise_serial_interval(2.6, 1.5, max_days)
        k = np.arange(w.size)
        mean = float(np.dot(k, w))
        std = math.sqrt(float(np.dot(k**2, w)) - mean**2)
        assert mean == pytest.approx(REFERENCE[key]["si_moments"]["mean"], abs=1e-6)
        assert std == pytest.approx(REFERENCE[key]["si_moments"]["std"], abs=1e-5)


def test_parametric_and_the_same_distribution_given_agree() -> None:
    w = discretise_serial_interval(2.6, 1.5, 31)
    parametric = estimate_rt(FLU2009, 2.6, 1.5)
    non_parametric = estimate_rt(FLU2009, None, None, si_distribution=w)
    assert parametric.equals(non_parametric)


# ----------------------------------------------------------------------------------------
# Windows, columns, conventions
# ----------------------------------------------------------------------------------------


def test_columns_types_and_windows() -> None:
    table = estimate_rt(FLU2009, 2.6, 1.5, window=5)
    assert table.column_names == ["t_start", "t_end", *STAT_COLUMNS]
    assert table.schema.field("t_start").type == pa.int64()
    assert table.schema.field("t_end").type == pa.int64()
    for column in STAT_COLUMNS:
        assert table.schema.field(column).type == pa.float64()
    assert table["t_start"].to_pylist() == list(range(2, 32 - 5 + 2))
    assert table["t_end"].to_pylist() == list(range(6, 33))
    q = np.array([table[name].to_numpy() for name, _ in QUANTILES])
    assert np.all(np.diff(q, axis=0) > 0)


def test_windows_ending_before_the_mean_serial_interval_are_left_out() -> None:
    """EpiEstim returns NA, and drops, windows with t_end <= the mean of the discrete SI."""
    table = estimate_rt([5] * 30, 10.0, 3.0, window=2)
    assert table["t_end"].to_pylist()[0] == 10
    assert table["t_end"].to_pylist()[-1] == 30


def test_posterior_is_the_gamma_of_the_formula() -> None:
    """One window by hand: shape = a + Σ local, scale = 1/(1/b + Σ Λ)."""
    incidence = [3, 4, 6, 9, 12, 16, 20, 25, 31, 40]
    w = discretise_serial_interval(3.0, 1.2, len(incidence) - 1)
    lam = [sum(w[k] * incidence[t - k] for k in range(1, t + 1)) for t in range(len(incidence))]
    a, b = (4.0 / 3.0) ** 2, 3.0**2 / 4.0
    table = estimate_rt(incidence, 3.0, 1.2, window=4, mean_prior=4.0, std_prior=3.0)
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    assert (last["t_start"], last["t_end"]) == (7, 10)
    shape = a + sum(incidence[6:10])
    scale = 1 / (1 / b + sum(lam[6:10]))
    assert last["mean"] == pytest.approx(shape * scale, rel=1e-12)
    assert last["std"] == pytest.approx(math.sqrt(shape) * scale, rel=1e-12)
    for name, p in QUANTILES:
        assert last[name] == pytest.approx(gamma.ppf(p, shape, scale=scale), rel=1e-10)


def _loop_port(
    incidence: list[int], imported: list[int], w: np.ndarray, window: int
) -> list[tuple[int, int, float, float]]:
    """EpiEstim's estimate_R_func, line by line, in plain Python (shape and scale only)."""
    days = len(incidence)
    local = [i - m for i, m in zip(incidence, imported, strict=True)]
    local[0] = 0
    lam = [0.0] * days
    for t in range(1, days):
        lam[t] = sum(w[k] * incidence[t - k] for k in range(min(t, len(w) - 1) + 1))
    mean_si = sum(k * p for k, p in enumerate(w))
    out = []
    for t_start in range(2, days - window + 2):
        t_end = t_start + window - 1
        if t_end <= mean_si:
            continue
        shape = 1.0 + sum(local[t_start - 1 : t_end])
        scale = 1 / (1 / 5.0 + sum(lam[t_start - 1 : t_end]))
        out.append((t_start, t_end, shape, scale))
    return out


def test_vectorised_equals_a_plain_loop_on_a_long_epidemic() -> None:
    rng = np.random.default_rng(7)
    days = 400
    incidence = rng.poisson(200 * np.exp(-(((np.arange(days) - 150) / 60.0) ** 2)) + 1)
    imported = rng.binomial(incidence, 0.1)
    w = discretise_serial_interval(5.2, 2.8, days - 1)
    table = estimate_rt(incidence, 5.2, 2.8, window=10, imported=imported)
    expected = _loop_port(incidence.tolist(), imported.tolist(), w, 10)
    assert table["t_start"].to_pylist() == [e[0] for e in expected]
    means = np.array([shape * scale for _, _, shape, scale in expected])
    np.testing.assert_allclose(table["mean"].to_numpy(), means, rtol=1e-10)


# ----------------------------------------------------------------------------------------
# A renewal epidemic with known Rt
# ----------------------------------------------------------------------------------------

CHANGE_DAY = 30
DAYS = 60
REPLICATES = 50


def _simulate(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """REPLICATES renewal epidemics at once: I_t ~ Poisson(R_t Λ_t), R 2.5 before day 30,
    0.8 from it; 10 imported cases on day 1."""
    cases = np.zeros((REPLICATES, DAYS), dtype=np.int64)
    cases[:, 0] = 10
    for t in range(1, DAYS):  # days are sequential; replicates are vectorised
        lam = cases[:, t - 1 :: -1] @ w[1 : t + 1]
        rt = 2.5 if t + 1 < CHANGE_DAY else 0.8
        cases[:, t] = rng.poisson(rt * lam)
    return cases


def test_credible_interval_covers_the_true_rt() -> None:
    w = discretise_serial_interval(5.2, 2.8, DAYS)
    cases = _simulate(np.random.default_rng(20130915), w)
    covered = total = 0
    for replicate in cases:
        table = estimate_rt(replicate, 5.2, 2.8, window=7).to_pydict()
        for start, end, low, high in zip(
            table["t_start"], table["t_end"], table["q025"], table["q975"], strict=True
        ):
            if end < CHANGE_DAY:
                truth = 2.5
            elif start >= CHANGE_DAY:
                truth = 0.8
            else:
                continue  # the window straddles the change point
            total += 1
            covered += low <= truth <= high
    assert total >= REPLICATES * 40
    assert covered / total >= 0.90, f"95% CrI covered the true Rt in {covered}/{total} windows"


# ----------------------------------------------------------------------------------------
# Doubling time
# ----------------------------------------------------------------------------------------


def test_doubling_time_of_an_exponential_series() -> None:
    incidence = [round(1000 * 2 ** (day / 5.0)) for day in range(30)]
    assert doubling_time(incidence) == pytest.approx(5.0, rel=1e-3)
    assert doubling_time(incidence, window=14) == pytest.approx(5.0, rel=1e-3)


def test_doubling_time_is_none_when_not_growing_or_too_few() -> None:
    assert doubling_time([round(1000 * 0.5 ** (day / 4.0)) for day in range(20)]) is None
    assert doubling_time([7] * 10) is None
    assert doubling_time([1, 2, 4, 0, 8, 16, 32, 64]) is None


@pytest.mark.parametrize("window", [0, 1, 11])
def test_doubling_time_refuses_a_bad_window(window: int) -> None:
    with pytest.raises(ValueError, match="window"):
        doubling_time(list(range(1, 11)), window=window)


# ----------------------------------------------------------------------------------------
# Refused input
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([1, 2, -1, 4], 2.6, 1.5, 2), {}, "must not be negative: day 3"),
        (([1, 2, 2.5, 4], 2.6, 1.5, 2), {}, "whole numbers"),
        (([1, 2, float("nan"), 4], 2.6, 1.5, 2), {}, "missing or infinite"),
        (([[1, 2], [3, 4]], 2.6, 1.5, 1), {}, "one-dimensional"),
        ((["a", "b", "c"], 2.6, 1.5, 1), {}, "numbers"),
        (([True, False, True], 2.6, 1.5, 1), {}, "numbers"),
        (([5], 2.6, 1.5, 1), {}, "at least 2 days"),
        ((FLU2009, 2.6, 1.5, 0), {}, "window must be between 1 and 31"),
        ((FLU2009, 2.6, 1.5, 32), {}, "window must be between 1 and 31"),
        ((FLU2009, 2.6, 1.5, 7.0), {}, "integer"),
        ((FLU2009, 2.6, 0.0), {}, "si_sd must be positive"),
        ((FLU2009, 2.6, -1.0), {}, "si_sd must be positive"),
        ((FLU2009, 1.0, 1.5), {}, "greater than 1"),
        ((FLU2009, float("inf"), 1.5), {}, "finite"),
        ((FLU2009, None, None), {}, "either as si_mean and si_sd"),
        ((FLU2009, 2.6, None), {}, "either as si_mean and si_sd"),
        ((FLU2009, 2.6, 1.5), {"si_distribution": [0, 1.0]}, "not both"),
        ((FLU2009, None, None), {"si_distribution": [0.1, 0.9]}, "must be 0"),
        ((FLU2009, None, None), {"si_distribution": [0, 1.2, -0.2]}, "not be negative"),
        ((FLU2009, None, None), {"si_distribution": [0, 0.5, 0.4]}, "sum to 1"),
        ((FLU2009, 2.6, 1.5), {"mean_prior": 0.0}, "mean_prior must be positive"),
        ((FLU2009, 2.6, 1.5), {"std_prior": -5.0}, "std_prior must be positive"),
        ((FLU2009, 2.6, 1.5), {"imported": [0] * 31}, "one count per day"),
        ((FLU2009, 2.6, 1.5), {"imported": [0, 2] + [0] * 30}, "exceed all cases on day 2"),
        ((FLU2009, 2.6, 1.5), {"imported": [0, -1] + [0] * 30}, "imported must not be neg"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_rt(*args, **kwargs)


@pytest.mark.parametrize(
    ("mean", "sd", "max_days", "message"),
    [(2.6, 1.5, -1, "0 or more"), (2.6, 1.5, 3.0, "integer"), (0.5, 1.5, 10, "greater than 1")],
)
def test_discretisation_refuses_bad_parameters(
    mean: float, sd: float, max_days: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        discretise_serial_interval(mean, sd, max_days)


def test_numpy_input_and_float_counts_are_accepted() -> None:
    reference = estimate_rt(FLU2009, 2.6, 1.5)
    assert estimate_rt(np.array(FLU2009), 2.6, 1.5).equals(reference)
    assert estimate_rt(np.array(FLU2009, dtype=float), 2.6, 1.5).equals(reference)
