"""Raw FEFF trees in the Lightshow layout (:mod:`xasflow.io.lightshow`) → an :class:`XASDataset`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xasflow.data.dataset import XASDataset
from xasflow.data.outliers import outlier_mask
from xasflow.data.sites import DEFAULT_SYMPREC, absorbing_sites, check_site
from xasflow.data.splits import assign_from_lists
from xasflow.data.xmu import spectrum_from_xmu
from xasflow.errors import InputError, XasflowError
from xasflow.io.lightshow import XMU, FeffSite, element_dir, iter_sites, poscar_path, site_dir
from xasflow.io.structures import read_structure


def is_finished(site: FeffSite) -> bool:
    """A site folder without ``xmu.dat`` is a calculation that never finished, not bad input."""
    return site.xmu.exists()


@dataclass
class BuildReport:
    """What a build kept, skipped and flagged."""

    found: int = 0
    unfinished: list[str] = field(default_factory=list)
    skipped: list[InputError] = field(default_factory=list)
    outlier_ids: list[str] = field(default_factory=list)
    unlisted_ids: list[str] = field(default_factory=list)
    reserved_ids: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.found} sites found, {len(self.skipped)} skipped as unreadable"]
        if self.reserved_ids:
            out.append(
                f"{len(self.reserved_ids)} sites of reserved materials excluded (kept for independent evaluation): "
                + ", ".join(self.reserved_ids)
            )
        if self.unfinished:
            out.append(f"{len(self.unfinished)} site folders have no xmu.dat (unfinished calculations, ignored)")
        out.append(f"{len(self.outlier_ids)} outliers (point outside mean ± 2.5 std) dropped")
        if self.unlisted_ids:
            out.append(f"{len(self.unlisted_ids)} kept sites are in no published id list (split unassigned)")
        return out


def build_feff_dataset(
    root: Path,
    element: str,
    id_lists: dict[str, list[str]] | None = None,
    drop_outliers: bool = True,
    progress: Callable[[Iterator[FeffSite], int], Iterator[FeffSite]] | None = None,
    exclude_materials: frozenset[str] = frozenset(),
) -> tuple[XASDataset, BuildReport]:
    """Process every ``xmu.dat`` of a raw tree into a dataset.

    Parameters
    ----------
    root
        Lightshow tree (see :func:`xasflow.io.lightshow.iter_sites`).
    id_lists
        Published id lists (split → ids); when given, rows get those splits and are
        ordered as in the lists, unlisted rows last.
    drop_outliers
        Apply the published outlier filter over all readable spectra.
    progress
        Wraps the site iterator (e.g. ``tqdm``); receives it and the total.
    exclude_materials
        Materials whose ``element`` sites are reserved (:mod:`xasflow.data.reserved`): left out and
        listed in ``report.reserved_ids``.
    """
    all_sites = list(iter_sites(root, element))
    reserved = [s for s in all_sites if s.material_id in exclude_materials]
    all_sites = [s for s in all_sites if s.material_id not in exclude_materials]
    sites = [s for s in all_sites if is_finished(s)]
    report = BuildReport(
        found=len(all_sites) + len(reserved),
        unfinished=[s.site_id for s in all_sites if not is_finished(s)],
        reserved_ids=[s.site_id for s in reserved],
    )
    if not sites:
        what = f" outside the {len(reserved)} reserved ones" if reserved else ""
        raise XasflowError(f"{root}: no {element} FEFF-XANES sites found{what}")
    structures_ok: dict[Path, object] = {}
    ids: list[str] = []
    spectra: list[np.ndarray] = []
    iterator = progress(iter(sites), len(sites)) if progress else iter(sites)
    for site in iterator:
        try:
            if site.poscar not in structures_ok:
                structures_ok[site.poscar] = read_structure(site.poscar)
            structure = structures_ok[site.poscar]
            if isinstance(structure, InputError):
                raise structure
            check_site(structure, site.site, element, site.poscar)
            spectra.append(spectrum_from_xmu(site.xmu, element))
            ids.append(site.site_id)
        except InputError as err:
            if site.poscar not in structures_ok:
                structures_ok[site.poscar] = err
            report.skipped.append(err)
    if not ids:
        raise XasflowError(f"{root}: none of the {len(sites)} sites could be read")
    ids_arr = np.array(ids)
    y = np.vstack(spectra)
    if drop_outliers:
        flagged = outlier_mask(y)
        report.outlier_ids = ids_arr[flagged].tolist()
        ids_arr, y = ids_arr[~flagged], y[~flagged]
    splits = None
    if id_lists:
        splits = assign_from_lists(ids_arr, id_lists)
        position = {sid: (k, j) for k, members in enumerate(id_lists.values()) for j, sid in enumerate(members)}
        order = sorted(range(len(ids_arr)), key=lambda r: position.get(ids_arr[r], (len(id_lists), r)))
        ids_arr, y, splits = ids_arr[order], y[order], splits[order]
        report.unlisted_ids = ids_arr[splits == ""].tolist()
    dataset = XASDataset(
        element=element,
        fidelity="FEFF",
        ids=ids_arr,
        spectra=y,
        splits=splits,
        metadata={
            "source": "raw FEFF tree",
            "root": str(root),
            "outliers_dropped": len(report.outlier_ids),
            "skipped": len(report.skipped),
            "reserved_excluded": report.reserved_ids,
        },
    )
    return dataset, report


def site_averaged_spectrum(root: Path, material_id: str, element: str, symprec: float = DEFAULT_SYMPREC) -> np.ndarray:
    """The multiplicity-weighted average of one material's processed ``xmu.dat`` spectra in a tree.

    The sites and weights come from the tree's ``POSCAR`` with the site selector ``simulate``
    uses (inequivalent sites at ``symprec``), so a missing or unfinished site is an error,
    never a silently partial average.

    Raises
    ------
    InputError
        If the material, a selected site or its ``xmu.dat`` is missing, or a file is unreadable.
    """
    tree = element_dir(Path(root), element)
    poscar = poscar_path(tree, material_id)
    if not poscar.exists():
        raise InputError(tree, f"no simulated {element} spectra of {material_id!r} (no {material_id}/POSCAR)")
    structure = read_structure(poscar)
    sites = absorbing_sites(structure, element, source=poscar, symprec=symprec)
    spectra = []
    for site in sites:
        xmu = site_dir(tree, material_id, site.index, element) / XMU
        if not xmu.exists():
            raise InputError(
                xmu.parent, f"site {site.index} of {material_id} has no {XMU} (not simulated or unfinished)"
            )
        spectra.append(spectrum_from_xmu(xmu, element))
    return np.average(np.array(spectra), axis=0, weights=[s.weight for s in sites])
