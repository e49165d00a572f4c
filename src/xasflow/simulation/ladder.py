"""SCF retry ladder: card changes tried in order before a site is given up.

FEFF10's self-consistency loop (the POT module) stops on some sites with "Bad counts found
repeatedly - pot will exit now" (the electron count of the cluster goes wrong on the complex
energy contour) and the SCREEN module then crashes. The ``SCF`` card is
``SCF rfms1 lfms1 nscmt ca nmix``: ``rfms1`` the SCF cluster radius (Å), ``nscmt`` the maximum
number of iterations, ``ca`` the convergence accelerator (mixing fraction of the first iteration,
0.2 by default; smaller is gentler), ``nmix`` the number of plain-mixing iterations before Broyden
mixing takes over (FEFF 9 manual, SCF card). The ladder varies these, mildest change first:

====  =================  ==================================================================
rung  name               change to the card set's SCF card
====  =================  ==================================================================
0     ``as-set``         none (the card set as named)
1     ``mixing``         ``nmix`` 10, ``nscmt`` × 1.5: ten plain-mixing iterations before Broyden
2     ``accelerator``    ``ca`` 0.05 and ``nmix`` 10: a gentler first step, then as rung 1
3     ``radius+0.5``     ``rfms1`` + 0.5 Å: another shell boundary, card set's mixing
4     ``radius-1.0``     ``rfms1`` − 1.0 Å (not below 3 Å), ``ca`` 0.1, ``nmix`` 10
====  =================  ==================================================================

A run that times out ends the ladder (a later rung would not be cheaper); any other FEFF failure
moves to the next rung. The rung that finished is recorded in the site marker and the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from xasflow.errors import XasflowError


@dataclass(frozen=True)
class Rung:
    """One change to the SCF card; ``None`` keeps the card set's value.

    Attributes
    ----------
    radius_delta
        Added to the SCF radius ``rfms1`` (Å); the result is kept at or above ``min_radius``.
    iterations_factor
        Multiplies ``nscmt`` (rounded up).
    ca, nmix
        Replace the convergence accelerator and the plain-mixing iteration count.
    """

    name: str
    description: str
    radius_delta: float = 0.0
    iterations_factor: float = 1.0
    ca: float | None = None
    nmix: int | None = None
    min_radius: float = 3.0

    def scf_card(self, base: str) -> str:
        """The SCF card value of this rung, from the card set's value ``base`` (``r l n ca nmix``)."""
        parts = base.split()
        if len(parts) < 1:
            raise XasflowError(f"SCF card {base!r} has no radius")
        defaults = ["0", "30", "0.2", "1"]  # FEFF's defaults for lfms1 nscmt ca nmix
        parts = parts + defaults[len(parts) - 1 :]
        radius = max(self.min_radius, float(parts[0]) + self.radius_delta)
        iterations = int(-(-int(parts[2]) * self.iterations_factor // 1))
        ca = float(parts[3]) if self.ca is None else self.ca
        nmix = int(parts[4]) if self.nmix is None else self.nmix
        return f"{radius:.1f} {parts[1]} {iterations} {ca:g} {nmix}"

    def overrides(self, cards: dict[str, str]) -> dict[str, str]:
        """Card overrides for a card set's ``cards`` (empty for the unchanged rung)."""
        if "SCF" not in cards:
            return {}
        new = self.scf_card(cards["SCF"])
        return {} if new == _canonical(cards["SCF"]) else {"SCF": new}


def _canonical(scf: str) -> str:
    return Rung("as-set", "").scf_card(scf)


@dataclass(frozen=True)
class RetryLadder:
    """Rungs tried in order; the first is the card set itself."""

    name: str
    rungs: tuple[Rung, ...]

    def plan(self, cards: dict[str, str]) -> tuple[tuple[str, dict[str, str]], ...]:
        """``(rung name, card overrides)`` per rung, rungs giving the same cards as an earlier one dropped."""
        seen: list[dict[str, str]] = []
        out = []
        for rung in self.rungs:
            overrides = rung.overrides(cards)
            if overrides in seen:
                continue
            seen.append(overrides)
            out.append((rung.name, overrides))
        return tuple(out)


DEFAULT_LADDER = RetryLadder(
    name="scf-v1",
    rungs=(
        Rung("as-set", "the card set as named"),
        Rung("mixing", "nmix 10, SCF iterations x1.5", iterations_factor=1.5, nmix=10),
        Rung("accelerator", "ca 0.05, nmix 10", ca=0.05, nmix=10),
        Rung("radius+0.5", "SCF radius + 0.5 A", radius_delta=0.5),
        Rung("radius-1.0", "SCF radius - 1.0 A (>= 3 A), ca 0.1, nmix 10", radius_delta=-1.0, ca=0.1, nmix=10),
    ),
)

NO_LADDER = RetryLadder(name="none", rungs=(Rung("as-set", "the card set as named"),))

LADDERS: dict[str, RetryLadder] = {"default": DEFAULT_LADDER, "none": NO_LADDER}


def get_ladder(name: str) -> RetryLadder:
    """The ladder called ``name`` (``default`` or ``none``)."""
    try:
        return LADDERS[name]
    except KeyError:
        raise XasflowError(f"unknown retry ladder {name!r}; choose one of {', '.join(LADDERS)}") from None
