"""Fe and Mn minerals for the campaign: structures from outside the shared pool, whose materials all contain Cu.

Every material of the shared structures with a Fe or Mn site is a Cu-bearing oxide, so the Fe and Mn models
have never seen an Fe-S, Fe-C, Fe-P or metallic environment, while users measure sulfides, carbides, metals and
plain oxides. This dev script draws candidate structures from the American Mineralogist Crystal Structure
Database as shipped with xraylarch's ``larixite`` (``amcsd_cif1.db``; no download) and writes them as CIFs
named ``OUT/structures/amcsd-NNNNN.cif`` (the campaign's material id) plus an index with provenance.

Kept: refinements containing the element, fully ordered (every site fully occupied), without H or D (X-ray
refinements rarely locate them and FEFF would see bare ligands), without Cu (the shared pool is the
Cu-bearing compounds, and every reserved material is one of them), at most ``--max-atoms`` atoms in the cell,
no two atoms closer than 0.9 Å. Left out: every compound whose reduced formula is that of a matching
candidate of the element (``src/xasflow/examples/reference``, the development set for ``match``, so that its
figures stay out of sample), and every structure that matches a reserved material's structure
(``{reserved}/{El}_materials.txt``, structures from ``--structures``; pymatgen's ``StructureMatcher``).
One refinement per structure type of a formula (refinements of one formula grouped by ``StructureMatcher``):
the one of median volume per atom (the database holds pressure and temperature series).
``priority_{El}.txt`` lists each material's first inequivalent site, materials round-robin over ligand
classes (oxide, sulfide, pnictide, halide, carbide/nitride, metal), smallest cell first within a class, for
``fe_mn_campaign.py --priority``.

Run::

    python scripts/mineral_pool.py --out /work/cache/minerals --reserved ../shared/data/reserved \
        --structures ../shared/data/omnixas/FEFF/Cu --index data/campaigns/fe_mn/minerals.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import statistics
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.io.cif import CifParser, CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from xasflow.data.pools import MINERAL_PREFIX
from xasflow.data.reserved import reserved_materials
from xasflow.data.sites import absorbing_sites
from xasflow.fileio import atomic_open
from xasflow.io.structures import read_structure

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "src" / "xasflow" / "examples" / "reference"
CLASSES = ("oxide", "sulfide", "pnictide", "halide", "carbide/nitride", "metal")


def ligand_class(structure: Structure) -> str:
    """The absorber's likely ligand family, from which anion-forming elements the compound holds."""
    symbols = {e.symbol for e in structure.composition.elements}
    if "O" in symbols:
        return "oxide"
    if symbols & {"S", "Se", "Te"}:
        return "sulfide"
    if symbols & {"P", "As", "Sb", "Bi"}:
        return "pnictide"
    if symbols & {"F", "Cl", "Br", "I"}:
        return "halide"
    if symbols & {"C", "N", "B", "Si"}:
        return "carbide/nitride"
    return "metal"


def _parse(text: str) -> Structure | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return CifParser.from_str(text).parse_structures(primitive=False)[0]
        except Exception:
            return None


def _reserved_structures(structures: Path, reserved: Path, element: str) -> list[Structure]:
    out = []
    for material in sorted(reserved_materials(reserved, element)):
        for path in (structures / material / "POSCAR", structures / element / material / "POSCAR"):
            if path.exists():
                out.append(Structure.from_file(path))
                break
    return out


def candidates(element: str, max_atoms: int) -> list[dict]:
    """Every usable AMCSD refinement containing ``element`` (see the module docstring)."""
    from larixite.amcsd import get_amcsd

    db = get_amcsd()
    rows = []
    for cif in db.find_cifs(contains_elements=[element], full_occupancy=True, max_matches=100000):
        structure = _parse(cif.ciftext)
        if structure is None or not structure.is_ordered or len(structure) > max_atoms:
            continue
        symbols = {e.symbol for e in structure.composition.elements}
        if element not in symbols or symbols & {"H", "D", "Cu"}:
            continue
        distances = structure.distance_matrix + np.eye(len(structure)) * 10
        if distances.min() < 0.9:
            continue
        try:
            spacegroup = SpacegroupAnalyzer(structure, symprec=0.01).get_space_group_number()
        except Exception:
            continue
        pub = cif.publication
        rows.append(
            {
                "material_id": f"{MINERAL_PREFIX}{int(cif.ams_id):05d}",
                "amcsd_id": int(cif.ams_id),
                "mineral": cif.get_mineralname(),
                "formula": structure.composition.reduced_formula,
                "spacegroup": spacegroup,
                "atoms": len(structure),
                "volume_per_atom": round(structure.volume / len(structure), 3),
                "class": ligand_class(structure),
                "citation": f"{', '.join(pub.authors[:2])}{' et al.' if len(pub.authors) > 2 else ''} "
                f"({pub.year}) {pub.journalname} {pub.volume}, {pub.page_first}",
                "structure": structure,
            }
        )
    return rows


def select(rows: list[dict], element: str, reserved: list[Structure]) -> tuple[list[dict], list[str]]:
    """One refinement per (formula, space group), without the matching candidates or reserved materials."""
    references = [read_structure(p).composition for p in REFERENCE.glob("*.cif")]
    excluded = {c.reduced_formula for c in references if element in c}
    notes = []
    by_formula: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["formula"] not in excluded:
            by_formula[row["formula"]].append(row)
    matcher = StructureMatcher()
    chosen = []
    for formula, group in sorted(by_formula.items()):
        types: list[list[dict]] = []  # polymorphs of the formula (pyrite and marcasite stay apart)
        for row in sorted(group, key=lambda r: r["amcsd_id"]):
            home = next((t for t in types if matcher.fit(t[0]["structure"], row["structure"])), None)
            if home is None:
                types.append([row])
            else:
                home.append(row)
        twins = [s for s in reserved if s.composition.reduced_formula == formula]
        for members in types:
            median = statistics.median_low(r["volume_per_atom"] for r in members)
            row = next(r for r in members if r["volume_per_atom"] == median)
            if any(matcher.fit(row["structure"], s) for s in twins):
                notes.append(
                    f"{row['material_id']} ({row['mineral']}, {formula}) matches a reserved material; left out"
                )
                continue
            chosen.append(row)
    return chosen, notes


def priority(rows: list[dict]) -> list[str]:
    """Material ids round-robin over ligand classes, smallest cell first within a class."""
    by_class = {
        c: sorted((r for r in rows if r["class"] == c), key=lambda r: (r["atoms"], r["amcsd_id"])) for c in CLASSES
    }
    order = []
    for group in itertools.zip_longest(*by_class.values()):
        order.extend(r["material_id"] for r in group if r is not None)
    return order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the CIFs and priority files")
    parser.add_argument("--reserved", type=Path, required=True)
    parser.add_argument("--structures", type=Path, required=True, help="the shared structures (reserved ones)")
    parser.add_argument("--index", type=Path, required=True, help="CSV index to write (provenance)")
    parser.add_argument("--elements", nargs="+", default=["Fe", "Mn"])
    parser.add_argument("--max-atoms", type=int, default=120)
    args = parser.parse_args(argv)
    (args.out / "structures").mkdir(parents=True, exist_ok=True)
    table = []
    for element in args.elements:
        rows, notes = select(
            candidates(element, args.max_atoms), element, _reserved_structures(args.structures, args.reserved, element)
        )
        for note in notes:
            print(f"{element}: {note}")
        order = priority(rows)
        rank = {m: i for i, m in enumerate(order)}
        first_site = {}
        for row in rows:
            path = args.out / "structures" / f"{row['material_id']}.cif"
            if not path.exists():
                with atomic_open(path, "w") as handle:
                    handle.write(str(CifWriter(row["structure"])))
            # The site id as the campaign will name it: its selector on the file as the campaign reads it.
            sites = absorbing_sites(read_structure(path), element, "inequivalent", path)
            first_site[row["material_id"]] = f"{row['material_id']}_{sites[0].index:03d}"
            table.append({"element": element, "priority": rank[row["material_id"]], "sites": len(sites), **row})
        with atomic_open(args.out / f"priority_{element}.txt", "w") as handle:
            handle.write("".join(f"{first_site[m]}\n" for m in order))
        counts = {c: sum(r["class"] == c for r in rows) for c in CLASSES}
        print(f"{element}: {len(rows)} structures; " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    fields = ["element", "priority", "material_id", "amcsd_id", "mineral", "formula", "spacegroup", "atoms", "sites"]
    fields += ["volume_per_atom", "class", "citation"]
    with atomic_open(args.index, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(table, key=lambda r: (r["element"], r["priority"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
