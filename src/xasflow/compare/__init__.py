"""Compare predicted spectra with measurements: normalise, align, score, match and mix.

Needs xraylarch (``pip install 'xasflow[experiment]'``) for reading and normalisation.
"""

from xasflow.compare.align import DEFAULT_OFFSET, DEFAULT_SHIFT_BOUND, AlignConfig, Alignment, align
from xasflow.compare.match import Candidate, MatchEntry, Ranking, rank
from xasflow.compare.matching import NoCandidateError, match
from xasflow.compare.mix import MixtureResult, mix
from xasflow.compare.normalize import NormalizedSpectrum, normalize
from xasflow.compare.score import DEFAULT_METRIC, METRICS, score

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_OFFSET",
    "DEFAULT_SHIFT_BOUND",
    "METRICS",
    "AlignConfig",
    "Alignment",
    "Candidate",
    "MatchEntry",
    "MixtureResult",
    "NoCandidateError",
    "NormalizedSpectrum",
    "Ranking",
    "align",
    "match",
    "mix",
    "normalize",
    "rank",
    "score",
]
