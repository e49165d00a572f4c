"""Development-set evaluation of ``xasflow match``: rank every measured reference spectrum, per variant.

Dev script (reads ../shared): for each measured spectrum in ``shared/data/experiment/{Cu,Cr}``,
rank the candidate structures of its element in ``src/xasflow/examples/reference`` with the
default settings and with each variant of ``VARIANTS`` (similarity, broadening, shift range,
scale range, comparison window, energy reference), and write to ``results/experiment/``: one
ranking CSV and overlay PNG per spectrum (default settings), ``summary.md`` (top-1 count per
variant, the rank of the own compound per spectrum and variant, the own-compound shift measured
with a wide ±20 eV range, and an upper bound: the ranking when the measurement is replaced by
the true compound's own prediction perturbed within its calibrated std).

Run: ``python scripts/rank_experiment.py [--shared ../shared] [--out results/experiment]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "src" / "xasflow" / "examples" / "reference"

#: Measured file -> the reference CIF of its compound (from shared/data/experiment/README.md).
TRUTH = {
    "Cu/cu_metal_rt.xdi": "Cu_metal",
    "Cu/Cu_Foil_rt_2016Foils.xdi": "Cu_metal",
    "Cu/CuO_tenorite_13K_01.xdi": "CuO_tenorite",
    "Cu/CuS_covellite_13K_01.xdi": "CuS_covellite",
    "Cu/Cu2S_13K_01.xdi": "Cu2S_chalcocite",
    "Cu/Cu_azurite_13K_01.xdi": "azurite_Cu3C2H2O8",
    "Cr/cr2o3_rt_001.xdi": "Cr2O3_eskolaite",
    "Cr/cro2_rt_001.xdi": "CrO2",
    "Cr/k2cr2o7_rt_001.xdi": "K2Cr2O7",
    "Cr/k2cro4_rt_001.xdi": "K2CrO4_tarapacaite",
    "Cr/na2cro4_rt_001.xdi": "Na2CrO4",
    "Cr/cr2s3_rt_001.xdi": "Cr2S3",
}

#: Si(111) intrinsic resolution ΔE/E (the Cu scans used Si(220), finer; 1.4e-4 is the coarser bound).
MONO_RESOLUTION = 1.4e-4
FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _tabulated_sigma(element: str, core_hole: bool) -> float:
    """Gaussian σ (eV) of the experimental resolution, optionally with the K-hole width added in quadrature.

    FEFF already includes the core-hole lifetime in its self-energy, so the physically expected
    extra broadening is the resolution alone; the ``core_hole`` variant double-counts it on purpose
    (to see whether the model's spectra are too sharp by about one core-hole width).
    """
    import xraydb

    edge = xraydb.xray_edge(element, "K").energy
    width = (MONO_RESOLUTION * edge) ** 2 + (xraydb.core_width(element, "K") ** 2 if core_hole else 0.0)
    return float(np.sqrt(width) / FWHM)


def variants() -> dict[str, tuple[str, str, Callable]]:
    """name -> (description, metric, config(element, foil_offset) -> AlignConfig)."""
    from xasflow.compare import AlignConfig

    def plain(**kw):
        return lambda element, foil: AlignConfig(**kw)

    return {
        "rfactor": (
            "R-factor, shift ±3 eV around the default offset, σ fitted 0–3 eV, scale 0.5–2",
            "rfactor",
            plain(),
        ),
        "pearson": ("Pearson correlation (shape only)", "pearson", plain()),
        "cosine": ("cosine similarity", "cosine", plain()),
        "dpearson": ("Pearson of the first derivatives", "dpearson", plain()),
        "likelihood": (
            "σ-weighted: Gaussian likelihood, variance = calibrated std² + profiled floor τ², fit and rank",
            "likelihood",
            plain(weighted=True),
        ),
        "rfactor, σ = resolution": (
            "σ fixed to the Si(111) resolution (FEFF already holds the core-hole width)",
            "rfactor",
            lambda element, foil: AlignConfig(sigma=_tabulated_sigma(element, False)),
        ),
        "rfactor, σ = resolution ⊕ Γ_K": (
            "σ fixed to resolution and Krause–Oliver K width in quadrature",
            "rfactor",
            lambda element, foil: AlignConfig(sigma=_tabulated_sigma(element, True)),
        ),
        "likelihood, σ = resolution": (
            "σ-weighted, σ fixed to the resolution",
            "likelihood",
            lambda element, foil: AlignConfig(sigma=_tabulated_sigma(element, False), weighted=True),
        ),
        "rfactor, scale 0.9–1.1": (
            "scale bounded to ±10 % (both on an edge-step scale)",
            "rfactor",
            plain(scale_bounds=(0.9, 1.1)),
        ),
        "likelihood, scale 0.9–1.1": (
            "σ-weighted, scale bounded to ±10 %",
            "likelihood",
            plain(scale_bounds=(0.9, 1.1), weighted=True),
        ),
        "rfactor, window from +3 eV": (
            "compare from 3 eV above the grid start (pre-edge out)",
            "rfactor",
            plain(window_start=3.0),
        ),
        "rfactor, window from +6 eV": ("compare from 6 eV above the grid start", "rfactor", plain(window_start=6.0)),
        "likelihood, window from +3 eV": (
            "σ-weighted, from 3 eV above the grid start",
            "likelihood",
            plain(window_start=3.0, weighted=True),
        ),
        "rfactor, shift ±1.5 eV": ("shift range halved", "rfactor", plain(shift_bound=1.5)),
        "rfactor, foil offset": (
            "shift ±3 eV around the offset measured on metal foils: the scan's own reference channel "
            "(when the metal prediction fits it, R < 0.02), else the median over the element's foils",
            "rfactor",
            lambda element, foil: AlignConfig(offset=foil),
        ),
        "likelihood, foil offset": (
            "σ-weighted, foil offset",
            "likelihood",
            lambda element, foil: AlignConfig(offset=foil, weighted=True),
        ),
    }


DEFAULT_VARIANT = "rfactor"


def foil_offsets(measured: dict, metals: dict) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Offset (eV) per measured file from metal foils, and how each was found.

    The Cu metal prediction is aligned (±10 eV around the default offset, least squares) on every
    foil measurement available: the foil spectra themselves and the reference channel recorded
    with a sample. A reference channel counts only when the metal prediction fits it about as well
    as a foil (R < 0.02): a channel distorted by the sample's absorption or harmonics does not.
    Files without an accepted foil of their own get the median over the element's foils.
    """
    from xasflow.compare import AlignConfig, align
    from xasflow.compare.normalize import NormalizedSpectrum
    from xasflow.compare.score import rfactor_similarity

    own, notes, per_element = {}, {}, {"Cu": [], "Cr": []}
    for relative, spectrum in measured.items():
        element = relative.split("/")[0]
        metal = metals[element]
        if TRUTH[relative] == f"{element}_metal":
            foil, how = spectrum, "the foil itself"
        elif spectrum.reference_flat is not None:
            foil = NormalizedSpectrum(
                spectrum.source,
                spectrum.energy,
                spectrum.reference_flat,
                spectrum.reference_flat,
                spectrum.reference_flat,
                spectrum.reference_e0 or spectrum.e0,
                1.0,
                0.0,
                0.0,
                element,
            )
            how = "reference channel"
        else:
            continue
        fit = align(foil, metal.energies, metal.spectrum, element, AlignConfig(shift_bound=10.0))
        r = 1.0 - rfactor_similarity(fit.measured, fit.model)
        notes[relative] = [f"{how}: shift {fit.shift:+.2f} eV, R {r:.4f}"]
        if r < 0.02:
            own[relative] = fit.shift
            per_element[element].append(fit.shift)
    medians = {el: float(np.median(v)) for el, v in per_element.items() if v}
    offsets = {}
    for relative in measured:
        element = relative.split("/")[0]
        offsets[relative] = own.get(relative, medians[element])
        if relative not in own:
            notes.setdefault(relative, []).append(f"median of {element} foils {medians[element]:+.2f} eV")
    return offsets, notes


def _synthetic(candidate, element: str, rng, correlated: bool):
    """The true compound's prediction as a 'measurement': broadened 1 eV, shifted to the default offset.

    ``correlated`` adds a smooth perturbation with the calibrated std at every point (correlation
    length 1 eV, the scale of the spectra's features): a draw of how FEFF may differ from the model.
    Otherwise 0.5 % white noise only.
    """
    from scipy.ndimage import gaussian_filter1d

    from xasflow.compare.align import DEFAULT_OFFSET, broaden
    from xasflow.compare.normalize import NormalizedSpectrum

    curve = np.asarray(candidate.spectrum, float)
    if correlated and candidate.std is not None:
        z = gaussian_filter1d(rng.normal(size=curve.size), 4.0)
        curve = curve + candidate.std * z / z.std()
    curve = broaden(curve, 1.0)
    energies = candidate.energies + DEFAULT_OFFSET[element]
    grid = np.arange(energies[0] - 60, energies[-1] + 100, 0.3)
    flat = np.interp(grid, energies, curve) + rng.normal(0, 0.005, grid.shape)
    return NormalizedSpectrum("synthetic", grid, flat, flat, flat, float(energies[0]), 1.0, 0.0, 0.0, element)


def main(argv: list[str] | None = None) -> int:
    from xasflow.compare import AlignConfig, Candidate, normalize, rank
    from xasflow.compare.align import DEFAULT_OFFSET, DEFAULT_SHIFT_BOUND
    from xasflow.errors import InputError
    from xasflow.fileio import atomic_open
    from xasflow.inference.predictor import Predictor
    from xasflow.io.measured import read_measured
    from xasflow.io.ranking import write_ranking
    from xasflow.io.structures import read_structure
    from xasflow.plots.match import plot_match

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "experiment")
    parser.add_argument("--draws", type=int, default=5, help="perturbed draws per spectrum for the upper bound")
    parser.add_argument(
        "--feff",
        type=Path,
        default=None,
        help="rank with FEFF spectra of the reference structures from this `xasflow simulate` tree instead of "
        "predictions (the ceiling of any model trained on FEFF); writes OUT/feff/",
    )
    args = parser.parse_args(argv)
    data = args.shared / "data" / "experiment"
    predictor = Predictor()
    predicted: dict[str, list[Candidate]] = {}
    simulated: dict[str, list[Candidate]] = {}
    dropped: dict[str, str] = {}
    for element in ("Cu", "Cr"):
        predicted[element], simulated[element] = [], []
        for cif in sorted(REFERENCE.glob("*.cif")):
            structure = read_structure(cif)
            if element not in structure.composition:
                continue
            if args.feff:
                try:
                    feff = Candidate.from_simulation(args.feff, cif, element)
                except InputError as err:  # FEFF could not simulate it: leave it out of both lists
                    dropped[cif.stem] = err.message
                    continue
                simulated[element].append(dataclasses.replace(feff, source=cif.stem))
            prediction = predictor.predict_structure(structure, element, cif.stem)
            predicted[element].append(Candidate.from_prediction(prediction))
    candidates = simulated if args.feff else predicted
    truth_of = {rel: t for rel, t in TRUTH.items() if t not in dropped}
    if args.feff:
        args.out = args.out / "feff"
    has_std = all(c.std is not None for cs in candidates.values() for c in cs)
    metals = {el: next(c for c in cs if c.source == f"{el}_metal") for el, cs in candidates.items()}
    measured = {rel: normalize(read_measured(data / rel), rel.split("/")[0]) for rel in truth_of}
    foil, foil_notes = foil_offsets(measured, metals)
    table = variants()
    default_metric, default_config = table[DEFAULT_VARIANT][1], table[DEFAULT_VARIANT][2]

    ranks: dict[str, dict[str, int]] = {name: {} for name in table}
    rows, wide_shifts = [], {"Cu": [], "Cr": []}
    for relative, truth in truth_of.items():
        element = relative.split("/")[0]
        spectrum = measured[relative]
        for name, (_, metric, make) in table.items():
            result = rank(spectrum, candidates[element], element, metric=metric, config=make(element, foil[relative]))
            ranks[name][relative] = [e.candidate.source for e in result.entries].index(truth) + 1
        result = rank(
            spectrum,
            candidates[element],
            element,
            metric=default_metric,
            config=default_config(element, foil[relative]),
        )
        stem = Path(relative).stem
        write_ranking(args.out / f"{stem}.csv", result)
        plot_match(result, args.out / f"{stem}.png", top=3)
        names = [e.candidate.source for e in result.entries]
        own = result.entries[names.index(truth)]
        wide = rank(
            spectrum,
            [c for c in candidates[element] if c.source == truth],
            element,
            config=AlignConfig(shift_bound=20.0, offset=0.0),
        )
        wide_shifts[element].append(wide.best.alignment.shift)
        rows.append((relative, truth, names[0], own.alignment.shift, own.alignment.sigma, wide.best.alignment.shift))
        print(f"{relative:32s} own={truth:20s} " + " ".join(str(ranks[n][relative]) for n in table), file=sys.stderr)

    bound = _upper_bound(candidates, truth_of, default_metric, args.draws, has_std, rank)
    counts = {name: sum(r == 1 for r in ranks[name].values()) for name in table}
    lines = [
        "# xasflow match on the development set",
        "",
        (
            f"Command: `python scripts/rank_experiment.py --feff {args.feff}`. Candidates: **FEFF spectra** of the "
            "reference structures (`xasflow simulate --cards screening-s5`, then named `screening`; "
            "site-averaged), not predictions: the ranking a perfect FEFF-trained model would get."
            if args.feff
            else "Command: `python scripts/rank_experiment.py` (default row: the same as `xasflow match FILE "
            "src/xasflow/examples/reference/ --element El` per file)."
        ),
        "",
        f"**Own compound ranked first (default `{DEFAULT_VARIANT}`): {counts[DEFAULT_VARIANT]} of {len(TRUTH)}** "
        f"(Cu offset {DEFAULT_OFFSET['Cu']} eV ± {DEFAULT_SHIFT_BOUND['Cu']}, Cr offset {DEFAULT_OFFSET['Cr']} eV ± "
        f"{DEFAULT_SHIFT_BOUND['Cr']}). Predictions {'with' if has_std else 'without'} calibrated std.",
        "",
        *(
            [
                "Left out (no FEFF spectrum; its measurement counts as not ranked first, and it is not a candidate "
                "for the others, which can only raise their ranks): "
                + "; ".join(f"{name} ({why})" for name, why in dropped.items()),
                "",
            ]
            if dropped
            else []
        ),
        "## Variants (own compound first, of 12)",
        "",
        "| variant | top-1 | " + " | ".join(Path(r).stem for r in TRUTH) + " | what |",
        "|---|---|" + "---|" * len(TRUTH) + "---|",
    ]
    for name, (what, _, _) in table.items():
        lines.append(
            f"| {name} | **{counts[name]}** | "
            + " | ".join(str(ranks[name].get(r, "—")) for r in TRUTH)
            + f" | {what} |"
        )
    lines += [
        "",
        "Cells: rank of the own compound. σ resolution: "
        + ", ".join(
            f"{el} {_tabulated_sigma(el, False):.2f} eV (⊕ Γ_K: {_tabulated_sigma(el, True):.2f})"
            for el in ("Cu", "Cr")
        ),
        "",
        "## Upper bound: the true compound's own prediction as the measurement",
        "",
        "Each measured spectrum replaced by its own compound's prediction, broadened 1 eV, at the default offset, "
        f"with 0.5 % noise, ranked with `{default_metric}` against the same candidates.",
        "",
        f"* noise only: **{bound['noise']} of {len(truth_of)}**",
    ]
    if has_std:
        lines.append(
            f"* plus a smooth perturbation with the calibrated std (how FEFF may differ from the model; "
            f"{args.draws} draws each): **{bound['perturbed']:.1f} of {len(truth_of)}** on average; per spectrum, "
            "share of draws ranking the own compound first: "
            + ", ".join(f"{Path(r).stem} {bound['share'][r]:.1f}" for r in truth_of)
        )
    lines += [
        "",
        "## Default: own-compound fit, and foil offsets",
        "",
        "| measured | own compound | ranked first | own shift eV | own σ eV | own shift, ±20 eV range | foil |",
        "|---|---|---|---|---|---|---|",
    ]
    for relative, truth, first, shift, sigma, wide in rows:
        lines.append(
            f"| [{relative}]({Path(relative).stem}.png) | {truth} | {first} | {shift:+.2f} | {sigma:.2f} | {wide:+.2f} "
            f"| {'; '.join(foil_notes.get(relative, []))} |"
        )
    lines += [
        "",
        "Median own-compound shift with a ±20 eV range: "
        + ", ".join(
            f"{el} {statistics.median(v):+.2f} eV (spread {min(v):+.2f} to {max(v):+.2f})"
            for el, v in wide_shifts.items()
        ),
        "",
    ]
    if args.feff:
        for element, cands in simulated.items():  # the spectra ranked above, for the record (the tree is not in git)
            table_out = np.column_stack([cands[0].energies, *(c.spectrum for c in cands)])
            with atomic_open(args.out / f"feff_spectra_{element}.csv", "w") as handle:
                np.savetxt(
                    handle,
                    table_out,
                    delimiter=",",
                    fmt="%.6f",
                    header=",".join(["energy_eV", *(c.source for c in cands)]),
                    comments="",
                )
        lines += _model_vs_feff(
            predicted, simulated, measured, ranks[DEFAULT_VARIANT], default_metric, default_config, foil, rank
        )
    with atomic_open(args.out / "summary.md", "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))
    return 0


def _model_vs_feff(predicted, simulated, measured, feff_ranks, metric, make_config, foil, rank) -> list[str]:
    """Markdown: how far each prediction is from its FEFF spectrum, and the own-compound rank with each."""
    lines = [
        "## Model against FEFF on the reference structures",
        "",
        "MSE between the default model's site-averaged prediction and the FEFF spectrum (`screening-s5` cards) of the "
        "same structure on the 141-point grid, beside the spread of the FEFF spectra of the element's candidates "
        "(mean squared distance to their mean): how much of the candidates' differences the model reproduces.",
        "",
        "| compound | model–FEFF MSE | spread of the candidates |",
        "|---|---|---|",
    ]
    for element in simulated:
        feff = np.array([c.spectrum for c in simulated[element]])
        spread = float(np.mean((feff - feff.mean(axis=0)) ** 2))
        for model, sim in zip(predicted[element], simulated[element], strict=True):
            lines.append(f"| {sim.source} | {np.mean((model.spectrum - sim.spectrum) ** 2):.2e} | {spread:.2e} |")
    lines += ["", "| measured | own rank, FEFF | own rank, model |", "|---|---|---|"]
    for relative, feff_rank in feff_ranks.items():  # the FEFF ranks are the default row of the table above
        element, truth = relative.split("/")[0], TRUTH[relative]
        config = make_config(element, foil[relative])
        result = rank(measured[relative], predicted[element], element, metric=metric, config=config)
        lines.append(f"| {relative} | {feff_rank} | {[e.candidate.source for e in result.entries].index(truth) + 1} |")
    return [*lines, ""]


def _upper_bound(candidates, truth_of: dict[str, str], metric: str, draws: int, has_std: bool, rank) -> dict:
    rng = np.random.default_rng(0)
    noise, share = 0, {}
    for relative, truth in truth_of.items():
        element = relative.split("/")[0]
        own = next(c for c in candidates[element] if c.source == truth)
        synthetic = _synthetic(own, element, rng, correlated=False)
        noise += rank(synthetic, candidates[element], element, metric=metric).best.candidate.source == truth
        if has_std:
            hits = [
                rank(
                    _synthetic(own, element, rng, True), candidates[element], element, metric=metric
                ).best.candidate.source
                == truth
                for _ in range(draws)
            ]
            share[relative] = float(np.mean(hits))
    return {"noise": int(noise), "perturbed": float(sum(share.values())), "share": share}


if __name__ == "__main__":
    sys.exit(main())
