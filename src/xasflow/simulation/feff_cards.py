"""Named FEFF card sets: the published OmniXAS settings and cheaper variants measured against them.

A *FEFF card set* (:class:`FeffCardSet`) is a named set of FEFF10 input parameters ("cards" in FEFF's
terms: ``SCF``, ``FMS``, ``EGRID``, ...) plus the cluster they are meant for. It is unrelated to the
*model card* of a saved model (``model.json``, :mod:`xasflow.models.card`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from xasflow.errors import XasflowError

#: Cards of the published OmniXAS FEFF-XANES inputs (lightshow ``FEFFParameters(edge="K", radius=9.0)``),
#: in the order they appear in the shared feff.inp files.
_PUBLISHED_CARDS: dict[str, str] = {
    "CONTROL": "1 1 1 1 1 1",
    "COREHOLE": "RPA",
    "S02": "0",
    "EXCHANGE": "0 0.0 0.0 2",
    "SCF": "7.0 0 100 0.2 3",
    "FMS": "9.0 0",
    "XANES": "4 0.04 0.1",
    "EDGE": "K",
    "RPATH": "-1",
    "EGRID": "\nk_grid -1 0 0.04\nk_grid 0 6 0.04",
}


@dataclass(frozen=True)
class CostModel:
    """Single-core CPU seconds of one site: ``overhead + coefficient · n^exponent``.

    ``n`` is ``size``: ``n_fms`` (atoms inside the card set's FMS sphere: sets the cost when the FMS
    sphere is fixed) or ``n_atoms`` (atoms within the 9 Å cluster: for an FMS sphere sized by atom
    count, where the SCF loop over the denser clusters sets the cost). ``source`` names the
    measurements the parameters were fitted to.
    """

    overhead: float
    coefficient: float
    exponent: float
    source: str = ""
    size: str = "n_fms"

    def seconds(self, n: int) -> float:
        return self.overhead + self.coefficient * float(n) ** self.exponent


#: The first cost model of the project (docs/simulation.md), kept for FEFF card sets without a fit.
DEFAULT_COST = CostModel(30.0, 2.0e-3, 2.5, "early runs of the published cards")


@dataclass(frozen=True)
class FeffCardSet:
    """A named FEFF card set: FEFF10 control cards plus the cluster they are meant for.

    Attributes
    ----------
    name
        Registry name (``published``, ``screening``, ``screening-s5`` or ``fast``).
    cards
        Card name -> value text, in output order (multi-line values start with a newline).
    radius
        Radius (Å) of the ATOMS cluster around the absorber.
    min_atoms, max_atoms
        Cluster sizes (atoms within ``radius``, absorber included) that the set accepts:
        fewer atoms cannot hold an SCF/FMS shell, more exceed what a site can afford.
    fms_atoms
        When set, the FMS radius of each site is the smallest one whose sphere holds at least this
        many atoms (absorber included; the radius sits midway to the next shell), at most the FMS
        card's radius. XANES converges with the number of atoms in the FMS cluster, not its radius
        (FEFF documentation: "about 50-150 atoms"), so dense sites get a smaller sphere and sparse
        ones the full one.
    """

    name: str
    cards: dict[str, str]
    radius: float = 9.0
    min_atoms: int = 5
    max_atoms: int = 800
    description: str = ""
    cost: CostModel = DEFAULT_COST
    fms_atoms: int | None = None

    @property
    def fms_radius(self) -> float:
        """Radius (Å) of the full-multiple-scattering sphere, which sets the cost."""
        return float(self.cards["FMS"].split()[0])

    @property
    def scf_radius(self) -> float:
        return float(self.cards["SCF"].split()[0])

    def fms_radius_for(self, distances) -> float:
        """FMS radius (Å) for a cluster with these absorber distances (the card's radius if not adaptive)."""
        import numpy as np

        if self.fms_atoms is None:
            return self.fms_radius
        d = np.sort(np.asarray(distances, dtype=float))
        if len(d) <= self.fms_atoms:
            return self.fms_radius
        inner, outer = d[self.fms_atoms - 1], d[self.fms_atoms]
        radius = round(float(inner + outer) / 2, 3) if outer - inner > 0.02 else round(float(inner) + 0.01, 3)
        return min(self.fms_radius, radius)

    def fms_card(self, distances) -> str:
        """The FMS card value for a cluster (radius from :meth:`fms_radius_for`, the card's other fields)."""
        parts = self.cards["FMS"].split()
        return " ".join([f"{self.fms_radius_for(distances):.3f}".rstrip("0").rstrip("."), *parts[1:]])

    def estimate_seconds(self, n_fms: int, n_atoms: int | None = None) -> float:
        """Estimated single-core CPU seconds of a site (atoms in this set's FMS sphere, in the cluster)."""
        if self.cost.size == "n_atoms":
            return self.cost.seconds(n_atoms if n_atoms is not None else n_fms)
        return self.cost.seconds(n_fms)

    def fingerprint(self) -> str:
        """Short hash of the cards and radius: two outputs with equal fingerprints are comparable."""
        content: dict = {"cards": self.cards, "radius": self.radius}
        if self.fms_atoms is not None:
            content["fms_atoms"] = self.fms_atoms
        payload = json.dumps(content, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        out = {"name": self.name, "cards": dict(self.cards), "radius": self.radius, "fingerprint": self.fingerprint()}
        if self.fms_atoms is not None:
            out["fms_atoms"] = self.fms_atoms
        return out


#: Fitted to the published-cards runs on this machine (CPU s vs atoms within 9 Å): 44 → 55 s, 79 → 312 s,
#: 87 → 135 s, 91 → 161 s, 251 → 2,838 s (shared/README.md, docs/simulation.md, results/cards/).
PUBLISHED_COST = CostModel(34.0, 6.0e-4, 2.75, "published cards: 5 Cu sites, 44-251 atoms (results/cards/)")

PUBLISHED = FeffCardSet(
    name="published",
    cards=dict(_PUBLISHED_CARDS),
    description="OmniXAS/Lightshow FEFF-XANES settings (SCF 7 Å, FMS 9 Å, k step 0.04)",
    cost=PUBLISHED_COST,
)

# Measured on a median Cu site: ~10x cheaper than `published` at R² 0.9998 (shared/README.md); the card
# study (results/cards/) puts its error at 15 % of the model's MSE on a sparse site (FMS 7 Å: 37 atoms).
FAST = FeffCardSet(
    name="fast",
    cards={
        **_PUBLISHED_CARDS,
        "SCF": "5.0 0 30 0.2 3",
        "FMS": "7.0 0",
        "EGRID": "\nk_grid -1 0 0.08\nk_grid 0 6 0.08",
    },
    description="SCF 5 Å / 30 iterations, FMS 7 Å, k step 0.08 (error 15 % of the model MSE on a sparse site)",
    cost=CostModel(
        56.4,
        1.19e-4,
        2.6,
        "not fitted: taken as screening-s5's first 4-site fit (same SCF and k grid, FMS 7 Å ~ 90-170 atoms)",
        "n_atoms",
    ),
)

#: The FEFF card study (results/cards/, scripts/card_study.py): the error against the published spectra follows the
#: atoms inside the FMS sphere, not its radius, and the few large errors are rigid edge shifts from a 5 Å SCF
#: sphere. SCF 7 Å (the published radius, 30 iterations) with the 120-atom FMS sphere: 2.45 % of the model's
#: MSE on 30 Cu sites, 131-2103 CPU s per site, 4.52x screening-s5 (results/cards/).
SCREENING_COST = CostModel(
    46.1,
    0.002343,
    2.35,
    "card study a120_s7_k08: 30 Cu sites, 91-277 atoms, 131–2103 CPU s (results/cards/)",
    "n_atoms",
)

SCREENING = FeffCardSet(
    name="screening",
    cards={
        **_PUBLISHED_CARDS,
        "SCF": "7.0 0 30 0.2 3",
        "FMS": "9.0 0",
        "EGRID": "\nk_grid -1 0 0.08\nk_grid 0 6 0.08",
    },
    description="SCF 7 Å / 30 iterations, FMS sphere holding >= 120 atoms (<= 9 Å), k step 0.08 "
    "(error 2.45 % of the model MSE on 30 Cu sites, median site 1.99 %)",
    cost=SCREENING_COST,
    fms_atoms=120,
)

#: The first screening set (named ``screening`` until the SCF 7 Å set replaced it; the Fe/Mn campaign's first
#: sites were run with it): 11.5 % of the model's MSE on 29 Cu sites (median site 4.9 %), most of it edge shifts of
#: up to 0.65 eV on a few sites; ~1/4 of ``screening``'s CPU time. Not within the 5 % target.
SCREENING_S5_COST = CostModel(
    31.2, 0.0482, 1.5, "card study a120_s5_k08: 29 Cu sites, 91-277 atoms, 72-334 CPU s (results/cards/)", "n_atoms"
)

SCREENING_S5 = FeffCardSet(
    name="screening-s5",
    cards={
        **_PUBLISHED_CARDS,
        "SCF": "5.0 0 30 0.2 3",
        "FMS": "9.0 0",
        "EGRID": "\nk_grid -1 0 0.08\nk_grid 0 6 0.08",
    },
    description="SCF 5 Å / 30 iterations, FMS sphere holding >= 120 atoms (<= 9 Å), k step 0.08 "
    "(error 11.5 % of the model MSE on 29 Cu sites, median site 4.9 %; the first `screening`)",
    cost=SCREENING_S5_COST,
    fms_atoms=120,
)

FEFF_CARD_SETS: dict[str, FeffCardSet] = {c.name: c for c in (PUBLISHED, SCREENING, SCREENING_S5, FAST)}


def get_feff_card_set(name: str) -> FeffCardSet:
    """The FEFF card set called ``name``; raises ``XasflowError`` for an unknown name."""
    try:
        return FEFF_CARD_SETS[name]
    except KeyError:
        raise XasflowError(f"unknown FEFF card set {name!r}; choose one of {', '.join(FEFF_CARD_SETS)}") from None


def present_name(fingerprint: str | None, recorded: str) -> str:
    """Today's name of the FEFF card set with this fingerprint, else the name a run recorded.

    Output written before a set was renamed (``screening`` -> ``screening-s5``) keeps its old name in its
    markers; the fingerprint says which cards it really ran with.
    """
    return next((c.name for c in FEFF_CARD_SETS.values() if c.fingerprint() == fingerprint), recorded)
