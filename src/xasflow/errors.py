"""Errors that the CLI reports as one line, without a traceback."""

from __future__ import annotations


class XasflowError(Exception):
    """A problem with the user's input or environment (not a bug)."""


class InputError(XasflowError):
    """One input file or value is unusable; others may still be processed."""

    def __init__(self, source: object, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = str(source)
        self.message = message


def check_element(element: str) -> str:
    """Return ``element`` if it is a supported 3d metal, else raise ``XasflowError``."""
    from xasflow.constants import ELEMENTS

    if element not in ELEMENTS:
        raise XasflowError(f"element {element!r} is not supported; choose one of {', '.join(ELEMENTS)}")
    return element


def check_fidelity(fidelity: str) -> str:
    """Return the canonical fidelity name (``FEFF`` or ``VASP``)."""
    from xasflow.constants import FIDELITIES

    canonical = fidelity.upper()
    if canonical not in FIDELITIES:
        raise XasflowError(f"fidelity {fidelity!r} is not supported; choose FEFF or VASP")
    return canonical
