"""A real uvicorn server of ``xasflow serve`` on a free 127.0.0.1 port, for the web tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "xasflow" / "examples" / "reference"
CIF = REFERENCE / "Cu2O_cuprite.cif"


def web_modules() -> None:
    """Skip (fail under CI, where ``make test`` installs the web extra) without FastAPI/uvicorn."""
    import os

    for name in ("fastapi", "uvicorn", "python_multipart", "httpx", "plotly"):
        try:
            __import__(name)
        except ImportError:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{name} missing: the web extra is part of the dev install")
            pytest.skip(f"{name} missing (pip install 'xasflow[web]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(settings_kwargs: dict | None = None) -> Iterator[str]:
    """Serve ``create_app(ServerSettings(**settings_kwargs))`` in a thread; yields the base URL."""
    import uvicorn

    from xasflow.web import ServerSettings, create_app

    port = free_port()
    app = create_app(ServerSettings(port=port, **(settings_kwargs or {})))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
