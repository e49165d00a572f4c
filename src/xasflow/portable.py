"""Commands and paths as shipped files record them: no absolute path of the machine that built them.

A zoo index or a selection file records the command that made it. Paths inside the working folder are kept
relative to it; any other absolute path (a cache, a data root) is reduced to its file name, which together
with the data checksums in each model card identifies the input without naming the build machine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: An absolute POSIX path inside a command line (after a space, ``=`` or a quote, or at the start).
_ABSOLUTE = re.compile(r"(?:(?<=^)|(?<=[\s='\"]))(/[^\s'\"]+)")


def portable_path(path: str, base: str | os.PathLike[str] | None = None) -> str:
    """``path`` relative to ``base`` (default: the working folder) when under it, else its file name.

    A relative ``path`` is returned unchanged.
    """
    if not Path(path).is_absolute():
        return str(path)
    base_path = Path(base if base is not None else Path.cwd()).resolve()
    target = Path(path)
    try:
        return str(target.resolve().relative_to(base_path))
    except (ValueError, OSError):
        return target.name or str(target)


def portable_command(command: str, base: str | os.PathLike[str] | None = None) -> str:
    """``command`` with every absolute path made portable (:func:`portable_path`)."""
    return _ABSOLUTE.sub(lambda m: portable_path(m.group(1), base), command)


def portable(value: Any, base: str | os.PathLike[str] | None = None) -> Any:
    """Every string in a JSON-like ``value`` made portable (for index and selection files)."""
    if isinstance(value, str):
        return portable_command(value, base) if "/" in value else value
    if isinstance(value, dict):
        return {k: portable(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, base) for v in value]
    return value


def absolute_paths(text: str) -> list[str]:
    """The absolute machine paths (``/work``, ``/home``, ``/root``, ``/tmp``, ``/Users``) in ``text``."""
    return re.findall(r"(?<![\w.~-])/(?:work|home|root|tmp|Users|mnt|scratch)/[^\s'\"]*", text)
