"""``feff.inp`` for one absorbing site, built on pymatgen's FEFF io.

pymatgen writes the header (:class:`~pymatgen.io.feff.inputs.Header`), the cards
(:class:`~pymatgen.io.feff.inputs.Tags`) and the cluster (:class:`~pymatgen.io.feff.inputs.Atoms`).
POTENTIALS is rebuilt here from the cluster itself: pymatgen's ``Potential`` can leave out a
non-absorbing atom of the absorber's element that ATOMS still refers to (pymatgen issue #3695),
and FEFF10 then refuses the input.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xasflow.errors import InputError
from xasflow.simulation.feff_cards import FeffCardSet

#: Stoichiometry FEFF expects for the absorber's own potential (as in the published inputs).
_ABSORBER_STOICHIOMETRY = 0.0001


@dataclass(frozen=True)
class SiteInput:
    """A generated FEFF input and the cluster it describes.

    Attributes
    ----------
    symbols, coords
        Cluster atoms (absorber first, at the origin), sorted by distance; coords in Å.
    card_set
        Name of the FEFF card set (the ``card_set`` key of the site marker).
    n_atoms
        Atoms within the FEFF card set's cluster radius (absorber included).
    n_fms
        Atoms within the FMS radius: the size that sets the cost of a run.
    """

    material_id: str
    site: int
    element: str
    card_set: str
    text: str
    symbols: tuple[str, ...]
    coords: np.ndarray
    n_atoms: int
    n_fms: int


def _species_order(structure) -> list[str]:
    """Elements in order of first appearance in the structure (the published POTENTIALS order)."""
    seen: list[str] = []
    for site in structure:
        symbol = site.specie.symbol
        if symbol not in seen:
            seen.append(symbol)
    return seen


def potentials_for_cluster(structure, element: str, cluster_symbols: list[str]) -> list[tuple[int, int, str, float]]:
    """POTENTIALS rows ``(ipot, Z, tag, stoichiometry)`` consistent with a cluster.

    ipot 0 is the absorber; every other element *present in the cluster* gets one ipot,
    including the absorber's element when the cluster holds non-absorbing atoms of it.
    Stoichiometries are the unit-cell counts, as in the published inputs.
    """
    from pymatgen.core import Element

    counts = structure.composition.element_composition
    present = set(cluster_symbols[1:])
    rows = [(0, Element(element).Z, element, _ABSORBER_STOICHIOMETRY)]
    for symbol in _species_order(structure):
        if symbol in present:
            rows.append((len(rows), Element(symbol).Z, symbol, float(counts[symbol])))
    return rows


def _format_potentials(rows: list[tuple[int, int, str, float]]) -> str:
    lines = [
        "POTENTIALS",
        "  *ipot    Z  tag      lmax1    lmax2    xnatph(stoichometry)    spinph",
    ]
    for ipot, z, tag, stoich in rows:
        lines.append(f"{ipot:7d} {z:4d}  {tag:<4s} {-1:9d} {-1:8d} {stoich:23g} {0:9d}")
    return "\n".join(lines)


def _format_atoms(symbols: list[str], coords: np.ndarray, ipot_of: dict[str, int], element: str) -> str:
    lines = ["ATOMS", "  *       x            y            z      ipot  Atom      Distance    Number"]
    distances = np.linalg.norm(coords, axis=1)
    for k, (symbol, xyz, dist) in enumerate(zip(symbols, coords, distances, strict=True)):
        ipot = 0 if k == 0 else ipot_of[symbol]
        lines.append(f"{xyz[0]:12.6f} {xyz[1]:12.6f} {xyz[2]:12.6f} {ipot:6d}  {symbol:<4s} {dist:12.6f} {k:8d}")
    lines.append("END")
    return "\n".join(lines)


def cluster_around(structure, site: int, radius: float) -> tuple[list[str], np.ndarray]:
    """Atoms within ``radius`` of ``site`` (periodic images included), absorber first, by distance."""
    from pymatgen.io.feff.inputs import Atoms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = Atoms(structure, site, radius).cluster
    symbols = [s.specie.symbol for s in cluster]
    coords = np.array([s.coords for s in cluster], dtype=float).reshape(-1, 3)
    order = np.argsort(np.linalg.norm(coords, axis=1), kind="stable")
    order = np.concatenate([[0], order[order != 0]])  # the absorber stays first even with a 0-distance twin
    return [symbols[i] for i in order], coords[order]


def build_site_input(
    structure,
    site: int,
    element: str,
    feff_card_set: FeffCardSet,
    material_id: str = "",
    source: str | Path = "",
) -> SiteInput:
    """FEFF input for absorbing ``site`` (an ``element`` atom) of a periodic, ordered structure.

    Raises
    ------
    InputError
        If the site is not an ``element`` atom, or the cluster is too small or too large
        for the FEFF card set.
    """
    from pymatgen.io.feff.inputs import Header, Tags

    source = source or material_id or "structure"
    if not 0 <= site < len(structure) or structure[site].specie.symbol != element:
        raise InputError(source, f"site {site} is not a {element} atom")
    symbols, coords = cluster_around(structure, site, feff_card_set.radius)
    n_atoms = len(symbols)
    if n_atoms < feff_card_set.min_atoms:
        raise InputError(
            source,
            f"site {site}: only {n_atoms} atoms within {feff_card_set.radius} Å; card set {feff_card_set.name!r} needs "
            f"at least {feff_card_set.min_atoms} (isolated or vacuum-padded structure?)",
        )
    if n_atoms > feff_card_set.max_atoms:
        raise InputError(
            source,
            f"site {site}: {n_atoms} atoms within {feff_card_set.radius} Å exceed the "
            f"{feff_card_set.max_atoms} that card set {feff_card_set.name!r} allows",
        )
    distances = np.linalg.norm(coords, axis=1)
    if n_atoms > 1 and distances[1] < 0.5:
        raise InputError(source, f"site {site}: atoms closer than 0.5 Å to the absorber (overlapping sites)")
    if (distances[1:] <= feff_card_set.scf_radius).sum() == 0:
        raise InputError(source, f"site {site}: no neighbour within the SCF radius {feff_card_set.scf_radius} Å")
    rows = potentials_for_cluster(structure, element, symbols)
    ipot_of = {tag: ipot for ipot, _, tag, _ in rows[1:]}
    cards = dict(feff_card_set.cards)
    fms_radius = feff_card_set.fms_radius_for(distances)
    if feff_card_set.fms_atoms is not None:
        cards["FMS"] = feff_card_set.fms_card(distances)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = str(Header(structure, source=material_id, comment=f"xasflow site {site} {element} K-edge"))
    text = "\n\n".join(
        [
            header.rstrip(),
            Tags(cards).get_str(),
            _format_potentials(rows),
            _format_atoms(symbols, coords, ipot_of, element),
        ]
    )
    return SiteInput(
        material_id=material_id,
        site=site,
        element=element,
        card_set=feff_card_set.name,
        text=text + "\n",
        symbols=tuple(symbols),
        coords=coords,
        n_atoms=n_atoms,
        n_fms=int((distances <= fms_radius).sum()),
    )


_CARD_LINE = re.compile(r"^([A-Z_0-9]+)\b")


def replace_cards(text: str, overrides: dict[str, str]) -> str:
    """``feff.inp`` text with the cards in ``overrides`` replaced (continuation lines included).

    Raises
    ------
    InputError
        If a card to replace is absent from the input.
    """
    lines = text.splitlines()
    out: list[str] = []
    replaced: set[str] = set()
    skipping = False
    for line in lines:
        match = _CARD_LINE.match(line.strip())
        word = match.group(1).upper() if match else None
        if word in ("POTENTIALS", "ATOMS", "END"):
            skipping = False
            out.append(line)
            continue
        if skipping and (word is None and line.strip() and not line.strip().startswith("*")):
            continue  # continuation row of a replaced card (EGRID's k_grid lines)
        skipping = False
        if word in overrides and line.strip().split()[0].upper() == word:
            value = overrides[word]
            out.append(f"{word} {value}" if not value.startswith("\n") else word + value)
            replaced.add(word)
            skipping = True
            continue
        out.append(line)
    missing = set(overrides) - replaced
    if missing:
        raise InputError("feff.inp", f"cards {', '.join(sorted(missing))} not found to replace")
    return "\n".join(out) + "\n"


# --- reading feff.inp back (for comparisons and checks) ---------------------------------------


@dataclass(frozen=True)
class ParsedInput:
    """The parts of a ``feff.inp`` that define a calculation."""

    cards: dict[str, str]
    potentials: dict[int, tuple[int, str]]
    symbols: tuple[str, ...]
    coords: np.ndarray
    ipots: tuple[int, ...]


_SECTION_END = {"POTENTIALS", "ATOMS", "END"}


def _normalise(value: str) -> str:
    return "\n".join(" ".join(line.split()) for line in value.strip().splitlines() if line.strip())


def parse_feff_inp(text: str, source: str | Path = "feff.inp") -> ParsedInput:
    """Cards, POTENTIALS and ATOMS of a ``feff.inp`` (comments and TITLE lines ignored).

    Raises
    ------
    InputError
        If the POTENTIALS or ATOMS block is missing or malformed.
    """
    cards: dict[str, str] = {}
    potentials: dict[int, tuple[int, str]] = {}
    symbols: list[str] = []
    coords: list[list[float]] = []
    ipots: list[int] = []
    section = "cards"
    last_card: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("!")[0].strip()
        if not line or line.startswith("*"):
            continue
        word = line.split()[0].upper()
        if word in _SECTION_END:
            section = word
            continue
        try:
            if section == "cards":
                if word == "TITLE":
                    continue
                if re.match(r"^[A-Z_0-9]+$", line.split()[0]):
                    last_card = word
                    cards[word] = line[len(line.split()[0]) :].strip()
                elif last_card is not None:  # continuation line (EGRID's k_grid rows)
                    cards[last_card] += "\n" + line
            elif section == "POTENTIALS":
                parts = line.split()
                potentials[int(parts[0])] = (int(parts[1]), parts[2])
            elif section == "ATOMS":
                parts = line.split()
                coords.append([float(v) for v in parts[:3]])
                ipots.append(int(parts[3]))
                symbols.append(parts[4] if len(parts) > 4 else "")
        except (ValueError, IndexError) as exc:
            raise InputError(source, f"line {number}: malformed {section} line") from exc
    if not potentials:
        raise InputError(source, "no POTENTIALS block")
    if not coords:
        raise InputError(source, "no ATOMS block")
    return ParsedInput(
        cards={k: _normalise(v) for k, v in cards.items()},
        potentials=potentials,
        symbols=tuple(symbols),
        coords=np.asarray(coords, dtype=float),
        ipots=tuple(ipots),
    )


def undefined_ipots(parsed: ParsedInput) -> list[int]:
    """ipots that ATOMS uses but POTENTIALS does not define (what FEFF10 refuses)."""
    return sorted(set(parsed.ipots) - set(parsed.potentials))


def compare_inputs(a: ParsedInput, b: ParsedInput, tol: float = 1e-4) -> list[str]:
    """Differences between two inputs: cards, and the clusters as sets of (element, position).

    Returns an empty list when the cards are equal and every atom of each cluster has an
    atom of the same element within ``tol`` Å in the other (one-to-one).
    """
    from scipy.spatial import cKDTree

    problems = []
    for key in sorted(set(a.cards) | set(b.cards)):
        if a.cards.get(key) != b.cards.get(key):
            problems.append(f"card {key}: {a.cards.get(key)!r} != {b.cards.get(key)!r}")
    if len(a.symbols) != len(b.symbols):
        problems.append(f"cluster sizes differ: {len(a.symbols)} != {len(b.symbols)}")
        return problems
    for symbol in sorted(set(a.symbols) | set(b.symbols)):
        pa = a.coords[np.array(a.symbols) == symbol]
        pb = b.coords[np.array(b.symbols) == symbol]
        if len(pa) != len(pb):
            problems.append(f"{symbol}: {len(pa)} atoms != {len(pb)}")
            continue
        dist, match = cKDTree(pb).query(pa)
        if np.any(dist > tol) or len(set(match.tolist())) != len(pa):
            problems.append(f"{symbol}: positions differ by up to {dist.max():.2e} Å")
    return problems
