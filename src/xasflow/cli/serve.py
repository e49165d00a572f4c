"""``xasflow serve``: the local web page and HTTP API (needs the ``web`` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from xasflow.web.settings import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT

    parser = subparsers.add_parser(
        "serve",
        help="local web page and HTTP API: predict from uploaded structures, match measured spectra",
        description="One process; the models load once and serve every request. Binds to localhost by default.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--zoo-dir", type=Path, default=None, help="model zoo folder (default: the packaged zoo)")
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        help=f"largest upload per request, MB (default {DEFAULT_MAX_UPLOAD_MB:g}); larger ones get HTTP 413",
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from xasflow.errors import XasflowError

    if args.max_upload_mb <= 0:
        raise XasflowError("--max-upload-mb must be > 0")
    if not 0 < args.port < 65536:
        raise XasflowError("--port must be between 1 and 65535")
    if args.zoo_dir is not None and not (args.zoo_dir / "index.json").is_file():
        raise XasflowError(f"{args.zoo_dir}: not a model zoo (no index.json)")
    try:
        import uvicorn

        from xasflow.web import ServerSettings, create_app
    except ImportError as exc:
        raise XasflowError(f"xasflow serve needs the web extra: pip install 'xasflow[web]' ({exc})") from exc
    settings = ServerSettings(host=args.host, port=args.port, zoo_dir=args.zoo_dir, max_upload_mb=args.max_upload_mb)
    app = create_app(settings)
    print(f"xasflow: serving on http://{args.host}:{args.port}/ (API schema at /openapi.json); Ctrl-C stops")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
