"""Every figure xasflow draws: predictions, match overlays and mixtures, the paper report's charts.

Figures are written atomically; the format follows the suffix (:data:`FIGURE_SUFFIXES`).
"""

from __future__ import annotations

from pathlib import Path

from xasflow.errors import XasflowError
from xasflow.fileio import atomic_path

#: Formats a figure can be written in (by the output's suffix).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def figure_format(path: str | Path) -> str:
    """The format of ``path`` by its suffix; ``XasflowError`` for one we cannot write."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise XasflowError(f"{path}: a figure must end in {', '.join(FIGURE_SUFFIXES)}")
    return path.suffix.lower().lstrip(".")


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path, dpi: int, fmt: str | None = None) -> None:
    """Write ``fig`` to ``path`` atomically (format: ``fmt`` or the suffix) and close it."""
    path = Path(path)
    fmt = fmt or figure_format(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)
    pyplot().close(fig)
