"""Write trained models as a zoo: one folder per set with a model card per model, plus an index."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xasflow import __version__
from xasflow.errors import XasflowError
from xasflow.kinds import ZOO_NAMES, ModelKind
from xasflow.models.estimator import XASRegressor
from xasflow.portable import portable
from xasflow.training.data import SetCatalog
from xasflow.training.modes import evaluate
from xasflow.training.pipeline import TrainedModels
from xasflow.zoo.registry import INDEX_NAME

UNIVERSAL = ModelKind.UNIVERSAL.zoo_name
UNIVERSAL_FILE = "universal_FEFF.npz"


def set_metrics(model: XASRegressor, catalog: SetCatalog, key: str) -> dict[str, Any]:
    """η on the set's evaluation rows, and the calibration/domain figures measured on those rows."""
    data = catalog.for_feature(key, model.featurizer_spec.name)
    evaluation, _ = evaluate(model, data, "eval")
    _, report = model.calibration_[data.element]
    return {
        "protocol": data.protocol,
        "evaluation": {k: round(v, 6) if isinstance(v, float) else v for k, v in evaluation.as_dict().items()},
        "baseline": "mean training spectrum of the set",
        "coverage_68": round(report.coverage_68, 4),
        "coverage_95": round(report.coverage_95, 4),
        "ood_flagged": round(float(model.domain_flag_rate_.get(data.element, float("nan"))), 4),
        "uncertainty_protocol": "cross-fitted over material-grouped halves of the evaluation rows",
    }


def write_zoo(
    catalog: SetCatalog,
    trained: TrainedModels,
    out_dir: Path,
    dtype: str = "float16",
    provenance: str = "",
    names: tuple[str, ...] = ZOO_NAMES,
    keep_all: bool = False,
    defaults: dict[str, str] | None = None,
    selection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the trained models of ``trained`` into ``out_dir`` (replaced only once complete).

    The default model of each set is ``defaults[key]`` (a cross-validated selection) or else the one of
    ``names`` with the best η on the set's evaluation subset; each set ships its default and a model card of the
    shared universal model (``keep_all``: every candidate). ``selection`` (the per-set records of a
    selection file) is copied into each set's index entry.
    """
    index: dict[str, Any] = {
        "format": "xasflow-zoo",
        "xasflow_version": __version__,
        "recipe": trained.recipe.name,
        "storage_dtype": dtype,
        "provenance": provenance,
        "features_only": sorted(catalog.features_only),
        "default_rule": "cross-validated selection" if defaults else "best η on the evaluation subset",
        "sets": {},
    }
    with _staged_zoo(out_dir, index) as staging:
        universal = trained.models.get(("*", UNIVERSAL))
        if universal is not None and UNIVERSAL in names:
            universal.save(staging / UNIVERSAL_FILE, dtype=dtype)
        for key in catalog.sets:
            folder = staging / key
            folder.mkdir()
            candidates = {name: trained.models[(key, name)] for name in names if (key, name) in trained.models}
            if not candidates:  # e.g. a selection file that does not name this set
                folder.rmdir()
                continue
            metrics = {name: set_metrics(model, catalog, key) for name, model in candidates.items()}
            eta = {name: m["evaluation"]["eta"] for name, m in metrics.items()}
            default = defaults[key] if defaults and key in defaults else max(eta, key=eta.get)
            # Weights cost space; a set ships its default and the (shared) universal model.
            shipped = [n for n in candidates if n == default or (n == UNIVERSAL and universal is not None)]
            if keep_all:
                shipped = list(candidates)
            entry: dict[str, Any] = {"models": [], "eta": {}, "coverage_68": {}, "coverage_95": {}, "default": default}
            entry["candidates_eta"] = eta
            if selection and key in selection:
                record = selection[key]
                entry["selection"] = {k: record[k] for k in ("mode", "candidate", "feature", "cv") if k in record}
            for name in shipped:
                _ship(candidates[name], folder, name, metrics[name], entry, dtype, universal is not None)
                entry["models"].append(name)
            index["sets"][key] = entry
    return index


def _ship(
    model: XASRegressor,
    folder: Path,
    name: str,
    metrics: dict[str, Any],
    entry: dict[str, Any],
    dtype: str,
    shared_universal: bool,
) -> None:
    """Save ``model`` as ``folder/{name}`` with its metrics and record them in the set's index ``entry``."""
    model.set_provenance(metrics=metrics)
    if name == UNIVERSAL and shared_universal:
        # The universal weights are stored once; each set's model card points at them.
        model.save(folder / "universal.json", dtype=dtype, weights_file=f"../{UNIVERSAL_FILE}")
    else:
        model.save(folder / f"{name}.npz", dtype=dtype)
    entry["eta"][name] = metrics["evaluation"]["eta"]
    entry["coverage_68"][name] = metrics["coverage_68"]
    entry["coverage_95"][name] = metrics["coverage_95"]


def feature_variants(records: dict[str, dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Per set, the feature matrices other than the published ones that its selection record names.

    ``records``: the ``sets`` of a selection file, or ``zoo_selection(index)`` of a zoo.
    """
    return {key: (r["feature"],) for key, r in records.items() if r.get("feature", "m3gnet") != "m3gnet"}


def zoo_selection(index: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The selection record each set of a zoo index was built from (empty for sets without one)."""
    return {key: entry.get("selection", {}) for key, entry in index["sets"].items()}


def recalibrate_zoo(catalog: SetCatalog, zoo: Path, out_dir: Path, provenance: str = "") -> dict[str, Any]:
    """Refit the calibration and domain thresholds of every model of ``zoo`` on its set's evaluation rows.

    Weights are unchanged (the members are not retrained); model cards, metrics and the index are rewritten into
    ``out_dir`` (which may be ``zoo`` itself: it is replaced only once complete).
    """
    from xasflow.training.modes import calibrate_on_eval
    from xasflow.zoo.registry import load_model, read_index

    index = read_index(zoo)
    with _staged_zoo(out_dir, index, copy_of=zoo) as staging:
        universal_card = zoo / "universal_FEFF.json"
        if universal_card.exists():
            universal = XASRegressor.load(universal_card)
            calibrate_on_eval(universal, catalog.feff())
            universal.save(staging / UNIVERSAL_FILE, dtype=index["storage_dtype"])
        for key, entry in index["sets"].items():
            element, fidelity = key.split("_")
            for name in entry["models"]:
                model = load_model(element, fidelity, name, root=zoo)
                calibrate_on_eval(model, [catalog.for_feature(key, model.featurizer_spec.name)])
                metrics = set_metrics(model, catalog, key)
                _ship(model, staging / key, name, metrics, entry, index["storage_dtype"], universal_card.exists())
        index["recalibrated"] = provenance
    return index


def add_new_element_set(
    zoo: Path, model: XASRegressor, metrics: dict[str, Any], provenance: str = ""
) -> dict[str, Any]:
    """Add (or replace) the set of a new-element model (:mod:`xasflow.training.new_element`) in ``zoo``.

    The model (``tuned`` or ``head``, its zoo name) becomes the set's only model and default: the set's
    folder is rewritten, so a previous default of another name is removed. The element leaves the index's
    ``features_only`` list; the rest of the zoo is copied unchanged and the zoo is replaced only once complete.
    """
    from xasflow.zoo.registry import read_index

    element, fidelity = model.element, model.fidelity
    if element is None or not model.is_calibrated:
        raise XasflowError("a new-element set needs a calibrated single-element model")
    key = f"{element}_{fidelity}"
    index = read_index(zoo)
    with _staged_zoo(zoo, index, copy_of=zoo) as staging:
        shutil.rmtree(staging / key, ignore_errors=True)
        (staging / key).mkdir()
        entry: dict[str, Any] = {"models": [], "eta": {}, "coverage_68": {}, "coverage_95": {}, "default": model.name}
        keys = ("sites", "materials", "card_set", "transfer", "method")
        entry["new_element"] = {k: metrics[k] for k in keys if k in metrics}
        _ship(model, staging / key, model.name, metrics, entry, index["storage_dtype"], shared_universal=False)
        entry["models"].append(model.name)
        index["sets"][key] = entry
        index["features_only"] = [k for k in index.get("features_only", []) if k != key]
        index.setdefault("new_element_sets", {})[key] = provenance
    return index


def replace_set_model(
    zoo: Path, key: str, model: XASRegressor, metrics: dict[str, Any], command: str
) -> dict[str, Any]:
    """Replace one set's shipped model in ``zoo`` by ``model`` (retrained on changed data), under the same name.

    The set's index entry gets the new η and coverage, and ``command`` is appended to the index's
    ``retrained`` list; the rest of the zoo is copied unchanged and replaced only once complete.
    """
    from xasflow.zoo.registry import read_index

    index = read_index(zoo)
    entry = index["sets"][key]
    name = entry["default"]
    with _staged_zoo(zoo, index, copy_of=zoo) as staging:
        _ship(model, staging / key, name, metrics, entry, index["storage_dtype"], shared_universal=False)
        entry.setdefault("candidates_eta", {})[name] = metrics["evaluation"]["eta"]
        index.setdefault("retrained", []).append(command)
    return index


@contextmanager
def _staged_zoo(out_dir: Path, index: dict[str, Any], copy_of: Path | None = None) -> Iterator[Path]:
    """A staging folder beside ``out_dir`` (a copy of ``copy_of``) for the block to fill.

    When the block succeeds, ``index`` (as the block left it) is written into it and it replaces
    ``out_dir``; on any error it is removed and ``out_dir`` is untouched.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if copy_of is not None:
            shutil.copytree(copy_of, staging, dirs_exist_ok=True)
        yield staging
        (staging / INDEX_NAME).write_text(json.dumps(portable(index), indent=2, sort_keys=True) + "\n")
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by ``staging`` (the old zoo survives until the new one is complete)."""
    if out_dir.exists():
        if not (out_dir / INDEX_NAME).exists() and any(out_dir.iterdir()):
            raise XasflowError(f"{out_dir}: exists and is not a model zoo; refusing to replace it")
        backup = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        out_dir.rename(backup)
        staging.rename(out_dir)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        staging.rename(out_dir)


def zoo_size(out_dir: Path) -> int:
    """Total bytes of a zoo folder."""
    return sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file())
