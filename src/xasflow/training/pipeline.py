"""Train every model of the paper recipe (experts, universal, tuned, cross-fidelity) for one recipe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xasflow.models.estimator import XASRegressor
from xasflow.training.config import Recipe
from xasflow.training.data import SetCatalog
from xasflow.training.modes import fine_tune, for_set, train_expert, train_universal

#: Wraps an iterable of (description, job) pairs to show progress; identity by default.
Progress = Callable[[Iterable, int, str], Iterable]


@dataclass
class TrainedModels:
    """Models keyed by (set key, model name); ``seconds`` is wall-clock per job."""

    recipe: Recipe
    models: dict[tuple[str, str], XASRegressor] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def _no_progress(items: Iterable, total: int, desc: str) -> Iterable:
    return items


def train_all(catalog: SetCatalog, recipe: Recipe, progress: Progress | None = None) -> TrainedModels:
    """Experts for every set, the FEFF universal model, and its fine-tuned copies for every set."""
    progress = progress or _no_progress
    out = TrainedModels(recipe)
    jobs: list[tuple[str, Callable[[], None]]] = []

    def expert(key: str) -> Callable[[], None]:
        def run() -> None:
            out.models[(key, "expert")] = train_expert(catalog.sets[key], recipe)

        return run

    def universal() -> None:
        model = train_universal(catalog.feff(), recipe)
        out.models[("*", "universal")] = model
        for data in catalog.feff():
            out.models[(data.key, "universal")] = for_set(model, data)

    def tuned(key: str) -> Callable[[], None]:
        def run() -> None:
            out.models[(key, "tuned")] = fine_tune(out.models[("*", "universal")], catalog.sets[key], recipe)

        return run

    jobs += [(f"expert {k}", expert(k)) for k in catalog.sets]
    if catalog.feff():
        jobs.append(("universal FEFF", universal))
        jobs += [(f"tuned {k}", tuned(k)) for k in catalog.sets]
    for desc, job in progress(jobs, len(jobs), f"{recipe.name} recipe"):
        start = time.perf_counter()
        job()
        out.seconds[desc] = time.perf_counter() - start
    return out
