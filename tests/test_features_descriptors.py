"""ACSF/SOAP baselines and the PCA fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from xasflow.data.dataset import XASDataset
from xasflow.errors import InputError, XasflowError
from xasflow.features import get_featurizer
from xasflow.features.dataset import DatasetFeatures, attach_features
from xasflow.features.pca import VariancePCA, fit_pca_on_train


@pytest.fixture(scope="module")
def cu2o():
    return Structure(Lattice.cubic(4.27), ["Cu"] * 4 + ["O"] * 2, [
        [0.25, 0.25, 0.25], [0.75, 0.75, 0.25], [0.75, 0.25, 0.75], [0.25, 0.75, 0.75],
        [0, 0, 0], [0.5, 0.5, 0.5],
    ])  # fmt: skip


def test_acsf_dimension_follows_published_settings(cu2o):
    acsf = get_featurizer("acsf", species=["O", "Cu"])
    # per species: 1 G1 + 3 G2; per unordered species pair: 9 G4
    assert acsf.dim == 2 * (1 + 3) + 3 * 9
    values = acsf.featurize(cu2o, [0, 1])
    assert values.shape == (2, acsf.dim)
    np.testing.assert_allclose(values[0], values[1], rtol=1e-8)  # symmetry-equivalent Cu sites


def test_soap_dimension_follows_published_settings(cu2o):
    soap = get_featurizer("soap", species=["Cu", "O", "Zn"])
    n = 3 * 3  # species × n_max
    assert soap.dim == n * (n + 1) // 2 * (3 + 1)
    values = soap.featurize(cu2o, [0])
    assert values.shape == (1, soap.dim) and np.abs(values).sum() > 0


def test_descriptor_version_depends_on_species():
    assert get_featurizer("soap", species=["Cu", "O"]).version != get_featurizer("soap", species=["Cu", "S"]).version
    with pytest.raises(XasflowError, match="species"):
        get_featurizer("acsf")


def test_species_outside_the_descriptor_is_an_input_error(cu2o):
    with pytest.raises(InputError, match="O"):
        get_featurizer("soap", species=["Cu"]).featurize(cu2o, [0], source="cu2o.cif")


def test_variance_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 300)) @ np.diag(np.linspace(3, 0.01, 300))
    ours = VariancePCA(0.99).fit(X)
    reference = PCA(n_components=0.99, svd_solver="full").fit(X)
    assert ours.n_components == reference.n_components_
    np.testing.assert_allclose(ours.explained_variance_ratio_, reference.explained_variance_ratio_, rtol=1e-8)
    # components agree up to sign
    np.testing.assert_allclose(np.abs(ours.transform(X)), np.abs(reference.transform(X)), rtol=1e-6, atol=1e-8)


def test_pca_is_fitted_on_train_rows_only(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 50))
    splits = np.array(["train"] * 20 + ["val"] * 10)
    reduced, pca = fit_pca_on_train(X, splits)
    changed = X.copy()
    changed[20:] *= 100.0  # wild validation rows must not move the fit
    reduced_changed, pca_changed = fit_pca_on_train(changed, splits)
    np.testing.assert_allclose(pca.components_, pca_changed.components_)
    np.testing.assert_allclose(pca.mean_, X[:20].mean(axis=0))
    np.testing.assert_allclose(reduced[:20], reduced_changed[:20])
    loaded = VariancePCA.load(pca.save(tmp_path / "pca.npz"))
    np.testing.assert_allclose(loaded.transform(X), reduced)
    with pytest.raises(XasflowError, match="train"):
        fit_pca_on_train(X, np.array(["val"] * 30))


def test_attach_features_reduces_with_train_pca():
    rng = np.random.default_rng(2)
    ids = [f"mp-{i}_000" for i in range(12)]
    splits = np.array(["train"] * 8 + ["val"] * 4)
    dataset = XASDataset("Cu", "FEFF", ids=ids, splits=splits)
    featurizer = get_featurizer("acsf", species=["Cu", "O"])
    features = DatasetFeatures(rng.normal(size=(12, featurizer.dim)))
    out = attach_features(dataset, features, featurizer, pca_variance=0.99)
    info = out.metadata["features"]["acsf"]["pca"]
    assert out.features["acsf"].shape == (12, info["n_components"])
    assert info["fitted_on"] == "train" and info["n_components"] <= 7
