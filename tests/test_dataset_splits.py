"""Dataset round trip and material-grouped splitting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xasflow.data.dataset import FORMAT_VERSION, XASDataset
from xasflow.data.published import published_id_lists
from xasflow.data.splits import assign_from_lists, grouped_split, overlapping_groups
from xasflow.errors import InputError


def _toy(n=6):
    rng = np.random.default_rng(0)
    return XASDataset(
        element="Fe",
        fidelity="feff",
        ids=[f"mp-{k // 2}_{k:03d}" for k in range(n)],
        spectra=rng.random((n, 141)),
        features={"m3gnet": rng.random((n, 64))},
        splits=np.array(["train", "val"] * (n // 2)),
        metadata={"source": "toy"},
    )


def test_dataset_round_trip(tmp_path):
    dataset = _toy()
    path = dataset.save(tmp_path / "toy.npz")
    loaded = XASDataset.load(path)
    assert loaded.name == "Fe_FEFF"
    assert loaded.ids.tolist() == dataset.ids.tolist()
    assert np.array_equal(loaded.spectra, dataset.spectra)
    assert np.array_equal(loaded.features["m3gnet"], dataset.features["m3gnet"])
    assert loaded.splits.tolist() == dataset.splits.tolist()
    assert loaded.metadata == {"source": "toy"}
    assert loaded.material_ids.tolist() == ["mp-0", "mp-0", "mp-1", "mp-1", "mp-2", "mp-2"]
    assert loaded.sites.tolist() == [0, 1, 2, 3, 4, 5]
    assert loaded.energies[0] == pytest.approx(7111.23)


def test_newer_format_and_foreign_files_are_refused(tmp_path):
    path = _toy().save(tmp_path / "toy.npz")
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays["header"]))
    header["version"] = FORMAT_VERSION + 1
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(InputError, match="newer than this xasflow"):
        XASDataset.load(tmp_path / "newer.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="not an xasflow dataset"):
        XASDataset.load(tmp_path / "foreign.npz")
    (tmp_path / "garbage.npz").write_text("not a zip")
    with pytest.raises(InputError, match=r"garbage\.npz"):
        XASDataset.load(tmp_path / "garbage.npz")


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="spectra have shape"):
        XASDataset("Cu", "FEFF", ids=["mp-1_000"], spectra=np.zeros((1, 140)))
    with pytest.raises(ValueError, match="not unique"):
        XASDataset("Cu", "FEFF", ids=["mp-1_000", "mp-1_000"])


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = _toy().save(tmp_path / "toy.npz")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError):
        _toy(8).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["toy.npz"]


def test_grouped_split_meets_fractions_without_overlap():
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 12, size=400)
    groups = np.repeat([f"mp-{g}" for g in range(len(sizes))], sizes)
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    labels = grouped_split(groups, fractions, seed=3)
    assert not overlapping_groups(groups, labels)
    for name, share in fractions.items():
        assert abs((labels == name).sum() - share * len(groups)) <= sizes.max()
    assert np.array_equal(labels, grouped_split(groups, fractions, seed=3))
    assert not np.array_equal(labels, grouped_split(groups, fractions, seed=4))


def test_grouped_split_with_one_dominant_group():
    # Picking the split with the largest *absolute deviation* would send the small groups to
    # an already overfull split; the deficit rule fills the others first.
    groups = ["big"] * 50 + [f"s{k}" for k in range(50)]
    labels = grouped_split(groups, {"train": 0.5, "val": 0.25, "test": 0.25}, seed=0)
    assert (labels == "train").sum() == 50
    assert (labels == "val").sum() == 25
    assert (labels == "test").sum() == 25


def test_published_cu_assignment_is_reproduced_and_clean(cu_feff_dataset, data_root):
    dataset, _ = cu_feff_dataset
    lists = published_id_lists(data_root, "Cu", "FEFF")
    labels = assign_from_lists(dataset.ids, lists)
    assert np.array_equal(labels, dataset.splits)
    listed = labels != ""
    for name, members in lists.items():
        assert set(dataset.ids[labels == name]) <= set(members)
    assert not overlapping_groups(dataset.material_ids[listed], labels[listed])
    train_materials = {i.rsplit("_", 1)[0] for i in lists["train"]}
    val_materials = {i.rsplit("_", 1)[0] for i in lists["val"]}
    assert not train_materials & val_materials


def test_an_id_in_two_lists_is_an_error():
    with pytest.raises(ValueError, match="both the train and val lists"):
        assign_from_lists(["mp-1_000"], {"train": ["mp-1_000"], "val": ["mp-1_000"]})
