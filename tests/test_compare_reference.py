"""The committed candidate structures match their crystal data: space group and bond lengths."""

from __future__ import annotations

import pytest

from devscripts import load_script

refs = load_script("make_reference_structures")


@pytest.mark.parametrize("ref", refs.REFERENCES + refs.WIDER + refs.PUBLISHED, ids=lambda r: r.name)
def test_committed_cif_has_its_space_group_and_bonds(ref):
    from xasflow.io.structures import read_structure

    structure = read_structure(refs.OUT / f"{ref.name}.cif")
    refs.check(ref, structure)  # asserts space group, metal-ligand bond range, no overlapping atoms
