"""Rt benchmark: `estimate_rt` against a plain-Python port of EpiEstim and against epyestim.

All in one process, on the same input: a synthetic renewal epidemic of ``--days`` days
(default 365; seeded, with Rt swinging between 0.6 and 1.4), serial interval a gamma with
offset 1 of mean 5.2 and sd 2.8 days, sliding weekly windows (``--window 7``), prior mean 5 and
sd 5. Measured, round-robin, each call timed on its own with `time.perf_counter`:

* ``ringfence``: `estimate_rt(incidence, 5.2, 2.8, 7)`: discretising the serial interval,
  the posterior of every window and its seven quantiles, returned as a pyarrow Table;
* ``ringfence_si``: the same with the serial interval given (`si_distribution=w`, computed
  once beforehand), the work epyestim is timed on;
* ``peer``: EpiEstim's `estimate_R` (method ``parametric_si``) ported line by line to plain
  Python: `discr_si`, `overall_infectivity` and the posterior as loops over days and windows,
  calling scipy's incomplete gamma function and its inverse one number at a time, as R's
  `pgamma` and `qgamma` are the numeric library under EpiEstim's R code. R is not needed;
* ``epyestim`` (when importable): `epyestim.estimate_r.estimate_r(series, w, a, b,
  window_size=7)` on a pandas Series built beforehand, then `gamma_quantiles` for the same
  seven quantiles, mean and std. It is given the serial interval `w` (not timed).

Before timing, untimed, the answers are compared: the peer against ringfence on every window
and statistic, the peer against EpiEstim's published Flu2009 outputs (Example 3 of
`tests/data/epiestim_flu2009.json`), and epyestim against ringfence on the windows both report
(epyestim also reports the window starting on day 1; EpiEstim starts on day 2).

Usage: ``python bench/rt.py [--days 365] [--window 7] [--runs 201] [--warmup 5]
[--seed 20130915] [--no-epyestim] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammainc, gammaincinv

from harness import git_state
from ringfence.report.rt import QUANTILES, discretise_serial_interval, estimate_rt

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
REFERENCE = REPO_DIR / "tests" / "data" / "epiestim_flu2009.json"
RT_SOURCE = REPO_DIR / "src" / "ringfence" / "report" / "rt.py"
SI_MEAN = 5.2
SI_SD = 2.8
MEAN_PRIOR = 5.0
STD_PRIOR = 5.0
PROBS = [p for _, p in QUANTILES]
STATS = ["mean", "std", *(name for name, _ in QUANTILES)]
LABELS = {
    "ringfence": "ringfence `estimate_rt` (parametric SI, numpy)",
    "ringfence_si": "ringfence `estimate_rt` (SI given)",
    "peer": "peer: EpiEstim ported to plain Python loops",
    "epyestim": "epyestim `estimate_r` + `gamma_quantiles` (SI given)",
}


# ----------------------------------------------------------------------------------------
# The peer: EpiEstim's estimate_R_func (parametric_si), loop for loop
# ----------------------------------------------------------------------------------------


def peer_estimate(
    incidence: list[int],
    mean_si: float,
    std_si: float,
    window: int,
    mean_prior: float = MEAN_PRIOR,
    std_prior: float = STD_PRIOR,
) -> list[tuple[float, ...]]:
    """EpiEstim 3.0.0's `estimate_R(incid, "parametric_si")` with its default sliding windows,
    in plain Python: one row (t_start, t_end, mean, std, 7 quantiles) per window."""
    days = len(incidence)
    # process_I: a vector is all local, except that day 1 is all imported.
    local = list(incidence)
    imported = [0] * days
    imported[0], local[0] = local[0], 0
    # discr_si(seq(0, T - 1), mean_si, std_si): the closed form, one k at a time.
    a = ((mean_si - 1) / std_si) ** 2
    b = std_si**2 / (mean_si - 1)

    def pgamma(x: float, shape: float) -> float:
        return float(gammainc(shape, x / b)) if x > 0 else 0.0

    si = []
    for k in range(days):
        res = k * pgamma(k, a) + (k - 2) * pgamma(k - 2, a) - 2 * (k - 1) * pgamma(k - 1, a)
        res += a * b * (2 * pgamma(k - 1, a + 1) - pgamma(k - 2, a + 1) - pgamma(k, a + 1))
        si.append(max(0.0, res))
    si.append(0.0)  # padded to T + 1
    # overall_infectivity: lambda[t] = sum(si_distr[1:t] * rowSums(I[t:1, ])).
    lam = [math.nan]
    for t in range(2, days + 1):
        total = 0.0
        for j in range(t):
            total += si[j] * (local[t - 1 - j] + imported[t - 1 - j])
        lam.append(total)
    final_mean_si = sum(k * p for k, p in enumerate(si))
    a_prior = (mean_prior / std_prior) ** 2
    b_prior = std_prior**2 / mean_prior
    rows: list[tuple[float, ...]] = []
    for t_start in range(2, days - window + 2):
        t_end = t_start + window - 1
        if t_end <= final_mean_si:
            continue
        shape = a_prior + sum(local[t_start - 1 : t_end])
        scale = 1 / (1 / b_prior + sum(lam[t_start - 1 : t_end]))
        quantiles = [float(gammaincinv(shape, p)) * scale for p in PROBS]
        rows.append((t_start, t_end, shape * scale, math.sqrt(shape) * scale, *quantiles))
    return rows


# ----------------------------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------------------------


def synthetic_epidemic(days: int, seed: int) -> list[int]:
    """A renewal epidemic: I_t ~ Poisson(R_t·Λ_t + 1), R_t = 1 + 0.4·sin(2πt/120), 20 cases
    on day 1 (the + 1 is a trickle of infections from outside, so it never dies out)."""
    rng = np.random.default_rng(seed)
    w = discretise_serial_interval(SI_MEAN, SI_SD, days)
    cases = np.zeros(days, dtype=np.int64)
    cases[0] = 20
    for t in range(1, days):
        lam = float(cases[t - 1 :: -1] @ w[1 : t + 1])
        rt = 1.0 + 0.4 * math.sin(2 * math.pi * t / 120)
        cases[t] = rng.poisson(rt * lam + 1.0)
    return [int(c) for c in cases]


# ----------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------


def build(args: argparse.Namespace, incidence: list[int]) -> dict[str, Callable[[], Any]]:
    """The calls to time, each with its input prepared beforehand."""
    w = discretise_serial_interval(SI_MEAN, SI_SD, len(incidence) - 1)
    window = args.window
    calls: dict[str, Callable[[], Any]] = {
        "ringfence": lambda: estimate_rt(incidence, SI_MEAN, SI_SD, window),
        "ringfence_si": lambda: estimate_rt(incidence, None, None, window, si_distribution=w),
        "peer": lambda: peer_estimate(incidence, SI_MEAN, SI_SD, window),
    }
    if not args.no_epyestim:
        try:
            import pandas as pd
            from epyestim.estimate_r import estimate_r, gamma_quantiles
        except ImportError as exc:
            SKIPPED.append(f"epyestim: not importable ({exc})")
        else:
            series = pd.Series(
                incidence, index=pd.date_range("2020-01-01", periods=len(incidence), freq="D")
            )
            a_prior = (MEAN_PRIOR / STD_PRIOR) ** 2
            b_prior = STD_PRIOR**2 / MEAN_PRIOR

            def epyestim_call() -> dict[str, Any]:
                post = estimate_r(series, w, a_prior, b_prior, window_size=window)
                a = post["a_posterior"].to_numpy()
                b = post["b_posterior"].to_numpy()
                out = {"end": post.index, "mean": a * b, "std": np.sqrt(a) * b}
                for name, p in QUANTILES:
                    out[name] = gamma_quantiles(p, a, b)
                return out

            calls["epyestim"] = epyestim_call
    return calls


SKIPPED: list[str] = []


def verify(calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Untimed: do the answers agree? Largest absolute differences over all windows/stats."""
    ours = calls["ringfence"]().to_pydict()
    out: dict[str, Any] = {"windows": len(ours["t_start"])}
    peer = calls["peer"]()
    assert [r[0] for r in peer] == ours["t_start"], "the peer has other windows"
    out["peer_vs_ringfence"] = max(
        abs(row[2 + j] - ours[name][i])
        for i, row in enumerate(peer)
        for j, name in enumerate(STATS)
    )
    given = calls["ringfence_si"]().to_pydict()
    out["si_given_vs_parametric"] = max(
        abs(a - b) for name in STATS for a, b in zip(given[name], ours[name], strict=True)
    )
    reference = json.loads(REFERENCE.read_text())
    example = reference["example3_parametric_si"]["R"]
    flu = peer_estimate(reference["flu2009_incidence"], 2.6, 1.5, 7)
    out["peer_vs_epiestim_flu2009"] = max(
        abs(row[2 + j] - ref[name])
        for row, ref in zip(flu, example, strict=True)
        for j, name in enumerate(STATS)
    )
    if "epyestim" in calls:
        epy = calls["epyestim"]()
        # epyestim's row i is the window ending on day i + window (its first starts on day 1).
        start = 1  # drop the window starting on day 1
        diffs = [
            abs(float(epy[name][start + i]) - ours[name][i])
            for name in STATS
            for i in range(len(ours["t_start"]))
        ]
        out["epyestim_rows"] = len(epy["mean"])
        out["epyestim_vs_ringfence"] = max(diffs)
    return out


def measure(calls: dict[str, Callable[[], Any]], runs: int, warmup: int) -> dict[str, list[float]]:
    """Round-robin: every round calls each implementation once; warm-up rounds are dropped."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(warmup + runs):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            elapsed = time.perf_counter() - t0
            if round_ >= warmup:
                times[name].append(elapsed)
    return times


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def rt_matches_commit() -> bool | None:
    """Whether `rt.py` is in HEAD exactly as measured (read-only git calls); None without git."""

    def git(*args: str) -> int:
        return subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=REPO_DIR, capture_output=True, check=False
        ).returncode

    relative = str(RT_SOURCE.relative_to(REPO_DIR))
    if git("rev-parse", "HEAD") != 0:
        return None
    return (
        git("cat-file", "-e", f"HEAD:{relative}") == 0
        and git("diff", "--quiet", "HEAD", "--", relative) == 0
    )


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "pyarrow": _version("pyarrow"),
        "pandas": _version("pandas"),
        "epyestim": _version("epyestim"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def markdown(
    args: argparse.Namespace,
    incidence: list[int],
    times: dict[str, list[float]],
    check: dict[str, Any],
    code: dict[str, Any],
) -> str:
    env = environment()
    base = times["ringfence"]
    lines = [
        f"Input: a synthetic renewal epidemic of {len(incidence)} days (seed {args.seed}, "
        f"{sum(incidence):,} cases, peak {max(incidence):,} a day), serial interval gamma with "
        f"offset 1, mean {SI_MEAN} sd {SI_SD} days; windows of {args.window} days: "
        f"{check['windows']} windows. Prior mean {MEAN_PRIOR:g} sd {STD_PRIOR:g}.",
        "",
        f"Code: commit {code.get('commit', '?')}, `src/ringfence/report/rt.py` sha256 "
        f"{code.get('rt_hash', '?')}"
        + ("" if code.get("rt_committed") else " (not yet committed)")
        + f". Python {env['python']}, numpy {env['numpy']}, scipy "
        f"{env['scipy']}, pyarrow {env['pyarrow']}, pandas {env['pandas']}, epyestim "
        f"{env['epyestim']}; {env['cpus']} CPUs, {env['platform']}.",
        "",
        f"Method: one process; {args.runs} timed rounds after {args.warmup} warm-up rounds, "
        "round-robin (each round calls every implementation once, each call timed alone with "
        "`time.perf_counter`). Medians; the ratio is the median time over ringfence's "
        "(parametric) median, in brackets the median of the per-round ratios.",
        "",
        "| implementation | runs | median ms (min–max) | × ringfence (paired) |",
        "|---|---|---|---|",
    ]
    for name, samples in times.items():
        med = statistics.median(samples)
        ratio = med / statistics.median(base)
        paired = statistics.median(s / b for s, b in zip(samples, base, strict=True))
        lines.append(
            f"| {LABELS[name]} | {len(samples)} | {med * 1e3:.3f} "
            f"({min(samples) * 1e3:.3f}–{max(samples) * 1e3:.3f}) | {ratio:.2f} ({paired:.2f}) |"
        )
    lines += [
        "",
        "Agreement (untimed, largest absolute difference over every window and statistic: "
        "mean, std, seven quantiles): peer vs ringfence "
        f"{check['peer_vs_ringfence']:.1e}; SI given vs parametric "
        f"{check['si_given_vs_parametric']:.1e}; the peer vs EpiEstim's published Flu2009 "
        f"Example 3 {check['peer_vs_epiestim_flu2009']:.1e} (its values are printed to 7-8 "
        "digits)"
        + (
            f"; epyestim vs ringfence {check['epyestim_vs_ringfence']:.1e} on the "
            f"{check['windows']} shared windows (epyestim reports {check['epyestim_rows']}, one "
            "more: the window starting on day 1)."
            if "epyestim_vs_ringfence" in check
            else "."
        ),
    ]
    if SKIPPED:
        lines += ["", "Skipped:", *(f"- {s}" for s in SKIPPED)]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--window", type=int, default=7)
    parser.add_argument("--runs", type=int, default=201, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    parser.add_argument("--seed", type=int, default=20130915)
    parser.add_argument("--no-epyestim", action="store_true", help="leave epyestim out")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the input, check the answers agree, time them, print the Markdown."""
    args = parse_args(argv)
    incidence = synthetic_epidemic(args.days, args.seed)
    calls = build(args, incidence)
    check = verify(calls)
    times = measure(calls, args.runs, args.warmup)
    code = git_state()
    code["rt_hash"] = hashlib.sha256(RT_SOURCE.read_bytes()).hexdigest()[:12]
    code["rt_committed"] = rt_matches_commit()
    text = markdown(args, incidence, times, check, code)
    print("command: python bench/rt.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print()
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
