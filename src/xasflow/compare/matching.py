"""``xasflow.match``: a measured spectrum and candidate structures in, a :class:`Ranking` out.

The one place that turns user inputs (files, folders, structures, options) into candidates and
ranks them; ``xasflow match`` is a thin command line over it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from xasflow.compare.align import AlignConfig
from xasflow.compare.match import Candidate, Ranking, oxidation_state_or_none, rank
from xasflow.compare.normalize import NormalizedSpectrum, normalize
from xasflow.compare.score import DEFAULT_METRIC, get_metric
from xasflow.data.sites import DEFAULT_SYMPREC, check_symprec, parse_selection
from xasflow.errors import InputError, XasflowError, check_element, check_fidelity


class NoCandidateError(XasflowError):
    """No candidate could be used; ``errors`` says why for each, as ``(source, message)``."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("no usable candidate structure")
        self.errors = errors


def align_config(
    element: str,
    offset: float | None = None,
    shift_bound: float | None = None,
    sigma: float | None = None,
    offset_rule: str = "element",
) -> AlignConfig:
    """The alignment settings of the options, checked (``XasflowError`` for a negative range or
    broadening, or an unknown offset rule)."""
    config = AlignConfig(offset=offset, shift_bound=shift_bound, sigma=sigma, offset_rule=offset_rule)
    if config.bound(element) < 0 or (sigma is not None and sigma < 0):
        raise XasflowError("--shift-bound and --sigma must be >= 0")
    return config


def match(
    measured,
    candidates,
    element: str,
    *,
    fidelity: str = "FEFF",
    model: str | Path | None = None,
    zoo_dir: str | Path | None = None,
    sites: str | list[int] = "inequivalent",
    symprec: float = DEFAULT_SYMPREC,
    metric: str | None = None,
    offset: float | None = None,
    shift_bound: float | None = None,
    sigma: float | None = None,
    offset_rule: str = "element",
    columns: str | None = None,
    group: str | None = None,
    energy_unit: str = "eV",
    simulated: str | Path | None = None,
    mix: bool = False,
) -> Ranking:
    """Rank candidate structures by how well their spectra match a measured K-edge spectrum.

    Parameters
    ----------
    measured
        A measured file (XDI, Athena project, energy/μ columns), or a spectrum already read
        (:class:`~xasflow.io.measured.MeasuredSpectrum`) or normalised
        (:class:`~xasflow.compare.normalize.NormalizedSpectrum`).
    candidates
        Structure files, folders of them (searched recursively), pymatgen ``Structure`` objects or
        prepared :class:`~xasflow.compare.match.Candidate` spectra; one or a list.
    element
        Absorbing element (K edge).
    fidelity, model, zoo_dir, sites, symprec
        The predictor's options (see :class:`~xasflow.inference.predictor.Predictor`).
    metric
        ``rfactor`` (default), ``pearson``, ``cosine``, ``dpearson`` or ``likelihood``.
    offset, shift_bound, sigma
        Centre and half-width (eV) of the fitted shift range, fixed broadening (eV); ``None`` = defaults.
    offset_rule
        Without ``offset``: ``element`` (default) centres every shift range on the element's one
        offset; ``oxidation`` centres each candidate's on the edge offset of its formal oxidation
        state where one was fitted on measured references (Fe, Mn; docs/match.md).
    columns, group, energy_unit
        Column override, Athena group and energy unit (``eV`` or ``keV``) when ``measured`` is a file.
    simulated
        An ``xasflow simulate`` output tree: rank the candidates' FEFF spectra from it instead of predictions.
    mix
        Also fit a non-negative linear combination (``Ranking.mixture``; needs two usable candidates).

    Returns
    -------
    Ranking
        Entries best first; candidates that could not be used are in ``errors`` and never stop the others.

    Raises
    ------
    XasflowError
        For a bad option, a model that cannot be had, or no usable candidate (:class:`NoCandidateError`).
    InputError
        For an unusable measured file.

    Examples
    --------
    >>> ranking = xasflow.match("CuO.xdi", ["CuO.cif", "Cu2O.cif"], "Cu")  # doctest: +SKIP
    >>> ranking.best.formula, ranking.best.score, ranking.errors  # doctest: +SKIP
    >>> ranking.write("ranking.csv"); ranking.to_frame()  # doctest: +SKIP
    """
    element = check_element(element)
    metric = metric or DEFAULT_METRIC
    get_metric(metric)
    config = align_config(element, offset, shift_bound, sigma, offset_rule)
    fidelity = check_fidelity(fidelity)
    selection = parse_selection(sites if isinstance(sites, str) else ",".join(map(str, sites)))
    symprec = check_symprec(symprec)
    if simulated is not None and not Path(simulated).is_dir():
        raise XasflowError(f"--simulated {simulated}: not a folder")
    spectrum = _normalized(measured, element, columns, group, energy_unit)
    if simulated is None:
        build = _predicted(element, fidelity, model, zoo_dir, selection, symprec)
    else:
        build = _simulated(Path(simulated), element)
    usable, errors = build_candidates(candidates, build)
    if not usable:
        raise NoCandidateError(errors)
    ranking = rank(spectrum, usable, element, metric=metric, config=config)
    mixture = None
    if mix:
        from xasflow.compare.mix import mix as fit_mixture

        mixture = fit_mixture(spectrum, usable, element, config=config)
    return replace(ranking, errors=errors, mixture=mixture)


def _normalized(
    measured, element: str, columns: str | None, group: str | None, energy_unit: str = "eV"
) -> NormalizedSpectrum:
    from_file = columns is not None or group is not None or energy_unit != "eV"
    if isinstance(measured, NormalizedSpectrum):
        if from_file:
            raise XasflowError("columns, group and energy_unit apply to a measured file, not to a normalised spectrum")
        return measured
    if isinstance(measured, (str, Path)):
        from xasflow.io.measured import read_measured

        measured = read_measured(measured, columns=columns, group=group, energy_unit=energy_unit)
    elif from_file:
        raise XasflowError("columns, group and energy_unit apply to a measured file, not to a spectrum already read")
    return normalize(measured, element)


def _predicted(element, fidelity, model, zoo_dir, selection, symprec) -> Callable[[Any, str], Candidate]:
    from xasflow.inference.predictor import default_predictor

    if isinstance(model, Path):
        model = str(model)
    sites = selection if isinstance(selection, str) else tuple(selection)
    predictor = default_predictor(fidelity, model, sites, symprec, None if zoo_dir is None else str(zoo_dir))
    predictor.model_for(element)  # fail fast when the set has no model

    def build(item, source: str) -> Candidate:
        from xasflow.io.structures import check_structure, read_structure

        if isinstance(item, Path):
            structure = read_structure(item)
        else:
            check_structure(item, source)
            structure = item
        candidate = Candidate.from_prediction(predictor.predict_structure(structure, element, source, check=False))
        return replace(candidate, oxidation_state=oxidation_state_or_none(structure, element))

    return build


def _simulated(tree: Path, element: str) -> Callable[[Any, str], Candidate]:
    def build(item, source: str) -> Candidate:
        if not isinstance(item, Path):
            raise InputError(source, "a structure object has no file to look up in the --simulated tree; give its file")
        return Candidate.from_simulation(tree, item, element)

    return build


def build_candidates(items, build: Callable[[Any, str], Candidate]) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Candidates from paths, folders, structures or candidates, and ``(source, message)`` of each refused one."""
    usable: list[Candidate] = []
    errors: list[tuple[str, str]] = []
    for item, source in _expand(items, errors):
        if isinstance(item, Candidate):
            usable.append(item)
            continue
        try:
            usable.append(build(item, source))
        except InputError as err:
            errors.append((err.source, err.message))
    return usable, errors


def _expand(items, errors: list[tuple[str, str]]) -> Iterable[tuple[Any, str]]:
    """``(item, source)`` pairs: files found in folders, structures named by formula (numbered if repeated)."""
    from xasflow.io.structures import collect_inputs

    if isinstance(items, (str, Path, Candidate)) or hasattr(items, "lattice"):
        items = [items]
    items = list(items)
    formulas = [i.composition.reduced_formula for i in items if hasattr(i, "composition")]
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, (str, Path)):
            files, problems = collect_inputs([item])
            errors.extend((p.source, p.message) for p in problems)
            yield from ((path, str(path)) for path in files)
        elif isinstance(item, Candidate):
            yield item, item.source
        elif hasattr(item, "composition"):
            formula = item.composition.reduced_formula
            seen[formula] = seen.get(formula, 0) + 1
            yield item, formula if formulas.count(formula) == 1 else f"{formula} #{seen[formula]}"
        else:
            errors.append((repr(item)[:60], "not a structure file, folder, Structure or Candidate"))
