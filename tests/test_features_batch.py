"""Batch featurization: cache, bad inputs (one clear error each), workers, dataset rows."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Molecule, Structure

from xasflow.data.dataset import XASDataset
from xasflow.errors import InputError
from xasflow.features import featurize_dataset, featurize_structures
from xasflow.features.base import check_structure
from xasflow.features.cache import structure_hash


class CountingFeaturizer:
    """Wraps a featurizer and counts how often it really computes."""

    def __init__(self, inner, version: str | None = None) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.dim = inner.name, inner.dim
        self.version = version or inner.version
        self.element_types = inner.element_types

    def featurize(self, structure, sites, source="structure"):
        self.calls += 1
        return self.inner.featurize(structure, sites, source=source)


@pytest.fixture(scope="module")
def cu_files(cu_tree):
    return sorted(cu_tree.glob("*/POSCAR"))[:4]


def test_second_run_is_served_from_cache(m3gnet, cu_files, tmp_path):
    counting = CountingFeaturizer(m3gnet)
    first = featurize_structures(cu_files, "Cu", counting, cache_dir=tmp_path, progress=False)
    assert counting.calls == len(cu_files) and first.computed == len(cu_files) and first.cache_hits == 0
    second = featurize_structures(cu_files, "Cu", counting, cache_dir=tmp_path, progress=False)
    assert counting.calls == len(cu_files)  # nothing recomputed
    assert second.cache_hits == len(cu_files) and second.computed == 0
    np.testing.assert_array_equal(first.features, second.features)
    assert second.sources == first.sources and np.array_equal(second.sites, first.sites)
    # A new featurizer version must not read the old entries.
    renamed = CountingFeaturizer(m3gnet, version="other")
    featurize_structures(cu_files[:1], "Cu", renamed, cache_dir=tmp_path, progress=False)
    assert renamed.calls == 1


def test_cache_key_is_structure_content(cu_files):
    a = Structure.from_file(cu_files[0])
    b = Structure.from_file(cu_files[0])
    assert structure_hash(a) == structure_hash(b)
    b.translate_sites([0], [0.01, 0, 0])
    assert structure_hash(a) != structure_hash(b)


def test_rows_are_every_absorbing_site_in_input_order(m3gnet, cu_files):
    result = featurize_structures(cu_files, "Cu", m3gnet, progress=False)
    expected = [(str(p), i) for p in cu_files for i, s in enumerate(Structure.from_file(p)) if s.specie.symbol == "Cu"]
    assert list(zip(result.sources, result.sites.tolist(), strict=True)) == expected
    assert result.features.shape == (len(expected), 64)


def test_workers_give_the_same_features(m3gnet, cu_files):
    serial = featurize_structures(cu_files, "Cu", m3gnet, progress=False)
    parallel = featurize_structures(cu_files, "Cu", m3gnet, workers=2, progress=False)
    np.testing.assert_allclose(parallel.features, serial.features, rtol=1e-6, atol=1e-6)
    assert parallel.sources == serial.sources


def _cubic(species, coords, a=3.6):
    return Structure(Lattice.cubic(a), species, coords)


def test_each_bad_input_gives_one_clear_error(m3gnet, cu_files, tmp_path):
    no_cu = tmp_path / "NaCl.vasp"
    _cubic(["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], 5.6).to(filename=str(no_cu), fmt="poscar")
    disordered = tmp_path / "disordered.cif"
    _cubic([{"Cu": 0.5, "Au": 0.5}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(disordered))
    molecule = tmp_path / "molecule.xyz"
    Molecule(["Cu", "O"], [[0, 0, 0], [0, 0, 1.8]]).to(filename=str(molecule))
    polonium = tmp_path / "CuPo.vasp"
    _cubic(["Cu", "Po"], [[0, 0, 0], [0.5, 0.5, 0.5]], 3.4).to(filename=str(polonium), fmt="poscar")
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("this is not a structure\n")
    inputs = [cu_files[0], no_cu, disordered, molecule, polonium, garbage, tmp_path / "missing.vasp", cu_files[1]]
    result = featurize_structures(inputs, "Cu", m3gnet, progress=False)
    messages = {err.source: err.message for err in result.errors}
    assert set(result.sources) == {str(cu_files[0]), str(cu_files[1])}  # the others still processed
    assert "contains no Cu" in messages[str(no_cu)]
    assert "disordered" in messages[str(disordered)]
    assert "periodic" in messages[str(molecule)] or "lattice" in messages[str(molecule)]
    assert "Po" in messages[str(polonium)] and "89" in messages[str(polonium)]
    assert "cannot read" in messages[str(garbage)]
    assert "no such file" in messages[str(tmp_path / "missing.vasp")]
    assert len(result.errors) == 6


def test_bad_sites_are_named(m3gnet, cu_files):
    structure = Structure.from_file(cu_files[0])
    other = next(i for i, s in enumerate(structure) if s.specie.symbol != "Cu")
    result = featurize_structures(
        [structure, structure, structure], "Cu", m3gnet, sites=[[len(structure)], [other], None], progress=False
    )
    assert [e.source for e in result.errors] == ["structure[0]", "structure[1]"]
    assert "out of range" in result.errors[0].message
    assert f"is {structure[other].specie.symbol}, not Cu" in result.errors[1].message
    assert set(result.inputs.tolist()) == {2}
    with pytest.raises(InputError, match="out of range"):
        m3gnet.featurize(structure, [len(structure) + 3])


def test_molecule_object_refused():
    with pytest.raises(InputError, match="lattice"):
        check_structure(Molecule(["Cu", "O"], [[0, 0, 0], [0, 0, 1.8]]), "mol", None)


def test_dataset_rows_match_published(m3gnet, data_root, cu_tree, tmp_path):
    from xasflow.data.published import load_published

    published = load_published(data_root, "Cu", "FEFF").subset(np.arange(12))
    subset = XASDataset("Cu", "FEFF", ids=published.ids, splits=published.splits)
    result = featurize_dataset(subset, cu_tree, m3gnet, cache_dir=tmp_path, progress=False)
    assert result.complete
    reference = published.features["m3gnet"]
    error = np.linalg.norm(result.matrix - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert error.max() < 1e-4
    missing = XASDataset("Cu", "FEFF", ids=["mp-does-not-exist_000", *published.ids[:2]])
    partial = featurize_dataset(missing, cu_tree, m3gnet, progress=False)
    assert not partial.complete and np.isnan(partial.matrix[0]).all() and not np.isnan(partial.matrix[1:]).any()
    assert "mp-does-not-exist" in partial.errors[0].source
