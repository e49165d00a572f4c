"""Row identifiers: ``mp-1234_005`` = material id + absorbing-site index."""

from __future__ import annotations

import re
from pathlib import Path

from xasflow.errors import InputError

_ID = re.compile(r"^(?P<material>\S+)_(?P<site>\d+)$")


def make_site_id(material_id: str, site: int) -> str:
    """Row id in the published convention (three-digit, zero-padded site index)."""
    return f"{material_id}_{site:03d}"


def parse_site_id(site_id: str) -> tuple[str, int]:
    """Split ``mp-1234_005`` into ``("mp-1234", 5)``.

    Raises
    ------
    ValueError
        If the id does not end in ``_<digits>``.
    """
    match = _ID.match(site_id)
    if match is None:
        raise ValueError(f"malformed site id {site_id!r} (expected MATERIAL_SITE, e.g. mp-1234_005)")
    return match["material"], int(match["site"])


def read_id_list(path: str | Path) -> list[str]:
    """Read one id per line; blank lines are ignored.

    Raises
    ------
    InputError
        If the file is missing or holds a malformed id.
    """
    path = Path(path)
    try:
        lines = path.read_text().split()
    except OSError as exc:
        raise InputError(path, f"cannot read id list ({exc.strerror or exc})") from exc
    for number, site_id in enumerate(lines, start=1):
        try:
            parse_site_id(site_id)
        except ValueError as exc:
            raise InputError(path, f"line {number}: {exc}") from exc
    return lines
