"""Does an element's published feature population make a better out-of-domain score than its few training sites?

OmniXAS publishes Fe and Mn site features without spectra. A new-element model takes its domain reference
from them (:func:`xasflow.training.new_element.build_new_element_model`); the alternative is the handful of
simulated training sites. A domain score is useful when it ranks sites by how badly the model predicts them,
so both references are scored on the element's own sites held out one material at a time, against the
error of the leave-one-material-out model on each site:

- ``published``: the published rows without the held-out material (a site may be in both), threshold fitted on
  a held-out fifth of the published materials (as shipped);
- ``training``: the other materials' simulated sites, threshold the split-conformal quantile of each training
  site's distance to the materials other than its own.

Reported per reference: Spearman's ρ between score and site MSE (bootstrap interval over materials), the share
of sites flagged, and the median MSE of flagged and unflagged sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError
from xasflow.models.domain import DomainReference, conformal_threshold


@dataclass
class ReferenceScore:
    """How one domain reference's ``ood_score`` relates to the held-out error."""

    name: str
    scores: np.ndarray
    spearman: float
    spearman_interval: tuple[float, float]
    flagged: float
    mse_flagged: float | None
    mse_unflagged: float | None

    def as_dict(self) -> dict:
        return {
            "reference": self.name,
            "spearman": round(self.spearman, 4),
            "spearman_95": [round(v, 4) for v in self.spearman_interval],
            "flagged": round(self.flagged, 4),
            "median_mse_flagged": None if self.mse_flagged is None else round(self.mse_flagged, 6),
            "median_mse_unflagged": None if self.mse_unflagged is None else round(self.mse_unflagged, 6),
        }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _bootstrap(scores: np.ndarray, mse: np.ndarray, materials: np.ndarray, seed: int, draws: int = 2000):
    """95 % interval of Spearman's ρ, resampling whole materials."""
    rng = np.random.default_rng(seed)
    unique = np.unique(materials)
    rows = {m: np.flatnonzero(materials == m) for m in unique}
    values = []
    for _ in range(draws):
        pick = np.concatenate([rows[m] for m in rng.choice(unique, len(unique))])
        if np.ptp(scores[pick]) > 0 and np.ptp(mse[pick]) > 0:
            values.append(_spearman(scores[pick], mse[pick]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _summary(name: str, scores: np.ndarray, mse: np.ndarray, materials: np.ndarray, seed: int) -> ReferenceScore:
    flagged = scores > 1.0
    return ReferenceScore(
        name=name,
        scores=scores,
        spearman=_spearman(scores, mse),
        spearman_interval=_bootstrap(scores, mse, materials, seed),
        flagged=float(flagged.mean()),
        mse_flagged=float(np.median(mse[flagged])) if flagged.any() else None,
        mse_unflagged=float(np.median(mse[~flagged])) if (~flagged).any() else None,
    )


def published_scores(
    X: np.ndarray, materials: np.ndarray, published_X: np.ndarray, published_materials: np.ndarray, seed: int
) -> np.ndarray:
    """``ood_score`` of each site against the published rows of every other material (threshold as shipped)."""
    scores = np.empty(len(X))
    for material in np.unique(materials):
        rows = materials == material
        keep = published_materials != material
        halves = grouped_split(published_materials[keep], {"reference": 0.8, "heldout": 0.2}, seed)
        reference = DomainReference.from_training(published_X[keep][halves == "reference"])
        reference.fit_threshold(published_X[keep][halves == "heldout"])
        scores[rows] = reference.score(X[rows])
    return scores


def training_scores(X: np.ndarray, materials: np.ndarray) -> np.ndarray:
    """``ood_score`` of each site against the other materials' sites, threshold from the training sites'
    own leave-one-material-out distances (split-conformal)."""
    scores = np.empty(len(X))
    for material in np.unique(materials):
        rows = materials == material
        Xtr, gtr = X[~rows], materials[~rows]
        reference = DomainReference.from_training(Xtr)
        inner = np.empty(len(Xtr))
        for other in np.unique(gtr):  # each training site against the training materials other than its own
            mine = gtr == other
            inner[mine] = DomainReference.from_training(Xtr[~mine]).distance(Xtr[mine])
        reference.threshold = conformal_threshold(inner)
        scores[rows] = reference.score(X[rows])
    return scores


def domain_reference_study(
    X: np.ndarray,
    materials: np.ndarray,
    site_mse: np.ndarray,
    published_X: np.ndarray,
    published_materials: np.ndarray,
    seed: int = 0,
) -> dict[str, ReferenceScore]:
    """Both references scored on the sites with a held-out error (see the module docstring).

    Raises
    ------
    XasflowError
        Fewer than 8 sites with an error, or too few materials for a training reference.
    """
    X, materials, site_mse = np.asarray(X, float), np.asarray(materials, str), np.asarray(site_mse, float)
    known = np.isfinite(site_mse)
    if known.sum() < 8:
        raise XasflowError(f"{int(known.sum())} sites with a held-out error; the study needs at least 8")
    pub_X, pub_m = np.asarray(published_X, float), np.asarray(published_materials, str)
    out = {
        "published": published_scores(X, materials, pub_X, pub_m, seed),
        "training": training_scores(X, materials),
    }
    return {
        name: _summary(name, scores[known], site_mse[known], materials[known], seed) for name, scores in out.items()
    }
