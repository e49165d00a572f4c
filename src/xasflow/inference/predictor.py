"""Structure → per-site and site-averaged spectra with the shipped models."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.constants import ELEMENTS, PUBLISHED_FEATURIZER, energy_grid
from xasflow.data.sites import DEFAULT_SYMPREC, absorbing_sites, check_symprec, parse_selection
from xasflow.errors import InputError, XasflowError, check_element, check_fidelity


@dataclass(frozen=True)
class SiteSpectrum:
    """Predicted spectrum of one absorbing site (published ×1000 units), its calibrated std and domain flag."""

    index: int
    multiplicity: int
    weight: float
    spectrum: np.ndarray
    std: np.ndarray | None = None
    ood_score: float | None = None
    in_domain: bool | None = None


@dataclass
class Prediction:
    """Spectra of one element in one structure, on the element's absolute energy axis (eV).

    ``average_std`` is the weighted mean of the sites' stds: site errors of one structure are strongly
    correlated (same model, similar environments), so it does not shrink with the number of sites.
    ``interval_95`` is the multiple of ``std`` that gives the calibrated 95 % interval.
    """

    source: str
    element: str
    fidelity: str
    model: str
    model_version: str
    energies: np.ndarray
    sites: list[SiteSpectrum]
    average: np.ndarray
    formula: str = ""
    average_std: np.ndarray | None = None
    interval_95: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_domain(self) -> bool:
        """Every predicted site is inside the model's training domain."""
        return all(s.in_domain is not False for s in self.sites)

    @property
    def out_of_domain_sites(self) -> list[int]:
        return [s.index for s in self.sites if s.in_domain is False]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the ``predictions`` entries of the JSON output; see :mod:`xasflow.io.predictions`)."""
        from xasflow.io.predictions import prediction_record

        return prediction_record(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Prediction:
        """Inverse of :meth:`to_dict`."""
        from xasflow.io.predictions import prediction_fields

        fields, sites = prediction_fields(record)
        return cls(**fields, sites=[SiteSpectrum(**site) for site in sites])


def model_version(model) -> str:
    """xasflow version plus the weights' checksum: two trainings never share a version string."""
    source = getattr(model, "card_source_", None)
    if source is None or source.weights is None:
        return "unsaved"
    return f"{source.xasflow_version}+{source.weights.sha256[:12]}"


def is_model_file(model: str | Path | None) -> bool:
    """``--model`` names a model card/weights file rather than a zoo model name."""
    if model is None:
        return False
    text = str(model)
    return text.endswith((".json", ".npz")) or Path(text).is_file() or "/" in text


def check_model_name(
    model: str | Path | None, element: str | None, fidelity: str, zoo_dir: str | Path | None = None
) -> None:
    """Refuse, before any work, a model that cannot be had.

    With ``element`` (or a model file), the model is loaded, so a set without models fails here too;
    with neither, ``model`` must be the name of a model of some set of the zoo.
    """
    if element is not None or is_model_file(model):
        predictor = Predictor(fidelity, model, zoo_dir=zoo_dir)
        if element is not None:
            predictor.model_for(element)
        return
    if model is None:
        return
    from xasflow.zoo.registry import read_index

    names = sorted({n for entry in read_index(zoo_dir)["sets"].values() for n in entry["models"]})
    if model not in names:
        raise XasflowError(f"no model {model!r} in the zoo; choose one of {', '.join(names)}")


class Predictor:
    """Loads featurizers and models once and predicts many structures.

    Parameters
    ----------
    fidelity
        ``"FEFF"`` or ``"VASP"``.
    model
        Zoo model name (``"tuned"``, ``"expert"``, ``"universal"``, ``"head"``; ``None`` = each set's default), or
        the path of a model card written by ``xasflow train`` / :meth:`XASRegressor.save` (used for its element).
    sites
        ``"inequivalent"``, ``"all"`` or a list of site indices.
    symprec
        Symmetry tolerance (Å) of the equivalence classes.
    zoo_dir
        Zoo folder (default ``$XASFLOW_ZOO_DIR``, else the packaged zoo).
    """

    def __init__(
        self,
        fidelity: str = "FEFF",
        model: str | Path | None = None,
        sites: str | list[int] = "inequivalent",
        zoo_dir: str | Path | None = None,
        symprec: float = DEFAULT_SYMPREC,
    ):
        self.fidelity = check_fidelity(fidelity)
        self.model_name = None if is_model_file(model) else model
        self.model_file = Path(model) if is_model_file(model) else None
        self.zoo_dir = zoo_dir
        self.selection = parse_selection(sites if isinstance(sites, str) else ",".join(map(str, sites)))
        self.symprec = check_symprec(symprec)
        self._models: dict[str, Any] = {}
        self._featurizers: dict[tuple, Any] = {}
        self._row_models: dict[tuple[str, str], Any] = {}
        self._file_model = None
        if self.model_file is not None:
            from xasflow.models.estimator import XASRegressor

            self._file_model = XASRegressor.load(self.model_file)
            if self._file_model.fidelity != self.fidelity:
                raise XasflowError(
                    f"{self.model_file}: a {self._file_model.fidelity} model, but fidelity {self.fidelity} was asked"
                )

    def model_for(self, element: str):
        """The model of ``element`` (cached); ``XasflowError`` if there is none."""
        element = check_element(element)
        if self._file_model is not None:
            model = self._file_model
            known = model.conditioning or ((model.element,) if model.element else ())
            if element not in known:
                raise XasflowError(f"{self.model_file}: a model of {', '.join(known) or 'no element'}, not {element}")
            return model
        if element not in self._models:
            from xasflow.zoo import load_model

            self._models[element] = load_model(element, self.fidelity, self.model_name, root=self.zoo_dir)
        return self._models[element]

    def featurizer_for(self, model):
        """The featurizer a model was trained on, checked against the model card's featurizer version."""
        spec = model.featurizer_spec
        key = (spec.name, tuple(sorted((k, str(v)) for k, v in spec.params.items())))
        if key not in self._featurizers:
            from xasflow.features import get_featurizer

            if "pca" in spec.params:
                raise XasflowError(
                    f"model features {spec.name} are PCA-reduced; the PCA is not part of the model, so it can "
                    "predict feature rows (--features) but not structures"
                )
            featurizer = get_featurizer(spec.name, species=spec.params.get("species"))
            self._featurizers[key] = featurizer
        featurizer = self._featurizers[key]
        if featurizer.version != spec.version:
            raise XasflowError(
                f"model was trained on {spec.name} features version {spec.version!r}, but the featurizer here "
                f"gives version {featurizer.version!r}: predictions would be meaningless"
            )
        return featurizer

    def model_for_rows(self, element: str, featurizer: str = PUBLISHED_FEATURIZER):
        """The model that predicts feature rows made by ``featurizer`` (default: the published M3GNet rows).

        A model asked for by name or file is used as it is. Otherwise the set's default, unless it was
        trained on another representation (Cu FEFF's default reads M3GNet's every-block and neighbourhood
        features, which a published 64-number row does not have): then the set's model on ``featurizer``.
        """
        element = check_element(element)
        model = self.model_for(element)
        if self._file_model is not None or self.model_name is not None or model.featurizer_spec.name == featurizer:
            return model
        key = (element, featurizer)
        if key not in self._row_models:
            from xasflow.zoo import load_model_on

            self._row_models[key] = load_model_on(element, self.fidelity, featurizer, root=self.zoo_dir)
        return self._row_models[key]

    @staticmethod
    def _rows(features: np.ndarray, model) -> np.ndarray:
        # The estimator checks the matrix too; naming the model and its featurizer here tells a user
        # holding rows of another representation which rows this model reads.
        from xasflow.models.estimator import check_matrix

        return check_matrix(features, model.n_features, f"{model.featurizer_spec.name} feature rows for {model.name}")

    def estimate_features(self, features: np.ndarray, element: str, featurizer: str = PUBLISHED_FEATURIZER):
        """Mean, calibrated std, ``ood_score`` and ``in_domain`` of feature rows ``(n, d)``."""
        model = self.model_for_rows(element, featurizer)
        return model.estimate(self._rows(features, model), elements=check_element(element))

    def predict_features(
        self, features: np.ndarray, element: str, featurizer: str = PUBLISHED_FEATURIZER
    ) -> np.ndarray:
        """Spectra ``(n, 141)`` from feature rows ``(n, d)`` (default: the published convention)."""
        model = self.model_for_rows(element, featurizer)
        return model.predict(self._rows(features, model), elements=check_element(element))

    def predict_structure(self, structure, element: str, source: str = "structure", check: bool = True) -> Prediction:
        """Per-site and averaged spectra of ``element`` in ``structure``, with std and domain flags.

        ``check=False`` skips :func:`~xasflow.io.structures.check_structure` for a structure that
        :func:`~xasflow.io.structures.read_structure` has just checked.

        Raises
        ------
        InputError
            For a structure without ``element`` or a bad site selection.
        XasflowError
            When no model exists for the element at this fidelity, or the featurizer does not match.
        """
        from xasflow.io.structures import check_structure

        element = check_element(element)
        if check:
            check_structure(structure, source)
        model = self.model_for(element)
        chosen = absorbing_sites(structure, element, self.selection, source, self.symprec)
        featurizer = self.featurizer_for(model)
        features = featurizer.featurize(structure, [s.index for s in chosen], source=source)
        if not np.all(np.isfinite(features)):
            raise InputError(source, "featurization gave NaN or infinite values")
        estimate = model.estimate(features, elements=element)
        weights = np.array([s.weight for s in chosen])
        average = weights @ estimate.mean / weights.sum()
        average_std = weights @ estimate.std / weights.sum()
        calibration = model.calibration_.get(element)
        return Prediction(
            source=source,
            element=element,
            fidelity=self.fidelity,
            model=model.name,
            model_version=model_version(model),
            energies=energy_grid(element),
            sites=[
                SiteSpectrum(s.index, s.multiplicity, s.weight, mean, std, round(float(score), 4), bool(ok))
                for s, mean, std, score, ok in zip(
                    chosen, estimate.mean, estimate.std, estimate.ood_score, estimate.in_domain, strict=True
                )
            ],
            average=average,
            formula=structure.composition.reduced_formula,
            average_std=average_std,
            interval_95=round(calibration[0].z95, 4) if calibration else None,
        )

    def elements_to_predict(self, structure, element: str | None, source: str) -> tuple[list[str], list[str]]:
        """Elements to predict and notes on elements present without a model.

        With ``element`` given, just that one. Otherwise every supported 3d metal present
        that has a model at this fidelity; ``InputError`` when there is none.
        """
        if element is not None:
            return [check_element(element)], []
        present = [e for e in ELEMENTS if any(site.specie.symbol == e for site in structure)]
        if not present:
            raise InputError(source, f"structure contains none of the supported elements {', '.join(ELEMENTS)}")
        usable, notes = [], []
        for candidate in present:
            try:
                self.model_for(candidate)
                usable.append(candidate)
            except XasflowError as err:
                notes.append(f"{source}: {candidate} skipped ({err})")
        if not usable:
            raise InputError(source, "; ".join(n.split(": ", 1)[1] for n in notes))
        return usable, notes

    def predict_path(self, path: str | Path, element: str | None = None) -> tuple[list[Prediction], list[str]]:
        """Predict one structure file; returns predictions and notes on skipped elements."""
        from xasflow.io.structures import read_structure

        source = str(path)
        structure = read_structure(path)
        elements, notes = self.elements_to_predict(structure, element, source)
        return [self.predict_structure(structure, e, source, check=False) for e in elements], notes


@functools.lru_cache(maxsize=8)
def default_predictor(
    fidelity: str = "FEFF",
    model: str | None = None,
    sites: str | tuple[int, ...] = "inequivalent",
    symprec: float = DEFAULT_SYMPREC,
    zoo_dir: str | None = None,
):
    """A :class:`Predictor` shared by calls with the same settings (M3GNet loads once)."""
    return Predictor(
        fidelity=fidelity,
        model=model,
        sites=sites if isinstance(sites, str) else list(sites),
        symprec=symprec,
        zoo_dir=zoo_dir,
    )


def predict(
    structure,
    element: str | None = None,
    fidelity: str = "FEFF",
    model: str | None = None,
    sites: str | list[int] = "inequivalent",
    symprec: float = DEFAULT_SYMPREC,
) -> Prediction | list[Prediction]:
    """Predict the K-edge XANES of a structure.

    Parameters
    ----------
    structure
        A pymatgen ``Structure`` or a path to any structure file pymatgen reads.
    element
        Absorbing element; ``None`` = every supported element present (returns a list).
    fidelity, model, sites, symprec
        See :class:`Predictor`.

    Returns
    -------
    Prediction or list of Prediction
        A single prediction when ``element`` is given.

    Examples
    --------
    >>> result = xasflow.predict("Cu2O.cif", element="Cu")  # doctest: +SKIP
    >>> result.energies, result.average, [s.multiplicity for s in result.sites]  # doctest: +SKIP
    """
    predictor = default_predictor(fidelity, model, sites if isinstance(sites, str) else tuple(sites), symprec)
    if isinstance(structure, (str, Path)):
        from xasflow.io.structures import read_structure

        source = str(structure)
        structure = read_structure(structure)  # checked here, not again below
        fresh = False
    else:
        source = structure.composition.reduced_formula
        fresh = True
    elements, _ = predictor.elements_to_predict(structure, element, source)
    results = [predictor.predict_structure(structure, e, source, check=fresh) for e in elements]
    return results[0] if element is not None else results
