"""xasflow: K-edge XANES of crystalline materials from structure, with transfer-learned networks."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
