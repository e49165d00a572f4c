"""``xasflow serve``: a local web page and HTTP API over prediction and matching.

Needs the ``web`` extra (``pip install 'xasflow[web]'``: FastAPI, uvicorn, python-multipart, plotly);
imported only by ``xasflow serve`` and the tests.
"""

from xasflow.web.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def create_app(settings: ServerSettings | None = None):
    """The FastAPI application (see :func:`xasflow.web.app.create_app`)."""
    from xasflow.web.app import create_app as _create_app

    return _create_app(settings)
