"""A resumable record of finished inputs, so an interrupted batch run does not redo work."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xasflow.errors import XasflowError


@dataclass(frozen=True)
class RunOptions:
    """What a batch prediction depends on besides the input files."""

    element: str | None
    fidelity: str
    model: str | None
    sites: str
    zoo_dir: str | None = None
    symprec: float = 0.01


def input_key(path: Path) -> str:
    """Path plus a content hash: an edited file is predicted again."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        digest = "unreadable"
    return f"{path}#{digest}"


class Journal:
    """Append-only JSON lines beside the output: one line per finished input.

    The first line records the run options; a journal made with other options is refused
    rather than mixed in.
    """

    def __init__(self, output: Path, options: RunOptions) -> None:
        self.path = output.with_name(output.name + ".partial.jsonl")
        self.options = options
        self.done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        lines = self.path.read_text().splitlines()
        header = json.loads(lines[0]) if lines else {}
        if header.get("options") != asdict(self.options):
            raise XasflowError(
                f"{self.path}: unfinished run with other options ({header.get('options')}); "
                "rerun with the same options to resume, or delete the file to start over"
            )
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut by the interruption: that input is simply redone
            self.done[record["key"]] = record

    def __contains__(self, key: str) -> bool:
        return key in self.done

    def append(self, record: dict[str, Any]) -> None:
        """Record one finished input (flushed immediately)."""
        new = not self.path.exists()
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # outputs create their folder
        with open(self.path, "a") as handle:
            if new:
                handle.write(json.dumps({"options": asdict(self.options)}) + "\n")
            handle.write(json.dumps(record) + "\n")
            handle.flush()
        self.done[record["key"]] = record

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
