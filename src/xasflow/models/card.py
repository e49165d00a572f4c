"""The model card: a typed, self-describing, checksummed record of one saved model.

A saved model is a card (``NAME.json``) beside its weights (``NAME.npz``), like matgl's ``model.json`` +
``state.pt``. The card names everything a prediction depends on (estimator hyperparameters, featurizer,
energy grid, calibration, domain reference) and carries two checksums: the weights' SHA-256 and the SHA-256
of the card's own content, so editing either after saving is detected on load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xasflow.constants import E_START, E_STEP, ELEMENTS, FIDELITIES, N_POINTS
from xasflow.errors import XasflowError
from xasflow.fileio import atomic_path
from xasflow.kinds import ModelKind
from xasflow.models.spec import FeaturizerSpec, ModelSpec

FORMAT = "xasflow-model"
#: Version of the saved-model layout; 2 = typed card with ensemble, calibration and domain blocks.
FORMAT_VERSION = 2
KINDS = tuple(k.value for k in ModelKind)
#: Entries of the spec section (in the ``params`` of cards written before it existed).
SPEC_FIELDS = tuple(f.name for f in fields(ModelSpec))


@dataclass(frozen=True)
class EnergyGrid:
    """Absolute energy axis of the predicted spectrum: ``start_eV + step_eV * arange(points)``."""

    start_eV: float
    step_eV: float = E_STEP
    points: int = N_POINTS

    @classmethod
    def for_element(cls, element: str) -> EnergyGrid:
        return cls(E_START[element], E_STEP, N_POINTS)


@dataclass(frozen=True)
class EnsembleSpec:
    """How many members and how they differ."""

    members: int
    seeds: tuple[int, ...]
    resampling: str


@dataclass(frozen=True)
class CalibrationSpec:
    """Calibration of the predicted standard deviation for one element.

    ``std = scale[point] * member_std`` covers ``level`` (68.27 %) of held-out points at each energy;
    ``z95`` is the multiple of that std giving the calibrated 95.45 % interval. ``coverage_68`` and
    ``coverage_95`` were measured on held-out rows that the scale was not fitted on (cross-fitted halves).
    """

    method: str
    scale: tuple[float, ...]
    z95: float
    rows: int
    materials: int
    coverage_68: float
    coverage_95: float
    floor: float = 0.0


@dataclass(frozen=True)
class DomainSpec:
    """Out-of-domain reference for one element: ``ood_score = knn distance / threshold``; in domain if ≤ 1."""

    method: str
    k: int
    reference_rows: int
    threshold: float
    quantile: float
    heldout_flagged: float


@dataclass(frozen=True)
class ResidualHeadSpec:
    """A ridge residual head fitted for one element (its arrays are in the weights, ``head__{El}__*``).

    ``predict = clip(member + ridge([hidden layer, standardised X]), 0)`` for every member; ``alpha`` is the
    ridge penalty chosen by generalised cross-validation on the ``rows`` it was fitted on.
    """

    method: str
    alpha: float
    rows: int
    design_columns: int


@dataclass(frozen=True)
class WeightsInfo:
    """The weights file (relative to the card) and its checksum."""

    file: str
    sha256: str
    dtype: str
    bytes: int


@dataclass
class ModelCard:
    """Everything known about a trained model, serialised as JSON beside its weights.

    Parameters
    ----------
    kind
        ``expert``, ``universal``, ``tuned``, ``cross-fidelity`` or ``head``.
    name
        Name within its set (the zoo uses the kind, with ``tuned`` for cross-fidelity too).
    element, fidelity
        The set the card predicts (``element`` is ``None`` only for an unlabelled universal model).
    params
        The estimator's hyperparameters (``get_params()`` without ``spec``), enough to rebuild it with ``spec``.
    featurizer
        The features the model takes (the same as ``spec.featurizer``).
    spec
        The estimator's :class:`~xasflow.models.spec.ModelSpec` (``kind``, ``element``, ``fidelity`` and
        ``featurizer`` as above). ``None`` in cards written before it had its own section: their ``params``
        hold ``element``, ``fidelity``, ``kind`` and ``featurizer``
        (:func:`~xasflow.models.persistence.card_spec` reads both).
    elements
        Elements the model was trained on (conditioning order for universal models).
    data
        Training-data provenance per set: protocol, row-id hash, sizes (no machine-local paths).
    metrics
        Measured scores (η, MSE, coverage ...) with their protocol.
    calibration, domain
        Per element.
    residual_head
        Per element with a ridge residual head (absent from the JSON of a model without one).
    """

    kind: str
    name: str
    element: str | None
    fidelity: str
    params: dict[str, Any]
    featurizer: FeaturizerSpec
    ensemble: EnsembleSpec
    spec: ModelSpec | None = None
    elements: tuple[str, ...] = ()
    energy_grid: EnergyGrid | None = None
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, CalibrationSpec] = field(default_factory=dict)
    domain: dict[str, DomainSpec] = field(default_factory=dict)
    residual_head: dict[str, ResidualHeadSpec] = field(default_factory=dict)
    baseline_spectrum: tuple[float, ...] | None = None
    pretraining: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
    weights: WeightsInfo | None = None
    xasflow_version: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.energy_grid is None and self.element in ELEMENTS:
            self.energy_grid = EnergyGrid.for_element(self.element)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = json.loads(json.dumps(asdict(self)))
        if not data["residual_head"]:  # cards of models without a head stay as they were
            del data["residual_head"]
        if data["spec"] is None:  # cards written before the spec had its own section
            del data["spec"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: object = "model card") -> ModelCard:
        """Inverse of :meth:`to_dict`, validating every block.

        Raises
        ------
        XasflowError
            Not a card, a newer format, or a block that is missing or inconsistent.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise XasflowError(f"{source}: not an xasflow model card")
        version = data.get("format_version")
        if not isinstance(version, int) or version != FORMAT_VERSION:
            raise XasflowError(
                f"{source}: model card format {version!r}; this xasflow reads format {FORMAT_VERSION} "
                "(rebuild the model with this version)"
            )
        known = {f.name for f in fields(cls)} | {"content_sha256"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise XasflowError(f"{source}: unknown card entries {', '.join(unknown)}")
        try:
            card = cls(
                kind=data["kind"],
                name=data["name"],
                element=data["element"],
                fidelity=data["fidelity"],
                params=dict(data["params"]),
                featurizer=FeaturizerSpec(**data["featurizer"]),
                ensemble=_ensemble(data["ensemble"]),
                spec=ModelSpec.from_dict(data["spec"]) if data.get("spec") is not None else None,
                elements=tuple(data.get("elements", ())),
                energy_grid=EnergyGrid(**data["energy_grid"]) if data.get("energy_grid") else None,
                data=dict(data.get("data", {})),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
                calibration={k: _calibration(v) for k, v in data.get("calibration", {}).items()},
                domain={k: DomainSpec(**v) for k, v in data.get("domain", {}).items()},
                residual_head={k: ResidualHeadSpec(**v) for k, v in data.get("residual_head", {}).items()},
                baseline_spectrum=_floats(data.get("baseline_spectrum")),
                pretraining=data.get("pretraining"),
                recipe=data.get("recipe"),
                weights=WeightsInfo(**data["weights"]) if data.get("weights") else None,
                xasflow_version=str(data.get("xasflow_version", "")),
                format=data["format"],
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, XasflowError) as exc:
            raise XasflowError(f"{source}: malformed model card ({type(exc).__name__}: {exc})") from exc
        card.validate(source)
        return card

    def validate(self, source: object = "model card") -> None:
        """Raise :class:`XasflowError` if the blocks contradict each other or miss what prediction needs."""
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.fidelity not in FIDELITIES:
            problems.append(f"fidelity {self.fidelity!r} is not FEFF or VASP")
        if self.element is not None and self.element not in ELEMENTS:
            problems.append(f"element {self.element!r} is not supported")
        if any(e not in ELEMENTS for e in self.elements):
            problems.append(f"elements {list(self.elements)} include an unsupported one")
        if not self.featurizer.name or not self.featurizer.version:
            problems.append("featurizer name or version missing")
        if self.element in ELEMENTS:
            expected = EnergyGrid.for_element(self.element)
            if self.energy_grid is None:
                problems.append("energy grid missing")
            elif self.energy_grid != expected:
                problems.append(f"energy grid {self.energy_grid} does not match the {self.element} grid {expected}")
        if self.ensemble.members < 1 or len(self.ensemble.seeds) != self.ensemble.members:
            problems.append("ensemble block inconsistent (members vs seeds)")
        if self.params.get("n_members", self.ensemble.members) != self.ensemble.members:
            problems.append("ensemble size differs from the n_members hyperparameter")
        conditioning = tuple(self.params.get("conditioning", ()))
        if self.element is not None and conditioning and self.element not in conditioning:
            problems.append(f"element {self.element} is not among the conditioning elements {list(conditioning)}")
        for element, calibration in self.calibration.items():
            points = self.energy_grid.points if self.energy_grid else N_POINTS
            if element not in ELEMENTS or len(calibration.scale) != points:
                problems.append(f"calibration block for {element!r} inconsistent with the grid")
            elif not all(s > 0 for s in calibration.scale) or calibration.z95 <= 0:
                problems.append(f"calibration block for {element} has non-positive scales")
        for element, domain in self.domain.items():
            if element not in ELEMENTS or domain.threshold <= 0 or domain.k < 1:
                problems.append(f"domain block for {element!r} inconsistent")
        for element, head in self.residual_head.items():
            if (element not in ELEMENTS and element != "*") or not head.alpha > 0 or head.rows < 1:
                problems.append(f"residual head block for {element!r} inconsistent")
        if self.spec is not None:
            recorded = (self.kind, self.element, self.fidelity, self.featurizer)
            if (self.spec.kind, self.spec.element, self.spec.fidelity, self.spec.featurizer) != recorded:
                problems.append("spec section differs from the card's kind, element, fidelity or featurizer")
            legacy = sorted(set(self.params) & {"spec", *SPEC_FIELDS})
            if legacy:
                problems.append(f"params hold spec entries {', '.join(legacy)} (they belong in the spec section)")
        if self.weights is None:
            problems.append("weights entry missing")
        if problems:
            raise XasflowError(f"{source}: invalid model card: " + "; ".join(problems))

    def content_sha256(self) -> str:
        """SHA-256 of the card's canonical JSON (everything except this checksum itself)."""
        return content_digest(self.to_dict())

    def write(self, path: Path) -> None:
        """Write atomically with the content checksum (sorted keys, stable diffs)."""
        data = self.to_dict()
        data["content_sha256"] = content_digest(data)
        with atomic_path(path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        """Read, verify the content checksum, and validate a card.

        Raises
        ------
        XasflowError
            Missing, unreadable, edited after saving, or invalid.
        """
        path = Path(path)
        if not path.is_file():
            raise XasflowError(f"{path}: model card missing")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise XasflowError(f"{path}: not a model card (unreadable JSON: {exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise XasflowError(f"{path}: not an xasflow model card")
        stored = data.get("content_sha256")
        if stored is None:
            raise XasflowError(f"{path}: model card has no content checksum (written by an older xasflow?)")
        actual = content_digest(data)
        if actual != stored:
            raise XasflowError(
                f"{path}: model card was modified after saving (content sha256 {actual[:12]}…, recorded "
                f"{str(stored)[:12]}…); rebuild or reinstall the model"
            )
        return cls.from_dict(data, path)


def content_digest(data: dict[str, Any]) -> str:
    """SHA-256 of canonical JSON of ``data`` without its ``content_sha256`` entry."""
    body = {k: v for k, v in data.items() if k != "content_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _floats(values: Any) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


def _ensemble(data: dict[str, Any]) -> EnsembleSpec:
    return EnsembleSpec(int(data["members"]), tuple(int(s) for s in data["seeds"]), str(data["resampling"]))


def _calibration(data: dict[str, Any]) -> CalibrationSpec:
    return CalibrationSpec(**{**data, "scale": tuple(float(s) for s in data["scale"])})
