"""The ``head`` kind: the universal model with a ridge residual head fitted on one set's rows.

Registered for :attr:`~xasflow.kinds.ModelKind.HEAD`; train through :func:`xasflow.training.train.train`
with ``base=`` the universal model. The networks stay frozen; the head
(:meth:`~xasflow.models.estimator.XASRegressor.fit_residual_head`) is fitted on the set's fitting and
early-stopping rows together (its penalty is chosen by generalised cross-validation, so it needs no
early-stopping rows of its own), and the model is calibrated on the set's evaluation rows, as a tuned
model is (:mod:`xasflow.training.modes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from xasflow.errors import XasflowError
from xasflow.kinds import ModelKind
from xasflow.models.estimator import XASRegressor
from xasflow.models.provenance import Provenance
from xasflow.training.config import Recipe
from xasflow.training.data import SetData
from xasflow.training.modes import _pooled, _provenance, calibrate_on_eval
from xasflow.training.train import register
from xasflow.training.transfer import head_on_rows


@register(ModelKind.HEAD)
def _head(sets: Sequence[SetData], recipe: Recipe, base: XASRegressor | None = None) -> XASRegressor:
    if len(sets) != 1 or base is None:
        raise XasflowError("a residual head takes one set and the universal model")
    return fit_head_on_set(base, sets[0], recipe)


def fit_head_on_set(universal: XASRegressor, data: SetData, recipe: Recipe) -> XASRegressor:
    """A copy of ``universal`` with a residual head for ``data``'s element, labelled with the set, calibrated.

    Raises
    ------
    XasflowError
        A universal model that was not trained on the set's element.
    """
    if universal.conditioning and data.element not in universal.conditioning:
        raise XasflowError(f"the universal model was not trained on {data.element}; cannot fit a head for it")
    pool = _pooled(data)
    model = head_on_rows(universal, pool.X, pool.y, data.element)  # a copy: the universal model is untouched
    model.with_spec(fidelity=data.fidelity)
    model.set_provenance(Provenance(pretraining={"data": universal.provenance_.data, "kind": "universal FEFF"}))
    _provenance(model, [data], recipe)
    return calibrate_on_eval(model, [data], recipe.tune.seed)
