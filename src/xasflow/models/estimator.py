"""XASRegressor: an ensemble of MLPs from site features to a K-edge XANES spectrum, scikit-learn style.

Hyperparameters live in ``__init__`` (stored unchanged, so ``get_params``/``set_params``/``sklearn.base.clone``
work), next to one ``spec`` parameter, a :class:`~xasflow.models.spec.ModelSpec` of what the model is (element,
fidelity, kind, featurizer; read as ``model.element`` ..., changed with :meth:`~XASRegressor.with_spec`);
``fit`` sets the learned state (attributes ending in ``_``). Every model is an ensemble: ``predict``
returns the members' mean and, with ``return_std=True``, a standard deviation per energy point that
:meth:`calibrate` turns into honest intervals from held-out residuals. :meth:`domain_score` says how unlike
the training sites a row is. :meth:`fit_residual_head` adds a ridge correction of one element's spectra on
top of the frozen networks (the ``head`` kind; :mod:`xasflow.models.residual_head`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from xasflow.constants import ELEMENTS
from xasflow.data.splits import grouped_split
from xasflow.errors import InputError, XasflowError, check_element
from xasflow.kinds import ModelKind
from xasflow.models.calibration import Calibration, CoverageReport, cross_fitted_coverage, fit_calibration
from xasflow.models.config import ModelConfig
from xasflow.models.domain import K_NEIGHBOURS, DomainReference, cross_fitted_flag_rate
from xasflow.models.elements import ELEMENT_PROPERTIES, descriptor_matrix
from xasflow.models.fitting import Batch, History, TrainConfig, train_network
from xasflow.models.network import SpectrumMLP, output_basis
from xasflow.models.params import ParamsMixin
from xasflow.models.persistence import (
    FittedState,
    build_card,
    card_params,
    card_spec,
    fitted_state,
    read_model,
    save_model,
)
from xasflow.models.provenance import Provenance
from xasflow.models.residual_head import ResidualHeadState, fit_head
from xasflow.models.spec import FeaturizerSpec, ModelSpec

__all__ = ["Provenance", "SpectrumEstimate", "XASRegressor", "check_is_fitted", "check_matrix"]

#: The spec of an estimator built with ``spec=None``.
DEFAULT_SPEC = ModelSpec()


def check_matrix(values: np.ndarray, width: int, what: str) -> np.ndarray:
    """A finite float ``(n, width)`` matrix, else :class:`InputError` naming ``what``."""
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(what, f"not a numeric matrix ({exc})") from exc
    if matrix.ndim == 1 and matrix.size == width:
        matrix = matrix[None, :]
    if matrix.ndim != 2:
        raise InputError(what, f"expected a 2-D matrix with {width} columns, got shape {matrix.shape}")
    if matrix.shape[1] != width:
        raise InputError(what, f"has {matrix.shape[1]} columns but the model expects {width}")
    if len(matrix) == 0:
        raise InputError(what, "has no rows")
    if not np.all(np.isfinite(matrix)):
        bad = int(np.sum(~np.all(np.isfinite(matrix), axis=1)))
        raise InputError(what, f"contains NaN or infinite values ({bad} rows)")
    return matrix


def check_is_fitted(model: Any) -> None:
    """Raise :class:`XasflowError` unless ``model`` was fitted or loaded (scikit-learn's ``check_is_fitted``)."""
    if not getattr(model, "networks_", None):
        raise XasflowError("model is not trained")


def _groups(groups: Sequence[str] | np.ndarray | None, n: int) -> np.ndarray:
    """Material of each row, or one group per row when none are given."""
    return np.asarray(groups) if groups is not None else np.array([f"row{i}" for i in range(n)])


@dataclass(frozen=True)
class SpectrumEstimate:
    """Mean, calibrated std, out-of-domain score and flag of each row."""

    mean: np.ndarray
    std: np.ndarray
    ood_score: np.ndarray
    in_domain: np.ndarray


class XASRegressor(ParamsMixin):
    """Ensemble of MLPs: features ``(n, n_features)`` → spectra ``(n, 141)`` (published ×1000 units).

    Parameters
    ----------
    hidden
        Hidden widths; each block is Linear → BatchNorm → SiLU → Dropout.
    dropout
        Dropout after each hidden block (published recipe: 0.5).
    standardize
        Standardise inputs with the training mean/std (stored in the weights).
    conditioning
        Elements whose one-hot code is appended to the input (universal models); empty for one element.
        With ``encoding="descriptors"``: the elements the model was trained on (any element with
        descriptors can be predicted, the code does not depend on this list).
    encoding
        Element code of a conditioned model: ``onehot`` or ``descriptors`` (atomic number, K-edge energy,
        d count; :mod:`xasflow.models.elements`), which lets a model transfer to an element it never saw.
    head, n_components
        Output head: ``direct`` (published Softplus), ``residual`` (deviation from the element's mean training
        spectrum) or ``pca`` (``n_components`` principal deviation spectra); see
        :class:`~xasflow.models.network.SpectrumMLP`.
    lr, batch_size, max_epochs, patience, weight_decay, schedule, freeze_batchnorm
        Optimiser and early stopping (see :class:`~xasflow.models.fitting.TrainConfig`).
    deriv_weight, input_noise, freeze_layers, loss
        Line-shape loss weight, input noise, frozen leading blocks and loss (see ``TrainConfig``).
    refit_offset
        With ``warm_start`` and a ``residual``/``pca`` head: re-centre the offset of the elements being fitted
        on the new data's mean spectrum first (cross-fidelity: FEFF deviations around the VASP mean).
    n_members
        Ensemble size.
    random_state
        Member ``m`` is seeded ``random_state + m`` (initialisation, shuffling, dropout, its stop split).
    stop_fraction
        Without an explicit early-stopping set, each member early-stops on its own material-grouped share
        of the training rows (members then differ in data as well as seed).
    warm_start
        ``fit`` continues from the current weights (fine-tuning) instead of a fresh initialisation.
    threads
        torch intra-op threads.
    spec
        What the model is, not how it is trained: a :class:`~xasflow.models.spec.ModelSpec` of the set it
        predicts (``element``, default element of conditioned models; ``fidelity``), how it was trained
        (``kind``, a :class:`~xasflow.kinds.ModelKind`) and the features it takes (``featurizer``; default the
        published M3GNet rows). ``None``: ``ModelSpec()`` (no element, FEFF, expert). Recorded in the card's
        ``spec`` section; read through the properties ``element``, ``fidelity``, ``kind``,
        ``featurizer_spec`` and changed with :meth:`with_spec`.
    n_features
        Width of the feature rows.

    Examples
    --------
    >>> model = XASRegressor(hidden=(32,), n_members=2, spec=ModelSpec("Cu"))
    >>> model.element, model.fidelity, model.kind
    ('Cu', 'FEFF', 'expert')
    >>> model.with_spec(fidelity="VASP", kind="cross-fidelity").name
    'tuned'
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (600, 600, 400),
        dropout: float = 0.5,
        standardize: bool = False,
        conditioning: tuple[str, ...] = (),
        head: str = "direct",
        n_components: int = 32,
        lr: float = 1e-3,
        batch_size: int = 128,
        max_epochs: int = 500,
        patience: int = 30,
        weight_decay: float = 0.0,
        schedule: str = "none",
        freeze_batchnorm: bool = False,
        deriv_weight: float = 0.0,
        input_noise: float = 0.0,
        freeze_layers: int = 0,
        loss: str = "mse",
        refit_offset: bool = False,
        n_members: int = 5,
        random_state: int = 0,
        stop_fraction: float = 0.1,
        warm_start: bool = False,
        threads: int = 1,
        spec: ModelSpec | None = None,
        n_features: int = 64,
        encoding: str = "onehot",
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.standardize = standardize
        self.conditioning = conditioning
        self.head = head
        self.n_components = n_components
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.freeze_batchnorm = freeze_batchnorm
        self.deriv_weight = deriv_weight
        self.input_noise = input_noise
        self.freeze_layers = freeze_layers
        self.loss = loss
        self.refit_offset = refit_offset
        self.n_members = n_members
        self.random_state = random_state
        self.stop_fraction = stop_fraction
        self.warm_start = warm_start
        self.threads = threads
        self.spec = spec
        self.n_features = n_features
        self.encoding = encoding

    # ------------------------------------------------------------------ spec
    @property
    def model_spec(self) -> ModelSpec:
        """The ``spec`` parameter, :data:`DEFAULT_SPEC` when it is ``None``."""
        return DEFAULT_SPEC if self.spec is None else self.spec

    @property
    def element(self) -> str | None:
        """Element the model predicts by default (``None``: unlabelled); from ``spec``."""
        return self.model_spec.element

    @property
    def fidelity(self) -> str:
        """``FEFF`` or ``VASP``; from ``spec``."""
        return self.model_spec.fidelity

    @property
    def kind(self) -> str:
        """How the model was trained, a :class:`~xasflow.kinds.ModelKind` value; from ``spec``."""
        return self.model_spec.kind

    def with_spec(self, **changes: Any) -> XASRegressor:
        """Change fields of the spec (``element``, ``fidelity``, ``kind``, ``featurizer``) in place; returns self.

        The one way to relabel a model: ``set_params(spec=dataclasses.replace(model.model_spec, **changes))``.

        Raises
        ------
        XasflowError
            An unsupported element or fidelity, or an unknown kind.
        TypeError
            A field the spec does not have.
        """
        return self.set_params(spec=replace(self.model_spec, **changes))

    def set_params(self, **params: Any) -> XASRegressor:
        """Set hyperparameters (scikit-learn protocol); the spec's fields are changed with :meth:`with_spec`."""
        moved = sorted(set(params) & {"element", "fidelity", "kind", "featurizer"})
        if moved:
            raise ValueError(f"{', '.join(moved)}: part of the model's spec now; use with_spec({moved[0]}=...)")
        return super().set_params(**params)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, moving the metadata of estimators pickled before ``spec`` existed into one."""
        if "spec" not in state and "element" in state:
            legacy = {k: state.pop(k) for k in ("element", "fidelity", "kind", "featurizer") if k in state}
            state["spec"] = ModelSpec(**legacy)
        self.__dict__.update(state)

    # ------------------------------------------------------------------ derived settings
    @property
    def name(self) -> str:
        """Name within its set in the zoo (cross-fidelity models are the VASP set's ``tuned``)."""
        return ModelKind.parse(self.kind).zoo_name

    @property
    def featurizer_spec(self) -> FeaturizerSpec:
        """The features the model takes: ``spec.featurizer``, else the published M3GNet rows."""
        if self.model_spec.featurizer is not None:
            return self.model_spec.featurizer
        from xasflow.features.m3gnet import published_version

        return FeaturizerSpec("m3gnet", published_version())

    def network_config(self) -> ModelConfig:
        return ModelConfig(
            tuple(self.hidden),
            dropout=self.dropout,
            n_features=self.n_features,
            conditioning=tuple(self.conditioning),
            standardize=self.standardize,
            encoding=self.encoding,
            head=self.head,
            n_components=int(self.n_components),
        )

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            seed=seed,
            threads=self.threads,
            freeze_batchnorm=self.freeze_batchnorm,
            deriv_weight=float(self.deriv_weight),
            input_noise=float(self.input_noise),
            freeze_layers=int(self.freeze_layers),
            loss=self.loss,
        )

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.random_state + m for m in range(self.n_members))

    def _check_params(self) -> None:
        if int(self.n_members) < 1:
            raise XasflowError("n_members must be at least 1")
        if not 0.0 < self.stop_fraction < 1.0:
            raise XasflowError("stop_fraction must be in (0, 1)")
        if self.spec is not None and not isinstance(self.spec, ModelSpec):
            raise XasflowError(f"spec must be a ModelSpec, got {type(self.spec).__name__}")
        self.network_config()  # validates widths and dropout
        self.train_config(0)  # validates optimiser settings

    # ------------------------------------------------------------------ inputs
    def _labels(self, n: int, elements: Sequence[str] | str | None) -> list[str]:
        """Element of each row (for conditioning, calibration and the domain score)."""
        if elements is None:
            elements = self.element
        if elements is None:
            if self.conditioning:
                raise XasflowError("this model is element-conditioned: name the element")
            return ["*"] * n
        names = [elements] * n if isinstance(elements, str) else list(elements)
        if len(names) != n:
            raise XasflowError(f"{len(names)} element labels for {n} rows")
        if self.conditioning and self.encoding == "descriptors":
            unknown = sorted(set(names) - set(ELEMENT_PROPERTIES))
            if unknown:
                raise XasflowError(f"no element descriptors for {', '.join(unknown)}")
        elif self.conditioning:
            unknown = sorted(set(names) - set(self.conditioning))
            if unknown:
                raise XasflowError(
                    f"model was trained for {', '.join(self.conditioning)}; cannot predict {', '.join(unknown)}"
                )
        return names

    def _codes(self, labels: list[str]) -> torch.Tensor | None:
        if not self.conditioning:
            return None
        if self.encoding == "descriptors":
            return torch.as_tensor(descriptor_matrix(labels), dtype=torch.float32)
        index = torch.tensor([list(self.conditioning).index(e) for e in labels])
        return torch.nn.functional.one_hot(index, len(self.conditioning)).to(torch.float32)

    def _batch(self, X, y, labels: list[str]) -> Batch:
        return Batch(
            torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32), self._codes(labels)
        )

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        elements: Sequence[str] | str | None = None,
        groups: Sequence[str] | np.ndarray | None = None,
        X_stop: np.ndarray | None = None,
        y_stop: np.ndarray | None = None,
        elements_stop: Sequence[str] | str | None = None,
    ) -> XASRegressor:
        """Train every member on ``(X, y)``.

        Calibration and residual heads fitted before are dropped (they described the previous networks).

        Parameters
        ----------
        elements
            Element of each row (or one for all): needed for conditioned models and per-element state.
        groups
            Material of each row: the per-member early-stopping split keeps a material on one side.
        X_stop, y_stop, elements_stop
            An explicit early-stopping set shared by all members (otherwise each member carves its own).
        """
        self._check_params()
        X = check_matrix(X, self.n_features, "training features")
        y = check_matrix(y, 141, "training spectra")
        if len(X) != len(y):
            raise XasflowError(f"training: {len(X)} feature rows but {len(y)} spectra")
        if len(X) < 4:
            raise XasflowError("need at least 4 training spectra")
        labels = self._labels(len(X), elements)
        groups_arr = _groups(groups, len(X))
        if len(groups_arr) != len(X):
            raise XasflowError(f"{len(groups_arr)} groups for {len(X)} rows")
        shared_stop = None
        if X_stop is not None and y_stop is not None:
            Xs = check_matrix(X_stop, self.n_features, "early-stopping features")
            ys = check_matrix(y_stop, 141, "early-stopping spectra")
            shared_stop = self._batch(Xs, ys, self._labels(len(Xs), elements_stop))
        resume = bool(self.warm_start) and getattr(self, "networks_", None)
        if resume and len(self.networks_) != self.n_members:
            raise XasflowError(f"warm start: {len(self.networks_)} trained members but n_members={self.n_members}")
        start = time.perf_counter()
        networks: list[SpectrumMLP] = []
        history: list[History] = []
        for m, seed in enumerate(self.seeds):
            if shared_stop is None:
                parts = grouped_split(groups_arr, {"fit": 1 - self.stop_fraction, "stop": self.stop_fraction}, seed)
                fit_rows, stop_rows = np.flatnonzero(parts == "fit"), np.flatnonzero(parts == "stop")
                if len(stop_rows) == 0 or len(fit_rows) < 2:
                    raise XasflowError("too few training materials to carve an early-stopping share")
                stop = self._batch(X[stop_rows], y[stop_rows], [labels[i] for i in stop_rows])
            else:
                fit_rows, stop = np.arange(len(X)), shared_stop
            data = self._batch(X[fit_rows], y[fit_rows], [labels[i] for i in fit_rows])
            if resume:
                net = self.networks_[m]
                if self.refit_offset:
                    self._recentre(net, data)
            else:
                torch.manual_seed(seed)  # weight initialisation
                net = SpectrumMLP(self.network_config())
                if self.standardize:
                    features = torch.as_tensor(X, dtype=torch.float32)
                    net.feature_mean.copy_(features.mean(0))
                    net.feature_scale.copy_(features.std(0).clamp_min(1e-6))
                codes = None if data.codes is None else data.codes.numpy()
                net.set_output_basis(*output_basis(data.targets.numpy(), codes, net.config))
            history.append(train_network(net, data, stop, self.train_config(seed)))
            networks.append(net)
        self.networks_ = networks
        self.history_ = history
        self.n_features_in_ = self.n_features
        self.fit_seconds_ = time.perf_counter() - start
        self.training_rows_ = len(X)
        self.elements_ = tuple(e for e in ELEMENTS if e in set(labels)) or ("*",)
        # The model changed: earlier calibration and domain thresholds no longer apply.
        # An element with too few rows for a k-nearest-neighbour reference gets none (``domain_score``
        # refuses it) until ``set_domain`` gives it one from other rows.
        counts = {e: labels.count(e) for e in set(labels)}
        self.domain_ = {
            e: DomainReference.from_training(X[[lab == e for lab in labels]])
            for e, n in counts.items()
            if n > K_NEIGHBOURS
        }
        self.calibration_: dict[str, tuple[Calibration, CoverageReport]] = {}
        self.residual_head_: dict[str, ResidualHeadState] = {}  # fitted to the previous networks
        if not hasattr(self, "provenance_"):
            self.provenance_ = Provenance()
        return self

    @staticmethod
    def _recentre(net: SpectrumMLP, data: Batch) -> None:
        """Move the offset rows of the elements in ``data`` to its mean spectrum (keeps the deviations)."""
        if net.config.head == "direct":
            return
        offsets = net.output_offset.clone()
        targets = data.targets
        if data.codes is None or not net.config.per_element_offsets:
            offsets[0] = targets.mean(0)
        else:
            for row in torch.nonzero(data.codes.sum(0) > 0).flatten().tolist():
                offsets[row] = targets[data.codes[:, row] > 0].mean(0)
        net.output_offset.copy_(offsets)

    def _check_fitted(self) -> None:
        check_is_fitted(self)

    # ------------------------------------------------------------------ inference
    def predict_members(self, X: np.ndarray, elements: Sequence[str] | str | None = None) -> np.ndarray:
        """Each member's spectra, shape ``(n_members, n, 141)`` (with its element's residual head, if any)."""
        self._check_fitted()
        X = check_matrix(X, self.n_features, "features")
        features = torch.as_tensor(X, dtype=torch.float32)
        codes = self._codes(self._labels(len(X), elements))
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                out = [net.eval()(features, codes).double().numpy() for net in self.networks_]
        finally:
            torch.set_num_threads(previous)
        members = np.stack(out)
        if getattr(self, "residual_head_", None):
            self._apply_heads(members, X, self._labels(len(X), elements))
        return members

    def _apply_heads(self, members: np.ndarray, X: np.ndarray, labels: list[str]) -> None:
        """Add each element's residual-head correction to every member's rows of it (in place).

        One shift shared by the members: the correction, plus whatever lifts a negative mean to 0. The
        members' mean is then ``clip(mean + correction, 0)`` (the head as fitted and studied) and their
        spread, the calibration's input, is the networks' own. Clipping each member instead would shrink
        the spread and move the mean where members straddle 0; a member may dip below 0 where the mean is 0.
        """
        for element, head in self.residual_head_.items():
            rows = np.array([lab == element for lab in labels])
            if rows.any():
                block = members[:, rows] + head.correction(self.hidden_features(X[rows], element), X[rows])
                members[:, rows] = block + np.maximum(-block.mean(axis=0), 0.0)

    def member_mean_std(
        self, X: np.ndarray, elements: Sequence[str] | str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Members' mean and (uncalibrated) standard deviation per point, each ``(n, 141)``."""
        members = self.predict_members(X, elements)
        spread = members.std(axis=0, ddof=1) if len(members) > 1 else np.zeros(members.shape[1:])
        return members.mean(axis=0), spread

    def predict(
        self, X: np.ndarray, return_std: bool = False, elements: Sequence[str] | str | None = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Mean spectra ``(n, 141)``; with ``return_std`` also the calibrated std per point.

        Raises
        ------
        InputError
            Wrong feature width, NaN/inf, or no rows.
        XasflowError
            Untrained model, an element the model does not know, or ``return_std`` on an uncalibrated model.
        """
        if not return_std:
            return self.predict_members(X, elements).mean(axis=0)
        mean, spread = self.member_mean_std(X, elements)
        return mean, self._calibrated(spread, self._labels(len(mean), elements))

    def _calibrated(self, spread: np.ndarray, labels: list[str]) -> np.ndarray:
        std = np.empty_like(spread)
        for element in set(labels):
            if element not in self.calibration_:
                raise XasflowError(
                    f"model is not calibrated for {element}: call calibrate() on held-out rows before asking for std"
                )
            rows = np.array([lab == element for lab in labels])
            std[rows] = self.calibration_[element][0].std(spread[rows])
        return std

    def domain_score(self, X: np.ndarray, elements: Sequence[str] | str | None = None) -> np.ndarray:
        """``ood_score`` per row (distance to the training rows over the held-out threshold; > 1: out of domain)."""
        self._check_fitted()
        X = check_matrix(X, self.n_features, "features")
        labels = self._labels(len(X), elements)
        scores = np.empty(len(X))
        for element in set(labels):
            reference = self.domain_.get(element)
            if reference is None:
                raise XasflowError(f"model has no domain reference for {element}")
            rows = np.array([lab == element for lab in labels])
            scores[rows] = reference.score(X[rows])
        return scores

    def estimate(self, X: np.ndarray, elements: Sequence[str] | str | None = None) -> SpectrumEstimate:
        """Mean, calibrated std, ``ood_score`` and ``in_domain`` in one call."""
        mean, spread = self.member_mean_std(X, elements)
        labels = self._labels(len(mean), elements)
        score = self.domain_score(X, elements)
        return SpectrumEstimate(mean, self._calibrated(spread, labels), score, score <= 1.0)

    # ------------------------------------------------------------------ calibration
    def calibrate(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        elements: Sequence[str] | str | None = None,
        groups: Sequence[str] | np.ndarray | None = None,
        seed: int = 0,
    ) -> XASRegressor:
        """Fit the std calibration and the out-of-domain threshold on held-out rows (not used in ``fit``).

        Coverage and flag rate are measured by cross-fitting over material-grouped halves of these rows,
        then both are fitted on all of them.
        """
        self._check_fitted()
        X = check_matrix(X, self.n_features, "calibration features")
        y = check_matrix(y, 141, "calibration spectra")
        labels = self._labels(len(X), elements)
        groups_arr = _groups(groups, len(X))
        mean, spread = self.member_mean_std(X, labels)
        residual = y - mean
        self.domain_flag_rate_ = getattr(self, "domain_flag_rate_", {})
        for element in sorted(set(labels)):
            reference = self.domain_.get(element)
            if reference is None:
                raise XasflowError(
                    f"{element}: too few training rows for an out-of-domain reference; give one with set_domain"
                )
            rows = np.array([lab == element for lab in labels])
            report = cross_fitted_coverage(residual[rows], spread[rows], groups_arr[rows], seed)
            self.calibration_[element] = (fit_calibration(residual[rows], spread[rows]), report)
            self.domain_flag_rate_[element] = cross_fitted_flag_rate(reference, X[rows], groups_arr[rows], seed=seed)
            reference.fit_threshold(X[rows])
        return self

    def set_calibration(self, element: str, calibration: Calibration, report: CoverageReport) -> XASRegressor:
        """Use a calibration fitted elsewhere for ``element``'s rows.

        For an element with too few spectra of its own to hold out, e.g. one fitted on analogue elements
        that went through the same few-site transfer; ``report`` says how it was measured.
        """
        self._check_fitted()
        self.calibration_[check_element(element)] = (calibration, report)
        return self

    def set_domain(
        self,
        element: str,
        X_reference: np.ndarray,
        X_heldout: np.ndarray,
        groups: Sequence[str] | np.ndarray | None = None,
        seed: int = 0,
    ) -> XASRegressor:
        """Out-of-domain reference of ``element`` on ``X_reference`` (not necessarily the training rows).

        The threshold is fitted on ``X_heldout`` and the flag rate cross-fitted over its material-grouped
        halves, as :meth:`calibrate` does. For a model trained on a handful of sites the population its
        calibration was measured on is the honest domain, not those sites.
        """
        self._check_fitted()
        element = check_element(element)
        X_reference = check_matrix(X_reference, self.n_features, "domain reference features")
        X_heldout = check_matrix(X_heldout, self.n_features, "domain held-out features")
        groups_arr = _groups(groups, len(X_heldout))
        reference = DomainReference.from_training(X_reference)
        self.domain_flag_rate_ = getattr(self, "domain_flag_rate_", {})
        self.domain_flag_rate_[element] = cross_fitted_flag_rate(reference, X_heldout, groups_arr, seed=seed)
        reference.fit_threshold(X_heldout)
        self.domain_[element] = reference
        return self

    def set_provenance(self, provenance: Provenance | None = None, **fields: Any) -> XASRegressor:
        """Record what the training driver knows (data, metrics, recipe, baseline, pretraining) for the card.

        ``provenance`` replaces the record; keyword ``fields`` of :class:`Provenance` update it.
        """
        current = provenance if provenance is not None else getattr(self, "provenance_", Provenance())
        self.provenance_ = replace(current, **fields)
        return self

    def relabelled(self, element: str, fidelity: str) -> XASRegressor:
        """A copy that predicts ``element``/``fidelity`` by default.

        An unconditioned model knows no element: its domain becomes ``element``'s and its calibration is
        dropped (calibrate the copy on that element's held-out rows).
        """
        model = copy.deepcopy(self).with_spec(element=element, fidelity=fidelity)
        if not self.conditioning:
            model.domain_ = {element: model.domain_["*"]}
            model.calibration_ = {}
            heads = getattr(model, "residual_head_", {})
            head = heads.get("*", heads.get(element))
            model.residual_head_ = {} if head is None else {element: head}
        return model

    def hidden_features(self, X: np.ndarray, elements: Sequence[str] | str | None = None) -> np.ndarray:
        """Last hidden layer of every member, concatenated: ``(n, n_members · width)`` (the networks', no head)."""
        check_is_fitted(self)
        features = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=torch.float32)
        codes = self._codes(self._labels(len(features), elements))
        out = []
        with torch.inference_mode():
            for net in self.networks_:
                net.eval()
                x = (features - net.feature_mean) / net.feature_scale
                if codes is not None:
                    x = torch.cat([x, codes], dim=1)
                out.append(net.layers[:-2](x).double().numpy())
        return np.hstack(out)

    def fit_residual_head(self, X: np.ndarray, y: np.ndarray, element: str | None = None) -> XASRegressor:
        """Fit a ridge residual head for ``element``'s rows on ``(X, y)``; the networks stay frozen.

        The head is a ridge regression of ``y`` minus the members' mean on the members' last hidden layer
        (:meth:`hidden_features`) and the standardised features, the design standardised, its penalty
        chosen by generalised cross-validation over :data:`~xasflow.models.residual_head.ALPHAS`, so it
        needs no held-out rows (:mod:`xasflow.models.residual_head`). Afterwards every member's spectra of
        ``element``'s rows get the correction, and the mean is clipped at 0 by a shift shared by the
        members (their spread is unchanged). A head already fitted for ``element`` is
        replaced (the new one corrects the networks, not the old head). The calibration no longer applies
        to the corrected predictions and is dropped for ``element``: calibrate again.

        Parameters
        ----------
        element
            Element of every row (default: the model's); a conditioned model needs one.

        Raises
        ------
        InputError
            Wrong feature width, NaN/inf, or no rows.
        XasflowError
            Untrained model, fewer than 3 rows, or an element the model cannot predict.
        """
        self._check_fitted()
        X = check_matrix(X, self.n_features, "residual-head features")
        y = check_matrix(y, 141, "residual-head spectra")
        if len(X) != len(y):
            raise XasflowError(f"residual head: {len(X)} feature rows but {len(y)} spectra")
        label = self._labels(len(X), element)[0]
        heads = dict(getattr(self, "residual_head_", {}))
        heads.pop(label, None)
        self.residual_head_ = heads  # without this element's head: the base's mean is the residual's reference
        base = self.predict_members(X, label).mean(axis=0)
        heads[label] = fit_head(self.hidden_features(X, label), X, y - base)
        self.residual_head_ = heads
        getattr(self, "calibration_", {}).pop(label, None)
        return self

    @property
    def is_calibrated(self) -> bool:
        return bool(getattr(self, "calibration_", None))

    # ------------------------------------------------------------------ persistence
    def save(self, path, dtype: str = "float32", weights_file: str | None = None):
        """Write ``path`` (``.npz`` weights) and its card (``.json``); returns the card path.

        ``weights_file``: write only the card, pointing at weights saved earlier by another card (relative
        path), e.g. the zoo's per-set cards of the one universal model.
        """
        return save_model(self, path, dtype=dtype, weights_file=weights_file)

    @classmethod
    def load(cls, path) -> XASRegressor:
        """Read a model written by :meth:`save` (the ``.json`` card or the ``.npz`` weights), verifying checksums.

        Raises
        ------
        XasflowError
            Missing/unreadable/edited card or weights, a non-model file, or weights not matching the card.
        """
        stored = read_model(path)
        try:
            model = cls(spec=card_spec(stored.card), **card_params(stored.card))
            model._check_params()
        except (TypeError, XasflowError) as exc:
            raise XasflowError(f"{stored.source}: card hyperparameters are not valid ({exc})") from exc
        model._restore(fitted_state(stored, model.network_config()))
        return model

    def _restore(self, state: FittedState) -> None:
        """Set the learned state read from a card and its weights (only :meth:`load` calls this)."""
        self.networks_ = state.networks
        self.history_ = []
        self.n_features_in_ = self.n_features
        self.fit_seconds_ = state.fit_seconds
        self.training_rows_ = state.training_rows
        self.elements_ = state.elements
        self.domain_ = state.domain
        self.domain_flag_rate_ = state.domain_flag_rate
        self.calibration_ = state.calibration
        self.residual_head_ = state.residual_head
        self.provenance_ = state.provenance
        self.card_source_ = state.card

    @property
    def card(self):
        """The :class:`~xasflow.models.card.ModelCard` this model would be saved with."""
        return build_card(self)
