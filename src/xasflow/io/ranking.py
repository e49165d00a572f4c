"""Candidate rankings of ``xasflow match`` as CSV (one row per candidate, best first)."""

from __future__ import annotations

import csv
from pathlib import Path

from xasflow.fileio import atomic_open

COLUMNS = (
    "rank",
    "source",
    "formula",
    "score",
    "r_factor",
    "confidence",
    "near_tie",
    "shift_eV",
    "sigma_eV",
    "scale",
    "shift_at_bound",
    "spectrum",
)

#: Similarity columns (higher = more similar) are named ``similarity_<metric>``: the R-factor of
#: XAFS fitting is a misfit (lower is better) and has its own column, ``r_factor``.
SIMILARITY_PREFIX = "similarity_"


def write_ranking(path: Path, result) -> None:
    """Write a :class:`~xasflow.compare.match.MatchResult`: the fitted parameters and every similarity.

    Columns: ``rank`` (1 = best), ``score`` (the ranking metric, higher = better), ``r_factor`` (misfit
    Σ(measured − model)²/Σ measured², lower = better), ``confidence`` (calibrated probability that the
    candidate is the measured compound, summing to 1 over the ranking), ``near_tie`` (1 when the
    runner-up is at least half as probable as rank 1), the fitted ``shift_eV``, ``sigma_eV``, ``scale``,
    ``shift_at_bound``, ``spectrum`` (predicted or FEFF), ``similarity_<metric>`` for every metric
    (higher = more similar; ``similarity_rfactor`` = 1 − r_factor), the ``metric`` used, the measured
    file, its E0 and edge step.
    """
    names = sorted(result.entries[0].metrics)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        header = [*COLUMNS, *(SIMILARITY_PREFIX + n for n in names), "metric", "measured", "e0_eV", "edge_step"]
        writer.writerow(header)
        for e in result.entries:
            a = e.alignment
            writer.writerow(
                [
                    e.rank,
                    e.candidate.source,
                    e.candidate.formula,
                    f"{e.score:.6f}",
                    f"{e.r_factor:.6f}",
                    f"{e.confidence:.4f}",
                    int(e.near_tie),
                    f"{a.shift:.4f}",
                    f"{a.sigma:.4f}",
                    f"{a.scale:.5f}",
                    int(a.shift_at_bound),
                    e.candidate.origin,
                    *(f"{e.metrics[n]:.6f}" for n in names),
                    result.metric,
                    result.measured.source,
                    f"{result.measured.e0:.3f}",
                    f"{result.measured.edge_step:.6g}",
                ]
            )
