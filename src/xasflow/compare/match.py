"""Rank candidate spectra by how well they match one measurement: the :class:`Ranking` and :func:`rank`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xasflow.compare.align import AlignConfig, Alignment, align
from xasflow.compare.confidence import DEFAULT_TEMPERATURE, near_tie, probabilities
from xasflow.compare.correction import EDGE_SHIFT_MODELS, EdgeShiftModel
from xasflow.compare.normalize import NormalizedSpectrum
from xasflow.compare.score import DEFAULT_METRIC, METRICS, STD_METRICS, get_metric

if TYPE_CHECKING:
    from xasflow.compare.mix import MixtureResult


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
    #: Formal oxidation state of the absorber (:func:`~xasflow.compare.correction.formal_oxidation_state`);
    #: ``None`` = unknown (the shift range then ignores it).
    oxidation_state: float | None = None

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

        The tree names materials after their files (``material_id_for``), so the tree's ``POSCAR``
        must have the candidate's composition: a renamed or edited file is refused, not ranked
        with another structure's spectrum.

        Raises
        ------
        InputError
            If the structure, or one of its inequivalent sites, was not simulated there, or the
            simulated structure has another composition.
        """
        from xasflow.constants import energy_grid
        from xasflow.data.feff_tree import site_averaged_spectrum
        from xasflow.errors import InputError
        from xasflow.io.lightshow import element_dir, material_id_for, poscar_path
        from xasflow.io.structures import read_structure

        material = material_id_for(structure_file)
        spectrum = site_averaged_spectrum(tree, material, element)
        structure = read_structure(structure_file)
        formula = structure.composition.reduced_composition
        simulated_file = poscar_path(element_dir(tree, element), material)
        simulated = read_structure(simulated_file).composition.reduced_composition
        if not formula.almost_equals(simulated):
            raise InputError(
                structure_file,
                f"its composition {formula.reduced_formula} differs from the simulated structure "
                f"{simulated_file} ({simulated.reduced_formula}); not ranked",
            )
        return cls(
            source=str(structure_file),
            formula=formula.reduced_formula,
            energies=energy_grid(element),
            spectrum=spectrum,
            origin="FEFF",
            oxidation_state=oxidation_state_or_none(structure, element),
        )


@dataclass(frozen=True)
class MatchEntry:
    """One ranked candidate: its alignment, the chosen score and every metric.

    ``r_factor`` is the misfit Σ(measured − model)²/Σ measured² (lower is better); ``confidence`` the
    calibrated probability that this candidate is the measured compound (:mod:`xasflow.compare.confidence`,
    summing to 1 over the ranking); ``near_tie`` is set on every entry of a ranking whose runner-up is at
    least half as probable as rank 1.
    """

    rank: int
    candidate: Candidate
    alignment: Alignment
    score: float
    metrics: dict[str, float]
    r_factor: float = float("nan")
    confidence: float = float("nan")
    near_tie: bool = False

    @property
    def source(self) -> str:
        return self.candidate.source

    @property
    def formula(self) -> str:
        return self.candidate.formula

    @property
    def shift_eV(self) -> float:
        return float(self.alignment.shift)

    @property
    def sigma_eV(self) -> float:
        return float(self.alignment.sigma)

    @property
    def scale(self) -> float:
        return float(self.alignment.scale)

    @property
    def shift_at_bound(self) -> bool:
        return bool(self.alignment.shift_at_bound)


@dataclass(frozen=True)
class Ranking:
    """Candidates ranked best first for one measurement, with the candidates that could not be used.

    ``errors`` holds ``(source, message)`` of every candidate left out; ``mixture`` the
    linear-combination fit when one was asked for. :meth:`to_dict` is the JSON form (see
    :mod:`xasflow.io.ranking`), :meth:`write` writes CSV or JSON by the suffix.
    """

    measured: NormalizedSpectrum
    element: str
    metric: str
    config: AlignConfig
    entries: list[MatchEntry]
    errors: list[tuple[str, str]] = field(default_factory=list)
    mixture: MixtureResult | None = None

    @property
    def best(self) -> MatchEntry:
        return self.entries[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"element", "metric", "measured", "alignment", "ranking", "mixture", "errors"}``."""
        from xasflow.io.ranking import ranking_record

        return ranking_record(self)

    def to_frame(self):  # -> pandas.DataFrame
        """One row per candidate, the columns of the CSV (needs pandas)."""
        from xasflow.io.ranking import ranking_rows

        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas comes with pymatgen
            from xasflow.errors import XasflowError

            raise XasflowError("Ranking.to_frame needs pandas (pip install pandas)") from exc
        return pd.DataFrame(ranking_rows(self))

    def write(self, path: str | Path) -> None:
        """Write ``.csv`` (the ``xasflow match --out`` table) or ``.json`` (:meth:`to_dict`), atomically."""
        from xasflow.io.ranking import write_ranking

        write_ranking(path, self)


def oxidation_state_or_none(structure, element: str) -> float | None:
    """:func:`~xasflow.compare.correction.formal_oxidation_state`, ``None`` where it cannot say."""
    from xasflow.compare.correction import formal_oxidation_state

    try:
        return formal_oxidation_state(structure, element)
    except ValueError:
        return None


def candidate_config(
    config: AlignConfig,
    element: str,
    candidate: Candidate,
    edge_models: Mapping[str, EdgeShiftModel] | None = None,
) -> AlignConfig:
    """The alignment settings of one candidate.

    With ``offset_rule="oxidation"`` and no explicit ``offset``, the shift range is centred on the
    edge offset of the candidate's formal oxidation state (``edge_models``, by default
    :data:`EDGE_SHIFT_MODELS`, fitted on the development spectra) with that model's half-width unless
    ``shift_bound`` is given; elements without a model, and candidates whose oxidation state is
    unknown, keep the per-element default.
    """
    models = EDGE_SHIFT_MODELS if edge_models is None else edge_models
    if config.offset is not None or config.offset_rule != "oxidation" or element not in models:
        return config
    oxidation = candidate.oxidation_state
    if oxidation is None:
        return config
    model = models[element]
    bound = model.bound if config.shift_bound is None else config.shift_bound
    return replace(config, offset=model.offset(oxidation), shift_bound=bound)


def rank(
    measured: NormalizedSpectrum,
    candidates: list[Candidate],
    element: str,
    metric: str = DEFAULT_METRIC,
    config: AlignConfig | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    edge_models: Mapping[str, EdgeShiftModel] | None = None,
) -> Ranking:
    """Align every candidate on ``measured`` and rank them by ``metric`` (best first).

    With a std metric (``likelihood``) the alignment maximises the same likelihood
    (``config.weighted`` is switched on). Every entry carries its R-factor misfit, its calibrated
    confidence (softmax of −ln R / ``temperature``; the default is fitted on the development set)
    and the ranking's near-tie flag. ``edge_models`` replaces :data:`EDGE_SHIFT_MODELS` for
    ``offset_rule="oxidation"`` (:func:`candidate_config`; studies pass lines fitted without the
    measured compound).

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
        own = candidate_config(config, element, candidate, edge_models)
        alignment = align(measured, candidate.energies, candidate.spectrum, element, own, std=candidate.std)
        values = {name: fn(alignment.measured, alignment.model) for name, fn in METRICS.items()}
        values.update(
            {name: fn(alignment.measured, alignment.model, alignment.model_std) for name, fn in STD_METRICS.items()}
        )
        scored.append((values[metric], candidate, alignment, values))
    scored.sort(key=lambda item: -item[0])
    misfits = [max(0.0, 1.0 - v["rfactor"]) for _, _, _, v in scored]
    probs = probabilities(misfits, temperature) if scored else []
    tie = near_tie(probs)
    entries = [
        MatchEntry(
            rank=i + 1,
            candidate=c,
            alignment=a,
            score=s,
            metrics=v,
            r_factor=misfits[i],
            confidence=float(probs[i]),
            near_tie=tie,
        )
        for i, (s, c, a, v) in enumerate(scored)
    ]
    return Ranking(measured=measured, element=element, metric=metric, config=config, entries=entries)
