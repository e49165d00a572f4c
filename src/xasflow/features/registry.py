"""Featurizers by name: ``get_featurizer("m3gnet")`` and friends."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from xasflow.errors import XasflowError
from xasflow.features.base import SiteFeaturizer

MODELS_DIR_ENV = "XASFLOW_MODELS_DIR"

#: Registry names, the first being the default.
FEATURIZERS: tuple[str, ...] = (
    "m3gnet",
    "m3gnet-blocks",
    "m3gnet-env",
    "m3gnet-matgl",
    "m3gnet-matpes",
    "acsf",
    "soap",
)

#: Model folder of each alternative M3GNet featurizer (inside the models dir or its ``matgl-current/``).
ALTERNATIVE_WEIGHTS: dict[str, str] = {
    "m3gnet-matgl": "M3GNet-MP-2021.2.8-PES",
    "m3gnet-matpes": "M3GNet-MatPES-PBE-v2025.1-PES",
}


def resolve_model_folder(folder_name: str, models_dir: str | Path | None) -> Path:
    """``models_dir/[matgl-current/]folder_name``; ``models_dir`` defaults to ``$XASFLOW_MODELS_DIR``.

    Raises
    ------
    XasflowError
        If no models dir is given or the folder is not in it.
    """
    chosen = models_dir if models_dir is not None else os.environ.get(MODELS_DIR_ENV)
    if not chosen:
        raise XasflowError(
            f"no models dir for {folder_name}: pass --models-dir or set {MODELS_DIR_ENV} "
            f"(a folder holding {folder_name}/ or matgl-current/{folder_name}/)"
        )
    root = Path(chosen).expanduser()
    for candidate in (root / folder_name, root / "matgl-current" / folder_name):
        if (candidate / "model.json").is_file():
            return candidate
    raise XasflowError(f"{root}: no {folder_name}/ (or matgl-current/{folder_name}/) with model.json")


def get_featurizer(
    name: str = "m3gnet",
    models_dir: Path | None = None,
    *,
    species: Sequence[str] | None = None,
    num_threads: int | None = 1,
) -> SiteFeaturizer:
    """Build a featurizer.

    Parameters
    ----------
    name
        ``m3gnet`` (published weights, packaged; published convention), ``m3gnet-blocks`` (the same
        network's node features after every block, concatenated), ``m3gnet-env`` (those plus the
        neighbour-averaged last block), ``m3gnet-matgl``
        and ``m3gnet-matpes`` (matgl's current weights from ``models_dir``, stock matgl
        convention), ``acsf``, ``soap`` (dscribe, published baseline settings), or
        ``matgl:<folder or hub name>`` for any other M3GNet potential (stock convention).
    models_dir
        Folder of alternative weights (default ``$XASFLOW_MODELS_DIR``).
    species
        Elements the ACSF/SOAP descriptors cover (those of the dataset); required for them.
    num_threads
        torch threads for the M3GNet featurizers (``None``: leave torch's setting).

    Raises
    ------
    XasflowError
        Unknown name, missing weights, or ACSF/SOAP without species.
    """
    if name == "m3gnet":
        from xasflow.features.m3gnet import M3GNetFeaturizer

        return M3GNetFeaturizer(None, "destination", name=name, num_threads=num_threads)
    if name in ("m3gnet-blocks", "m3gnet-env"):
        from xasflow.features.m3gnet import M3GNetBlocksFeaturizer

        return M3GNetBlocksFeaturizer(
            None, "destination", name=name, num_threads=num_threads, neighbours=name == "m3gnet-env"
        )
    if name in ALTERNATIVE_WEIGHTS:
        from xasflow.features.m3gnet import M3GNetFeaturizer

        folder = resolve_model_folder(ALTERNATIVE_WEIGHTS[name], models_dir)
        return M3GNetFeaturizer(folder, "source", name=name, num_threads=num_threads)
    if name.startswith("matgl:"):
        from xasflow.features.m3gnet import M3GNetFeaturizer

        return M3GNetFeaturizer(name.removeprefix("matgl:"), "source", name=name, num_threads=num_threads)
    if name in ("acsf", "soap"):
        if not species:
            raise XasflowError(f"the {name} featurizer needs the species of the dataset")
        from xasflow.features.descriptors import ACSFFeaturizer, SOAPFeaturizer

        return ACSFFeaturizer(species) if name == "acsf" else SOAPFeaturizer(species)
    raise XasflowError(f"unknown featurizer {name!r}; choose one of {', '.join(FEATURIZERS)} or matgl:<model>")
