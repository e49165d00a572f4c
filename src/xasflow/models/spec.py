"""What a model is, as opposed to how it is trained: the set it predicts, its kind and its features.

:class:`ModelSpec` is the metadata of an :class:`~xasflow.models.estimator.XASRegressor` (its ``spec``
parameter), kept apart from the hyperparameters: the model card records it in its own ``spec`` section.
Change it with :meth:`XASRegressor.with_spec <xasflow.models.estimator.XASRegressor.with_spec>`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from xasflow.errors import XasflowError, check_element, check_fidelity
from xasflow.kinds import ModelKind

__all__ = ["FeaturizerSpec", "ModelSpec"]


@dataclass(frozen=True)
class FeaturizerSpec:
    """Which site features a model takes: registry name, version string and construction parameters.

    ``version`` must equal the ``version`` attribute of the featurizer built from ``name`` and ``params``
    (checked before a structure is predicted).
    """

    name: str = "m3gnet"
    version: str = "unknown"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """The set a model predicts, how it was trained and which features it takes (not hyperparameters).

    Validated and normalised on construction (``fidelity`` upper-cased, ``kind`` the plain string).

    Parameters
    ----------
    element
        The element the model predicts by default; ``None`` for an unlabelled universal model
        (a conditioned model then needs the element of each row).
    fidelity
        ``FEFF`` or ``VASP``: the simulation the model's spectra follow.
    kind
        How the model was trained, a :class:`~xasflow.kinds.ModelKind` (or its name).
    featurizer
        The features the model takes; ``None``: the published M3GNet rows
        (:attr:`XASRegressor.featurizer_spec <xasflow.models.estimator.XASRegressor.featurizer_spec>`).

    Raises
    ------
    XasflowError
        An unsupported element or fidelity, or an unknown kind.

    Examples
    --------
    >>> ModelSpec("Cu", kind="tuned")
    ModelSpec(element='Cu', fidelity='FEFF', kind='tuned', featurizer=None)
    """

    element: str | None = None
    fidelity: str = "FEFF"
    kind: str = ModelKind.EXPERT.value
    featurizer: FeaturizerSpec | None = None

    def __post_init__(self) -> None:
        if self.element is not None:
            check_element(self.element)
        object.__setattr__(self, "fidelity", check_fidelity(self.fidelity))
        object.__setattr__(self, "kind", ModelKind.parse(self.kind).value)
        if self.featurizer is not None and not isinstance(self.featurizer, FeaturizerSpec):
            raise XasflowError(f"featurizer must be a FeaturizerSpec, got {type(self.featurizer).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``featurizer`` as a dict or ``None``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        XasflowError
            Not a dict, unknown entries, or invalid values.
        """
        if not isinstance(data, dict):
            raise XasflowError(f"model spec must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise XasflowError(f"unknown model spec entries {', '.join(unknown)}")
        featurizer = data.get("featurizer")
        if isinstance(featurizer, dict):
            try:
                featurizer = FeaturizerSpec(**featurizer)
            except TypeError as exc:
                raise XasflowError(f"model spec featurizer is malformed ({exc})") from exc
        return cls(**{**data, "featurizer": featurizer})
