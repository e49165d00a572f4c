"""A model for an element with only a few simulated sites (Fe, Mn): transfer, borrowed calibration, honest figures.

The element's own sites are too few to hold any out, so each piece of a shipped model comes from elsewhere:

- **Model**: the descriptor-coded universal ensemble (element = atomic number, K-edge energy, d count),
  pretrained on every element with published spectra, then either fine-tuned on the element's sites
  (``method="tuned"``, ``tuned_desc`` of the new-element study, ``results/new_element/``) or given a ridge
  residual head fitted on them with the networks frozen (``method="head"``, ``head_desc``; better for Mn
  at ~30 sites, ``results/new_element_models/curve.md``). The analogue draws and the leave-one-material-out
  folds use the same method, so the borrowed calibration and η describe the shipped model.
- **Calibration**: fitted on *analogue* elements put through the same few-site transfer. Each analogue is
  left out of pretraining, the model is transferred (same method) to ``n`` of its rows (``n`` = the new
  element's site count; whole materials, as a campaign simulates every site of a structure), and the residuals on the
  analogue's other rows, pooled over analogues and draws, fit the per-energy scale. Its coverage is
  measured leave-one-analogue-out: fitted on the other analogues, tested on this one.
- **Domain**: the element's published feature rows (OmniXAS publishes Fe and Mn features without spectra),
  the population the analogue calibration was measured on, not the handful of training sites.
- **η**: leave-one-material-out over the element's own sites (baseline: mean of the training sites), and
  the analogues' η at the same ``n``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xasflow.constants import ELEMENTS
from xasflow.data.published import published_rows
from xasflow.data.splits import grouped_split
from xasflow.errors import XasflowError, check_element
from xasflow.evaluation.metrics import eta, per_spectrum_mse
from xasflow.models.calibration import Calibration, CoverageReport, coverage, fit_calibration
from xasflow.models.estimator import XASRegressor
from xasflow.training.config import Recipe, transfer_recipe
from xasflow.training.transfer import head_on_rows, pretrain_by_element, tune_on_rows

if TYPE_CHECKING:
    from xasflow.data.dataset import XASDataset

#: The elements with published spectra within three of Mn (25) and Fe (26) in Z, two on each side.
DEFAULT_ANALOGUES = ("V", "Cr", "Co", "Ni")
#: Fewest sites a fine-tune takes (the ensemble carves an early-stopping share from them).
MIN_SITES = 4
#: Two sites of different materials whose spectra differ by less than this MSE (×1000 units) are near-twins
#: (substitution series of one structure type): leaving one material out leaves its twin in training.
TWIN_MSE = 1e-3
#: Few-site transfer methods a new-element model can ship: fine-tuning or a ridge residual head.
METHODS = ("tuned", "head")


def transfer_to(
    base: XASRegressor,
    X: np.ndarray,
    y: np.ndarray,
    materials: np.ndarray,
    element: str,
    settings: Recipe,
    seed: int,
    method: str = "tuned",
) -> XASRegressor:
    """``base`` moved onto ``element``'s few rows by ``method``: ``tuned`` (:func:`tune_on_rows`) or ``head``
    (:func:`head_on_rows`, deterministic: ``settings`` and ``seed`` are not used)."""
    if method == "tuned":
        return tune_on_rows(base, X, y, materials, element, settings, seed)
    if method == "head":
        return head_on_rows(base, X, y, element)
    raise XasflowError(f"unknown transfer method {method!r}; choose one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class NewElementConfig:
    """Settings of :func:`build_new_element_model`."""

    element: str
    analogues: tuple[str, ...] = DEFAULT_ANALOGUES
    draws: int = 5
    settings: Recipe = field(default_factory=lambda: transfer_recipe(members=5))
    seed: int = 0
    #: Few-site transfer of the shipped model, its analogue draws and its folds: ``tuned`` or ``head``.
    method: str = "tuned"

    def __post_init__(self) -> None:
        object.__setattr__(self, "element", check_element(self.element))
        if self.method not in METHODS:
            raise XasflowError(f"unknown transfer method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.element in self.analogues:
            raise XasflowError(f"{self.element} cannot be its own analogue")
        if not self.analogues or self.draws < 1:
            raise XasflowError("need at least one analogue element and one draw")


@dataclass
class AnalogueDraw:
    """One few-site transfer on an analogue element: ``n`` rows transferred to, residuals on the rest."""

    element: str
    draw: int
    rows: int
    materials: int
    eta: float
    residual: np.ndarray = field(repr=False)
    spread: np.ndarray = field(repr=False)


@dataclass
class NewElementReport:
    """What the figures of a new-element model were measured on."""

    element: str
    sites: int
    materials: int
    loo_eta: float | None
    loo_folds: list[dict]
    analogue_eta: dict[str, list[float]]
    analogue_coverage: dict[str, tuple[float, float]]
    coverage_68: float
    coverage_95: float
    domain_rows: int
    domain_flagged: float
    #: η against the pooled held-out sites' own mean spectrum (stricter than the training mean).
    loo_eta_own_mean: float | None = None
    #: η (training mean) over the sites without a near-twin in another material (:func:`twin_free_eta`).
    loo_eta_without_twins: float | None = None
    sites_without_twins: int | None = None

    def as_dict(self) -> dict:
        return {
            "element": self.element,
            "sites": self.sites,
            "materials": self.materials,
            "leave_one_material_out_eta": None if self.loo_eta is None else round(self.loo_eta, 4),
            "leave_one_material_out_eta_own_mean": None
            if self.loo_eta_own_mean is None
            else round(self.loo_eta_own_mean, 4),
            "leave_one_material_out_eta_without_twins": None
            if self.loo_eta_without_twins is None
            else round(self.loo_eta_without_twins, 4),
            "sites_without_twins": self.sites_without_twins,
            "leave_one_material_out_folds": self.loo_folds,
            "analogue_eta": {e: [round(v, 4) for v in vals] for e, vals in self.analogue_eta.items()},
            "analogue_coverage": {
                e: [round(c68, 4), round(c95, 4)] for e, (c68, c95) in self.analogue_coverage.items()
            },
            "coverage_68": round(self.coverage_68, 4),
            "coverage_95": round(self.coverage_95, 4),
            "domain_rows": self.domain_rows,
            "domain_flagged": round(self.domain_flagged, 4),
        }


def campaign_rows(campaign: Path, element: str, reserved_dir: Path | None) -> tuple[XASDataset, np.ndarray, dict]:
    """A packaged campaign's ``{El}_FEFF_campaign.npz``, its sites' M3GNet features and its summary.

    Raises
    ------
    XasflowError
        Sites of reserved materials in the campaign, or sites whose features fail.
    """
    import json

    from xasflow.data.dataset import XASDataset
    from xasflow.data.reserved import reserved_materials
    from xasflow.features.dataset import featurize_dataset
    from xasflow.features.registry import get_featurizer

    campaign = Path(campaign)
    dataset = XASDataset.load(campaign / f"{element}_FEFF_campaign.npz")
    leaked = sorted(set(dataset.material_ids.tolist()) & set(reserved_materials(reserved_dir, element)))
    if leaked:
        raise XasflowError(f"{campaign}: {element} sites of reserved materials {', '.join(leaked)}; not trained on")
    features = featurize_dataset(dataset, campaign / element, get_featurizer("m3gnet"), progress=False)
    if not features.complete:
        raise XasflowError(f"{campaign}: features failed for {len(features.errors)} {element} sites")
    summary = json.loads((campaign / "summary.json").read_text())["elements"][element]
    return dataset, features.matrix, summary


def campaign_feff_card_set(campaign: Path, element: str, site_ids: list[str]) -> dict:
    """The FEFF card set(s) of the sites, from their markers: fingerprints, present names, sites per set."""
    from collections import Counter

    from xasflow.io.omnixas import parse_site_id
    from xasflow.simulation.feff_cards import present_name
    from xasflow.simulation.output import MARKER, read_marker, site_dir

    count: Counter = Counter()
    recorded: dict[str, str] = {}
    for site_id in site_ids:
        material, site = parse_site_id(site_id)
        marker = read_marker(site_dir(campaign, element, material, site))
        if marker is None:
            raise XasflowError(f"{campaign}: {site_id} has no {MARKER}; its FEFF card set is unknown")
        count[marker.get("fingerprint")] += 1
        recorded[marker.get("fingerprint")] = marker.get("card_set")
    prints = sorted(count, key=lambda f: -count[f])
    present = [present_name(f, recorded[f]) for f in prints]
    return {
        "name": " + ".join(present),
        "fingerprint": "+".join(prints),
        "recorded_as": " + ".join(recorded[f] for f in prints),
        "sites_by_set": {name: count[f] for name, f in zip(present, prints, strict=True)},
    }


def pretrain_published(
    published: dict[str, dict],
    exclude: tuple[str, ...],
    settings: Recipe,
    seed: int,
    cache: Path | None = None,
) -> XASRegressor:
    """Descriptor-coded universal ensemble on the published rows (:func:`published_rows` by element) not in ``exclude``.

    With ``cache`` the model is read from (or saved to) ``cache``'s ``.json``/``.npz`` pair.
    """
    if cache is not None and cache.with_suffix(".json").exists():
        return XASRegressor.load(cache.with_suffix(".json"))
    model = pretrain_by_element({e: r for e, r in published.items() if e not in exclude}, settings, seed)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        model.save(cache.with_suffix(".npz"))
    return model


def draw_materials(materials: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Mask of ``n`` rows taken whole material by whole material in a seeded random order (the last one cut)."""
    order = np.random.default_rng(seed).permutation(np.unique(materials))
    chosen = np.zeros(len(materials), dtype=bool)
    for material in order:
        rows = np.flatnonzero(materials == material)
        take = rows[: n - int(chosen.sum())]
        chosen[take] = True
        if chosen.sum() >= n:
            break
    return chosen


def analogue_draws(
    base: XASRegressor, rows: dict, element: str, n: int, config: NewElementConfig
) -> list[AnalogueDraw]:
    """``config.draws`` few-site transfers (``config.method``) of ``base`` to ``element``, ``n`` of its rows each."""
    out = []
    for d in range(config.draws):
        train = draw_materials(rows["materials"], n, config.seed + 1000 * d)
        model = transfer_to(
            base,
            rows["X"][train],
            rows["y"][train],
            rows["materials"][train],
            element,
            config.settings,
            config.seed + d,
            config.method,
        )
        # The estimator's own mean and member spread: the calibration is applied to exactly this spread.
        mean, spread = model.member_mean_std(rows["X"][~train], element)
        target = rows["y"][~train]
        out.append(
            AnalogueDraw(
                element=element,
                draw=d,
                rows=int(train.sum()),
                materials=len(np.unique(rows["materials"][train])),
                eta=eta(target, mean, rows["y"][train].mean(0)),
                residual=target - mean,
                spread=spread,
            )
        )
    return out


def borrowed_calibration(draws: list[AnalogueDraw]) -> tuple[Calibration, CoverageReport, dict]:
    """Calibration pooled over every draw; coverage leave-one-analogue-out (per analogue and overall)."""
    elements = sorted({d.element for d in draws})
    if len(elements) < 2:
        raise XasflowError("leave-one-analogue-out coverage needs at least two analogue elements")
    per_element: dict[str, tuple[float, float]] = {}
    hit68 = hit95 = total = 0.0
    for held in elements:
        fit = [d for d in draws if d.element != held]
        test = [d for d in draws if d.element == held]
        cal = fit_calibration(np.vstack([d.residual for d in fit]), np.vstack([d.spread for d in fit]))
        residual, spread = np.vstack([d.residual for d in test]), np.vstack([d.spread for d in test])
        std = cal.std(spread)
        c68, c95 = coverage(residual, std), coverage(residual, std, cal.z95)
        per_element[held] = (c68, c95)
        hit68 += c68 * residual.size
        hit95 += c95 * residual.size
        total += residual.size
    pooled = fit_calibration(np.vstack([d.residual for d in draws]), np.vstack([d.spread for d in draws]))
    rows = sum(len(d.residual) for d in draws)
    return pooled, CoverageReport(hit68 / total, hit95 / total, rows, len(elements)), per_element


def leave_one_material_out(
    base: XASRegressor,
    X: np.ndarray,
    y: np.ndarray,
    materials: np.ndarray,
    element: str,
    settings,
    seed: int,
    method: str = "tuned",
) -> tuple[float | None, list[dict], float | None]:
    """η over the element's own sites, each material predicted by a model transferred (``method``) to the others.

    Returns η against each fold's training mean, the folds, and η against the pooled held-out sites'
    own mean spectrum (the stricter baseline of an independent test set).
    """
    folds, targets, predictions, baselines = [], [], [], []
    for material in np.unique(materials):
        test = materials == material
        if (~test).sum() < MIN_SITES:
            folds.append({"material": str(material), "sites": int(test.sum()), "skipped": "too few other sites"})
            continue
        model = transfer_to(base, X[~test], y[~test], materials[~test], element, settings, seed, method)
        mean = model.predict(X[test], elements=element)
        baseline = np.broadcast_to(y[~test].mean(0), mean.shape)
        targets.append(y[test])
        predictions.append(mean)
        baselines.append(baseline)
        folds.append(
            {
                "material": str(material),
                "sites": int(test.sum()),
                "mse": [round(float(v), 6) for v in per_spectrum_mse(y[test], mean)],
                "baseline_mse": [round(float(v), 6) for v in per_spectrum_mse(y[test], baseline)],
            }
        )
    if not targets:
        return None, folds, None
    target, prediction, baseline = np.vstack(targets), np.vstack(predictions), np.vstack(baselines)
    model_mse = np.median(per_spectrum_mse(target, prediction))
    value = float(np.median(per_spectrum_mse(target, baseline)) / model_mse)
    own = np.broadcast_to(target.mean(0), target.shape)
    return value, folds, float(np.median(per_spectrum_mse(target, own)) / model_mse)


def site_errors(folds: list[dict], materials: np.ndarray, key: str = "mse") -> np.ndarray:
    """Per-site ``key`` (``mse`` or ``baseline_mse``) in the order of ``materials`` from leave-one-material-out folds.

    A fold lists its material's sites in campaign order; sites of a skipped fold are NaN.
    """
    by_material = {f["material"]: list(f.get(key, [])) for f in folds}
    out = np.full(len(materials), np.nan)
    seen: dict[str, int] = {}
    for i, material in enumerate(np.asarray(materials, str)):
        k = seen.get(material, 0)
        values = by_material.get(material, [])
        if k < len(values):
            out[i] = values[k]
        seen[material] = k + 1
    return out


def near_twins(y: np.ndarray, materials: np.ndarray, threshold: float = TWIN_MSE) -> np.ndarray:
    """Sites whose spectrum lies within MSE ``threshold`` of a site of another material."""
    y, materials = np.asarray(y, float), np.asarray(materials, str)
    distance = ((y[:, None, :] - y[None, :, :]) ** 2).mean(-1)
    distance[materials[:, None] == materials[None, :]] = np.inf
    return distance.min(1) < threshold


def twin_free_eta(
    y: np.ndarray, materials: np.ndarray, folds: list[dict], threshold: float = TWIN_MSE
) -> tuple[float | None, int]:
    """Leave-one-material-out η over the sites with no near-twin (:func:`near_twins`), and their count.

    A held-out site with a near-identical site of another material in training is predicted almost exactly,
    which says little about a structure unlike the pool; this η is the figure for those.
    """
    twins = near_twins(y, materials, threshold)
    model, baseline = site_errors(folds, materials), site_errors(folds, materials, "baseline_mse")
    keep = ~twins & np.isfinite(model)
    if not keep.any():
        return None, 0
    return float(np.median(baseline[keep]) / np.median(model[keep])), int(keep.sum())


def build_new_element_model(
    X: np.ndarray,
    y: np.ndarray,
    materials: np.ndarray,
    root: Path,
    reserved_dir: Path | None,
    config: NewElementConfig,
    cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[XASRegressor, NewElementReport]:
    """Transferred (``config.method``), analogue-calibrated model of ``config.element`` from its sites ``(X, y)``.

    ``cache``: folder for the pretrained models (reused by a rerun and by the other new element).

    Raises
    ------
    XasflowError
        Fewer than :data:`MIN_SITES` sites, an analogue without published spectra, or no published
        feature rows of the element for the domain reference.
    """
    element = config.element
    X, y, materials = np.asarray(X, float), np.asarray(y, float), np.asarray(materials, str)
    if len(X) < MIN_SITES:
        raise XasflowError(f"{element}: {len(X)} simulated sites; a model needs at least {MIN_SITES}")
    settings, seed = config.settings, config.seed
    # Read once: every pretraining and every analogue draw takes its rows from here.
    published = {e: r for e in ELEMENTS if (r := published_rows(root, e, reserved_dir)) is not None}
    missing = sorted(set(config.analogues) - set(published))
    if missing:
        raise XasflowError(f"analogue elements without published spectra: {', '.join(missing)}")

    def cached(name: str) -> Path | None:
        return None if cache is None else Path(cache) / f"{name}_s{seed}"

    log(f"{element}: pretraining on {', '.join(sorted(published))}")
    base = pretrain_published(published, (), settings, seed, cached("universal_all"))
    draws: list[AnalogueDraw] = []
    for analogue in config.analogues:
        log(f"{element}: analogue {analogue} ({config.draws} draws of {len(X)} rows)")
        analogue_base = pretrain_published(
            published, (analogue,), settings, seed, cached(f"universal_without_{analogue}")
        )
        draws += analogue_draws(analogue_base, published[analogue], analogue, len(X), config)
    calibration, report, per_analogue = borrowed_calibration(draws)

    log(f"{element}: leave-one-material-out over {len(np.unique(materials))} materials")
    loo, folds, loo_own = leave_one_material_out(base, X, y, materials, element, settings, seed, config.method)
    loo_free, n_free = twin_free_eta(y, materials, folds)
    model = transfer_to(base, X, y, materials, element, settings, seed, config.method)
    model.set_calibration(element, calibration, report)

    domain = published_rows(root, element, reserved_dir, spectra=False)
    if domain is None or len(domain["X"]) < 20:
        raise XasflowError(f"{root}: no published {element} feature rows for the out-of-domain reference")
    halves = grouped_split(domain["materials"], {"reference": 0.8, "heldout": 0.2}, seed)
    held = halves == "heldout"
    model.set_domain(element, domain["X"][~held], domain["X"][held], domain["materials"][held], seed)

    out = NewElementReport(
        element=element,
        sites=len(X),
        materials=len(np.unique(materials)),
        loo_eta=loo,
        loo_folds=folds,
        loo_eta_own_mean=loo_own,
        loo_eta_without_twins=loo_free,
        sites_without_twins=n_free,
        analogue_eta={a: [d.eta for d in draws if d.element == a] for a in config.analogues},
        analogue_coverage=per_analogue,
        coverage_68=report.coverage_68,
        coverage_95=report.coverage_95,
        domain_rows=len(domain["X"]),
        domain_flagged=float(model.domain_flag_rate_[element]),
    )
    return model, out


#: Transfer methods compared by :func:`method_curve` (names of the new-element study, ``results/new_element``).
CURVE_METHODS = ("tuned_desc", "head_desc", "ensemble")


def method_curve(
    base: XASRegressor,
    X: np.ndarray,
    y: np.ndarray,
    materials: np.ndarray,
    element: str,
    settings: Recipe,
    seed: int,
    sizes: tuple[int, ...],
    folds: int = 5,
) -> list[dict]:
    """η of each transfer method vs the number of training sites, material-grouped ``folds``-fold.

    Every fold's test materials are predicted by models fine-tuned (``tuned_desc``), ridge-corrected
    (``head_desc``) or both averaged (``ensemble``) on ``n`` sites drawn whole material by whole
    material from the other folds, for each ``n`` in ``sizes`` (capped at what the fold has; a size
    that every fold would cap, other than the largest, is left out: it would repeat the largest). The
    pooled test predictions are scored against two baselines: the mean spectrum of each fold's ``n``
    training sites (the usual η) and the mean of all test spectra (their own mean, stricter: what the
    population's average would score).

    Returns
    -------
    list of dict
        One row per ``(method, n)``: ``method``, ``sites`` (requested ``n``), ``sites_used`` (mean over
        folds), ``eta``, ``eta_own_mean``, ``folds``.
    """
    from xasflow.training.cv import fold_of

    X, y, materials = np.asarray(X, float), np.asarray(y, float), np.asarray(materials, str)
    fold = fold_of(materials, folds, salt=f"new-element-curve-{seed}")
    acc: dict[tuple[str, int], dict[str, list]] = {}
    fewest = min(((fold != k).sum() for k in range(folds) if (fold == k).any()), default=0)
    sizes = tuple(n for n in sizes if n < fewest or n == max(sizes))
    for k in range(folds):
        test = fold == k
        if not test.any() or (~test).sum() < MIN_SITES:
            continue
        Xtr, ytr, gtr = X[~test], y[~test], materials[~test]
        for n in sizes:
            n_use = min(n, len(Xtr))
            pick = draw_materials(gtr, n_use, seed + 7919 * k + n)
            tuned = tune_on_rows(base, Xtr[pick], ytr[pick], gtr[pick], element, settings, seed)
            preds = {"tuned_desc": tuned.predict(X[test], elements=element)}
            head = head_on_rows(base, Xtr[pick], ytr[pick], element)
            preds["head_desc"] = head.predict(X[test], elements=element)
            preds["ensemble"] = 0.5 * (preds["tuned_desc"] + preds["head_desc"])
            for method, pred in preds.items():
                slot = acc.setdefault((method, n), {"pred": [], "target": [], "base": [], "used": []})
                slot["pred"].append(pred)
                slot["target"].append(y[test])
                slot["base"].append(np.broadcast_to(ytr[pick].mean(0), pred.shape))
                slot["used"].append(int(pick.sum()))
    rows = []
    for (method, n), slot in acc.items():
        target, pred = np.vstack(slot["target"]), np.vstack(slot["pred"])
        model_mse = np.median(per_spectrum_mse(target, pred))
        own = np.broadcast_to(target.mean(0), target.shape)
        rows.append(
            {
                "method": method,
                "sites": n,
                "sites_used": float(np.mean(slot["used"])),
                "eta": float(np.median(per_spectrum_mse(target, np.vstack(slot["base"]))) / model_mse),
                "eta_own_mean": float(np.median(per_spectrum_mse(target, own)) / model_mse),
                "folds": len(slot["used"]),
            }
        )
    return rows
