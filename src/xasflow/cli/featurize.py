"""``xasflow featurize`` (structures → CSV of site features) and ``xasflow data add-features``."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from xasflow.cli.common import report_problem

#: Featurizers whose width depends on the species, reduced by PCA before going into a dataset.
_DESCRIPTORS = ("acsf", "soap")


def _add_featurizer_options(parser: argparse.ArgumentParser) -> None:
    from xasflow.features.registry import FEATURIZERS, MODELS_DIR_ENV

    parser.add_argument(
        "--featurizer",
        default="m3gnet",
        help=f"one of {', '.join(FEATURIZERS)}, or matgl:<model folder> (default: m3gnet, the published features)",
    )
    parser.add_argument(
        "--models-dir", type=Path, default=None, help=f"folder of alternative weights (default: ${MODELS_DIR_ENV})"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder (default: no cache)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default: 1)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("featurize", help="site features of structures -> CSV")
    parser.add_argument("paths", nargs="+", type=Path, help="structure files (any pymatgen format) or folders")
    parser.add_argument("--element", required=True, help="absorbing element")
    parser.add_argument("--sites", default="all", help="all (default: every site gets a row) | inequivalent | i,j,...")
    parser.add_argument("--symprec", type=float, default=0.01, help="symmetry tolerance in Å (default 0.01)")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (source,site,f0,f1,...)")
    parser.add_argument(
        "--species", default=None, help="comma-separated species for acsf/soap (default: those of the inputs)"
    )
    _add_featurizer_options(parser)
    parser.set_defaults(handler=_featurize)


def register_add_features(data_subparsers: argparse._SubParsersAction) -> None:
    """``xasflow data add-features``; registered by :mod:`xasflow.cli.data`."""
    parser = data_subparsers.add_parser("add-features", help="featurize the rows of a dataset from a structure tree")
    parser.add_argument("dataset", type=Path, help="dataset (.npz) whose rows are MATERIAL_SITE ids")
    parser.add_argument("--structures", type=Path, required=True, help="tree with {material}/POSCAR")
    parser.add_argument("--out", type=Path, required=True, help="dataset file to write (may equal DATASET)")
    parser.add_argument("--name", default=None, help="feature matrix name (default: the featurizer name)")
    parser.add_argument(
        "--pca",
        type=float,
        default=None,
        help="keep this fraction of the variance with PCA fitted on train rows (default: 0.99 for acsf/soap)",
    )
    parser.add_argument("--pca-out", type=Path, default=None, help="save the fitted PCA here (.npz)")
    _add_featurizer_options(parser)
    parser.set_defaults(handler=_add_features)


def _species_of(paths: list[Path]) -> list[str]:
    """Species of the readable inputs (unreadable ones are reported later by the featurization)."""
    from xasflow.errors import InputError
    from xasflow.io.structures import read_structure

    species: set[str] = set()
    for path in paths:
        try:
            species.update(site.specie.symbol for site in read_structure(path))
        except InputError:
            continue
    return sorted(species)


def _featurize(args: argparse.Namespace) -> int:
    from xasflow.data.sites import check_symprec, parse_selection
    from xasflow.errors import XasflowError, check_element
    from xasflow.features import featurize_structures, get_featurizer
    from xasflow.fileio import check_output_file
    from xasflow.io.structures import collect_inputs

    element = check_element(args.element)
    parse_selection(args.sites)
    symprec = check_symprec(args.symprec)
    check_output_file(args.out, (".csv",))
    paths, folder_problems = collect_inputs(args.paths)
    for problem in folder_problems:
        report_problem(problem)
    if not paths:
        raise XasflowError("no structure files found")
    species = None
    if args.featurizer in _DESCRIPTORS:
        species = args.species.split(",") if args.species else _species_of(paths)
    featurizer = get_featurizer(args.featurizer, args.models_dir, species=species, num_threads=args.threads)
    result = featurize_structures(
        paths,
        element,
        featurizer,
        selection=args.sites,
        symprec=symprec,
        cache_dir=args.cache_dir,
        workers=args.workers,
        progress=True,
    )
    for err in result.errors:
        report_problem(err)
    if len(result.features):
        from xasflow.fileio import atomic_open

        with atomic_open(args.out, "w") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["source", "site", *(f"f{j}" for j in range(featurizer.dim))])
            for source, site, row in zip(result.sources, result.sites, result.features, strict=True):
                writer.writerow([source, int(site), *(repr(float(v)) for v in row)])
        print(f"wrote {args.out}: {len(result.features)} sites of {len(paths) - len(result.errors)} structures")
    return 1 if result.errors or folder_problems else 0


def _add_features(args: argparse.Namespace) -> int:
    from xasflow.data.dataset import XASDataset
    from xasflow.features import featurize_dataset, get_featurizer
    from xasflow.features.dataset import attach_features
    from xasflow.fileio import check_output_file
    from xasflow.io.lightshow import poscar_path

    check_output_file(args.out, (".npz",))
    dataset = XASDataset.load(args.dataset)
    species = None
    if args.featurizer in _DESCRIPTORS:
        species = _species_of([poscar_path(args.structures, m) for m in sorted(set(dataset.material_ids))])
    featurizer = get_featurizer(args.featurizer, args.models_dir, species=species, num_threads=args.threads)
    features = featurize_dataset(
        dataset, args.structures, featurizer, cache_dir=args.cache_dir, workers=args.workers, progress=True
    )
    for err in features.errors:
        report_problem(err)
    if not features.complete:
        report_problem(f"{args.dataset}: some rows could not be featurized; {args.out} not written")
        return 1
    pca = args.pca if args.pca is not None else (0.99 if args.featurizer in _DESCRIPTORS else None)
    out = attach_features(
        dataset,
        features,
        featurizer,
        name=args.name,
        pca_variance=pca or None,  # --pca 0 disables it
        pca_out=args.pca_out,
        source=str(args.structures),
    )
    out.save(args.out)
    name = args.name or featurizer.name
    print(
        f"wrote {args.out}: {name} {out.features[name].shape[1]} columns for {len(out)} rows "
        f"({features.cache_hits} structures from cache, {features.computed} computed)"
    )
    return 0
