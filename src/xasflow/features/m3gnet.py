"""M3GNet site features: node features after the last graph block of a pretrained potential.

The published OmniXAS features were made with matgl 0.8.5, whose M3GNet node update
summed the messages ``f(v_src, v_dst, e_ij)`` onto the *destination* atom of each bond;
matgl ≥ 1 sums them onto the *source* atom. :class:`DestinationSumGraphConv` restores
the old convention for one model instance only (matgl itself is left untouched).
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from xasflow.constants import PUBLISHED_SCALE
from xasflow.errors import XasflowError
from xasflow.features.base import check_sites, check_structure

#: Folder (inside this package) of the weights the published features were made with.
PUBLISHED_WEIGHTS = "M3GNet-MP-2021.2.8-PES"

Aggregation = Literal["destination", "source"]


def packaged_weights_dir() -> Path:
    """The published M3GNet weights shipped with xasflow."""
    return Path(str(resources.files("xasflow.features") / "weights" / PUBLISHED_WEIGHTS))


#: matgl's ``__init__`` re-exports its trainers, which import PyTorch Lightning (1-2 s of start-up).
_MATGL_TRAINING = "matgl.utils.training"
_MATGL_TRAINERS = ("MGLDatasetLoader", "MGLPotentialTrainer")


class _Deferred(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its attributes is used, then imports it."""

    def __init__(self, name: str) -> None:
        import importlib.machinery
        import importlib.util

        super().__init__(name)
        # Located without importing the parent package (``find_spec`` of a submodule would import it).
        parent, _, _ = name.rpartition(".")
        parent_spec = sys.modules[parent].__spec__ if parent in sys.modules else importlib.util.find_spec(parent)
        self.__spec__ = importlib.machinery.PathFinder.find_spec(name, parent_spec.submodule_search_locations)
        self.__path__ = list(self.__spec__.submodule_search_locations or [])

    def __getattr__(self, attr: str):
        import importlib

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


#: Imported by torch_geometric at start-up, used only by ``torch.compile`` (~1 s) and by torch_geometric's
#: dataset classes (~0.5 s, with pandas), neither of which featurization touches.
_DEFERRED = ("torch._dynamo", "torch_geometric.datasets")


def import_matgl() -> types.ModuleType:
    """Import matgl without what featurization never uses: its training stack and ``torch._dynamo``.

    A placeholder stands in for ``matgl.utils.training`` while matgl loads and is removed at once,
    so ``import matgl.utils.training`` (or ``matgl.MGLPotentialTrainer``) still gets the real module;
    ``torch._dynamo`` is imported on first use of any of its attributes. Together ~2 s of start-up.
    """
    if "matgl" in sys.modules:
        return sys.modules["matgl"]
    import importlib

    import torch  # noqa: F401  (the parent of the deferred modules)

    for name in _DEFERRED:
        sys.modules.setdefault(name, _Deferred(name))
    placeholder = types.ModuleType(_MATGL_TRAINING)
    for name in _MATGL_TRAINERS:
        setattr(placeholder, name, None)
    sys.modules[_MATGL_TRAINING] = placeholder
    try:
        import matgl
    finally:
        if sys.modules.get(_MATGL_TRAINING) is placeholder:
            del sys.modules[_MATGL_TRAINING]
    for name in _MATGL_TRAINERS:
        if name in vars(matgl) and getattr(matgl, name) is None:
            delattr(matgl, name)
    for name in _DEFERRED:
        # ``import a.b`` of a module already in sys.modules does not set the attribute ``a.b``: set it here,
        # after importing the parent with the stand-in in place (M3GNet needs torch_geometric anyway).
        parent, _, child = name.rpartition(".")
        stand_in = sys.modules.get(name)
        if isinstance(stand_in, _Deferred):
            package = importlib.import_module(parent)
            if child not in vars(package):
                setattr(package, child, stand_in)

    def _trainers(name: str):
        if name in _MATGL_TRAINERS:
            return getattr(importlib.import_module(_MATGL_TRAINING), name)
        raise AttributeError(f"module 'matgl' has no attribute {name!r}")

    matgl.__getattr__ = _trainers  # type: ignore[attr-defined]
    return matgl


def _destination_sum_conv_class():
    # Built lazily so that importing xasflow.features does not import torch/matgl.
    import_matgl()
    from matgl.layers._graph_convolution import M3GNetGraphConv
    from matgl.utils.maths import scatter_add

    class DestinationSumGraphConv(M3GNetGraphConv):
        """M3GNet graph convolution whose node messages are summed onto the destination atom.

        Identical to matgl's ``M3GNetGraphConv`` except for the index of the scatter in
        :meth:`node_update_` (matgl 0.8.5 convention, the one of the published features).
        """

        @classmethod
        def from_conv(cls, conv: M3GNetGraphConv) -> DestinationSumGraphConv:
            """A copy of ``conv`` sharing its trained sub-networks."""
            return cls(
                conv.include_state,
                conv.edge_update_func,
                conv.edge_weight_func,
                conv.node_update_func,
                conv.node_weight_func,
                conv.state_update_func,
            )

        def node_update_(self, edge_index, edge_feat, node_feat, rbf, u_per_edge, num_nodes):
            import torch

            vi, vj = node_feat[edge_index[0]], node_feat[edge_index[1]]
            parts = [vi, vj, edge_feat] if not self.include_state else [vi, vj, edge_feat, u_per_edge]
            messages = self.node_update_func(torch.hstack(parts)) * self.node_weight_func(rbf)
            return scatter_add(messages, edge_index[1], dim_size=num_nodes, dim=0)

    return DestinationSumGraphConv


def use_destination_aggregation(model) -> None:
    """Switch one loaded M3GNet instance to destination-atom message summation (in place)."""
    conv_class = _destination_sum_conv_class()
    for block in model.graph_layers:
        if not isinstance(block.conv, conv_class):
            block.conv = conv_class.from_conv(block.conv)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def featurizer_version(weights: Path, aggregation: str) -> str:
    """The ``version`` string of an M3GNet featurizer, computed without loading the network."""
    tag = _file_digest(weights / "state.pt") if weights.is_dir() else str(weights)
    return f"{weights.name}@{tag}/{aggregation}-sum/x{PUBLISHED_SCALE:g}"


def published_version() -> str:
    """Version of the published-convention features (``m3gnet``): the published OmniXAS rows have it too."""
    return featurizer_version(packaged_weights_dir(), "destination")


def load_m3gnet(model: str | Path):
    """Load an M3GNet model (the network inside a matgl ``Potential``).

    Parameters
    ----------
    model
        A local folder with ``model.json``/``model.pt``/``state.pt``, or a matgl hub
        name; the hub is only contacted when ``HF_HUB_OFFLINE=0`` is set explicitly.

    Raises
    ------
    XasflowError
        If the weights cannot be found or loaded.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = Path(model).expanduser()
    local = path.is_dir()
    if local:
        if not (path / "model.json").is_file():
            raise XasflowError(f"{path}: not a matgl model folder (no model.json)")
        target: str = str(path.resolve())  # absolute: a relative 'owner/name' would be taken as a hub id
    elif os.environ.get("HF_HUB_OFFLINE") != "0":
        raise XasflowError(
            f"{model}: no such model folder; downloading from the matgl hub is disabled (set HF_HUB_OFFLINE=0 to allow)"
        )
    else:
        target = str(model)
    matgl = import_matgl()

    try:
        with warnings.catch_warnings():
            # Loading 0.8.5-era weights warns about the model version; the state dict matches fully.
            warnings.simplefilter("ignore")
            loaded = matgl.load_model(target)
    except Exception as exc:
        raise XasflowError(f"{model}: cannot load matgl model ({exc})") from exc
    network = getattr(loaded, "model", loaded)
    if not hasattr(network, "graph_layers") or not hasattr(network, "element_types"):
        raise XasflowError(f"{model}: not an M3GNet model")
    network.eval()
    return network


class M3GNetFeaturizer:
    """Node features of a pretrained M3GNet after its last graph block, ×1000.

    Parameters
    ----------
    weights
        Model folder (or hub name, see :func:`load_m3gnet`); default the packaged published weights.
    aggregation
        ``"destination"`` (matgl 0.8.5 / published features) or ``"source"`` (stock matgl ≥ 1).
    name
        Registry name reported in ``name``.
    num_threads
        torch intra-op threads; 1 by default because extra threads slow it down on busy few-core machines.
        ``None`` leaves torch's setting alone.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        aggregation: Aggregation = "destination",
        name: str = "m3gnet",
        num_threads: int | None = 1,
    ) -> None:
        import torch

        if aggregation not in ("destination", "source"):
            raise ValueError(f"aggregation must be 'destination' or 'source', not {aggregation!r}")
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        weights = packaged_weights_dir() if weights is None else weights
        self.model = load_m3gnet(weights)
        if aggregation == "destination":
            use_destination_aggregation(self.model)
        self.name = name
        self.aggregation = aggregation
        self.element_types: tuple[str, ...] = tuple(self.model.element_types)
        self.dim: int = int(self.model.embedding.layer_node_embedding.embedding_dim)
        self.version = featurizer_version(Path(weights), aggregation)
        self._converter = None

    def _graph(self, structure):
        import torch

        import_matgl()
        from matgl.ext.pymatgen import Structure2Graph

        if self._converter is None:
            self._converter = Structure2Graph(element_types=self.element_types, cutoff=self.model.cutoff)
        graph, lattice, _ = self._converter.get_graph(structure)
        graph.pbc_offshift = torch.matmul(graph.pbc_offset, lattice[0])
        graph.pos = graph.frac_coords @ lattice[0]
        return graph

    def node_features(self, structure, source: str = "structure") -> np.ndarray:
        """Features of every atom, shape ``(len(structure), dim)``, ×1000."""
        import torch

        check_structure(structure, source, self.element_types)
        graph = self._graph(structure)
        with torch.no_grad():
            self.model(g=graph)
            nodes = self.model.feature_dict[f"gc_{self.model.n_blocks}"]["node_feat"]
        return nodes.detach().cpu().numpy().astype(np.float64) * PUBLISHED_SCALE

    def featurize(self, structure, sites: Sequence[int], source: str = "structure") -> np.ndarray:
        """Features of ``sites``, shape ``(len(sites), dim)``.

        Raises
        ------
        InputError
            Molecule, disordered structure, element unknown to the model, or site out of range.
        """
        indices = check_sites(structure, sites, source)  # the structure is checked by node_features
        if not indices:
            return np.zeros((0, self.dim))
        return self.node_features(structure, source)[indices]


class M3GNetBlocksFeaturizer(M3GNetFeaturizer):
    """Node features after *every* graph block of the published-convention M3GNet, concatenated (×1000).

    Same weights and the same single forward pass as :class:`M3GNetFeaturizer` (destination-sum
    convention): ``[gc_1 | gc_2 | ... | gc_n]``, so the last ``dim / n`` columns (``neighbours=False``)
    are the published features. With ``neighbours=True`` a further block is appended: the mean of the
    last block's node features of the site's bonded neighbours (within the M3GNet cutoff), weighted by
    ``exp(-(d - d_min) / 0.5 Å)`` so that the first shell dominates.

    Parameters
    ----------
    weights, aggregation, num_threads
        As for :class:`M3GNetFeaturizer` (default: the packaged published weights, destination sum).
    neighbours
        Append the neighbour-averaged last-block features.
    name
        Registry name.
    """

    #: Decay length (Å) of the neighbour weights beyond the nearest neighbour.
    NEIGHBOUR_SCALE = 0.5

    def __init__(
        self,
        weights: str | Path | None = None,
        aggregation: Aggregation = "destination",
        name: str = "m3gnet-blocks",
        num_threads: int | None = 1,
        neighbours: bool = False,
    ) -> None:
        super().__init__(weights, aggregation, name=name, num_threads=num_threads)
        self.neighbours = neighbours
        self.block_dim = self.dim
        self.n_blocks = int(self.model.n_blocks)
        self.dim = self.block_dim * (self.n_blocks + int(neighbours))
        parts = "+".join(f"gc{i}" for i in range(1, self.n_blocks + 1))
        if neighbours:
            parts += f"+nbr{self.NEIGHBOUR_SCALE:g}A"
        self.version = f"{self.version}/{parts}"

    def node_features(self, structure, source: str = "structure") -> np.ndarray:
        """Concatenated per-block features of every atom, shape ``(len(structure), dim)``, ×1000."""
        import torch

        check_structure(structure, source, self.element_types)
        graph = self._graph(structure)
        with torch.no_grad():
            self.model(g=graph)
            blocks = [self.model.feature_dict[f"gc_{i}"]["node_feat"] for i in range(1, self.n_blocks + 1)]
            if self.neighbours:
                blocks.append(self._neighbour_mean(graph, blocks[-1]))
        return torch.hstack(blocks).detach().cpu().numpy().astype(np.float64) * PUBLISHED_SCALE

    def _neighbour_mean(self, graph, nodes):
        import torch

        src, dst = graph.edge_index[0], graph.edge_index[1]
        vectors = graph.pos[dst] - graph.pos[src] + graph.pbc_offshift
        distance = torch.linalg.norm(vectors, dim=1)
        n = nodes.shape[0]
        nearest = torch.full((n,), float("inf"), dtype=distance.dtype).scatter_reduce(0, src, distance, reduce="amin")
        weight = torch.exp(-(distance - nearest[src]) / self.NEIGHBOUR_SCALE)
        total = torch.zeros(n, dtype=weight.dtype).index_add(0, src, weight).clamp_min(1e-12)
        summed = torch.zeros_like(nodes).index_add(0, src, weight[:, None].to(nodes.dtype) * nodes[dst])
        return summed / total[:, None].to(nodes.dtype)
