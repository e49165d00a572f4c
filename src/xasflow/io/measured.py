"""Measured absorption spectra: XDI, Athena project files and plain column text.

Reading goes through xraylarch (``pip install 'xasflow[experiment]'``), imported only here.
Columns are found by their names (XDI ``Column.N`` header, Athena groups, the last comment line of
a text file): energy plus μ, or ``i0`` with ``itrans`` (μ = ln(i0/itrans)) or ``ifluor``
(μ = ifluor/i0). ``columns`` overrides the choice, e.g. ``"energy=1,mu=4"``, ``"1,4"``,
``"energy=energy,i0=i0,itrans=it"`` (1-based numbers or names).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xasflow.errors import InputError, XasflowError

_ENERGY_NAMES = ("energy", "energy_ev", "e", "ev", "enc", "energ")
_MU_NAMES = ("mu", "mutrans", "mu_trans", "xmu", "mufluor", "mu_fluor", "mu_e", "absorption")
_I0_NAMES = ("i0", "io", "imon")
_ITRANS_NAMES = ("itrans", "it", "i1", "itr")
_IFLUOR_NAMES = ("ifluor", "if", "ifl", "fluor", "iff")
#: The third ion chamber, behind a reference foil measured with the sample (μ_ref = ln(itrans/irefer)).
_IREFER_NAMES = ("irefer", "iref", "i2", "ir")
_ROLES = ("energy", "mu", "i0", "itrans", "ifluor")

#: Energy units a file may be read in, with their size in eV.
ENERGY_UNITS: dict[str, float] = {"eV": 1.0, "keV": 1000.0}

#: Energies whose maximum lies below this (eV) are taken to be in keV.
_KEV_LIMIT = 100.0
_MIN_POINTS = 10


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns hold what: each role maps to a 1-based column number or a column name."""

    roles: dict[str, int | str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> ColumnSpec | None:
        """From ``"energy=1,mu=4"``, ``"1,4"`` (energy, μ) or ``"energy=e,i0=i0,itrans=it"``."""
        if text is None or not text.strip():
            return None
        parts = [p.strip() for p in text.split(",") if p.strip()]
        roles: dict[str, int | str] = {}
        if all("=" not in p for p in parts):
            if len(parts) != 2:
                raise XasflowError(f"--columns {text!r}: give 'ENERGY,MU' or role=column pairs")
            parts = [f"energy={parts[0]}", f"mu={parts[1]}"]
        for part in parts:
            role, _, value = part.partition("=")
            role = role.strip().lower()
            if role not in _ROLES or not value.strip():
                raise XasflowError(f"--columns {text!r}: unknown role {role!r}; use {', '.join(_ROLES)}")
            value = value.strip()
            roles[role] = int(value) if value.isdigit() else value.lower()
        if "energy" not in roles:
            raise XasflowError(f"--columns {text!r}: the energy column is missing")
        if not ({"mu"} <= roles.keys() or {"i0", "itrans"} <= roles.keys() or {"i0", "ifluor"} <= roles.keys()):
            raise XasflowError(f"--columns {text!r}: give mu, or i0 with itrans or ifluor")
        return cls(roles)


@dataclass(frozen=True)
class MeasuredSpectrum:
    """A measured μ(E) (raw: background and edge step not removed), energies in eV, increasing."""

    energy: np.ndarray
    mu: np.ndarray
    source: str
    element: str | None = None
    edge: str | None = None
    name: str = ""
    mu_from: str = ""  # how μ was formed, e.g. "ln(i0/itrans)"
    reference_mu: np.ndarray | None = None  # ln(itrans/irefer): the reference foil measured with the sample


def read_measured(
    path: str | Path, columns: str | ColumnSpec | None = None, group: str | None = None, energy_unit: str = "eV"
):
    """Read a measured spectrum from an XDI, Athena project or column text file.

    Parameters
    ----------
    path
        The file.
    columns
        Override of the column choice (see the module docstring).
    group
        For an Athena project holding several spectra: the group (label) to use.
    energy_unit
        ``eV`` (default) or ``keV``: the unit of the file's energy column (keV energies are
        converted to eV; a file that says nothing is never guessed to be in keV).

    Returns
    -------
    MeasuredSpectrum

    Raises
    ------
    InputError
        Missing or unreadable file, columns not identified, energies in keV, not increasing,
        duplicated, NaN values, too few points.
    """
    path = Path(path)
    if energy_unit not in ENERGY_UNITS:
        raise XasflowError(f"unknown energy unit {energy_unit!r}; use {' or '.join(ENERGY_UNITS)}")
    spec = ColumnSpec.parse(columns) if isinstance(columns, str) or columns is None else columns
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    larch_io = _larch_io(path)
    if larch_io.is_athena_project(str(path)):
        labels, arrays, meta = _read_athena(larch_io, path, group)
    elif _is_xdi(path):
        labels, arrays, meta = _read_xdi(larch_io, path)
    else:
        labels, arrays, meta = _read_text(larch_io, path)
    energy, mu, how = _select(path, labels, arrays, spec)
    if energy_unit == "keV":
        if np.nanmax(np.abs(energy)) >= _KEV_LIMIT:
            raise InputError(path, f"energies run {energy.min():g}-{energy.max():g}: already in eV, not keV")
        energy = energy * ENERGY_UNITS["keV"]
    return _checked(
        MeasuredSpectrum(
            energy=energy,
            mu=mu,
            source=str(path),
            element=meta.get("element"),
            edge=meta.get("edge"),
            name=meta.get("name", ""),
            mu_from=how,
            reference_mu=_reference(labels, arrays, spec),
        )
    )


def _reference(labels: list[str], arrays: list[np.ndarray], spec: ColumnSpec | None) -> np.ndarray | None:
    """μ of the reference foil, ``ln(itrans/irefer)``, when the file has a transmission and a reference chamber.

    ``None`` when there is no reference chamber, when ``--columns`` chose μ otherwise, or when the
    ratio is not finite everywhere (a reference channel that was not recorded).
    """
    if spec is not None and "itrans" not in spec.roles:
        return None
    itrans_key = spec.roles["itrans"] if spec is not None else _find(labels, _ITRANS_NAMES)
    irefer = _find(labels, _IREFER_NAMES)
    if itrans_key is None or irefer is None:
        return None
    itrans = arrays[itrans_key - 1] if isinstance(itrans_key, int) else arrays[labels.index(itrans_key)]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.log(itrans / arrays[labels.index(irefer)])
    return mu if np.all(np.isfinite(mu)) else None


def _larch_io(path: Path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import larch.io as larch_io
    except ImportError as exc:
        raise XasflowError(
            f"{path}: reading measured spectra needs xraylarch: pip install 'xasflow[experiment]'"
        ) from exc
    return larch_io


def _is_xdi(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(32).lstrip()
    return head.startswith(b"#") and head[1:].lstrip().upper().startswith(b"XDI")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_xdi(larch_io, path: Path) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = larch_io.read_xdi(str(path))
    except Exception as exc:  # the XDI parser raises ValueError, OSError, ...
        raise InputError(path, f"cannot read XDI file ({_first_line(exc)})") from exc
    labels = [str(label).lower() for label in getattr(data, "array_labels", [])]
    if not labels:
        raise InputError(path, "XDI file has no data columns")
    arrays = [np.asarray(getattr(data, label), dtype=float) for label in data.array_labels]
    attrs = getattr(data, "attrs", {}) or {}
    meta = {
        "element": str(attrs.get("element", {}).get("symbol", "")).strip() or None,
        "edge": str(attrs.get("element", {}).get("edge", "")).strip() or None,
        "name": str(attrs.get("sample", {}).get("name", "")).strip(),
    }
    return labels, arrays, meta


def _read_athena(larch_io, path: Path, group: str | None) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            project = larch_io.read_athena(str(path), do_preedge=False)
    except Exception as exc:
        raise InputError(path, f"cannot read Athena project ({_first_line(exc)})") from exc
    names = [name for name in dir(project) if not name.startswith("_")]
    groups = {name: getattr(project, name) for name in names if hasattr(getattr(project, name), "energy")}
    if not groups:
        raise InputError(path, "Athena project holds no spectra")
    if group is None:
        if len(groups) > 1:
            raise InputError(path, f"Athena project holds {len(groups)} spectra; choose one of {', '.join(groups)}")
        group = next(iter(groups))
    if group not in groups:
        raise InputError(path, f"no group {group!r} in the Athena project; it holds {', '.join(groups)}")
    chosen = groups[group]
    labels, arrays = ["energy"], [np.asarray(chosen.energy, dtype=float)]
    for label in ("mu", "i0", "itrans", "ifluor"):
        if hasattr(chosen, label):
            labels.append(label)
            arrays.append(np.asarray(getattr(chosen, label), dtype=float))
    meta = {
        "element": str(getattr(chosen, "atsym", "") or "").strip() or None,
        "edge": str(getattr(chosen, "edge", "") or "").strip() or None,
        "name": group,
    }
    return labels, arrays, meta


def _read_text(larch_io, path: Path) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = larch_io.read_ascii(str(path))
    except Exception as exc:
        raise InputError(path, f"cannot read column text ({_first_line(exc)})") from exc
    table = np.atleast_2d(np.asarray(getattr(data, "data", np.empty((0, 0))), dtype=float))
    if table.size == 0 or table.shape[0] < 2:
        raise InputError(path, "no numeric columns found (expected energy and mu columns)")
    labels = [str(label).lower() for label in getattr(data, "array_labels", [])]
    if len(labels) != table.shape[0]:
        labels = [f"col{i + 1}" for i in range(table.shape[0])]
    return labels, list(table), {}


def _column(path: Path, labels: list[str], arrays: list[np.ndarray], key: int | str) -> np.ndarray:
    if isinstance(key, int):
        if not 1 <= key <= len(arrays):
            raise InputError(path, f"no column {key}: the file has {len(arrays)} columns ({', '.join(labels)})")
        return arrays[key - 1]
    if key not in labels:
        raise InputError(path, f"no column named {key!r}; columns are {', '.join(labels)}")
    return arrays[labels.index(key)]


def _find(labels: list[str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in labels:
            return name
    return None


def _select(path: Path, labels: list[str], arrays: list[np.ndarray], spec: ColumnSpec | None):
    """Energy, μ and a note on how μ was formed."""
    roles = dict(spec.roles) if spec is not None else {}
    if spec is None:
        energy = _find(labels, _ENERGY_NAMES) or next((lab for lab in labels if lab.startswith("energ")), None)
        if energy is None:
            raise InputError(
                path,
                f"no energy column among {', '.join(labels)}; name it 'energy' or give --columns energy=N,mu=M",
            )
        roles["energy"] = energy
        mu, i0 = _find(labels, _MU_NAMES), _find(labels, _I0_NAMES)
        itrans, ifluor = _find(labels, _ITRANS_NAMES), _find(labels, _IFLUOR_NAMES)
        if mu is not None:
            roles["mu"] = mu
        elif i0 is not None and itrans is not None:
            roles.update(i0=i0, itrans=itrans)
        elif i0 is not None and ifluor is not None:
            roles.update(i0=i0, ifluor=ifluor)
        else:
            raise InputError(
                path,
                f"cannot identify mu among columns {', '.join(labels)} (need mu, or i0 with itrans or ifluor); "
                "give --columns energy=N,mu=M",
            )
    energy = _column(path, labels, arrays, roles["energy"])
    if "mu" in roles:
        return energy, _column(path, labels, arrays, roles["mu"]), f"column {roles['mu']}"
    i0 = _column(path, labels, arrays, roles["i0"])
    if "itrans" in roles:
        itrans = _column(path, labels, arrays, roles["itrans"])
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.log(i0 / itrans)
        if not np.all(np.isfinite(mu[np.isfinite(i0) & np.isfinite(itrans)])):
            raise InputError(path, "ln(i0/itrans) undefined: i0 or itrans not positive")
        return energy, mu, f"ln({roles['i0']}/{roles['itrans']})"
    ifluor = _column(path, labels, arrays, roles["ifluor"])
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = ifluor / i0
    return energy, mu, f"{roles['ifluor']}/{roles['i0']}"


def _checked(spectrum: MeasuredSpectrum) -> MeasuredSpectrum:
    """Reject NaN values, keV energies and energies that do not strictly increase."""
    source, energy, mu = spectrum.source, spectrum.energy, spectrum.mu
    if len(energy) < _MIN_POINTS:
        raise InputError(source, f"only {len(energy)} data points")
    for name, values in (("energy", energy), ("mu", mu)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            first = int(np.flatnonzero(~np.isfinite(values))[0]) + 1
            raise InputError(source, f"{bad} NaN/infinite {name} value(s), first at data row {first}")
    if np.nanmax(np.abs(energy)) < _KEV_LIMIT:
        raise InputError(
            source,
            f"energies run {energy.min():g}-{energy.max():g}: looks like keV; energies must be in eV "
            "(say --energy-unit keV if they are)",
        )
    steps = np.diff(energy)
    if np.any(steps == 0):
        row = int(np.flatnonzero(steps == 0)[0]) + 2
        raise InputError(source, f"duplicated energy {energy[row - 1]:g} eV at data row {row}")
    if np.any(steps < 0):
        row = int(np.flatnonzero(steps < 0)[0]) + 2
        where = "energies decrease" if np.all(steps < 0) else "energies not increasing"
        raise InputError(source, f"{where} (at data row {row}, {energy[row - 1]:g} eV); sort the scan first")
    return spectrum
