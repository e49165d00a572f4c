"""``xasflow data``: build, inspect and export datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from xasflow.cli.common import add_data_dir, add_reserved_options, progress, report_problem, reserved_from_args
from xasflow.cli.featurize import register_add_features


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build, inspect and export datasets")
    sub = parser.add_subparsers(dest="data_command", required=True)

    build = sub.add_parser("build-feff", help="raw FEFF tree (Lightshow layout) -> dataset")
    build.add_argument("root", type=Path, help="FEFF tree: the element folder (FEFF/Cu) or a parent of it")
    build.add_argument("--element", required=True)
    build.add_argument("--out", type=Path, required=True, help="dataset file to write (.npz)")
    build.add_argument("--keep-outliers", action="store_true", help="do not apply the outlier filter")
    build.add_argument(
        "--no-splits", action="store_true", help="do not assign the published splits even when id lists exist"
    )
    add_reserved_options(build, "left out", "ROOT", include_help="keep reserved materials (to build an evaluation set)")
    add_data_dir(build)
    build.set_defaults(handler=_build_feff)

    info = sub.add_parser("info", help="describe a dataset")
    info.add_argument("dataset", type=Path)
    info.set_defaults(handler=_info)

    export = sub.add_parser("export", help="dataset -> published OmniXAS text layout")
    export.add_argument("dataset", type=Path)
    export.add_argument(
        "--out", type=Path, required=True, help="folder to write ml_data/ and material_id_and_site/ into"
    )
    export.add_argument("--feature", default=None, help="feature matrix written as X (default: m3gnet, if present)")
    export.set_defaults(handler=_export)

    register_add_features(sub)  # defined by the features area


def _id_lists_for(args: argparse.Namespace) -> dict[str, list[str]] | None:
    """Published id lists from the data root, or from the tree's own OmniXAS root."""
    from xasflow.config import DATA_DIR_ENV, resolve_data_dir
    from xasflow.data.published import published_id_lists

    if args.no_splits:
        return None
    import os

    if args.data_dir or os.environ.get(DATA_DIR_ENV):
        root = resolve_data_dir(args.data_dir)
    else:
        # A tree inside an OmniXAS root (ROOT/FEFF/El) carries its own id lists.
        root = next((p for p in args.root.resolve().parents if (p / "material_id_and_site").is_dir()), None)
        if root is None:
            return None
    return published_id_lists(root, args.element, "FEFF") or None


def _build_feff(args: argparse.Namespace) -> int:
    from xasflow.data.feff_tree import build_feff_dataset
    from xasflow.errors import check_element
    from xasflow.fileio import check_output_file

    check_element(args.element)
    check_output_file(args.out, (".npz",))
    lists = _id_lists_for(args)
    reserved = reserved_from_args(args, args.element, [args.root])
    dataset, report = build_feff_dataset(
        args.root,
        args.element,
        id_lists=lists,
        drop_outliers=not args.keep_outliers,
        progress=lambda it, n: progress(it, n, desc=f"{args.element} xmu.dat"),
        exclude_materials=reserved.materials,
    )
    for err in report.skipped:
        report_problem(err)
    dataset.save(args.out)
    for line in report.lines():
        print(line)
    print(f"wrote {args.out}: {len(dataset)} spectra")
    return 1 if report.skipped else 0


def _info(args: argparse.Namespace) -> int:
    from xasflow.data.dataset import XASDataset

    print(XASDataset.load(args.dataset).summary())
    return 0


def _export(args: argparse.Namespace) -> int:
    from xasflow.data.dataset import XASDataset
    from xasflow.data.published import PUBLISHED_FEATURES, export_omnixas
    from xasflow.errors import XasflowError
    from xasflow.fileio import check_output_dir

    check_output_dir(args.out)
    dataset = XASDataset.load(args.dataset)
    if args.feature is not None and args.feature not in dataset.features:
        have = ", ".join(dataset.features) or "none"
        raise XasflowError(f"{args.dataset}: no feature matrix {args.feature!r} (has: {have})")
    written = export_omnixas(dataset, args.out, feature=args.feature or PUBLISHED_FEATURES)
    if dataset.splits is not None and (unassigned := int((dataset.splits == "").sum())):
        report_problem(f"{args.dataset}: {unassigned} rows have no split and were not exported")
    for path in written:
        print(path)
    return 0
