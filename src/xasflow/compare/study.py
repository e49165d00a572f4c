"""Development-set study of matching: rankings, leave-one-compound-out confidence, an edge-offset correction.

Every measured development spectrum is ranked against every reference structure of its element; the
confidence temperature (:mod:`xasflow.compare.confidence`) is fitted leave-one-compound-out (never on
the compound it is evaluated on). The correction studied is the per-element edge offset (beamline
minus FEFF energy scale): measured as the median own-compound shift of the *other* compounds of the
element, with the ±3 eV shift range used for the elements whose offsets were measured (Cu, Cr),
against the default (tabulated rule, ±4.5 eV, for Ti, Mn, Fe, Ni).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from xasflow.compare.confidence import fit_temperature, near_tie, probabilities
from xasflow.fileio import atomic_open

#: Measured file (relative to the experiment data folder) -> reference CIF stem of its compound.
TRUTH: dict[str, str] = {
    "Cu/cu_metal_rt.xdi": "Cu_metal",
    "Cu/Cu_Foil_rt_2016Foils.xdi": "Cu_metal",
    "Cu/CuO_tenorite_13K_01.xdi": "CuO_tenorite",
    "Cu/CuS_covellite_13K_01.xdi": "CuS_covellite",
    "Cu/Cu2S_13K_01.xdi": "Cu2S_chalcocite",
    "Cu/Cu_azurite_13K_01.xdi": "azurite_Cu3C2H2O8",
    "Cu/CuHERFD_standards__CuHERFD_Chalcopyrite.001.dat": "chalcopyrite_CuFeS2",
    "Cu/CuHERFD_standards__CuHERFD_CuSO4.001.dat": "chalcocyanite_CuSO4",
    "Cu/athena4__cucl2_5h2o_cu_xafs.001.dat": "eriochalcite_CuCl2_2H2O",
    "Cr/cr2o3_rt_001.xdi": "Cr2O3_eskolaite",
    "Cr/cro2_rt_001.xdi": "CrO2",
    "Cr/k2cr2o7_rt_001.xdi": "K2Cr2O7",
    "Cr/k2cro4_rt_001.xdi": "K2CrO4_tarapacaite",
    "Cr/na2cro4_rt_001.xdi": "Na2CrO4",
    "Cr/cr2s3_rt_001.xdi": "Cr2S3",
    "Fe/Aegirine_FeXANES_powder_avg.e": "aegirine_NaFeSi2O6",
    "Fe/Almandine_Waychunas_FeXANES.e": "almandine_Fe3Al2Si3O12",
    "Fe/Andradite_FeXANES.e": "andradite_Ca3Fe2Si3O12",
    "Fe/Cubanite_FeXANES_powder_avg.e": "cubanite_CuFe2S3",
    "Fe/Fe-K-ALS-10.3.2__Hercynite.dat": "hercynite_FeAl2O4",
    "Fe/Fe-K-ALS-10.3.2__Olivine_Fo0.dat": "fayalite_Fe2SiO4",
    "Fe/Fe-K-ALS-10.3.2__Troilite.dat": "troilite_FeS",
    "Fe/Fe3C_rt_01.xdi": "cohenite_Fe3C",
    "Fe/Fe__Lepidocrocite.dat": "lepidocrocite_FeOOH",
    "Fe/Hansel2001_siderite_xanes_001.xdi": "siderite_FeCO3",
    "Fe/Hansel2001_vivianite_xanes_001.xdi": "vivianite_Fe3P2O8_8H2O",
    "Fe/Hedenbergite_FeXANES_powder_avg.e": "hedenbergite_CaFeSi2O6",
    "Fe/ilmenite_FeXANES_generic.e": "ilmenite_FeTiO3",
    "Fe/FeLibNov2021__Fe3P.nor": "schreibersite_Fe3P",
    "Fe/FeN_rt_01.xdi": "FeN",
    "Mn/Mn__MnCl2.dat": "scacchite_MnCl2",
    "Mn/Mn__Ramsdellite.dat": "ramsdellite_MnO2",
    "Mn/Mn__Rhodochrosite.dat": "rhodochrosite_MnCO3",
    "Mn/Mn__g-MnOOH.dat": "manganite_MnOOH",
    "Mn/athena2__mn2s.003.dat": "alabandite_MnS",
    "Mn/Mn__Li2MnO3.dat": "Li2MnO3",
    "Ni/NiS_rt_01.xdi": "millerite_NiS",
    "Ni/ref_LiNiO2.txt": "LiNiO2",
    "Ti/tipb__PbTiO3_300_K.dat": "macedonite_PbTiO3",
    "Ti/eutio3__tieu_300.dat": "EuTiO3",
}

#: Files whose energies are not in eV (the data README says so).
ENERGY_UNIT: dict[str, str] = {"Ni/ref_LiNiO2.txt": "keV"}

#: The elements whose models are trained on published spectra (the issue's target set).
PUBLISHED = ("Ti", "V", "Cr", "Co", "Ni", "Cu")


@dataclass
class DevRanking:
    """One measured spectrum ranked against its element's candidates (best first)."""

    file: str
    element: str
    compound: str
    candidates: list[str]
    misfits: list[float]
    shifts: list[float]
    sigmas: list[float]
    variant: str = "default"
    probs: list[float] = field(default_factory=list)
    temperature: float = float("nan")

    @property
    def rank(self) -> int:
        """Rank (1 = first) of the true compound."""
        return self.candidates.index(self.compound) + 1

    @property
    def own_shift(self) -> float:
        return self.shifts[self.candidates.index(self.compound)]


def predicted_candidates(reference_dir: Path, element: str, cache: Path | None, predictor=None) -> list:
    """Candidates (predicted spectra) of every reference CIF containing ``element``, cached as JSON.

    A cached prediction is used only if it came from the model the predictor would use now (same
    ``model_version``: xasflow version + weights checksum), so a rebuilt model is never ranked with its
    predecessor's spectra.
    """
    from xasflow.compare.match import Candidate, oxidation_state_or_none
    from xasflow.inference.predictor import Prediction, Predictor, model_version
    from xasflow.io.structures import read_structure

    predictor = predictor or Predictor()
    version = model_version(predictor.model_for(element))
    out = []
    for cif in sorted(Path(reference_dir).glob("*.cif")):
        structure = read_structure(cif)
        if element not in structure.composition:
            continue
        path = None if cache is None else Path(cache) / f"{cif.stem}__{element}.json"
        prediction = None
        if path is not None and path.exists():
            prediction = Prediction.from_dict(json.loads(path.read_text()))
            if prediction.model_version != version:
                prediction = None  # made by another model: predict again
        if prediction is None:
            prediction = predictor.predict_structure(structure, element, cif.stem)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_open(path) as fh:  # an interrupted study leaves no half-written cache entry
                    fh.write(json.dumps(prediction.to_dict()))
        candidate = Candidate.from_prediction(prediction)
        out.append(replace(candidate, oxidation_state=oxidation_state_or_none(structure, element)))
    return out


def rank_spectrum(
    measured, candidates, element: str, config=None, metric: str = "rfactor", edge_models=None
) -> tuple[list[str], list[float], list, list]:
    """Names, misfits, shifts and σ of ``candidates`` ranked on ``measured`` by ``metric`` (best first).

    ``edge_models`` (element → :class:`~xasflow.compare.correction.EdgeShiftModel`) replaces the
    shipped lines when ``config.offset_rule`` is ``"oxidation"`` (see :func:`xasflow.compare.match.rank`).

    The misfit is the R-factor; with ``metric="likelihood"`` it is ``exp(−ℓ)`` with ℓ the σ-weighted
    mean log-likelihood per point, so that the confidence ``softmax(−ln misfit / T)`` is
    ``softmax(ℓ / T)``, a tempered likelihood over the candidates.
    """
    from xasflow.compare.match import rank

    result = rank(measured, candidates, element, metric=metric, config=config, edge_models=edge_models)
    names = [Path(e.candidate.source).stem for e in result.entries]
    if metric == "likelihood":
        best = result.entries[0].metrics["likelihood"]
        misfits = [float(np.exp(-(e.metrics["likelihood"] - best))) for e in result.entries]
    else:
        misfits = [max(0.0, 1.0 - e.metrics["rfactor"]) for e in result.entries]
    return (
        names,
        misfits,
        [e.alignment.shift for e in result.entries],
        [e.alignment.sigma for e in result.entries],
    )


def read_all(data_dir: Path, truth: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Normalised spectra per relative file; files that cannot be used -> their one-line error."""
    from xasflow.compare.normalize import normalize
    from xasflow.errors import InputError
    from xasflow.io.measured import read_measured

    spectra, errors = {}, {}
    for relative in truth:
        element = relative.split("/")[0]
        # Exports without column names (Athena .dat, .e, .nor, .txt): energy and μ are the first two
        # columns (the data README), as a user would say with ``--columns energy=1,mu=2``.
        columns = None if relative.endswith(".xdi") else "energy=1,mu=2"
        unit = ENERGY_UNIT.get(relative, "eV")
        try:
            spectra[relative] = normalize(
                read_measured(Path(data_dir) / relative, columns=columns, energy_unit=unit), element
            )
        except (InputError, ValueError) as err:
            errors[relative] = str(getattr(err, "message", err))
    return spectra, errors


def loco_confidence(rankings: list[DevRanking]) -> None:
    """Fill ``probs`` and ``temperature``: T fitted on the rankings of every *other* compound."""
    for r in rankings:
        train = [(o.misfits, o.rank - 1) for o in rankings if o.compound != r.compound and len(o.misfits) >= 2]
        r.temperature = fit_temperature(train)
        r.probs = probabilities(r.misfits, r.temperature).tolist()


def loco_offsets(rankings: list[DevRanking]) -> dict[str, float]:
    """Per file: the median own-compound shift over the other compounds of its element (nan if none)."""
    out = {}
    for r in rankings:
        others = [o.own_shift for o in rankings if o.element == r.element and o.compound != r.compound]
        out[r.file] = float(np.median(others)) if others else float("nan")
    return out


def _edge_pairs(rankings: list[DevRanking], oxidation: dict, element: str, leave_out: str | None = None) -> dict:
    """``compound -> (oxidation state, own shift)`` of ``element``'s rankings usable for an edge fit.

    Shifts that sat on the alignment's bound (truncated) and compounds without an oxidation state
    are left out, and so is ``leave_out``.
    """
    from xasflow.compare.align import DEFAULT_OFFSET, DEFAULT_SHIFT_BOUND

    return {
        o.compound: (oxidation[element][o.compound], o.own_shift)
        for o in rankings
        if o.element == element
        and o.compound != leave_out
        and oxidation[element].get(o.compound) is not None
        and abs(o.own_shift - DEFAULT_OFFSET[element]) < DEFAULT_SHIFT_BOUND[element] - 0.05
    }


def loco_edge_models(rankings: list[DevRanking], oxidation: dict[str, dict[str, float | None]], bound: float) -> dict:
    """Per file: the :class:`~xasflow.compare.correction.EdgeShiftModel` of its element, fitted on the
    own-compound shifts of the *other* compounds (``None`` if none is usable).

    ``rankings`` are per-element-offset rankings; ``oxidation[element][name]`` is a candidate's
    formal oxidation state of ``element``.
    """
    from xasflow.compare.correction import EdgeShiftModel

    out = {}
    for r in rankings:
        pairs = _edge_pairs(rankings, oxidation, r.element, leave_out=r.compound)
        if not pairs:
            out[r.file] = None
            continue
        ox, shifts = zip(*pairs.values(), strict=True)
        out[r.file] = EdgeShiftModel.fit(ox, shifts, bound)
    return out


def fit_edge_models(
    rankings: list[DevRanking], oxidation: dict, bound_of: dict[str, float], min_compounds: int = 5
) -> dict:
    """The edge models to ship: per element with ``min_compounds`` usable compounds, the line through
    all of them, with the half-width chosen most often leave-one-compound-out (``bound_of`` per file;
    0, no correction, wins ties) — ``None`` when that is 0."""
    from collections import Counter

    from xasflow.compare.correction import EdgeShiftModel

    out = {}
    for element in sorted({r.element for r in rankings}):
        pairs = _edge_pairs(rankings, oxidation, element)
        if len(pairs) < min_compounds:
            continue
        votes = Counter(bound_of[r.file] for r in rankings if r.element == element)
        bound = max(sorted(votes), key=lambda b: (votes[b], -b))
        ox, shifts = zip(*pairs.values(), strict=True)
        out[element] = EdgeShiftModel.fit(ox, shifts, bound) if bound > 0 else None
    return out


def summarise(rankings: Iterable[DevRanking], tie_ratio: float | None = None) -> dict:
    """Top-k counts, near ties and reliability rows of rankings with two or more candidates."""
    from xasflow.compare.confidence import NEAR_TIE_RATIO, reliability_table

    tie_ratio = NEAR_TIE_RATIO if tie_ratio is None else tie_ratio
    rs = [r for r in rankings if len(r.candidates) >= 2]
    ranks = [r.rank for r in rs]
    top = [r.probs[0] for r in rs]
    right = [r.rank == 1 for r in rs]
    ties = [near_tie(r.probs, tie_ratio) for r in rs]
    return {
        "n": len(rs),
        "top1": sum(k == 1 for k in ranks),
        "top2": sum(k <= 2 for k in ranks),
        "top3": sum(k <= 3 for k in ranks),
        "near_ties": sum(ties),
        "right_when_not_tie": sum(ok for ok, t in zip(right, ties, strict=True) if not t),
        "not_tie": sum(not t for t in ties),
        "mean_top_confidence": float(np.mean(top)) if top else float("nan"),
        "reliability": [asdict(b) | {"over_confident": b.over_confident} for b in reliability_table(top, right)],
    }


def loco_select(variants: dict[float, list[DevRanking]]) -> tuple[list[DevRanking], dict[str, float]]:
    """Per held-out compound, the variant chosen on the *other* compounds of its element.

    ``variants`` maps a correction parameter to the rankings (same files, same order, confidence
    already filled leave-one-compound-out) obtained with it. For each ranking, the parameter is the
    one with the lowest mean −ln p(own compound) over the other compounds of the element (rankings
    with ≥ 2 candidates; ties -> the smallest parameter, i.e. the least correction); the returned
    ranking is the held-out one under that parameter. Returns the rankings and the chosen parameter
    per file.
    """
    params = sorted(variants)
    base = variants[params[0]]
    chosen, out = {}, []
    for i, r in enumerate(base):

        def cost(p: float, i: int = i, r: DevRanking = r) -> float:
            others = [
                o
                for j, o in enumerate(variants[p])
                if j != i and o.element == r.element and o.compound != r.compound and len(o.candidates) >= 2
            ]
            if not others:
                return 0.0
            return float(np.mean([-np.log(max(o.probs[o.rank - 1], 1e-300)) for o in others]))

        best = min(params, key=lambda p: (round(cost(p), 9), p))
        chosen[r.file] = best
        out.append(variants[best][i])
    return out, chosen
