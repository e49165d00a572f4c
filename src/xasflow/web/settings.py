"""Settings of one ``xasflow serve`` process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 50.0


@dataclass(frozen=True)
class ServerSettings:
    """What a server is started with; nothing here can be changed by a request.

    Parameters
    ----------
    host, port
        Where uvicorn listens (localhost unless told otherwise).
    zoo_dir
        Model zoo folder (``None`` = the packaged zoo).
    max_upload_mb
        Largest request body, MB; larger uploads get HTTP 413.
    tmp_dir
        Parent of the per-request temporary folders (``None`` = the system's).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    zoo_dir: Path | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    tmp_dir: Path | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
