"""The FastAPI application of ``xasflow serve``: the page, its static files and the HTTP API.

Routes
------
``GET /``                 the page (``static/index.html``)
``GET /static/...``       its script and style; ``/static/plotly.min.js`` from the installed plotly package
``GET /api/health``       ``{"status": "ok", "version", "elements"}``
``POST /api/predict``     structure uploads -> the JSON of ``xasflow predict --out x.json`` (``?format=csv``: the CSV)
``POST /api/predict.csv`` the same as CSV
``POST /api/match``       measured spectrum + candidates -> ``Ranking.to_dict()`` (``match --out x.json``) + overlay
``GET /openapi.json``     the API's OpenAPI schema; ``GET /docs`` a plain page of it (Swagger UI would load from a CDN)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from xasflow import __version__
from xasflow.errors import InputError, XasflowError
from xasflow.web import service
from xasflow.web.limits import BodyLimit
from xasflow.web.settings import ServerSettings
from xasflow.web.uploads import SavedUpload, UploadTooLarge, relabel, request_folder, save

STATIC = Path(__file__).parent / "static"

# Form fields of the predict endpoints (module level: the annotations are resolved here).
Files = Annotated[list[UploadFile], File(description="structure files, any format `xasflow predict` reads")]
Element = Annotated[str | None, Form(description="absorbing element (default: every supported one present)")]
Fidelity = Annotated[str, Form(description="FEFF or VASP")]
Model = Annotated[str | None, Form(description="tuned | expert | universal | head (default: the set's best)")]
Sites = Annotated[str, Form(description="inequivalent | all | i,j,...")]


def _plotly_js() -> Path:
    """The minified plotly.js shipped inside the installed ``plotly`` package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"{path}: plotly.min.js missing from the plotly package")
    return path


def _save_all(uploads: list[UploadFile], folder: Path, budget: list[int], first: int = 0) -> list[SavedUpload]:
    try:
        return [save(u.file, u.filename, first + i, folder, budget) for i, u in enumerate(uploads)]
    except UploadTooLarge as exc:
        raise HTTPException(413, "upload larger than the server's limit") from exc


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The application for ``settings``; the predictor loads on the first request that needs it."""
    settings = settings or ServerSettings()
    app = FastAPI(
        title="xasflow",
        version=__version__,
        description="K-edge XANES predictions with calibrated ±1σ and matching against measured spectra.",
        docs_url=None,
        redoc_url=None,
    )
    elements = service.supported_elements(settings.zoo_dir)
    plotly_js = _plotly_js()

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()} | {"plotly.min.js": plotly_js}
        if name not in files:  # a fixed list: a request never names a path
            raise HTTPException(404, "not found")
        return FileResponse(files[name])

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from xasflow.web.apidocs import render

        return HTMLResponse(render(app.openapi()))

    @app.get("/api/health")
    def health() -> dict:
        """Server status, xasflow version and the elements with models."""
        return {"status": "ok", "version": __version__, "elements": elements}

    def _predict(files, element, fidelity, model, sites, fmt: str) -> Response:
        try:
            options = service.run_options(element, fidelity, model, sites, settings.zoo_dir)
        except XasflowError as err:
            raise HTTPException(400, str(err)) from err
        from xasflow.io.predictions import write_csv, write_json

        with request_folder(settings.tmp_dir) as folder:
            uploads = _save_all(files, folder, [settings.max_upload_bytes])
            predictions, errors = service.predict_uploads(uploads, options)
            out = folder / f"predictions.{fmt}"
            if fmt == "csv":
                write_csv(out, predictions)
            else:
                write_json(out, predictions, errors)
            body = out.read_bytes()
        if fmt == "csv":
            headers = {"Content-Disposition": 'attachment; filename="predictions.csv"'}
            return Response(body, media_type="text/csv", headers=headers)
        return Response(body, media_type="application/json")

    @app.post("/api/predict")
    async def predict(
        files: Files,
        element: Element = None,
        fidelity: Fidelity = "FEFF",
        model: Model = None,
        sites: Sites = "inequivalent",
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Response:
        """The JSON `xasflow predict FILES --out x.json` writes (``?format=csv``: the CSV), sources = upload names."""
        return await run_in_threadpool(_predict, files, element, fidelity, model, sites, format)

    @app.post("/api/predict.csv")
    async def predict_csv(
        files: Files,
        element: Element = None,
        fidelity: Fidelity = "FEFF",
        model: Model = None,
        sites: Sites = "inequivalent",
    ) -> Response:
        """The CSV `xasflow predict FILES --out x.csv` writes."""
        return await run_in_threadpool(_predict, files, element, fidelity, model, sites, "csv")

    def _match(measured, candidates, element, mix, reference, columns, group, energy_unit, offset_rule) -> dict:
        from xasflow.compare.matching import NoCandidateError
        from xasflow.errors import check_element
        from xasflow.web.matching import match_uploads, reference_structures

        try:
            element = check_element(element)
        except XasflowError as err:
            raise HTTPException(400, str(err)) from err
        with request_folder(settings.tmp_dir) as folder:
            budget = [settings.max_upload_bytes]
            (spectrum,) = _save_all([measured], folder, budget)
            uploads = _save_all(candidates, folder, budget, first=1)
            if reference:
                uploads += reference_structures(element)
            if not uploads:
                raise HTTPException(400, "no candidates: upload structures or set reference=true")
            try:
                with service.LOCK:
                    return match_uploads(
                        spectrum,
                        uploads,
                        element,
                        settings.zoo_dir,
                        mix=mix,
                        columns=columns,
                        group=group,
                        energy_unit=energy_unit,
                        offset_rule=offset_rule,
                    )
            except NoCandidateError as err:
                reasons = "; ".join(f"{source}: {message}" for source, message in err.errors)
                raise HTTPException(422, relabel(f"{err}: {reasons}", uploads)) from err
            except InputError as err:
                raise HTTPException(422, relabel(f"{err.source}: {err.message}", [spectrum])) from err
            except XasflowError as err:
                raise HTTPException(422, relabel(str(err), [spectrum, *uploads])) from err
            except Exception as exc:  # an odd file must not become a 500
                message = relabel(f"{type(exc).__name__}: {exc}", [spectrum, *uploads])
                raise HTTPException(422, f"{spectrum.name}: match failed ({message})") from exc

    @app.post("/api/match")
    async def match(
        measured: Annotated[UploadFile, File(description="measured spectrum: XDI, Athena project or columns")],
        element: Annotated[str, Form(description="absorbing element (K edge)")],
        candidates: Annotated[list[UploadFile] | None, File(description="candidate structure files")] = None,
        mix: Annotated[bool, Form(description="also fit a non-negative linear combination")] = False,
        reference: Annotated[bool, Form(description="add the embedded reference structures of the element")] = False,
        columns: Annotated[str | None, Form(description="column override, e.g. energy=1,mu=4")] = None,
        group: Annotated[str | None, Form(description="group of an Athena project holding several spectra")] = None,
        energy_unit: Annotated[str, Form(description="unit of the measured file's energies: eV or keV")] = "eV",
        offset_rule: Annotated[
            str,
            Form(
                description="how each candidate's edge-shift range is centred: element (one offset per element) "
                "or oxidation (by the candidate's formal oxidation state; Fe and Mn)"
            ),
        ] = "element",
    ) -> JSONResponse:
        """Rank candidates against a measured spectrum as `xasflow match` does (ranking = its CSV rows)."""
        result = await run_in_threadpool(
            _match, measured, candidates or [], element, mix, reference, columns, group, energy_unit, offset_rule
        )
        return JSONResponse(result)

    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    return app
