"""XASRegressor: site features (published ×1000 units) → 141-point spectrum, scikit-learn style."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xasflow import __version__
from xasflow.constants import E_START, E_STEP, N_POINTS, PUBLISHED_SCALE
from xasflow.errors import InputError, XasflowError, check_element, check_fidelity
from xasflow.fileio import atomic_path
from xasflow.models.config import ModelConfig
from xasflow.models.network import SpectrumMLP
from xasflow.training.config import TrainConfig
from xasflow.training.loop import Batch, History, train_network

#: Version of the saved-model layout (card + weights); bumped on incompatible change.
MODEL_FORMAT_VERSION = 1
STORAGE_DTYPES = {"float32": np.float32, "float16": np.float16}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


class XASRegressor:
    """An MLP (or a small seeded ensemble of them) from site features to a K-edge XANES spectrum.

    Parameters
    ----------
    config
        Architecture.
    element, fidelity
        The set the model predicts by default (for element-conditioned models, the default element).
    name
        Model name within the set: ``expert``, ``universal`` or ``tuned``.
    ensemble
        Number of members (each seeded ``seed + i``); predictions are their mean.
    featurizer
        Name and version of the features the model takes.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        element: str | None = None,
        fidelity: str = "FEFF",
        name: str = "expert",
        ensemble: int = 1,
        featurizer: dict[str, str] | None = None,
    ) -> None:
        if ensemble < 1:
            raise XasflowError("ensemble size must be at least 1")
        self.config = config
        self.element = check_element(element) if element is not None else None
        self.fidelity = check_fidelity(fidelity)
        self.name = name
        self.ensemble = ensemble
        self.networks: list[SpectrumMLP] = []
        self.history: list[History] = []
        self.card: dict[str, Any] = {
            "format": "xasflow-model",
            "format_version": MODEL_FORMAT_VERSION,
            "name": name,
            "version": __version__,
            "element": self.element,
            "fidelity": self.fidelity,
            "featurizer": featurizer or {"name": "m3gnet", "version": "M3GNet-MP-2021.2.8-PES"},
            "architecture": {**config.as_dict(), "ensemble": ensemble},
            "units": {
                "features": f"published OmniXAS convention (x{PUBLISHED_SCALE:g})",
                "spectra": f"published OmniXAS convention (mu normalised, x{PUBLISHED_SCALE:g})",
            },
        }
        if self.element is not None:
            self.card["energy_grid"] = self._grid(self.element)

    @staticmethod
    def _grid(element: str) -> dict[str, float | int]:
        return {"start_eV": E_START[element], "step_eV": E_STEP, "points": N_POINTS}

    # ------------------------------------------------------------------ inputs
    def _codes(self, n: int, elements: Sequence[str] | str | None) -> torch.Tensor | None:
        """One-hot element codes for conditioned models (``None`` otherwise)."""
        cond = self.config.conditioning
        if not cond:
            return None
        if elements is None:
            elements = self.element
        if elements is None:
            raise XasflowError("this model is element-conditioned: name the element")
        names = [elements] * n if isinstance(elements, str) else list(elements)
        if len(names) != n:
            raise XasflowError(f"{len(names)} element labels for {n} rows")
        unknown = sorted(set(names) - set(cond))
        if unknown:
            raise XasflowError(f"model was trained for {', '.join(cond)}; cannot predict {', '.join(unknown)}")
        index = torch.tensor([cond.index(e) for e in names])
        return torch.nn.functional.one_hot(index, len(cond)).to(torch.float32)

    def _batch(self, X: np.ndarray, y: np.ndarray, elements, what: str) -> Batch:
        X = check_matrix(X, self.config.n_features, f"{what} features")
        y = check_matrix(y, self.config.n_outputs, f"{what} spectra")
        if len(X) != len(y):
            raise XasflowError(f"{what}: {len(X)} feature rows but {len(y)} spectra")
        return Batch(
            torch.as_tensor(X, dtype=torch.float32),
            torch.as_tensor(y, dtype=torch.float32),
            self._codes(len(X), elements),
        )

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_stop: np.ndarray | None = None,
        y_stop: np.ndarray | None = None,
        elements: Sequence[str] | str | None = None,
        elements_stop: Sequence[str] | str | None = None,
        train: TrainConfig | None = None,
        warm_start: bool = False,
    ) -> XASRegressor:
        """Train on ``(X, y)``, early-stopping on ``(X_stop, y_stop)``.

        Parameters
        ----------
        elements, elements_stop
            Element of each row (or one for all) for element-conditioned models.
        warm_start
            Continue from the current weights (fine-tuning) instead of a fresh initialisation.
        """
        train = train or TrainConfig()
        data = self._batch(X, y, elements, "training")
        if len(data) < 2:
            raise XasflowError("need at least 2 training spectra")
        stop = None
        if X_stop is not None and y_stop is not None:
            stop = self._batch(X_stop, y_stop, elements_stop, "early-stopping")
        if warm_start and not self.networks:
            raise XasflowError("warm_start needs a trained model")
        start = time.perf_counter()
        if not warm_start:
            self.networks = []
        self.history = []
        for member in range(self.ensemble):
            config = train.with_seed(train.seed + member)
            if warm_start:
                net = self.networks[member]
            else:
                torch.manual_seed(config.seed)  # weight initialisation
                net = SpectrumMLP(self.config)
                if self.config.standardize:
                    mean = data.features.mean(0)
                    scale = data.features.std(0).clamp_min(1e-6)
                    net.feature_mean.copy_(mean)
                    net.feature_scale.copy_(scale)
                self.networks.append(net)
            self.history.append(train_network(net, data, stop, config))
        self.card.setdefault("training", {})
        self.card["training"].update(
            {
                "seconds": round(time.perf_counter() - start, 2),
                "rows": len(data),
                "stop_rows": 0 if stop is None else len(stop),
                "epochs": [h.epochs for h in self.history],
                "best_epochs": [h.best_epoch for h in self.history],
                "config": train.as_dict(),
                "warm_start": warm_start,
            }
        )
        return self

    def copy(self, *, name: str | None = None, element: str | None = None, fidelity: str | None = None):
        """An independent copy (for fine-tuning), optionally renamed and re-targeted."""
        out = copy.deepcopy(self)
        if name is not None:
            out.name = out.card["name"] = name
        if element is not None:
            out.element = out.card["element"] = check_element(element)
            out.card["energy_grid"] = self._grid(out.element)
        if fidelity is not None:
            out.fidelity = out.card["fidelity"] = check_fidelity(fidelity)
        return out

    # ------------------------------------------------------------------ inference
    def predict(self, X: np.ndarray, element: Sequence[str] | str | None = None) -> np.ndarray:
        """Spectra ``(n, 141)`` in published units for features ``X`` ``(n, 64)`` in published units.

        Raises
        ------
        InputError
            Wrong feature width, NaN/inf, or no rows.
        XasflowError
            Untrained model, or an element the model does not know.
        """
        if not self.networks:
            raise XasflowError("model is not trained")
        X = check_matrix(X, self.config.n_features, "features")
        features = torch.as_tensor(X, dtype=torch.float32)
        codes = self._codes(len(X), element)
        out = np.zeros((len(X), self.config.n_outputs))
        with torch.no_grad():
            for net in self.networks:
                net.eval()
                out += net(features, codes).double().numpy()
        return out / len(self.networks)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, dtype: str = "float32") -> Path:
        """Write weights to ``path`` (``.npz``) and the model card beside it (``.json``); returns the card path.

        ``dtype="float16"`` halves the size of the layer weights (normalisation statistics stay float32).
        """
        if not self.networks:
            raise XasflowError("cannot save an untrained model")
        if dtype not in STORAGE_DTYPES:
            raise XasflowError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}")
        path = Path(path).with_suffix(".npz")
        arrays: dict[str, np.ndarray] = {}
        for i, net in enumerate(self.networks):
            for key, tensor in net.state_dict().items():
                value = tensor.detach().cpu().numpy()
                # Only Linear weights/biases are downcast: BatchNorm variances of ×1000 inputs exceed float16.
                is_linear = key.startswith("layers.") and value.ndim in (1, 2) and self._is_linear_key(net, key)
                if value.dtype.kind == "f":
                    value = value.astype(STORAGE_DTYPES[dtype] if is_linear else np.float32)
                arrays[f"m{i}__{key}"] = value
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            digest = sha256_of(tmp)
            size = tmp.stat().st_size
        card = dict(self.card)
        card["weights"] = {"file": path.name, "sha256": digest, "dtype": dtype, "bytes": size}
        self.card = card
        card_path = path.with_suffix(".json")
        write_card(card_path, card)
        return card_path

    @staticmethod
    def _is_linear_key(net: SpectrumMLP, key: str) -> bool:
        index = int(key.split(".")[1])
        return isinstance(net.layers[index], torch.nn.Linear)

    @classmethod
    def load(cls, path: str | Path) -> XASRegressor:
        """Read a model written by :meth:`save` (pass the ``.json`` card or the ``.npz`` weights).

        Raises
        ------
        XasflowError
            Missing or unreadable card, weights whose SHA-256 differs from the card (tampered or corrupted),
            or a newer format version.
        """
        card_path = Path(path).with_suffix(".json")
        card = read_card(card_path)
        weights = card_path.parent / card["weights"]["file"]
        if not weights.is_file():
            raise XasflowError(f"{weights}: model weights missing")
        actual = sha256_of(weights)
        if actual != card["weights"]["sha256"]:
            raise XasflowError(
                f"{weights}: checksum mismatch (sha256 {actual[:12]}…, card says {card['weights']['sha256'][:12]}…): "
                "the weights are corrupted or were modified; rebuild or reinstall the model"
            )
        arch = dict(card["architecture"])
        ensemble = int(arch.pop("ensemble", 1))
        model = cls(
            ModelConfig.from_dict(arch),
            element=card.get("element"),
            fidelity=card.get("fidelity", "FEFF"),
            name=card.get("name", "expert"),
            ensemble=ensemble,
            featurizer=card.get("featurizer"),
        )
        model.card = card
        try:
            with np.load(weights, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except (OSError, ValueError) as exc:
            raise XasflowError(f"{weights}: cannot read model weights ({exc})") from exc
        for i in range(ensemble):
            net = SpectrumMLP(model.config)
            prefix = f"m{i}__"
            state = {k.removeprefix(prefix): torch.as_tensor(v) for k, v in arrays.items() if k.startswith(prefix)}
            reference = net.state_dict()
            try:
                net.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
            except (KeyError, RuntimeError) as exc:
                raise XasflowError(f"{weights}: weights do not match the card's architecture ({exc})") from exc
            net.eval()
            model.networks.append(net)
        return model

    def __repr__(self) -> str:
        return (
            f"XASRegressor(name={self.name!r}, element={self.element!r}, fidelity={self.fidelity!r}, "
            f"hidden={self.config.hidden}, ensemble={self.ensemble})"
        )


def write_card(path: Path, card: dict[str, Any]) -> None:
    """Write a model card atomically (sorted keys, stable diffs)."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def read_card(path: Path) -> dict[str, Any]:
    """Read and minimally validate a model card."""
    if not path.is_file():
        raise XasflowError(f"{path}: model card missing")
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise XasflowError(f"{path}: unreadable model card ({exc})") from exc
    if not isinstance(card, dict) or card.get("format") != "xasflow-model":
        raise XasflowError(f"{path}: not an xasflow model card")
    if int(card.get("format_version", 0)) > MODEL_FORMAT_VERSION:
        raise XasflowError(f"{path}: model format {card['format_version']} is newer than this xasflow supports")
    if "weights" not in card or "sha256" not in card["weights"] or "architecture" not in card:
        raise XasflowError(f"{path}: model card lacks weights/architecture entries")
    return card
