"""Where xasflow finds its data: one configurable root in the OmniXAS layout."""

from __future__ import annotations

import os
from pathlib import Path

from xasflow.errors import XasflowError

DATA_DIR_ENV = "XASFLOW_DATA_DIR"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the data root: ``data_dir`` if given, else ``$XASFLOW_DATA_DIR``.

    Raises
    ------
    XasflowError
        If neither is set or the folder does not exist.
    """
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise XasflowError(
            f"no data root: pass --data-dir or set {DATA_DIR_ENV} to a folder in the OmniXAS layout "
            "(ml_data/, material_id_and_site/, FEFF/)"
        )
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise XasflowError(f"{root}: data root does not exist or is not a folder")
    return root
