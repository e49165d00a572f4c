"""FEFF card study: candidate FEFF cards on shared Cu sites, scored against the published spectra.

A candidate replaces some cards of a published ``feff.inp`` (same cluster, same potentials), so
the only difference to the published ``xmu.dat`` is the cards. Scores are in model units: the
per-spectrum MSE of the processed 141-point spectrum against the published one, relative to the
zoo model's MSE on the same sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xasflow.simulation.inputs import replace_cards as with_cards

__all__ = ["Candidate", "cluster_distances", "egrid", "mse", "score_candidate", "spread_order", "with_cards"]


@dataclass(frozen=True)
class Candidate:
    """A named set of card overrides and how many of the study sites it runs on.

    Attributes
    ----------
    name
        Short name used in file names and tables.
    cards
        Card name -> value replacing the published card (multi-line values start with a newline).
    n_sites
        Run on the first ``n_sites`` sites of the study order.
    fms_atoms
        Adaptive FMS sphere: the smallest radius holding this many atoms, at most the FMS card's
        radius (:attr:`xasflow.simulation.feff_cards.FeffCardSet.fms_atoms`).
    """

    name: str
    cards: dict[str, str]
    n_sites: int = 30
    note: str = ""
    fms_atoms: int | None = None

    def site_cards(self, distances: np.ndarray) -> tuple[dict[str, str], int]:
        """Card overrides for one cluster and the number of atoms inside its FMS sphere."""
        from xasflow.simulation.feff_cards import PUBLISHED, FeffCardSet

        cards = {**PUBLISHED.cards, **self.cards}
        feff_card_set = FeffCardSet(name=self.name, cards=cards, fms_atoms=self.fms_atoms)
        overrides = dict(self.cards)
        if self.fms_atoms is not None:
            overrides["FMS"] = feff_card_set.fms_card(distances)
        radius = feff_card_set.fms_radius_for(distances)
        return overrides, int((np.asarray(distances) <= radius).sum())


def egrid(step: float) -> str:
    """EGRID card value with the published two k-grid rows at k step ``step``."""
    return f"\nk_grid -1 0 {step:g}\nk_grid 0 6 {step:g}"


@dataclass(frozen=True)
class StudySite:
    """One shared Cu site: ids, cluster sizes, and where its published files are."""

    site_id: str
    n_atoms: int
    n_within: dict[float, int] = field(default_factory=dict)
    feff_inp: Path | None = None


def cluster_distances(feff_inp_text: str) -> np.ndarray:
    """Distances (Å, 6th column) of the ATOMS block of a ``feff.inp``."""
    block = feff_inp_text.split("\nATOMS")[-1].splitlines()[1:]
    values = []
    for line in block:
        parts = line.split()
        if not parts or parts[0].startswith("*"):
            continue
        if parts[0].upper() == "END":
            break
        values.append(float(parts[5]))
    return np.asarray(values)


def spread_order(sizes: list[int], n: int, low: float = 0.0, high: float = 0.8) -> list[int]:
    """Indices of ``n`` items spanning the size quantiles ``[low, high]``, in an order that spans early.

    The picks are evenly spaced in rank; they are then ordered so that every prefix spans the range
    (smallest, largest, middle, quarter points, ...), so a study stopped early still covers sizes.
    """
    order = np.argsort(np.asarray(sizes), kind="stable")
    lo, hi = int(low * (len(order) - 1)), int(high * (len(order) - 1))
    ranks = np.unique(np.linspace(lo, hi, n).round().astype(int))
    picked = [int(order[r]) for r in ranks]
    sequence: list[int] = []
    positions = [0, len(picked) - 1]
    # breadth-first bisection of the sorted picks
    intervals = [(0, len(picked) - 1)]
    while intervals:
        nxt = []
        for a, b in intervals:
            if b - a >= 2:
                m = (a + b) // 2
                positions.append(m)
                nxt += [(a, m), (m, b)]
        intervals = nxt
    for p in positions + list(range(len(picked))):
        if picked[p] not in sequence:
            sequence.append(picked[p])
    return sequence


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of two spectra (same units)."""
    return float(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))


@dataclass(frozen=True)
class Score:
    """Error of one candidate on the sites it finished, relative to the model on the same sites."""

    candidate: str
    n_sites: int
    n_failed: int
    cpu_mean: float
    cpu_median: float
    mse_mean: float
    model_mse_mean: float
    relative: float
    relative_median_site: float


def score_candidate(name: str, results: list[dict], model_mse: dict[str, float]) -> Score:
    """Aggregate per-site results (``site_id``, ``status``, ``cpu_seconds``, ``mse``) of one candidate.

    ``relative`` = mean MSE(candidate, published) / mean MSE(model, published) over the finished sites.
    """
    done = [r for r in results if r["status"] == "finished" and r["site_id"] in model_mse]
    failed = [r for r in results if r["status"] != "finished"]
    if not done:
        nan = float("nan")
        return Score(name, 0, len(failed), nan, nan, nan, nan, nan, nan)
    cpu = np.array([r["cpu_seconds"] or r["seconds"] for r in done], float)
    err = np.array([r["mse"] for r in done], float)
    ref = np.array([model_mse[r["site_id"]] for r in done], float)
    return Score(
        candidate=name,
        n_sites=len(done),
        n_failed=len(failed),
        cpu_mean=float(cpu.mean()),
        cpu_median=float(np.median(cpu)),
        mse_mean=float(err.mean()),
        model_mse_mean=float(ref.mean()),
        relative=float(err.mean() / ref.mean()),
        relative_median_site=float(np.median(err / ref)),
    )


def fit_cost(n_fms: np.ndarray, cpu: np.ndarray) -> tuple[float, float, float]:
    """Fit ``cpu ≈ a + b · n_fms^p`` (a, b ≥ 0), minimising squared log error; returns ``(a, b, p)``.

    The exponent is searched on a grid (1.0-4.0); ``a`` and ``b`` by non-negative least squares.
    """
    from scipy.optimize import nnls

    n = np.asarray(n_fms, float)
    t = np.asarray(cpu, float)
    best = (np.inf, 0.0, 0.0, 1.0)
    for p in np.arange(1.0, 4.01, 0.05):
        # weight rows by 1/t so that the fit is close to relative (log) error
        design = np.column_stack([np.ones_like(n), n**p]) / t[:, None]
        (a, b), _ = nnls(design, np.ones_like(t))
        pred = a + b * n**p
        if np.all(pred > 0):
            err = float(np.sum(np.log(pred / t) ** 2))
            if err < best[0]:
                best = (err, float(a), float(b), float(p))
    return best[1], best[2], round(best[3], 2)
