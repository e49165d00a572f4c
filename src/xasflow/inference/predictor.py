"""Structure → per-site and site-averaged spectra with the shipped models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.constants import ELEMENTS, energy_grid
from xasflow.data.sites import DEFAULT_SYMPREC, absorbing_sites, check_symprec, parse_selection
from xasflow.errors import InputError, XasflowError, check_element, check_fidelity


@dataclass(frozen=True)
class SiteSpectrum:
    """Predicted spectrum of one absorbing site (published ×1000 units)."""

    index: int
    multiplicity: int
    weight: float
    spectrum: np.ndarray


@dataclass
class Prediction:
    """Spectra of one element in one structure, on the element's absolute energy axis (eV)."""

    source: str
    element: str
    fidelity: str
    model: str
    model_version: str
    energies: np.ndarray
    sites: list[SiteSpectrum]
    average: np.ndarray
    formula: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the ``predictions`` entries of the JSON output)."""
        return {
            "source": self.source,
            "formula": self.formula,
            "element": self.element,
            "fidelity": self.fidelity,
            "model": self.model,
            "model_version": self.model_version,
            "units": "published OmniXAS units (mu x 1000)",
            "energies": [round(float(e), 6) for e in self.energies],
            "sites": [
                {
                    "index": s.index,
                    "multiplicity": s.multiplicity,
                    "weight": s.weight,
                    "spectrum": s.spectrum.tolist(),
                }
                for s in self.sites
            ],
            "average": self.average.tolist(),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Prediction:
        """Inverse of :meth:`to_dict`."""
        return cls(
            source=record["source"],
            element=record["element"],
            fidelity=record["fidelity"],
            model=record["model"],
            model_version=record["model_version"],
            energies=np.asarray(record["energies"]),
            sites=[
                SiteSpectrum(s["index"], s["multiplicity"], s["weight"], np.asarray(s["spectrum"]))
                for s in record["sites"]
            ],
            average=np.asarray(record["average"]),
            formula=record.get("formula", ""),
        )


def _model_version(card: dict[str, Any]) -> str:
    """xasflow version plus the weights' checksum: two trainings never share a version string."""
    digest = str(card.get("weights", {}).get("sha256", ""))[:12]
    return f"{card.get('version', '')}+{digest}" if digest else str(card.get("version", ""))


def check_model_name(model: str | None, element: str | None, fidelity: str) -> None:
    """Refuse, before any work, a model the zoo cannot give.

    With ``element``, the set's model is looked up (so a set without models fails here too);
    without, ``model`` must be the name of a model of some set.
    """
    from xasflow.zoo.registry import read_index

    if element is not None:
        from xasflow.zoo import load_model

        load_model(element, fidelity, model)
        return
    if model is None:
        return
    names = sorted({n for entry in read_index()["sets"].values() for n in entry["models"]})
    if model not in names:
        raise XasflowError(f"no model {model!r} in the zoo; choose one of {', '.join(names)}")


class Predictor:
    """Loads featurizers and zoo models once and predicts many structures.

    Parameters
    ----------
    fidelity
        ``"FEFF"`` or ``"VASP"``.
    model
        Zoo model name (``"tuned"``, ``"expert"``, ``"universal"``); ``None`` = each set's default.
    sites
        ``"inequivalent"``, ``"all"`` or a list of site indices.
    symprec
        Symmetry tolerance (Å) of the equivalence classes.
    """

    def __init__(
        self,
        fidelity: str = "FEFF",
        model: str | None = None,
        sites: str | list[int] = "inequivalent",
        symprec: float = DEFAULT_SYMPREC,
    ):
        self.fidelity = check_fidelity(fidelity)
        self.model_name = model
        self.selection = parse_selection(sites if isinstance(sites, str) else ",".join(map(str, sites)))
        self.symprec = check_symprec(symprec)
        self._models: dict[str, Any] = {}
        self._featurizers: dict[str, Any] = {}

    def model_for(self, element: str):
        """The zoo model of ``element`` (cached); ``XasflowError`` if the set has none."""
        if element not in self._models:
            from xasflow.zoo import load_model

            self._models[element] = load_model(element, self.fidelity, self.model_name)
        return self._models[element]

    def featurizer_for(self, name: str):
        if name not in self._featurizers:
            from xasflow.features import get_featurizer

            self._featurizers[name] = get_featurizer(name)
        return self._featurizers[name]

    def predict_features(self, features: np.ndarray, element: str) -> np.ndarray:
        """Spectra ``(n, 141)`` from feature rows ``(n, d)`` in the published convention."""
        return self.model_for(check_element(element)).predict(np.asarray(features, dtype=np.float64))

    def predict_structure(self, structure, element: str, source: str = "structure", check: bool = True) -> Prediction:
        """Per-site and averaged spectra of ``element`` in ``structure``.

        ``check=False`` skips :func:`~xasflow.io.structures.check_structure` for a structure that
        :func:`~xasflow.io.structures.read_structure` has just checked.

        Raises
        ------
        InputError
            For a structure without ``element`` or a bad site selection.
        XasflowError
            When no model exists for the element at this fidelity.
        """
        from xasflow.io.structures import check_structure

        element = check_element(element)
        if check:
            check_structure(structure, source)
        model = self.model_for(element)
        chosen = absorbing_sites(structure, element, self.selection, source, self.symprec)
        featurizer = self.featurizer_for(model.card.get("featurizer", {}).get("name", "m3gnet"))
        features = featurizer.featurize(structure, [s.index for s in chosen], source=source)
        if not np.all(np.isfinite(features)):
            raise InputError(source, "featurization gave NaN or infinite values")
        spectra = model.predict(features)
        weights = np.array([s.weight for s in chosen])
        average = weights @ spectra / weights.sum()
        return Prediction(
            source=source,
            element=element,
            fidelity=self.fidelity,
            model=str(model.card.get("name", self.model_name or "default")),
            model_version=_model_version(model.card),
            energies=energy_grid(element),
            sites=[
                SiteSpectrum(s.index, s.multiplicity, s.weight, spectrum)
                for s, spectrum in zip(chosen, spectra, strict=True)
            ],
            average=average,
            formula=structure.composition.reduced_formula,
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
    predictor = Predictor(fidelity=fidelity, model=model, sites=sites, symprec=symprec)
    if isinstance(structure, (str, Path)):
        from xasflow.io.structures import read_structure

        source = str(structure)
        structure = read_structure(structure)
    else:
        source = structure.composition.reduced_formula
    elements, _ = predictor.elements_to_predict(structure, element, source)
    results = [predictor.predict_structure(structure, e, source) for e in elements]
    return results[0] if element is not None else results
