"""The active-learning loop: predict → acquire → label → ingest → refit, checkpointed after every step.

State lives in one folder: ``state.json`` (settings, and per round the batch chosen, what was labelled or
failed, the round's report) and ``labels.npz`` (every spectrum received), both replaced atomically; the
model of each finished round is saved under ``models/`` as a checksummed model card + weights. A round is recorded
as ``selected`` before the
oracle is asked, ``labelled`` once its spectra are stored and ``fitted`` once the model is refitted, so
rerunning the same command after an interruption continues where it stopped: a chosen batch is not
re-chosen, a stored spectrum is not asked for again, and a fitted round is not refitted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from xasflow.active.acquisition import RULES, select_batch
from xasflow.active.oracles import Oracle
from xasflow.active.pool import Pool
from xasflow.errors import XasflowError
from xasflow.evaluation.metrics import eta
from xasflow.io.omnixas import material_ids
from xasflow.models.estimator import XASRegressor
from xasflow.training.config import Recipe
from xasflow.training.transfer import tune_on_rows

STATE_VERSION = 1
#: Fewest labelled spectra a refit needs (the ensemble carves an early-stopping share from them).
MIN_LABELS = 5


@dataclass(frozen=True)
class LearnConfig:
    """Settings of a campaign. A rerun must give the same ones (else the folder is refused, never overwritten),
    except ``rounds``: raising it continues a finished campaign."""

    element: str
    rule: str = "representative"
    batch: int = 30
    rounds: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise XasflowError(f"unknown acquisition rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.batch < 1 or self.rounds < 1:
            raise XasflowError("batch and rounds must be at least 1")


@dataclass
class HeldOut:
    """Labelled sites never chosen or trained on, for η after each round (baseline: their own mean by default)."""

    X: np.ndarray
    y: np.ndarray
    baseline: np.ndarray | None = None


@dataclass
class RoundReport:
    """What one round did."""

    round: int
    chosen: int
    labelled: int
    failed: int
    labels_total: int
    candidates_left: int
    mean_predicted_std: float | None = None
    heldout_eta: float | None = None
    message: str = ""


@dataclass
class _Round:
    index: int
    status: str  # selected | labelled | fitted
    batch: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    report: dict | None = None


class TransferRefit:
    """Refit = fine-tune a pretrained (descriptor-coded) universal ensemble on every label so far."""

    def __init__(self, base: XASRegressor, element: str, settings: Recipe, seed: int = 0) -> None:
        if base.n_members < 2:
            raise XasflowError("active learning needs an ensemble (n_members ≥ 2) for the predicted std")
        self.base, self.element, self.settings, self.seed = base, element, settings, seed

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> XASRegressor:
        return tune_on_rows(self.base, X, y, groups, self.element, self.settings, self.seed)

    def predict(self, model: XASRegressor | None, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean spectra and the member spread averaged over energy points, per row (the base before any label)."""
        model = model or self.base
        members = model.predict_members(X, elements=self.element if model.conditioning else None)
        return members.mean(0), members.std(0, ddof=1).mean(1)


def _identity(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "rounds"}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Campaign:
    """One active-learning campaign in folder ``out`` (see the module docstring)."""

    def __init__(self, out: Path, config: LearnConfig, pool: Pool, excluded: set[str] | None = None) -> None:
        self.out = Path(out)
        self.config = config
        self.pool = pool
        self.excluded = set(excluded or ())  # reserved materials: never chosen
        self.rounds: list[_Round] = []
        self.labels: dict[str, np.ndarray] = {}
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "models").mkdir(exist_ok=True)
        self._load()

    # ------------------------------------------------------------------ state
    @property
    def _fingerprint(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.pool.ids.tolist())).encode()).hexdigest()[:16]

    def _load(self) -> None:
        path = self.out / "state.json"
        if not path.exists():
            return
        state = json.loads(path.read_text())
        if _identity(state.get("config", {})) != _identity(asdict(self.config)):
            raise XasflowError(
                f"{path}: a campaign with other settings ({state.get('config')}) is in this folder; "
                "use another --out or the same settings"
            )
        if state.get("pool_sha256_16") != self._fingerprint:
            raise XasflowError(f"{path}: the campaign in this folder was run on another candidate pool")
        self.rounds = [_Round(**r) for r in state["rounds"]]
        labels = self.out / "labels.npz"
        if labels.exists():
            with np.load(labels, allow_pickle=False) as archive:
                self.labels = dict(zip(archive["ids"].tolist(), archive["spectra"], strict=True))

    def _save(self) -> None:
        if self.labels:
            ids = sorted(self.labels)
            import io

            buffer = io.BytesIO()
            np.savez(buffer, ids=np.array(ids), spectra=np.stack([self.labels[i] for i in ids]))
            _write_atomic(self.out / "labels.npz", buffer.getvalue())
        state = {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "pool_sha256_16": self._fingerprint,
            "pool_size": len(self.pool),
            "excluded_materials": sorted(self.excluded),
            "rounds": [asdict(r) for r in self.rounds],
        }
        _write_atomic(self.out / "state.json", (json.dumps(state, indent=1) + "\n").encode())

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for r in self.rounds for k, v in r.failed.items()}

    def candidates(self) -> np.ndarray:
        """Pool rows still available: not labelled, not failed, not chosen in an open round, not reserved."""
        taken = set(self.labels) | set(self.failed) | {s for r in self.rounds for s in r.batch}
        materials = self.pool.materials
        return np.array(
            [i for i, s in enumerate(self.pool.ids.tolist()) if s not in taken and materials[i] not in self.excluded],
            dtype=int,
        )

    def _training_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = {s: i for i, s in enumerate(self.pool.ids.tolist())}
        ids = sorted(self.labels)
        X = self.pool.X[[index[i] for i in ids]]
        return X, np.stack([self.labels[i] for i in ids]), material_ids(ids)

    def _model(self, r: int):
        path = self.out / "models" / f"round_{r:03d}.json"
        if path.exists():
            return XASRegressor.load(path)
        return None

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        oracle: Oracle,
        refit: TransferRefit,
        heldout: HeldOut | None = None,
        on_round: Callable[[RoundReport], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> list[RoundReport]:
        """Run (or continue) up to ``config.rounds`` rounds; returns every finished round's report."""
        say = on_message or (lambda _msg: None)
        reports = [RoundReport(**r.report) for r in self.rounds if r.report]
        model = None
        for r in self.rounds:
            if r.status == "fitted":
                model = self._model(r.index)
        for index in range(self.config.rounds):
            if index < len(self.rounds) and self.rounds[index].status == "fitted":
                continue
            if index >= len(self.rounds):
                chosen = self._select(index, model, refit, say)
                if chosen is None:
                    break
            current = self.rounds[index]
            if current.status == "selected":
                self._label(current, oracle, say)
            if current.status == "labelled":
                model, report = self._fit(current, refit, heldout, say)
                reports.append(report)
                if on_round:
                    on_round(report)
        return reports

    def _select(self, index: int, model, refit: TransferRefit, say) -> list[str] | None:
        available = self.candidates()
        if len(available) == 0:
            say(f"round {index}: the pool is exhausted (no candidate left); stopping")
            return None
        batch = self.config.batch
        if len(available) < batch:
            say(
                f"round {index}: only {len(available)} candidates left, fewer than the batch of {batch}; "
                "labelling them all"
            )
            batch = len(available)
        X = self.pool.X[available]
        std = None
        if self.config.rule in ("uncertainty", "hybrid"):
            _, std = refit.predict(model, X)
        labelled = self._training_rows()[0] if self.labels else np.zeros((0, X.shape[1]))
        picks = select_batch(self.config.rule, X, std, labelled, batch, seed=self.config.seed * 1000 + index)
        chosen = self.pool.ids[available[picks]].tolist()
        self.rounds.append(_Round(index=index, status="selected", batch=chosen))
        self._save()
        return chosen

    def _label(self, current: _Round, oracle: Oracle, say) -> None:
        wanted = [s for s in current.batch if s not in self.labels and s not in current.failed]
        if wanted:
            answer = oracle.label(wanted)
            for site_id in wanted:
                if site_id in answer.spectra:
                    spectrum = np.asarray(answer.spectra[site_id], dtype=np.float64)
                    if spectrum.shape != (141,) or not np.all(np.isfinite(spectrum)):
                        current.failed[site_id] = f"oracle returned an unusable spectrum of shape {spectrum.shape}"
                    else:
                        self.labels[site_id] = spectrum
                else:
                    current.failed[site_id] = answer.failures.get(site_id, "oracle gave no answer")
            for site_id, reason in current.failed.items():
                if site_id in wanted:
                    say(f"round {current.index}: {site_id}: {reason}")
        current.status = "labelled"
        self._save()

    def _fit(self, current: _Round, refit: TransferRefit, heldout: HeldOut | None, say):
        available = self.candidates()
        report = RoundReport(
            round=current.index,
            chosen=len(current.batch),
            labelled=sum(s in self.labels for s in current.batch),
            failed=len(current.failed),
            labels_total=len(self.labels),
            candidates_left=len(available),
        )
        model = None
        if len(self.labels) < MIN_LABELS:
            report.message = f"only {len(self.labels)} labels so far (a refit needs {MIN_LABELS}); kept the base model"
            say(f"round {current.index}: {report.message}")
        else:
            X, y, groups = self._training_rows()
            model = refit.fit(X, y, groups)
            model.save(self.out / "models" / f"round_{current.index:03d}.npz")
        if len(available):
            report.mean_predicted_std = float(np.mean(refit.predict(model, self.pool.X[available])[1]))
        if heldout is not None:
            mean, _ = refit.predict(model, heldout.X)
            baseline = heldout.baseline if heldout.baseline is not None else heldout.y.mean(0)
            report.heldout_eta = eta(heldout.y, mean, baseline)
        current.report = asdict(report)
        current.status = "fitted"
        self._save()
        return model, report
