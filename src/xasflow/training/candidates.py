"""Candidate recipes of the cross-validated selection; the published recipe is always one of them.

A candidate is a full :class:`~xasflow.training.config.Recipe` (training from scratch + fine-tuning). Names
are ``TRAIN`` or ``TRAIN|TUNE``: the ``TUNE`` suffix swaps only the fine-tuning settings, so candidates with
the same ``TRAIN`` part share their universal model (``Recipe.universal_key``).
"""

from __future__ import annotations

from dataclasses import replace

from xasflow.errors import XasflowError
from xasflow.training.config import IMPROVED, REFERENCE, Recipe

#: Always a candidate: the selection can then never choose something that loses to it in CV.
PUBLISHED = "reference"


def _train(base: Recipe, name: str, head: str = "direct", **train) -> Recipe:
    return replace(base, name=name, head=head, train=replace(base.train, **train))


#: Training-from-scratch candidates (used by expert and universal; fine-tuning as in the base recipe).
TRAIN_CANDIDATES: dict[str, Recipe] = {
    c.name: c
    for c in (
        REFERENCE,
        IMPROVED,
        _train(REFERENCE, "reference-residual", head="residual"),
        _train(IMPROVED, "residual", head="residual"),
        _train(IMPROVED, "pca", head="pca"),
        _train(IMPROVED, "pca-deriv", head="pca", deriv_weight=1.0),
        _train(IMPROVED, "residual-noise", head="residual", input_noise=0.1),
        _train(IMPROVED, "pca-noise", head="pca", input_noise=0.1),
        _train(IMPROVED, "residual-noise0.2", head="residual", input_noise=0.2),
        _train(IMPROVED, "residual-noise-logmse", head="residual", input_noise=0.1, loss="logmse"),
        _train(IMPROVED, "residual-cosine", head="residual", schedule="cosine", max_epochs=200),
        replace(_train(IMPROVED, "residual-d0.3", head="residual", weight_decay=1e-3), dropout=0.3),
    )
}

#: Fine-tuning variants ``|NAME`` applied on top of a training candidate (only tuned / cross-fidelity use them).
TUNE_VARIANTS: dict[str, dict] = {
    # the published fine-tuning: same optimiser as training, BatchNorm statistics updated
    "ref-tune": {"tune": {"lr": 1e-3, "batch_size": 128, "patience": 30, "weight_decay": 0.0, "schedule": "none"}},
    # lr 2e-4, frozen BatchNorm statistics, first hidden block frozen
    "freeze1": {"tune": {"freeze_layers": 1}},
    # lr 2e-4, frozen BatchNorm, only the last hidden block and the output trained
    "top": {"tune": {"freeze_layers": 2}},
    # re-centre a residual/PCA head on the set's mean spectrum before fine-tuning (cross-fidelity)
    "recentre": {"refit_offset": True},
    "recentre-ref-tune": {
        "refit_offset": True,
        "tune": {"lr": 1e-3, "batch_size": 128, "patience": 30, "weight_decay": 0.0, "schedule": "none"},
    },
}


def get_candidate(name: str) -> Recipe:
    """The recipe of candidate ``TRAIN`` or ``TRAIN|TUNE``.

    Raises
    ------
    XasflowError
        Unknown training candidate or fine-tuning variant.
    """
    train_name, _, tune_name = name.partition("|")
    if train_name not in TRAIN_CANDIDATES:
        raise XasflowError(f"unknown candidate {train_name!r}; choose from {', '.join(TRAIN_CANDIDATES)}")
    recipe = TRAIN_CANDIDATES[train_name]
    if not tune_name:
        return recipe
    if tune_name not in TUNE_VARIANTS:
        raise XasflowError(f"unknown fine-tuning variant {tune_name!r}; choose from {', '.join(TUNE_VARIANTS)}")
    variant = dict(TUNE_VARIANTS[tune_name])
    tune = replace(recipe.tune, **variant.pop("tune", {}))
    return replace(recipe, name=name, tune=tune, **variant)


def candidate_names(names: str | None) -> list[str]:
    """Comma-separated candidate names (default: every training candidate), published recipe always first."""
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else list(TRAIN_CANDIDATES)
    for name in chosen:
        get_candidate(name)
    return [PUBLISHED] + [n for n in chosen if n != PUBLISHED]
