"""Site priority for a campaign's coverage rounds: pool sites ordered by feature-space diversity.

Usage::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/campaign_priority.py ../shared/data/omnixas/FEFF/Cu \\
        --out /work/cache/feff/fe_mn --cards screening-s5 --reserved ../shared/data/reserved \\
        --data-dir ../shared/data/omnixas --cache-dir /work/cache/features --priority-file priority.txt

Plans each element's campaign as ``scripts/fe_mn_campaign.py`` does (``plan_campaign``: reserved materials
excluded, finished sites found in ``--out``; run ``fe_mn_campaign.py --plan`` first if it should merge a tree),
featurizes the planned and the finished sites with the published M3GNet featurizer (``--cache-dir`` keeps the
features), and ranks the planned sites with :func:`xasflow.active.campaign_order.diversity_priority`: the
element's published feature rows (``--data-dir``, reserved materials left out) as the population to cover first,
finished sites counted as covered (``--clusters``: reference clusters, default one per planned site; the pool
replay ``scripts/priority_study.py`` measured 50 better from an empty campaign). Writes the site ids, best first,
one per line (``#`` lines are comments), for ``fe_mn_campaign.py --priority FILE``. Runs no FEFF.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from xasflow.active.campaign_order import diversity_priority
from xasflow.data.published import published_rows
from xasflow.data.reserved import resolve_reserved
from xasflow.errors import XasflowError
from xasflow.fileio import atomic_open
from xasflow.io.lightshow import material_id_for
from xasflow.io.structures import collect_inputs
from xasflow.simulation.campaign import CampaignConfig, plan_campaign
from xasflow.simulation.feff_cards import get_feff_card_set


def pool_sites(structures: list[Path], config: CampaignConfig) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """``(site id, structure file, site index)`` of the planned and finished sites, and the finished ids."""
    plan = plan_campaign(structures, config)
    files, _ = collect_inputs(structures)
    path_of = {material_id_for(p): p for p in files}
    rows = [(t.site_id, Path(t.source), t.site) for t in plan.tasks]
    rows += [(o.site_id, path_of[o.material_id], o.site) for o in plan.done]
    return rows, [o.site_id for o in plan.done]


def featurize_sites(rows: list[tuple[str, Path, int]], element: str, featurizer, cache_dir: Path | None):
    """Feature rows of ``rows`` (same order; sites whose structure fails are dropped) and their ids."""
    from xasflow.features import featurize_structures

    sources = list(dict.fromkeys(path for _, path, _ in rows))
    index = {path: k for k, path in enumerate(sources)}
    sites: list[list[int]] = [[] for _ in sources]
    for _, path, site in rows:
        sites[index[path]].append(site)
    result = featurize_structures(sources, element, featurizer, sites=sites, cache_dir=cache_dir, progress=True)
    for err in result.errors:
        print(f"warning: {err}", file=sys.stderr)
    by_key = {(int(i), int(s)): row for i, s, row in zip(result.inputs, result.sites, result.features, strict=True)}
    ids, X = [], []
    for site_id, path, site in rows:
        key = (index[path], int(site))
        if key in by_key:
            ids.append(site_id)
            X.append(by_key[key])
    return ids, np.asarray(X, dtype=np.float64).reshape(len(X), -1)


def main(argv: list[str] | None = None, featurizer=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("structures", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="the campaign's output tree (finished sites)")
    parser.add_argument("--cards", default="screening-s5", help="the campaign's FEFF card set")
    parser.add_argument("--reserved", type=Path, default=None, help="folder of {El}_materials.txt")
    parser.add_argument("--elements", default="Fe,Mn")
    parser.add_argument("--data-dir", type=Path, default=None, help="OmniXAS root with ml_data/ (the reference)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder (default: no cache)")
    parser.add_argument("--priority-file", type=Path, required=True, help="file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clusters",
        type=int,
        default=None,
        help="reference clusters (default: one per planned site; 50 measured better, scripts/priority_study.py)",
    )
    args = parser.parse_args(argv)
    command = "python scripts/campaign_priority.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [f"# {command}", f"# written {datetime.now(UTC).isoformat(timespec='seconds')}, seed {args.seed}"]
    try:
        if featurizer is None:
            from xasflow.features import get_featurizer

            featurizer = get_featurizer("m3gnet")
        for element in args.elements.split(","):
            reserved = resolve_reserved(element, args.reserved, paths=list(args.structures))
            config = CampaignConfig(
                element=element,
                feff_card_set=get_feff_card_set(args.cards),
                out=args.out.resolve(),
                order="coverage",
                reserved=reserved,
            )
            rows, finished = pool_sites(list(args.structures), config)
            ids, X = featurize_sites(rows, element, featurizer, args.cache_dir)
            published = published_rows(args.data_dir, element, args.reserved, spectra=False) if args.data_dir else None
            reference = None if published is None else published["X"]
            order = diversity_priority(ids, X, finished, reference=reference, seed=args.seed, clusters=args.clusters)
            source = "no reference" if reference is None else f"reference: {len(reference)} published rows"
            lines.append(f"# {element}: {len(order)} planned sites ranked, {len(finished)} finished, {source}")
            lines += order
            print(f"{element}: {len(order)} sites ranked ({len(finished)} finished; {source})", flush=True)
        args.priority_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(args.priority_file, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    except (XasflowError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.priority_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
