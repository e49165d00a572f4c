"""Throughput of the prediction pipeline on the shared Cu structures, and FEFF10 for comparison."""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xasflow.errors import XasflowError
from xasflow.io.lightshow import FeffSite, iter_sites
from xasflow.io.structures import read_structure


@dataclass
class BenchResult:
    """Measured numbers (all on this process, single thread unless stated)."""

    structures: int
    sites: int
    featurize_seconds: float
    network_seconds: float
    peak_rss_mb: float
    feff_site: str = ""
    feff_atoms: int = 0
    feff_seconds: float = 0.0

    @property
    def structures_per_s(self) -> float:
        return self.structures / self.featurize_seconds

    @property
    def sites_per_s_featurize(self) -> float:
        return self.sites / self.featurize_seconds

    @property
    def spectra_per_s_network(self) -> float:
        return self.sites / self.network_seconds

    @property
    def seconds_per_site(self) -> float:
        return (self.featurize_seconds + self.network_seconds) / self.sites

    def lines(self) -> list[str]:
        out = [
            f"structures            {self.structures} ({self.sites} inequivalent Cu sites)",
            f"featurization         {self.structures_per_s:.1f} structures/s, {self.sites_per_s_featurize:.1f} sites/s",
            f"network alone         {self.spectra_per_s_network:,.0f} spectra/s",
            f"end to end            {1000 * self.seconds_per_site:.1f} ms per site",
            f"peak memory (RSS)     {self.peak_rss_mb:.0f} MB",
        ]
        if self.feff_seconds:
            out += [
                f"FEFF10 ({self.feff_site}, {self.feff_atoms} atoms in cluster): {self.feff_seconds:.1f} CPU s",
                f"speed-up vs FEFF10    {self.feff_seconds / self.seconds_per_site:,.0f}x per site",
            ]
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "structures_per_s": self.structures_per_s, "seconds_per_site": self.seconds_per_site}


def _cluster_size(site: FeffSite) -> int:
    """Atoms in the ATOMS card of a site's feff.inp (FEFF's cost grows as roughly size^2.5)."""
    text = site.feff_inp.read_text()
    atoms = text.split("ATOMS", 1)[1].split("END", 1)[0]
    return sum(1 for line in atoms.splitlines() if line.strip() and not line.strip().startswith("*"))


#: Clusters smaller than this come from sparse cells whose SCF can stall for tens of minutes: not a fair yardstick.
MIN_FEFF_ATOMS = 50


def run_bench(
    tree: Path, limit: int = 200, feff: bool = False, feff_site: str | None = None, feff_timeout: float = 3600
) -> BenchResult:
    """Featurize and predict the inequivalent Cu sites of the first ``limit`` materials of ``tree``.

    With ``feff``, also time one FEFF10 run with the published FEFF cards from the shared ``feff.inp`` of
    ``feff_site`` (default: the smallest cluster of at least ``MIN_FEFF_ATOMS`` atoms in the tree, about
    the cheapest ordinary site, so the speed-up is a lower bound).
    """
    import torch

    torch.set_num_threads(1)
    sites_by_material: dict[str, list[FeffSite]] = {}
    for site in iter_sites(tree, "Cu"):
        sites_by_material.setdefault(site.material_id, []).append(site)
    materials = sorted(sites_by_material)[:limit]
    if not materials:
        raise XasflowError(f"{tree}: no Cu structures found")
    structures = [read_structure(sites_by_material[m][0].poscar) for m in materials]
    from xasflow.inference.predictor import Predictor

    predictor = Predictor()
    model = predictor.model_for("Cu")
    featurizer = predictor.featurizer_for(model)  # the representation the default Cu model reads
    featurizer.featurize(structures[0], [sites_by_material[materials[0]][0].site])  # warm-up (lazy loading)

    start = time.perf_counter()
    features = [
        featurizer.featurize(s, [site.site for site in sites_by_material[m]])
        for s, m in zip(structures, materials, strict=True)
    ]
    featurize_seconds = time.perf_counter() - start
    rows = np.vstack(features)
    start = time.perf_counter()
    model.predict(rows)
    network_seconds = time.perf_counter() - start
    result = BenchResult(
        structures=len(structures),
        sites=len(rows),
        featurize_seconds=featurize_seconds,
        network_seconds=network_seconds,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if feff:
        from xasflow.simulation.runner import FeffFailure, run_feff

        candidates = [s for group in sites_by_material.values() for s in group]
        if feff_site is not None:
            matches = [s for s in candidates if s.site_id == feff_site]
            if not matches:
                raise XasflowError(f"{tree}: no site {feff_site} (expected MATERIAL_SITE, e.g. mp-705439_000)")
            site = matches[0]
        else:
            # The smallest ordinary cluster: about the cheapest FEFF run, so the ratio is a lower bound.
            sized = [(n, s) for s in candidates if (n := _cluster_size(s)) >= MIN_FEFF_ATOMS]
            site = min(sized, key=lambda pair: pair[0])[1]
        with tempfile.TemporaryDirectory(prefix="xasflow-bench-feff-") as tmp:
            workdir = Path(tmp)
            (workdir / "feff.inp").write_text(site.feff_inp.read_text())
            try:
                wall, cpu = run_feff(workdir / "feff.inp", workdir, feff_timeout)
            except FeffFailure as exc:
                raise XasflowError(f"FEFF10 run of {site.site_id}: {exc}") from exc
            # CPU time where measured: FEFF10 is serial, so it is what the run costs on any machine.
            result.feff_seconds = cpu if cpu else wall
        result.feff_site, result.feff_atoms = site.site_id, _cluster_size(site)
    return result
