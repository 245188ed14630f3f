"""The time-varying reproduction number Rt by the method of Cori et al. (2013).

This is a port of the analytical ("certain serial interval") part of R's EpiEstim
(`estimate_R` with method ``parametric_si`` or ``non_parametric_si``), reproducing its numbers
to within 1e-6 on EpiEstim's own saved test outputs (see ``docs/rt.md`` and
``tests/test_rt.py``).

Model (Cori et al., Am J Epidemiol 2013;178(9):1505-1512). With I_t the cases with onset on
day t and w_k the probability that the serial interval is k days, the expected number of local
cases on day t is Rt·Λ_t, where Λ_t = Σ_k w_k·I_{t-k} is the total infectiousness of all
earlier cases (local and imported). Assuming Rt constant over a window [t_start, t_end] and a
Gamma(shape a, scale b) prior on it, the posterior is again a Gamma distribution:

    shape = a + Σ_{s=t_start}^{t_end} I_local(s)
    scale = 1 / (1/b + Σ_{s=t_start}^{t_end} Λ_s)

Days are numbered from 1, as in EpiEstim: day 1 is ``incidence[0]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammainc, gammaincinv

__all__ = [
    "QUANTILES",
    "discretise_serial_interval",
    "doubling_time",
    "estimate_rt",
]

QUANTILES: tuple[tuple[str, float], ...] = (
    ("q025", 0.025),
    ("q05", 0.05),
    ("q25", 0.25),
    ("median", 0.5),
    ("q75", 0.75),
    ("q95", 0.95),
    ("q975", 0.975),
)
"""The posterior quantiles reported, as (column, probability): EpiEstim's seven."""

SI_SUM_TOLERANCE = 0.01
"""A given serial interval distribution must sum to 1 within this (EpiEstim's check_si_distr)."""

Counts = Sequence[int] | Sequence[float] | NDArray[np.integer] | NDArray[np.floating]


# ----------------------------------------------------------------------------------------
# Serial interval
# ----------------------------------------------------------------------------------------


def discretise_serial_interval(mean: float, sd: float, max_days: int) -> NDArray[np.float64]:
    """The serial interval as daily probabilities w_0 … w_max_days, exactly as EpiEstim's
    ``discr_si(0:max_days, mean, sd)``.

    The serial interval is taken as 1 + a Gamma variable of mean ``mean - 1`` and standard
    deviation ``sd`` (a gamma "with offset 1", so it is at least one day), and w_k is the
    probability that it ends on day k when it starts at a time uniformly distributed within
    day 0 (Cori et al. 2013, web supplement). With F the Gamma(a, b) distribution function,
    a = ((mean-1)/sd)², b = sd²/(mean-1), and F₁ that of Gamma(a+1, b):

        w_k = k·F(k) + (k-2)·F(k-2) - 2(k-1)·F(k-1) + a·b·(2F₁(k-1) - F₁(k-2) - F₁(k))

    clipped below at 0 (F(x) = 0 for x ≤ 0). So w_0 = 0 and Σ w_k → 1 as max_days grows;
    the array is not renormalised (neither is EpiEstim's).

    Args:
        mean: mean serial interval in days; must be greater than 1.
        sd: standard deviation of the serial interval in days; must be positive.
        max_days: the last day k returned (the array has ``max_days + 1`` entries).

    Raises:
        ValueError: for a mean ≤ 1, an sd ≤ 0, a non-finite value or a negative ``max_days``.
    """
    mean = _finite_number(mean, "si_mean")
    sd = _finite_number(sd, "si_sd")
    if mean <= 1:
        raise ValueError(
            f"si_mean must be greater than 1 day (the serial interval is 1 + a gamma), got {mean}"
        )
    if sd <= 0:
        raise ValueError(f"si_sd must be positive, got {sd}")
    if isinstance(max_days, bool) or not isinstance(max_days, int | np.integer):
        raise ValueError(f"max_days must be an integer, got {max_days!r}")
    if max_days < 0:
        raise ValueError(f"max_days must be 0 or more, got {max_days}")
    shape = ((mean - 1) / sd) ** 2
    scale = sd**2 / (mean - 1)
    k = np.arange(max_days + 1, dtype=np.float64)

    def cdf(x: NDArray[np.float64], a: float) -> NDArray[np.float64]:
        # R's pgamma(x, shape = a, scale = scale): 0 for x <= 0.
        return np.asarray(gammainc(a, np.maximum(x, 0.0) / scale), dtype=np.float64)

    w = k * cdf(k, shape) + (k - 2) * cdf(k - 2, shape) - 2 * (k - 1) * cdf(k - 1, shape)
    w += shape * scale * (2 * cdf(k - 1, shape + 1) - cdf(k - 2, shape + 1) - cdf(k, shape + 1))
    return np.maximum(w, 0.0)


# ----------------------------------------------------------------------------------------
# Rt
# ----------------------------------------------------------------------------------------


def estimate_rt(
    incidence: Counts,
    si_mean: float | None,
    si_sd: float | None,
    window: int = 7,
    *,
    mean_prior: float = 5.0,
    std_prior: float = 5.0,
    imported: Counts | None = None,
    si_distribution: ArrayLike | None = None,
) -> pa.Table:
    """Rt over sliding windows by Cori et al. (2013), as EpiEstim's ``estimate_R``.

    Each row is one window of ``window`` days: t_start = 2, 3, …, T - window + 1 and
    t_end = t_start + window - 1, with days numbered from 1 (day 1 is ``incidence[0]``) and T
    the number of days, as EpiEstim's default ``t_start = 2:(T - window + 1)``. As EpiEstim
    does, windows ending on or before the mean of the (discretised) serial interval are left
    out. Rt in a window has a Gamma posterior: shape = a + local cases in the window,
    scale = 1 / (1/b + Σ Λ_t over the window), where Λ_t = Σ_k w_k·I_{t-k} is the
    infectiousness of all earlier cases and a = (mean_prior/std_prior)², b = std_prior²/mean_prior.

    Imported cases (``imported``) were not infected locally: they are left out of the numerator
    (the local cases) but do infect others, so they count in Λ. Like EpiEstim, the cases of
    day 1 are always taken as imported (nothing before them could have infected them); as
    every window starts on day 2 or later, this changes no estimate.

    Args:
        incidence: daily counts of all cases (local and imported), day 1 first, non-negative
            integers (floats holding whole numbers are accepted). At least 2 days.
        si_mean: mean serial interval in days (> 1), for EpiEstim's parametric serial interval
            (``discr_si``, a gamma with offset 1, see `discretise_serial_interval`). ``None``
            when ``si_distribution`` is given.
        si_sd: its standard deviation in days (> 0); ``None`` with ``si_distribution``.
        window: the length of each window in days, from 1 to T - 1.
        mean_prior: mean of the Gamma prior on Rt (EpiEstim's default 5).
        std_prior: standard deviation of the Gamma prior on Rt (EpiEstim's default 5).
        imported: daily counts of imported cases, the same length as ``incidence`` and never
            more than it on any day; ``None`` when all cases after day 1 are local.
        si_distribution: a non-parametric serial interval instead of ``si_mean`` and ``si_sd``
            (EpiEstim's ``non_parametric_si``): the probabilities of a serial interval of
            0, 1, 2, … days. The first must be 0, none negative, and they must sum to 1 within
            0.01. Days beyond the data are ignored; missing days count as 0.

    Returns:
        A table with one row per window: ``t_start``, ``t_end`` (int64, days numbered from 1,
        both included), and the posterior ``mean``, ``std``, ``q025``, ``q05``, ``q25``,
        ``median``, ``q75``, ``q95``, ``q975`` of Rt (float64); ``q025``-``q975`` is the 95%
        credible interval.

    Raises:
        ValueError: for negative, non-integer or non-finite counts, mismatched lengths, more
            imported than total cases, a window outside 1 … T - 1, a serial interval given both
            or neither way, an invalid serial interval, or a non-positive prior.
    """
    total = _counts(incidence, "incidence")
    days = total.size
    if days < 2:
        raise ValueError(f"incidence needs at least 2 days, got {days}")
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise ValueError(f"window must be an integer number of days, got {window!r}")
    if not 1 <= window <= days - 1:
        raise ValueError(
            f"window must be between 1 and {days - 1} days (the number of days - 1, since "
            f"windows start on day 2), got {window}"
        )
    mean_prior = _finite_number(mean_prior, "mean_prior")
    std_prior = _finite_number(std_prior, "std_prior")
    if mean_prior <= 0:
        raise ValueError(f"mean_prior must be positive, got {mean_prior}")
    if std_prior <= 0:
        raise ValueError(f"std_prior must be positive, got {std_prior}")

    local = total.copy()
    if imported is not None:
        imp = _counts(imported, "imported")
        if imp.size != days:
            raise ValueError(
                f"imported must have one count per day of incidence ({days}), got {imp.size}"
            )
        over = np.flatnonzero(imp > total)
        if over.size:
            day = int(over[0]) + 1
            raise ValueError(
                f"imported cases exceed all cases on day {day} ({int(imp[over[0]])} > "
                f"{int(total[over[0]])}): incidence counts all cases, imported a part of them"
            )
        local -= imp
    local[0] = 0  # EpiEstim's process_I: every case of day 1 is imported.

    w = _serial_interval(si_mean, si_sd, si_distribution, days)
    si_mean_discrete = float(np.dot(np.arange(w.size), w))

    # lam[i] = Σ_{k=0}^{i} w_k·I[i-k] for day i + 1 (w_0 = 0), all cases; day 1 is never used.
    kernel = np.trim_zeros(w[:days], "b")  # trailing zeros add nothing
    lam = np.convolve(total.astype(np.float64), kernel)[:days] if kernel.size else np.zeros(days)

    t_start = np.arange(2, days - window + 2, dtype=np.int64)
    t_end = t_start + (window - 1)
    keep = t_end > si_mean_discrete  # EpiEstim: NA (dropped) unless t_end > mean SI
    t_start, t_end = t_start[keep], t_end[keep]

    # Window sums. Counts are integers: exact differences of a cumulative sum. Λ is summed
    # over each window directly, so a long epidemic's large running total cannot eat the
    # precision of a small window late in it.
    cum_local = np.concatenate(([0], np.cumsum(local, dtype=np.int64)))
    local_sum = (cum_local[t_end] - cum_local[t_start - 1]).astype(np.float64)
    lam_windows = np.lib.stride_tricks.sliding_window_view(lam[1:], window).sum(axis=1)
    lam_sum = lam_windows[keep]

    a_prior = (mean_prior / std_prior) ** 2
    b_prior = std_prior**2 / mean_prior
    shape = a_prior + local_sum
    scale = 1.0 / (1.0 / b_prior + lam_sum)
    probs = np.array([p for _, p in QUANTILES], dtype=np.float64)
    quantiles = np.asarray(gammaincinv(shape[:, None], probs[None, :]), dtype=np.float64)
    quantiles *= scale[:, None]

    columns: dict[str, pa.Array] = {
        "t_start": pa.array(t_start, type=pa.int64()),
        "t_end": pa.array(t_end, type=pa.int64()),
        "mean": pa.array(shape * scale, type=pa.float64()),
        "std": pa.array(np.sqrt(shape) * scale, type=pa.float64()),
    }
    for j, (name, _) in enumerate(QUANTILES):
        columns[name] = pa.array(quantiles[:, j], type=pa.float64())
    return pa.table(columns)


# ----------------------------------------------------------------------------------------
# Doubling time
# ----------------------------------------------------------------------------------------


def doubling_time(incidence: Counts, window: int = 7) -> float | None:
    """The doubling time in days of the daily cases over the last ``window`` days.

    Fits ln(cases) = c + r·day by ordinary least squares over the last ``window`` days and
    returns ln 2 / r. Returns ``None`` when the cases are not growing (r ≤ 0) or are too few
    to fit: a day with no case in the window (its logarithm does not exist; counts that low
    say little about growth).

    Args:
        incidence: daily counts, day 1 first, non-negative integers.
        window: the number of most recent days fitted, at least 2 and at most the number of
            days.

    Raises:
        ValueError: for invalid counts or a window outside 2 … the number of days.
    """
    counts = _counts(incidence, "incidence")
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise ValueError(f"window must be an integer number of days, got {window!r}")
    if not 2 <= window <= counts.size:
        raise ValueError(
            f"window must be between 2 and the number of days ({counts.size}), got {window}"
        )
    recent = counts[-window:]
    if np.any(recent == 0):
        return None
    day = np.arange(window, dtype=np.float64)
    log_cases = np.log(recent.astype(np.float64))
    day_centred = day - day.mean()
    rate = float(
        np.dot(day_centred, log_cases - log_cases.mean()) / np.dot(day_centred, day_centred)
    )
    if not rate > 0:
        return None
    return math.log(2.0) / rate


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------


def _finite_number(value: float | None, name: str) -> float:
    if value is None or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _counts(values: Counts, name: str) -> NDArray[np.int64]:
    """Daily counts as int64, refusing anything that is not a 1-D run of whole numbers ≥ 0."""
    if isinstance(values, str | bytes):
        raise ValueError(f"{name} must be a sequence of daily counts, got a string")
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of daily counts: {exc}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one count per day), got {array.ndim}-D")
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{name} must hold numbers, got values of type {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(f"{name} has a missing or infinite count on day {int(bad[0]) + 1}")
        bad = np.flatnonzero(array != np.floor(array))
        if bad.size:
            raise ValueError(
                f"{name} must hold whole numbers of cases: day {int(bad[0]) + 1} has "
                f"{array[bad[0]]}"
            )
    bad = np.flatnonzero(array < 0)
    if bad.size:
        raise ValueError(f"{name} must not be negative: day {int(bad[0]) + 1} has {array[bad[0]]}")
    return array.astype(np.int64)


def _serial_interval(
    si_mean: float | None,
    si_sd: float | None,
    si_distribution: ArrayLike | None,
    days: int,
) -> NDArray[np.float64]:
    """w_0 … w_T as EpiEstim builds it: discr_si(0:(T-1)) padded with zeros to T + 1 entries,
    or the given distribution, padded the same way when shorter."""
    if si_distribution is None:
        if si_mean is None or si_sd is None:
            raise ValueError(
                "give the serial interval either as si_mean and si_sd, or as si_distribution"
            )
        w = discretise_serial_interval(si_mean, si_sd, days - 1)
    else:
        if si_mean is not None or si_sd is not None:
            raise ValueError(
                "give the serial interval either as si_mean and si_sd, or as si_distribution, "
                "not both (set si_mean and si_sd to None)"
            )
        try:
            w = np.asarray(si_distribution, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"si_distribution must be numbers: {exc}") from None
        if w.ndim != 1 or w.size == 0:
            raise ValueError("si_distribution must be a non-empty one-dimensional array")
        if not np.all(np.isfinite(w)):
            raise ValueError("si_distribution must be finite")
        if w[0] != 0:
            raise ValueError(
                f"si_distribution[0] (a serial interval of 0 days) must be 0, got {w[0]}"
            )
        if np.any(w < 0):
            raise ValueError("si_distribution must not be negative")
        if abs(float(w.sum()) - 1.0) > SI_SUM_TOLERANCE:
            raise ValueError(
                f"si_distribution must sum to 1 (within {SI_SUM_TOLERANCE}), got {w.sum():.6g}"
            )
    if w.size < days + 1:
        w = np.concatenate((w, np.zeros(days + 1 - w.size)))
    return w
