"""FEFF card error on an element's own sites: the same sites simulated with two card sets, compared.

Usage::

    python scripts/card_error_pairs.py /work/cache/feff/fe_cards /work/cache/feff/fe_mn --element Fe \\
        --model-mse 3.55e-3

Finds every site finished in both Lightshow trees (``ROOT/El/material/FEFF-XANES/NNN_El/xmu.dat``), processes
both ``xmu.dat`` onto the element's 141-point grid and prints the MSE between them per site, their mean and
median, and, with ``--model-mse`` (the model's median leave-one-material-out MSE,
``results/new_element_models/results.json``), the ratio the campaign's card rule uses (keep the cheap cards
while the model's error is more than 10× the card error). The first tree is the reference (the costlier
cards). Runs no FEFF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from xasflow.data.xmu import spectrum_from_xmu
from xasflow.errors import XasflowError
from xasflow.simulation.feff_card_study import mse


def finished_sites(root: Path, element: str) -> dict[str, Path]:
    """``{material_site: xmu.dat}`` of the sites of ``element`` with an ``xmu.dat`` under ``root``."""
    out = {}
    for xmu in sorted((root / element).glob(f"*/FEFF-XANES/*_{element}/xmu.dat")):
        material, site = xmu.parents[2].name, xmu.parent.name.split("_")[0]
        out[f"{material}_{site}"] = xmu
    return out


def pair_errors(reference: Path, cheap: Path, element: str) -> dict[str, float]:
    """MSE between the two trees' processed spectra for every site finished in both."""
    a, b = finished_sites(reference, element), finished_sites(cheap, element)
    return {s: mse(spectrum_from_xmu(a[s], element), spectrum_from_xmu(b[s], element)) for s in sorted(a.keys() & b)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="tree simulated with the reference cards")
    parser.add_argument("cheap", type=Path, help="tree simulated with the campaign's cards")
    parser.add_argument("--element", required=True)
    parser.add_argument("--model-mse", type=float, default=None, help="the model's median held-out MSE")
    args = parser.parse_args(argv)
    errors = pair_errors(args.reference, args.cheap, args.element)
    if not errors:
        raise XasflowError(f"no {args.element} site is finished in both {args.reference} and {args.cheap}")
    for site, value in errors.items():
        print(f"{site}  {value:.3e}")
    values = np.array(list(errors.values()))
    line = f"{len(values)} sites: mean {values.mean():.3e}, median {np.median(values):.3e}"
    if args.model_mse and values.mean() > 0:  # identical trees: no ratio to state
        mean_ratio, median_ratio = args.model_mse / values.mean(), args.model_mse / max(np.median(values), 1e-30)
        line += f"; model / card error {mean_ratio:.1f}× (mean), {median_ratio:.1f}× (median)"
    print(line)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except XasflowError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
