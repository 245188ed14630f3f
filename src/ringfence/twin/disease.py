"""Natural history as arrays: when each infected agent becomes infectious, shows symptoms
and recovers, how infectious they are, and the Ct a PCR would read on any day.

Times are in days since the start of the run (floats). An agent never infected has NaN
times. Durations are gamma-distributed with the variant's mean and sd.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .scenario import Variant

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

LAB_CUTOFF_CT = 40.0
"""A PCR run stops at 40 cycles: no amplification by then reads negative."""
PCR_POSITIVE_AFTER_INFECTIOUS_DAYS = 5.0
"""RNA stays detectable for days after infectiousness ends (the Ct climbs back to 40)."""


def gamma(rng: np.random.Generator, mean_sd: tuple[float, float], n: int) -> Floats:
    """`n` gamma draws with the given mean and sd (the mean itself when sd is 0)."""
    mean, sd = mean_sd
    if sd <= 0:
        return np.full(n, mean)
    shape = (mean / sd) ** 2
    return rng.gamma(shape, mean / shape, n)


@dataclass
class Infections:
    """Each agent's infection (NaN: never infected)."""

    infected: Floats
    infectious: Floats
    recovered: Floats
    onset: Floats
    """Symptom onset (NaN: no symptoms)."""
    severe: Bools
    ct_peak: Floats
    weight: Floats
    """How infectious while infectious (1, or less without symptoms)."""

    @classmethod
    def none(cls, n: int) -> Infections:
        """No one infected yet."""
        nan = np.full(n, np.nan)
        return cls(nan.copy(), nan.copy(), nan.copy(), nan.copy(), np.zeros(n, bool),
                   nan.copy(), np.zeros(n))  # fmt: skip

    def infect(self, rng: np.random.Generator, who: Ints, at: Floats, v: Variant) -> None:
        """Infect agents `who` at times `at`, drawing their natural history."""
        n = len(who)
        latent = gamma(rng, v.latent_days, n)
        duration = gamma(rng, v.infectious_days, n)
        asymptomatic = rng.random(n) < v.asymptomatic_fraction
        self.infected[who] = at
        self.infectious[who] = at + latent
        self.recovered[who] = at + latent + duration
        self.onset[who] = np.where(asymptomatic, np.nan, at + latent + v.presymptomatic_days)
        self.severe[who] = ~asymptomatic & (rng.random(n) < v.severe_fraction)
        self.ct_peak[who] = np.clip(rng.normal(v.ct_peak[0], v.ct_peak[1], n), 12, 35)
        self.weight[who] = np.where(asymptomatic, v.asymptomatic_infectiousness, 1.0)

    def susceptible(self) -> Bools:
        """Never infected."""
        return np.isnan(self.infected)

    def infectiousness(self, day: int) -> Floats:
        """How infectious each agent is over day `day`: the share of the day they are
        infectious, times their weight."""
        start = np.maximum(self.infectious, day)
        end = np.minimum(self.recovered, day + 1)
        share: Floats = np.clip(np.nan_to_num(end - start, nan=0.0), 0.0, 1.0)
        level: Floats = share * self.weight
        return level

    def ct(self, who: Ints, at: Floats) -> Floats:
        """The Ct a PCR of agents `who` at times `at` would read (inf: no RNA)."""
        infected = self.infected[who]
        peak_at = self.infectious[who] + np.nan_to_num(
            self.onset[who] - self.infectious[who], nan=1.0
        )
        clear_at = self.recovered[who] + PCR_POSITIVE_AFTER_INFECTIOUS_DAYS
        peak = self.ct_peak[who]
        rising = LAB_CUTOFF_CT - (LAB_CUTOFF_CT - peak) * (at - infected) / np.maximum(
            peak_at - infected, 0.1
        )
        falling = peak + (LAB_CUTOFF_CT - peak) * (at - peak_at) / np.maximum(
            clear_at - peak_at, 0.1
        )
        value = np.where(at < peak_at, rising, falling)
        detectable = ~np.isnan(infected) & (at > infected) & (at < clear_at)
        ct: Floats = np.where(detectable, value, np.inf)
        return ct
