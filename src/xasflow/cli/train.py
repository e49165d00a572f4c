"""``xasflow train``: one model (expert, universal, tuned, cross-fidelity or head) from a data root."""

from __future__ import annotations

import argparse
from pathlib import Path

from xasflow.cli.common import add_data_dir


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train``, ``experiment paper`` and ``zoo build``."""
    add_data_dir(parser)
    parser.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="complete dataset (.npz with published train+val splits and m3gnet features) replacing the "
        "published val-only rows of its set; repeatable (e.g. Cu FEFF from `xasflow data build-feff` + features)",
    )
    parser.add_argument(
        "--featurize-raw",
        action="store_true",
        help="rebuild Cu FEFF train+val from the raw tree under the data root and compute its M3GNet features "
        "(a few minutes); ignored for sets given with --dataset",
    )
    parser.add_argument("--recipe", default="improved", choices=("reference", "improved"), help="default: improved")
    parser.add_argument("--seed", type=int, default=0, help="seed of splits, initialisation and shuffling")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap on epochs (quick runs); default: recipe's")
    parser.add_argument("--members", type=int, default=None, help="ensemble members (default: the recipe's, 5)")


def catalog_from_args(
    args: argparse.Namespace,
    elements: tuple[str, ...] | None = None,
    variants: dict[str, tuple[str, ...]] | None = None,
):
    """The carved sets of the data root, with complete datasets substituted where given.

    ``--reserved DIR`` (where the command has it) drops the sites of reserved materials; ``variants``: further
    feature matrices of complete datasets to carve (see :func:`~xasflow.training.data.load_sets`).
    """
    from xasflow.config import resolve_data_dir
    from xasflow.constants import ELEMENTS
    from xasflow.data.dataset import XASDataset
    from xasflow.errors import XasflowError
    from xasflow.training.data import load_sets
    from xasflow.training.full_data import check_full_dataset, featurize_feff_tree

    root = resolve_data_dir(args.data_dir)
    full = {}
    for path in args.dataset:
        dataset = check_full_dataset(XASDataset.load(path), path)
        full[dataset.name] = dataset
    if args.featurize_raw and "Cu_FEFF" not in full:
        if not (root / "FEFF" / "Cu").is_dir():
            raise XasflowError(f"{root}: --featurize-raw needs the raw tree FEFF/Cu under the data root")
        full["Cu_FEFF"] = featurize_feff_tree(root, "Cu")
    reserved = None
    if getattr(args, "reserved", None) is not None:
        from xasflow.data.reserved import reserved_materials

        reserved = {e: reserved_materials(args.reserved, e) for e in ELEMENTS}
    return load_sets(
        root, seed=args.seed, full=full, elements=elements or ELEMENTS, reserved=reserved, variants=variants
    )


def recipe_from_args(args: argparse.Namespace, name: str | None = None):
    """The named recipe (default ``--recipe``) with the seed, threads and epoch cap of the command line."""
    from xasflow.errors import XasflowError
    from xasflow.training.config import get_recipe

    recipe = get_recipe(name or args.recipe).with_seed(args.seed).with_threads(args.threads)
    if args.members is not None:
        if args.members < 1:
            raise XasflowError("--members must be at least 1")
        recipe = recipe.with_ensemble(args.members)
    return recipe.with_max_epochs(args.max_epochs) if args.max_epochs else recipe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one model",
        description="Train one model; prints its η on the set's evaluation subset and writes model card + weights.",
    )
    from xasflow.kinds import ModelKind

    parser.add_argument("--mode", required=True, choices=tuple(k.value for k in ModelKind))
    parser.add_argument("--element", help="element of the set (not needed for --mode universal)")
    parser.add_argument("--fidelity", default=None, help="FEFF or VASP (default FEFF; VASP for cross-fidelity)")
    parser.add_argument("--out", type=Path, required=True, help="model file to write (.npz weights + .json model card)")
    parser.add_argument(
        "--universal", type=Path, default=None, help="universal model card to start from (tuned/cross-fidelity/head)"
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16"), help="weight storage")
    add_training_options(parser)
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from xasflow.errors import XasflowError, check_element, check_fidelity
    from xasflow.kinds import ModelKind
    from xasflow.models.estimator import XASRegressor
    from xasflow.training.modes import evaluate, for_set
    from xasflow.training.train import train

    kind = ModelKind.parse(args.mode)
    fidelity = check_fidelity(args.fidelity or ("VASP" if kind is ModelKind.CROSS_FIDELITY else "FEFF"))
    if kind is ModelKind.CROSS_FIDELITY and fidelity != "VASP":
        raise XasflowError("cross-fidelity fine-tunes the FEFF universal model on VASP: use --fidelity VASP")
    if kind is ModelKind.TUNED and fidelity != "FEFF":
        raise XasflowError("--mode tuned is for FEFF sets; use --mode cross-fidelity for VASP")
    if kind is not ModelKind.UNIVERSAL and not args.element:
        raise XasflowError(f"--mode {args.mode} needs --element")
    element = check_element(args.element) if args.element else None
    recipe = recipe_from_args(args)
    catalog = catalog_from_args(args)
    if kind is ModelKind.EXPERT:
        data = catalog.get(element, fidelity)
        model = train(kind, data, recipe)
    else:
        if kind is ModelKind.UNIVERSAL or args.universal is None:
            print(f"training the universal FEFF model on {', '.join(s.key for s in catalog.feff())} ...")
            universal = train(ModelKind.UNIVERSAL, catalog.feff(), recipe)
        else:
            universal = XASRegressor.load(args.universal)
        if kind is ModelKind.UNIVERSAL:
            model = universal
            data = catalog.get(element, "FEFF") if element else None
            if data is not None:
                model = for_set(universal, data)
        else:
            data = catalog.get(element, fidelity)
            model = train(kind, data, recipe, base=universal)
    if data is not None:
        scores, _ = evaluate(model, data)
        model.set_provenance(metrics={"protocol": data.protocol, "evaluation": scores.as_dict()})
        print(f"{data.key} {args.mode}: η {scores.eta:.3f}, MSE {scores.mse:.3e} on {scores.n} evaluation spectra")
    card = model.save(args.out, dtype=args.dtype)
    print(f"wrote {card} (training {model.fit_seconds_:.1f} s)")
    return 0
