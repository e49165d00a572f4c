"""Rank candidate structures by how well their predicted spectra match one measurement."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from xasflow.experiment.align import AlignConfig, Alignment, align
from xasflow.experiment.normalize import NormalizedSpectrum
from xasflow.experiment.score import DEFAULT_METRIC, METRICS, STD_METRICS, get_metric


@dataclass(frozen=True)
class Candidate:
    """A site-averaged spectrum of one candidate structure: predicted, or simulated with FEFF."""

    source: str
    formula: str
    energies: np.ndarray
    spectrum: np.ndarray
    std: np.ndarray | None = None
    #: Where the spectrum came from: ``predicted`` (a model) or ``FEFF`` (a simulation).
    origin: str = "predicted"

    @classmethod
    def from_prediction(cls, prediction) -> Candidate:
        """From an :class:`xasflow.inference.predictor.Prediction` (uses ``average_std`` if present)."""
        std = getattr(prediction, "average_std", None)
        return cls(
            source=prediction.source,
            formula=prediction.formula,
            energies=np.asarray(prediction.energies, float),
            spectrum=np.asarray(prediction.average, float),
            std=None if std is None else np.asarray(std, float),
        )

    @classmethod
    def from_simulation(cls, tree, structure_file, element: str) -> Candidate:
        """The FEFF spectrum of ``structure_file`` from an ``xasflow simulate`` output tree.

        Raises
        ------
        InputError
            If the structure, or one of its inequivalent sites, was not simulated there.
        """
        from xasflow.constants import energy_grid
        from xasflow.data.feff_tree import site_averaged_spectrum
        from xasflow.io.lightshow import material_id_for
        from xasflow.io.structures import read_structure

        spectrum = site_averaged_spectrum(tree, material_id_for(structure_file), element)
        return cls(
            source=str(structure_file),
            formula=read_structure(structure_file).composition.reduced_formula,
            energies=energy_grid(element),
            spectrum=spectrum,
            origin="FEFF",
        )


@dataclass(frozen=True)
class MatchEntry:
    """One ranked candidate: its alignment, the chosen score and every metric."""

    rank: int
    candidate: Candidate
    alignment: Alignment
    score: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class MatchResult:
    """Candidates ranked best first for one measurement."""

    measured: NormalizedSpectrum
    element: str
    metric: str
    config: AlignConfig
    entries: list[MatchEntry]

    @property
    def best(self) -> MatchEntry:
        return self.entries[0]


def match(
    measured: NormalizedSpectrum,
    candidates: list[Candidate],
    element: str,
    metric: str = DEFAULT_METRIC,
    config: AlignConfig | None = None,
) -> MatchResult:
    """Align every candidate on ``measured`` and rank them by ``metric`` (best first).

    With a std metric (``likelihood``) the alignment maximises the same likelihood
    (``config.weighted`` is switched on).

    Raises
    ------
    InputError
        When the scan does not cover the comparison window.
    """
    get_metric(metric)
    config = config or AlignConfig()
    if metric in STD_METRICS and not config.weighted:
        config = replace(config, weighted=True)  # fit and ranking maximise the same likelihood
    scored = []
    for candidate in candidates:
        alignment = align(measured, candidate.energies, candidate.spectrum, element, config, std=candidate.std)
        values = {name: fn(alignment.measured, alignment.model) for name, fn in METRICS.items()}
        values.update(
            {name: fn(alignment.measured, alignment.model, alignment.model_std) for name, fn in STD_METRICS.items()}
        )
        scored.append((values[metric], candidate, alignment, values))
    scored.sort(key=lambda item: -item[0])
    entries = [
        MatchEntry(rank=i + 1, candidate=c, alignment=a, score=s, metrics=v) for i, (s, c, a, v) in enumerate(scored)
    ]
    return MatchResult(measured=measured, element=element, metric=metric, config=config, entries=entries)
