"""Calibrated confidence of a ranking: a probability per candidate, and a near-tie flag.

The probability that candidate ``i`` is the measured compound is a softmax over the candidates of
the log misfit, ``p_i ∝ exp(−ln R_i / T) = R_i^(−1/T)``, with ``R_i`` the R-factor (misfit,
Σ(measured − model)²/Σ measured², lower is better) of its aligned fit. ``1/T`` plays the role of
half the number of independent points in a Gaussian likelihood (``−n/2 · ln R``); it is not
known (the points are correlated, and FEFF differs from a measurement systematically), so ``T``
is fitted by maximum likelihood on development rankings whose true compound is known
(:func:`fit_temperature`). Using ``ln R`` makes the probabilities depend only on misfit *ratios*:
a noisy scan (all R large) is not made more or less confident than a clean one by its noise level.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

#: Temperature fitted on the whole development set with the shipped zoo (``scripts/match_study.py``: 40
#: rankings with two or more candidates, T = 0.76 with the Fe model of 129 sites (49 minerals) and the Mn
#: model of 128 (26 minerals); 0.68 with the Fe/Mn models of 101 / 102 sites, 0.85 with those of 79 / 93,
#: 0.84 with those of 74 / 73, 1.03 with those of 59 / 58, 1.05 on 39 rankings before the keV LiNiO2 file
#: was read, 0.85 before the five candidates of 2026-12-05, 0.72 with the earlier Fe/Mn models;
#: leave-one-compound-out fits 0.67-0.80, results/matching/results.md).
#: A separate temperature for the published elements was over-confident leave-one-compound-out.
DEFAULT_TEMPERATURE = 0.76

#: A ranking is a near tie when the runner-up is at least this fraction as probable as rank 1.
NEAR_TIE_RATIO = 0.5

_FLOOR = 1e-8


def probabilities(misfits: Sequence[float], temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Probability per candidate that it is the measured compound (same order as ``misfits``).

    Parameters
    ----------
    misfits
        R-factor (lower is better) of each candidate's aligned fit; must be finite and ≥ 0.
    temperature
        Softmax temperature on ``ln R``; larger = less confident.

    Returns
    -------
    numpy.ndarray
        Non-negative, summing to 1.
    """
    r = np.asarray(misfits, float)
    if r.size == 0:
        return r
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("misfits must be finite and non-negative")
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logits = -np.log(np.maximum(r, _FLOOR)) / temperature
    logits -= logits.max()
    weights = np.exp(logits)
    return weights / weights.sum()


def near_tie(probs: Sequence[float], ratio: float = NEAR_TIE_RATIO) -> bool:
    """True when the second most probable candidate is at least ``ratio`` times as probable as the first.

    A single candidate is never a tie (there is nothing to confuse it with).
    """
    p = np.sort(np.asarray(probs, float))[::-1]
    return bool(p.size >= 2 and p[1] >= ratio * p[0])


def negative_log_likelihood(rankings: Sequence[tuple[Sequence[float], int]], temperature: float) -> float:
    """Mean −ln p(true candidate) over rankings given as ``(misfits, index of the true candidate)``."""
    values = [-np.log(max(probabilities(m, temperature)[t], 1e-300)) for m, t in rankings]
    return float(np.mean(values))


def fit_temperature(
    rankings: Sequence[tuple[Sequence[float], int]], bounds: tuple[float, float] = (1e-3, 10.0)
) -> float:
    """Maximum-likelihood temperature for rankings whose true candidate is known.

    Parameters
    ----------
    rankings
        ``(misfits, true_index)`` per ranking; rankings with one candidate carry no information
        and are ignored.
    bounds
        Search range of ``T`` (searched on a log scale).
    """
    usable = [(m, t) for m, t in rankings if len(m) >= 2]
    if not usable:
        raise ValueError("no ranking with two or more candidates to fit a temperature on")
    result = minimize_scalar(
        lambda logt: negative_log_likelihood(usable, float(np.exp(logt))),
        bounds=tuple(np.log(bounds)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


@dataclass(frozen=True)
class ReliabilityBin:
    """Rankings whose top confidence falls in ``[low, high)``."""

    low: float
    high: float
    count: int
    mean_confidence: float
    share_right: float

    @property
    def over_confident(self) -> bool:
        """The issue's criterion: with ≥ 5 rankings, share right below mean confidence − 0.1."""
        return self.count >= 5 and self.share_right < self.mean_confidence - 0.1


#: Bin edges of the reliability table (the last edge just above 1 so that a confidence of 1 is binned).
RELIABILITY_EDGES = (0.0, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0001)


def reliability_table(
    top_confidence: Sequence[float], right: Sequence[bool], edges: Sequence[float] = RELIABILITY_EDGES
) -> list[ReliabilityBin]:
    """Among rankings with top confidence in each bin: how many, their mean confidence, how often rank 1 is right."""
    c = np.asarray(top_confidence, float)
    ok = np.asarray(right, bool)
    rows = []
    for low, high in itertools.pairwise(edges):
        inside = (c >= low) & (c < high)
        n = int(inside.sum())
        rows.append(
            ReliabilityBin(
                low=float(low),
                high=float(min(high, 1.0)),
                count=n,
                mean_confidence=float(c[inside].mean()) if n else float("nan"),
                share_right=float(ok[inside].mean()) if n else float("nan"),
            )
        )
    return rows


def top_k_accuracy(ranks: Sequence[int], k: int) -> float:
    """Share of rankings whose true candidate is within the first ``k`` (ranks start at 1)."""
    r = np.asarray(ranks, int)
    return float(np.mean(r <= k)) if r.size else float("nan")


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a proportion ``successes / n``."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)
