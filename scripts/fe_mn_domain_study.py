"""Out-of-domain reference for Fe/Mn: the published feature population vs the few simulated training sites.

Usage::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/fe_mn_domain_study.py --campaign data/campaigns/fe_mn \\
        --data-dir ../shared/data/omnixas --reserved ../shared/data/reserved \\
        --results results/new_element_models/results.json --out results/new_element_models

Takes each site's leave-one-material-out error from ``results.json`` (``scripts/new_element_models.py`` on the
same campaign) and scores both references with :func:`xasflow.training.domain_study.domain_reference_study`.
Writes ``OUT/domain.{json,md}``. No training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xasflow.data.published import published_rows
from xasflow.errors import XasflowError
from xasflow.fileio import atomic_open
from xasflow.training.domain_study import domain_reference_study
from xasflow.training.new_element import campaign_rows, site_errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, required=True)
    parser.add_argument("--elements", nargs="+", default=["Fe", "Mn"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True, help="results.json of scripts/new_element_models.py")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python scripts/fe_mn_domain_study.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        built = json.loads(args.results.read_text())["elements"]
        out: dict = {"command": command, "seed": args.seed, "elements": {}}
        lines = [
            "# Out-of-domain reference for Fe/Mn: published feature rows vs the training sites",
            "",
            f"Command: `{command}`",
            "",
            "Each simulated site held out with its material; its score against (a) the element's published "
            "feature rows without that material (the shipped reference) and (b) the other materials' simulated "
            "sites, compared with the leave-one-material-out model's MSE on the site. A useful score ranks sites "
            "by error (Spearman ρ > 0, 95 % bootstrap interval over materials) and flags sites that are predicted "
            "worse.",
            "",
            "| element | sites | reference | Spearman ρ [95 %] | flagged | median MSE flagged / not flagged |",
            "|---|---|---|---|---|---|",
        ]
        for element in args.elements:
            dataset, X, _ = campaign_rows(args.campaign, element, args.reserved)
            report = built.get(element)
            if report is None or report["sites"] != len(X):
                raise XasflowError(
                    f"{args.results}: no {element} build on the campaign's {len(X)} sites; rerun new_element_models.py"
                )
            mse = site_errors(report["leave_one_material_out_folds"], dataset.material_ids)
            published = published_rows(args.data_dir, element, args.reserved, spectra=False)
            if published is None:
                raise XasflowError(f"{args.data_dir}: no published {element} feature rows")
            study = domain_reference_study(
                X, dataset.material_ids, mse, published["X"], published["materials"], args.seed
            )
            out["elements"][element] = {name: r.as_dict() for name, r in study.items()}
            for name, r in study.items():
                low, high = r.spearman_interval
                flagged = "—" if r.mse_flagged is None else f"{r.mse_flagged:.4f}"
                unflagged = "—" if r.mse_unflagged is None else f"{r.mse_unflagged:.4f}"
                lines.append(
                    f"| {element} | {len(r.scores)} | {name} | {r.spearman:.2f} [{low:.2f}, {high:.2f}] | "
                    f"{r.flagged:.0%} | {flagged} / {unflagged} |"
                )
        args.out.mkdir(parents=True, exist_ok=True)
        with atomic_open(args.out / "domain.json", "w") as handle:
            json.dump(out, handle, indent=1)
        with atomic_open(args.out / "domain.md", "w") as handle:
            handle.write("\n".join(lines) + "\n")
    except (XasflowError, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
