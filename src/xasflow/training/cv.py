"""Material-grouped k-fold cross-validation of the training modes, one cached JSON result per run.

Every set is cross-validated over all the rows it has (published val rows; for a set given as a complete
dataset, e.g. Cu FEFF, its published train + val rows). A material's fold is a hash of its id, so it is the
same in every set: the universal model of fold ``k`` never saw a material that any set holds out in fold
``k`` (in particular not the held-out structures of the cross-fidelity VASP sets). Within CV every model is
a single network (the ensemble is a shipping concern) that early-stops on its own material-grouped 10 % of
the training folds; η uses the training folds' mean spectrum as baseline.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xasflow.constants import ELEMENTS, FIDELITIES
from xasflow.data.dataset import XASDataset
from xasflow.data.published import PUBLISHED_FEATURES, load_published
from xasflow.data.reserved import reserved_materials
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import score
from xasflow.fileio import atomic_path
from xasflow.io.omnixas import material_ids, ml_data_path
from xasflow.kinds import ZOO_NAMES, ModelKind, tuned_kind
from xasflow.models.config import reference_widths
from xasflow.models.estimator import XASRegressor
from xasflow.models.spec import ModelSpec
from xasflow.training.candidates import get_candidate
from xasflow.training.config import Recipe

#: The modes cross-validation runs (the residual-head kind is measured by the new-element study instead).
CV_MODES = tuple(ModelKind.parse(k).value for k in ZOO_NAMES if k != ModelKind.HEAD.zoo_name)
#: Share of the training folds each network early-stops on.
CV_STOP_FRACTION = 0.1


def fold_of(materials: Iterable[str], n_folds: int, salt: str = "xasflow-cv") -> np.ndarray:
    """Fold of each material: ``sha256(salt:material) mod n_folds`` (deterministic, set-independent)."""
    if n_folds < 2:
        raise XasflowError("need at least 2 folds")
    return np.array(
        [int(hashlib.sha256(f"{salt}:{m}".encode()).hexdigest()[:15], 16) % n_folds for m in materials], dtype=int
    )


@dataclass(frozen=True)
class CVSet:
    """All rows of one set: ids, materials, feature matrices by name, spectra."""

    element: str
    fidelity: str
    ids: np.ndarray
    features: Mapping[str, np.ndarray]
    y: np.ndarray
    source: str

    @property
    def key(self) -> str:
        return f"{self.element}_{self.fidelity}"

    @property
    def materials(self) -> np.ndarray:
        return material_ids(self.ids)

    def X(self, feature: str = PUBLISHED_FEATURES) -> np.ndarray:
        """Feature matrix ``feature``; ``a+b`` concatenates matrices ``a`` and ``b``."""
        parts = feature.split("+")
        missing = [p for p in parts if p not in self.features]
        if missing:
            raise XasflowError(f"{self.key}: no {', '.join(missing)} features (has {', '.join(self.features)})")
        return np.hstack([self.features[p] for p in parts])


def _cv_set(dataset: XASDataset, source: str, reserved: frozenset[str]) -> CVSet:
    """A set's rows without the sites of materials reserved for its element (named in ``source``)."""
    if dataset.spectra is None:
        raise XasflowError(f"{dataset.name}: no spectra")
    keep = ~np.isin(dataset.material_ids, sorted(reserved))
    if not keep.all():
        dropped = sorted(set(dataset.material_ids[~keep].tolist()))
        source += f"; {int((~keep).sum())} rows of reserved materials dropped ({', '.join(dropped)})"
        dataset = dataset.subset(np.flatnonzero(keep))
    return CVSet(dataset.element, dataset.fidelity, dataset.ids, dict(dataset.features), dataset.spectra, source)


def load_cv_sets(
    root: Path,
    full: Mapping[str, XASDataset] | None = None,
    elements: tuple[str, ...] = ELEMENTS,
    reserved_dir: Path | None = None,
) -> dict[str, CVSet]:
    """Every set with spectra under ``root``; ``full`` replaces a set by a complete (train + val) dataset.

    Rows of materials reserved for the set's element (``reserved_dir/{El}_materials.txt``) are dropped.

    Raises
    ------
    XasflowError
        No set found.
    """
    full = dict(full or {})
    out: dict[str, CVSet] = {}
    for element in elements:
        reserved = reserved_materials(reserved_dir, element)
        for fidelity in FIDELITIES:
            key = f"{element}_{fidelity}"
            if key in full:
                out[key] = _cv_set(full[key], "published train + val (complete dataset)", reserved)
                continue
            if not ml_data_path(root, element, fidelity, "val", "X").exists():
                continue
            dataset = load_published(root, element, fidelity, splits=("val",))
            if dataset.spectra is not None:
                out[key] = _cv_set(dataset, "published val rows", reserved)
    if not out:
        raise XasflowError(f"{root}: no set with spectra found")
    return out


@dataclass(frozen=True)
class CVSettings:
    """Folds, seeds and caps of one cross-validation."""

    n_folds: int = 5
    seeds: tuple[int, ...] = (0, 1)
    salt: str = "xasflow-cv"
    max_epochs: int | None = None
    threads: int = 1


@dataclass(frozen=True)
class RunKey:
    """One cached result: (set, mode, candidate, feature, fold, seed)."""

    set_key: str
    mode: str
    candidate: str
    feature: str
    fold: int
    seed: int

    def path(self, root: Path) -> Path:
        safe = self.candidate.replace("|", "__")
        return root / "runs" / self.set_key / self.mode / safe / self.feature / f"f{self.fold}_s{self.seed}.json"


def _recipe(name: str, settings: CVSettings) -> Recipe:
    recipe = get_candidate(name).with_threads(settings.threads)
    return recipe.with_max_epochs(settings.max_epochs) if settings.max_epochs else recipe


def _single(params: dict[str, Any], seed: int) -> dict[str, Any]:
    return {**params, "n_members": 1, "random_state": seed}


def _tune_params(recipe: Recipe, seed: int) -> dict[str, Any]:
    params = _single(recipe.estimator_params("tune"), seed)
    for key in ("dropout", "standardize", "n_members", "head", "n_components"):
        params.pop(key)  # the architecture stays the universal one
    return params


@dataclass
class CVRunner:
    """Runs (or reads from ``cache_dir``) the cross-validation results of candidates on sets."""

    sets: Mapping[str, CVSet]
    cache_dir: Path
    settings: CVSettings = field(default_factory=CVSettings)
    log: Callable[[str], None] = print
    _folds: dict[str, np.ndarray] = field(default_factory=dict)

    def folds(self, key: str) -> np.ndarray:
        if key not in self._folds:
            self._folds[key] = fold_of(self.sets[key].materials, self.settings.n_folds, self.settings.salt)
        return self._folds[key]

    def split(self, key: str, fold: int) -> tuple[np.ndarray, np.ndarray]:
        folds = self.folds(key)
        return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)

    # ------------------------------------------------------------------ cache
    def _cached(self, key: RunKey) -> dict[str, Any] | None:
        path = key.path(self.cache_dir)
        return json.loads(path.read_text()) if path.is_file() else None

    def _store(self, key: RunKey, result: dict[str, Any]) -> dict[str, Any]:
        record = {**vars(key), **result, "n_folds": self.settings.n_folds, "salt": self.settings.salt}
        path = key.path(self.cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        self.log(
            f"{key.set_key:<8} {key.mode:<9} {key.candidate:<28} {key.feature:<14} fold {key.fold} seed {key.seed}: "
            f"η {result['eta']:.3f} ({result['seconds']:.0f} s, {result['epochs']} epochs)"
        )
        return record

    def _score(self, model: XASRegressor, data: CVSet, feature: str, fold: int, seconds: float) -> dict[str, Any]:
        train, held = self.split(data.key, fold)
        X = data.X(feature)[held]
        prediction = model.predict(X, elements=data.element if model.conditioning else None)
        s = score(data.y[held], prediction, data.y[train].mean(axis=0))
        history = model.history_[0]
        return {
            "eta": s.eta,
            "mse": s.mse,
            "median_mse": s.median_mse,
            "n_eval": len(held),
            "n_train": len(train),
            "epochs": history.epochs,
            "best_epoch": history.best_epoch,
            "seconds": round(seconds, 2),
        }

    # ------------------------------------------------------------------ modes
    def expert(self, key: str, candidate: str, fold: int, seed: int, feature: str = PUBLISHED_FEATURES) -> dict:
        """One network trained on the set's training folds only (fine-tuning variants do not apply)."""
        candidate = candidate.partition("|")[0]
        run = RunKey(key, "expert", candidate, feature, fold, seed)
        if (hit := self._cached(run)) is not None:
            return hit
        data, recipe = self.sets[key], _recipe(candidate, self.settings)
        train, _ = self.split(key, fold)
        X = data.X(feature)
        model = XASRegressor(
            hidden=reference_widths(key),
            spec=ModelSpec(data.element, data.fidelity),
            n_features=X.shape[1],
            stop_fraction=CV_STOP_FRACTION,
            **_single(recipe.estimator_params("train"), seed),
        )
        start = time.perf_counter()
        model.fit(X[train], data.y[train], groups=data.materials[train])
        return self._store(run, self._score(model, data, feature, fold, time.perf_counter() - start))

    def feff_keys(self) -> list[str]:
        return [k for k, s in self.sets.items() if s.fidelity == "FEFF"]

    def universal(self, candidate: str, fold: int, seed: int) -> XASRegressor:
        """The universal network of (candidate's training part, fold, seed), cached; scores every FEFF set."""
        import torch

        recipe = _recipe(candidate, self.settings)
        path = self.cache_dir / "universal" / recipe.universal_key() / f"f{fold}_s{seed}.pt"
        if path.is_file():
            return torch.load(path, weights_only=False)
        keys = self.feff_keys()
        if not keys:
            raise XasflowError("the universal model needs at least one FEFF set")
        present = {self.sets[k].element for k in keys}
        conditioning = tuple(e for e in ELEMENTS if e in present) if recipe.condition_universal else ()
        parts = [(self.sets[k], self.split(k, fold)[0]) for k in keys]
        model = XASRegressor(
            hidden=reference_widths("universal"),
            conditioning=conditioning,
            spec=ModelSpec(kind=ModelKind.UNIVERSAL),
            stop_fraction=CV_STOP_FRACTION,
            **_single(recipe.estimator_params("train"), seed),
        )
        start = time.perf_counter()
        model.fit(
            np.vstack([d.X()[rows] for d, rows in parts]),
            np.vstack([d.y[rows] for d, rows in parts]),
            elements=[d.element for d, rows in parts for _ in rows],
            groups=np.concatenate([d.materials[rows] for d, rows in parts]),
        )
        seconds = time.perf_counter() - start
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(model, tmp)
        train_name = candidate.partition("|")[0]
        for key in keys:
            run = RunKey(key, "universal", train_name, PUBLISHED_FEATURES, fold, seed)
            if self._cached(run) is None:
                labelled = copy.deepcopy(model).with_spec(element=self.sets[key].element)
                self._store(run, self._score(labelled, self.sets[key], PUBLISHED_FEATURES, fold, seconds))
        return model

    def universal_result(self, key: str, candidate: str, fold: int, seed: int) -> dict:
        train_name = candidate.partition("|")[0]
        run = RunKey(key, "universal", train_name, PUBLISHED_FEATURES, fold, seed)
        if (hit := self._cached(run)) is None:
            self.universal(candidate, fold, seed)
            hit = self._cached(run)
        assert hit is not None
        return hit

    def tuned(self, key: str, candidate: str, fold: int, seed: int) -> dict:
        """The universal network of the fold fine-tuned on the set (FEFF: tuned; VASP: cross-fidelity)."""
        run = RunKey(key, "tuned", candidate, PUBLISHED_FEATURES, fold, seed)
        if (hit := self._cached(run)) is not None:
            return hit
        data, recipe = self.sets[key], _recipe(candidate, self.settings)
        universal = self.universal(candidate, fold, seed)
        if universal.conditioning and data.element not in universal.conditioning:
            raise XasflowError(f"{key}: the universal model has no {data.element} FEFF data")
        model = copy.deepcopy(universal).with_spec(
            element=data.element, fidelity=data.fidelity, kind=tuned_kind(data.fidelity)
        )
        model.set_params(
            warm_start=True,
            stop_fraction=CV_STOP_FRACTION,
            **_tune_params(recipe, seed),
        )
        train, _ = self.split(key, fold)
        start = time.perf_counter()
        model.fit(
            data.X()[train],
            data.y[train],
            elements=data.element if model.conditioning else None,
            groups=data.materials[train],
        )
        return self._store(run, self._score(model, data, PUBLISHED_FEATURES, fold, time.perf_counter() - start))

    def run(self, key: str, mode: str, candidate: str, fold: int, seed: int, feature: str = PUBLISHED_FEATURES):
        """Dispatch one run by mode."""
        if mode == "expert":
            return self.expert(key, candidate, fold, seed, feature)
        if feature != PUBLISHED_FEATURES:
            raise XasflowError(f"mode {mode} uses the universal model's {PUBLISHED_FEATURES!r} features only")
        if mode == "universal":
            return self.universal_result(key, candidate, fold, seed)
        if mode == "tuned":
            return self.tuned(key, candidate, fold, seed)
        raise XasflowError(f"unknown CV mode {mode!r}; choose from {', '.join(CV_MODES)}")


def read_results(cache_dir: Path) -> list[dict[str, Any]]:
    """Every cached run result under ``cache_dir``."""
    return [json.loads(p.read_text()) for p in sorted((Path(cache_dir) / "runs").rglob("*.json"))]
