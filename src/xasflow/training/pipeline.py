"""Train every model of the paper recipe (experts, universal, tuned, cross-fidelity) for one recipe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xasflow.kinds import ModelKind, tuned_kind
from xasflow.models.estimator import XASRegressor
from xasflow.training.config import Recipe
from xasflow.training.data import SetCatalog
from xasflow.training.modes import for_set
from xasflow.training.train import train

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
            out.models[(key, ModelKind.EXPERT.zoo_name)] = train(ModelKind.EXPERT, catalog.sets[key], recipe)

        return run

    def universal() -> None:
        model = train(ModelKind.UNIVERSAL, catalog.feff(), recipe)
        out.models[("*", ModelKind.UNIVERSAL.zoo_name)] = model
        for data in catalog.feff():
            out.models[(data.key, ModelKind.UNIVERSAL.zoo_name)] = for_set(model, data)

    def tuned(key: str) -> Callable[[], None]:
        def run() -> None:
            data = catalog.sets[key]
            universal = out.models[("*", ModelKind.UNIVERSAL.zoo_name)]
            out.models[(key, ModelKind.TUNED.zoo_name)] = train(tuned_kind(data.fidelity), data, recipe, base=universal)

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


@dataclass
class SelectedModels(TrainedModels):
    """Models of a per-set selection; ``defaults`` names each set's selected model."""

    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    """Command-line settings applied to every selected recipe."""

    seed: int = 0
    threads: int = 1
    members: int = 5
    max_epochs: int | None = None

    def apply(self, recipe: Recipe) -> Recipe:
        out = recipe.with_seed(self.seed).with_threads(self.threads).with_ensemble(self.members)
        return out.with_max_epochs(self.max_epochs) if self.max_epochs else out


def train_selected(
    catalog: SetCatalog,
    selection: dict,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
) -> SelectedModels:
    """Train each set's selected (mode, recipe, features), the universal model(s) the tuned ones need, and
    for every FEFF set its model card of the shared universal model.

    The universal model shipped for all FEFF sets is the one of the most-selected universal recipe.
    """
    settings = settings or RunSettings()
    progress = progress or _no_progress
    entries = selection["sets"]
    recipes = {key: settings.apply(Recipe.from_dict(e["recipe"])) for key, e in entries.items()}
    needs = [k for k, e in entries.items() if ModelKind.parse(e["mode"]) != ModelKind.EXPERT and k in catalog.sets]
    universal_recipes: dict[str, Recipe] = {}
    for key in needs:
        universal_recipes.setdefault(recipes[key].universal_key(), recipes[key])
    if not universal_recipes and catalog.feff():
        fallback = settings.apply(next(iter(recipes.values())))
        universal_recipes[fallback.universal_key()] = fallback
    counts = {u: sum(recipes[k].universal_key() == u for k in needs) for u in universal_recipes}
    shipped_key = max(counts, key=counts.get)
    out = SelectedModels(universal_recipes[shipped_key])
    universals: dict[str, XASRegressor] = {}
    jobs: list[tuple[str, Callable[[], None]]] = []

    def universal(ukey: str) -> Callable[[], None]:
        def run() -> None:
            universals[ukey] = train(ModelKind.UNIVERSAL, catalog.feff(), universal_recipes[ukey])
            if ukey == shipped_key:
                out.models[("*", ModelKind.UNIVERSAL.zoo_name)] = universals[ukey]
                for data in catalog.feff():
                    out.models[(data.key, ModelKind.UNIVERSAL.zoo_name)] = for_set(universals[ukey], data)

        return run

    def selected(key: str) -> Callable[[], None]:
        entry, recipe = entries[key], recipes[key]

        def run() -> None:
            data = catalog.for_feature(key, entry.get("feature", "m3gnet"))
            mode = ModelKind.parse(entry["mode"])
            if mode is ModelKind.EXPERT:
                out.models[(key, mode.zoo_name)] = train(mode, data, recipe)
            elif mode.fine_tuned:
                universal = universals[recipe.universal_key()]
                kind = mode if mode is ModelKind.HEAD else tuned_kind(data.fidelity)
                out.models[(key, mode.zoo_name)] = train(kind, data, recipe, base=universal)
            else:
                out.models[(key, mode.zoo_name)] = for_set(universals[recipe.universal_key()], data)
            out.defaults[key] = entry["zoo_name"]

        return run

    jobs += [(f"universal FEFF ({universal_recipes[u].name})", universal(u)) for u in universal_recipes]
    jobs += [(f"{entries[k]['mode']} {k} ({recipes[k].name})", selected(k)) for k in entries if k in catalog.sets]
    for desc, job in progress(jobs, len(jobs), "selected recipes"):
        start = time.perf_counter()
        job()
        out.seconds[desc] = time.perf_counter() - start
    return out
