"""The shipped model zoo: lookup of (element, fidelity, name) → a verified :class:`XASRegressor`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from xasflow.data.pools import MINERALS
from xasflow.errors import XasflowError, check_element, check_fidelity
from xasflow.models.estimator import XASRegressor

#: Environment variable pointing at an alternative zoo folder (e.g. one rebuilt with ``xasflow zoo build``).
ZOO_DIR_ENV = "XASFLOW_ZOO_DIR"
INDEX_NAME = "index.json"


def packaged_zoo_dir() -> Path:
    """The zoo shipped inside the package."""
    return Path(__file__).resolve().parent / "models"


def zoo_dir(path: str | Path | None = None) -> Path:
    """``path``, else ``$XASFLOW_ZOO_DIR``, else the packaged zoo."""
    chosen = path if path is not None else os.environ.get(ZOO_DIR_ENV)
    return Path(chosen) if chosen else packaged_zoo_dir()


def read_index(root: str | Path | None = None) -> dict[str, Any]:
    """The zoo index: per set its default model, model names and validation metrics."""
    path = zoo_dir(root) / INDEX_NAME
    if not path.is_file():
        raise XasflowError(f"{path}: no model zoo here (build one with `xasflow zoo build --data-dir DIR`)")
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise XasflowError(f"{path}: unreadable zoo index ({exc})") from exc
    if index.get("format") != "xasflow-zoo":
        raise XasflowError(f"{path}: not an xasflow zoo index")
    return index


def available_models(root: str | Path | None = None) -> list[tuple[str, str, str]]:
    """Every (element, fidelity, name) in the zoo."""
    index = read_index(root)
    out = []
    for key, entry in sorted(index["sets"].items()):
        element, fidelity = key.split("_")
        out += [(element, fidelity, name) for name in entry["models"]]
    return out


def card_path(element: str, fidelity: str = "FEFF", name: str | None = None, root: str | Path | None = None) -> Path:
    """Path of a model card; ``name=None`` is the set's default (best validation η)."""
    element = check_element(element)
    fidelity = check_fidelity(fidelity)
    index = read_index(root)
    key = f"{element}_{fidelity}"
    entry = index["sets"].get(key)
    if entry is None:
        if key in index.get("features_only", []):
            raise XasflowError(
                f"no model for {element} {fidelity}: the published data has features but no spectra for it, "
                "so no model could be trained or validated"
            )
        sets = ", ".join(k.replace("_", " ") for k in sorted(index["sets"]))
        raise XasflowError(
            f"no model for {element} {fidelity}: no training data for this set (models exist for {sets})"
        )
    chosen = name or entry["default"]
    if chosen not in entry["models"]:
        raise XasflowError(f"{element} {fidelity} has no model {chosen!r}; choose one of {', '.join(entry['models'])}")
    return zoo_dir(root) / key / f"{chosen}.json"


def load_model(
    element: str, fidelity: str = "FEFF", name: str | None = None, root: str | Path | None = None
) -> XASRegressor:
    """A zoo model, checksum-verified.

    Parameters
    ----------
    name
        ``expert``, ``universal``, ``tuned`` or ``head``; ``None`` picks the set's default.

    Raises
    ------
    XasflowError
        The set has no model (e.g. Fe/Mn FEFF, V VASP), unknown name, or weights failing the checksum.
    """
    return XASRegressor.load(card_path(element, fidelity, name, root))


def load_model_on(element: str, fidelity: str, featurizer: str, root: str | Path | None = None) -> XASRegressor:
    """The set's model trained on ``featurizer`` features: its default if it is, else the first such model.

    Raises
    ------
    XasflowError
        No model of the set reads those features.
    """
    element, fidelity = check_element(element), check_fidelity(fidelity)
    entry = read_index(root)["sets"].get(f"{element}_{fidelity}")
    if entry is None:
        return load_model(element, fidelity, root=root)  # its message says why there is no model
    names = [entry["default"], *(n for n in entry["models"] if n != entry["default"])]
    for name in names:
        model = load_model(element, fidelity, name, root=root)
        if model.featurizer_spec.name == featurizer:
            return model
    raise XasflowError(f"no {element} {fidelity} model reads {featurizer} features (models: {', '.join(names)})")


def quality_note(element: str, fidelity: str = "FEFF", name: str | None = None, root: str | Path | None = None) -> str:
    """One line on what a model of a new-element set (Fe, Mn) was trained on and how well it did.

    Empty for sets trained on published spectra (their quality is in the zoo index and the README).
    """
    try:
        model_card = json.loads(card_path(element, fidelity, name, root).read_text())
    except (XasflowError, OSError, ValueError):
        return ""
    metrics = model_card.get("metrics", {})
    if "sites" not in metrics or "materials" not in metrics:
        return ""
    report = metrics.get("report", {})
    eta = report.get("leave_one_material_out_eta", metrics.get("evaluation", {}).get("eta"))
    own = report.get("leave_one_material_out_eta_own_mean")
    free, n_free = report.get("leave_one_material_out_eta_without_twins"), report.get("sites_without_twins")
    feff_card_set = metrics.get("card_set", {}).get("name", "?")
    figures = "η not measured" if eta is None else f"leave-one-material-out η {eta:.2f} vs the training mean"
    if own is not None:
        figures += f", {own:.2f} vs the held-out sites' own mean"
    if free is not None:
        # Near-twins (substitution series) flatter the figure for structures unlike the simulated pool.
        figures += f"; {free:.2f} on the {n_free} sites with no near-identical site in another material"
    pools = (model_card.get("data", {}).get(f"{element}_{fidelity}") or {}).get("sites_by_pool") or {}
    minerals = pools.get(MINERALS, 0)
    of_them = f"{minerals} of them minerals; " if minerals else ""
    return (
        f"the {element} {fidelity} model ({model_card.get('kind', name)}) is trained on "
        f"{metrics['sites']} simulated sites of {metrics['materials']} materials ({of_them}FEFF10 {feff_card_set} "
        f"cards); {figures}: screening quality"
    )
