"""The kinds of model xasflow trains and ships: the one place their names are spelled.

A kind says how a model was trained; its *zoo name* is the file it ships as within a set (a VASP set's
fine-tuned model is a ``cross-fidelity`` model shipped as ``tuned``). Training a kind is registered in
:mod:`xasflow.training.train`; adding a kind is a member here and one trainer module registered there.
"""

from __future__ import annotations

from enum import StrEnum

from xasflow.errors import XasflowError


class ModelKind(StrEnum):
    """How a model was trained (recorded in its model card as the plain string)."""

    #: An ensemble trained from scratch on one set.
    EXPERT = "expert"
    #: One ensemble over every FEFF set (element-conditioned or not).
    UNIVERSAL = "universal"
    #: The universal model fine-tuned on one FEFF set.
    TUNED = "tuned"
    #: The FEFF universal model fine-tuned on a VASP set.
    CROSS_FIDELITY = "cross-fidelity"
    #: The universal model with a ridge residual head fitted on one set's rows (networks frozen).
    HEAD = "head"

    @property
    def zoo_name(self) -> str:
        """The model's name within its set in the zoo."""
        return ModelKind.TUNED.value if self is ModelKind.CROSS_FIDELITY else self.value

    @property
    def fine_tuned(self) -> bool:
        """Trained from the universal model's weights (``train`` needs ``base=``)."""
        return self in (ModelKind.TUNED, ModelKind.CROSS_FIDELITY, ModelKind.HEAD)

    @classmethod
    def parse(cls, name: str | ModelKind) -> ModelKind:
        """The kind called ``name``.

        Raises
        ------
        XasflowError
            An unknown name (the message lists the kinds).
        """
        try:
            return cls(name)
        except ValueError:
            choices = ", ".join(k.value for k in cls)
            raise XasflowError(f"unknown model kind {name!r}; choose one of {choices}") from None


def tuned_kind(fidelity: str) -> ModelKind:
    """The fine-tuned kind of a set of ``fidelity``: ``cross-fidelity`` for VASP, else ``tuned``."""
    return ModelKind.CROSS_FIDELITY if fidelity == "VASP" else ModelKind.TUNED


#: The names a set's models ship under in the zoo.
ZOO_NAMES: tuple[str, ...] = tuple(dict.fromkeys(k.zoo_name for k in ModelKind))
