"""xasflow: K-edge XANES of crystalline materials from structure, with transfer-learned networks.

>>> import xasflow
>>> result = xasflow.predict("Cu2O.cif", element="Cu")  # doctest: +SKIP
>>> ranking = xasflow.match("CuO.xdi", ["CuO.cif", "Cu2O.cif"], "Cu")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "match", "predict"]


def __getattr__(name: str) -> Any:
    # Lazy: importing xasflow must stay cheap (torch and matgl load only when predicting).
    if name == "predict":
        from xasflow.inference.predictor import predict

        return predict
    if name == "match":
        from xasflow.compare.matching import match

        return match
    raise AttributeError(f"module 'xasflow' has no attribute {name!r}")
