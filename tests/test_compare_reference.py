"""The committed candidate structures match their crystal data: space group and bond lengths."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "make_reference_structures", REPO / "scripts" / "make_reference_structures.py"
)
refs = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = refs  # dataclasses resolve their module
spec.loader.exec_module(refs)


@pytest.mark.parametrize("ref", refs.REFERENCES + refs.WIDER + refs.PUBLISHED, ids=lambda r: r.name)
def test_committed_cif_has_its_space_group_and_bonds(ref):
    from xasflow.io.structures import read_structure

    structure = read_structure(refs.OUT / f"{ref.name}.cif")
    refs.check(ref, structure)  # asserts space group, metal-ligand bond range, no overlapping atoms
