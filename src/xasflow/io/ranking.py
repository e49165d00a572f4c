"""Candidate rankings of ``xasflow match`` as CSV (one row per candidate, best first)."""

from __future__ import annotations

import csv
from pathlib import Path

from xasflow.fileio import atomic_open

COLUMNS = ("rank", "source", "formula", "score", "shift_eV", "sigma_eV", "scale", "shift_at_bound", "spectrum")


def write_ranking(path: Path, result) -> None:
    """Write a :class:`~xasflow.compare.match.MatchResult`: the fitted parameters and every similarity."""
    names = sorted(result.entries[0].metrics)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, *names, "metric", "measured", "e0_eV", "edge_step"])
        for e in result.entries:
            a = e.alignment
            writer.writerow(
                [
                    e.rank,
                    e.candidate.source,
                    e.candidate.formula,
                    f"{e.score:.6f}",
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
