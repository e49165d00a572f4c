"""M3GNet featurizer: reproduces the published Cu rows; the convention switch stays contained."""

from __future__ import annotations

import numpy as np
import pytest

from xasflow.errors import XasflowError
from xasflow.features import get_featurizer
from xasflow.features.m3gnet import M3GNetFeaturizer, packaged_weights_dir
from xasflow.io.omnixas import parse_site_id, read_matrix
from xasflow.io.structures import read_structure

N_STRUCTURES = 50


@pytest.fixture(scope="module")
def published_cu_val(data_root):
    ids = (data_root / "material_id_and_site" / "Cu_FEFF_val.txt").read_text().split()
    return ids, read_matrix(data_root / "ml_data" / "Cu_FEFF_val_X.txt.gz", 64)


def test_reproduces_published_val_rows(m3gnet, published_cu_val, cu_tree):
    ids, published = published_cu_val
    rows_by_material: dict[str, list[int]] = {}
    for row, site_id in enumerate(ids):
        material, _ = parse_site_id(site_id)
        if material in rows_by_material or len(rows_by_material) < N_STRUCTURES:
            rows_by_material.setdefault(material, []).append(row)
    assert len(rows_by_material) >= N_STRUCTURES
    errors = []
    for material, rows in rows_by_material.items():
        structure = read_structure(cu_tree / material / "POSCAR")
        sites = [parse_site_id(ids[r])[1] for r in rows]
        ours = m3gnet.featurize(structure, sites)
        reference = published[rows]
        errors += list(np.linalg.norm(ours - reference, axis=1) / np.linalg.norm(reference, axis=1))
    assert len(errors) >= N_STRUCTURES
    assert max(errors) < 1e-4, f"worst relative L2 error {max(errors):.2e}"


def test_destination_variant_leaves_stock_matgl_alone(m3gnet, cu_tree):
    from matgl.layers._graph_convolution import M3GNetGraphConv

    original_update = M3GNetGraphConv.node_update_
    structure = read_structure(next(iter(sorted(cu_tree.glob("*/POSCAR")))))
    sites = list(range(len(structure)))
    before = M3GNetFeaturizer(packaged_weights_dir(), aggregation="source").featurize(structure, sites)
    variant = M3GNetFeaturizer(packaged_weights_dir(), aggregation="destination")  # switched after `before`
    stock = M3GNetFeaturizer(packaged_weights_dir(), aggregation="source")
    assert M3GNetGraphConv.node_update_ is original_update  # matgl's class is not patched
    assert all(type(block.conv) is M3GNetGraphConv for block in stock.model.graph_layers)
    assert all(type(block.conv) is not M3GNetGraphConv for block in variant.model.graph_layers)
    after = stock.featurize(structure, sites)
    np.testing.assert_array_equal(before, after)
    ours = variant.featurize(structure, sites)
    cosine = np.sum(ours * after, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(after, axis=1)
    assert cosine.min() < 0.99  # the two conventions really differ on these weights


@pytest.mark.parametrize("name", ["m3gnet-matgl", "m3gnet-matpes"])
def test_alternative_weights_from_models_dir(name, models_root, cu_tree, m3gnet):
    featurizer = get_featurizer(name, models_root)
    structure = read_structure(next(iter(sorted(cu_tree.glob("*/POSCAR")))))
    cu_sites = [i for i, s in enumerate(structure) if s.specie.symbol == "Cu"]
    values = featurizer.featurize(structure, cu_sites)
    assert values.shape == (len(cu_sites), featurizer.dim)
    assert np.all(np.isfinite(values))
    assert featurizer.version != m3gnet.version
    if featurizer.dim == m3gnet.dim:
        assert not np.allclose(values, m3gnet.featurize(structure, cu_sites), rtol=1e-2)


def test_models_dir_required_and_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("XASFLOW_MODELS_DIR", raising=False)
    with pytest.raises(XasflowError, match="models dir"):
        get_featurizer("m3gnet-matgl")
    with pytest.raises(XasflowError, match="M3GNet-MatPES"):
        get_featurizer("m3gnet-matpes", tmp_path)


def test_hub_name_is_not_downloaded_by_default(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(XasflowError, match="HF_HUB_OFFLINE"):
        get_featurizer("matgl:materialyze/M3GNet-MP-2021.2.8-PES")


def test_unknown_featurizer_name():
    with pytest.raises(XasflowError, match="unknown featurizer"):
        get_featurizer("mace")


def test_featurizer_start_up_leaves_out_lightning_dynamo_and_pyg_datasets_until_used() -> None:
    import subprocess
    import sys
    from pathlib import Path

    import xasflow

    code = (
        "import sys; from xasflow.features import get_featurizer; get_featurizer('m3gnet'); "
        "names = ('torch._dynamo', 'torch_geometric.datasets'); "
        "kinds = lambda: ' '.join(type(sys.modules[m]).__name__ for m in names); "
        "print('lightning' in sys.modules, kinds()); "
        "import matgl, torch, torch_geometric; matgl.MGLPotentialTrainer; torch._dynamo.OptimizedModule; "
        "torch_geometric.datasets.QM9; "
        "print('lightning' in sys.modules, kinds())"
    )
    env = {"PYTHONPATH": str(Path(xasflow.__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    # Deferred at start-up; still there, for real, as soon as someone uses them.
    assert done.stdout.split("\n")[:2] == ["False _Deferred _Deferred", "True module module"]


def test_all_blocks_featurizer_extends_the_published_features(m3gnet, published_cu_val, cu_tree):
    ids, published = published_cu_val
    material, site = parse_site_id(ids[0])
    structure = read_structure(cu_tree / material / "POSCAR")
    blocks, env = get_featurizer("m3gnet-blocks"), get_featurizer("m3gnet-env")
    assert (blocks.dim, env.dim) == (192, 256)
    assert len({m3gnet.version, blocks.version, env.version}) == 3
    assert blocks.version.startswith(m3gnet.version)
    b = blocks.featurize(structure, [site])
    e = env.featurize(structure, [site])
    # The last block of the concatenation is the published row; env starts with the same blocks.
    assert np.linalg.norm(b[0, 128:] - published[0]) / np.linalg.norm(published[0]) < 1e-4
    assert np.allclose(e[:, :192], b)
    # Earlier blocks carry other numbers, and the neighbour block differs from the site's own.
    assert not np.allclose(b[:, :64], b[:, 128:]) and not np.allclose(e[:, 192:], e[:, 128:192])
