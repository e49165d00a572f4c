"""``GET /docs``: the OpenAPI schema as a plain HTML page, with no JavaScript (Swagger UI loads from a CDN)."""

from __future__ import annotations

from html import escape
from typing import Any


def _fields(operation: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(name, kind, description)`` of an operation's query and form fields."""
    rows = [(p["name"], f"query {p.get('schema', {}).get('type', '')}", "") for p in operation.get("parameters", [])]
    for content in operation.get("requestBody", {}).get("content", {}).values():
        ref = content.get("schema", {}).get("$ref", "")
        body = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
        required = set(body.get("required", []))
        for name, spec in body.get("properties", {}).items():
            kind = "file" if ("binary" in str(spec) or "octet-stream" in str(spec)) else "form"
            kind += "s" if kind == "file" and "array" in str(spec) else ""
            rows.append((name, kind + (", required" if name in required else ""), spec.get("description", "")))
    return rows


def render(schema: dict[str, Any]) -> str:
    """An HTML page listing each endpoint, its fields and its description."""
    info = schema.get("info", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))} API</title><link rel='stylesheet' href='/static/style.css'>",
        "</head><body><main><section class='panel'>",
        f"<h2>{escape(info.get('title', ''))} {escape(info.get('version', ''))}: HTTP API</h2>",
        f"<p>{escape(info.get('description', ''))} Machine-readable schema: <a href='/openapi.json'>/openapi.json</a>"
        " (OpenAPI 3; any OpenAPI viewer reads it).</p>",
    ]
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            parts.append(f"<h3><code>{escape(method.upper())} {escape(path)}</code></h3>")
            parts.append(f"<p>{escape(operation.get('description') or operation.get('summary', ''))}</p>")
            rows = _fields(operation, schema)
            if rows:
                parts.append(
                    "<table><tr><th class='text'>field</th><th class='text'>kind</th><th class='text'>meaning</th></tr>"
                )
                parts += [
                    f"<tr><td class='text'><code>{escape(n)}</code></td><td class='text'>{escape(k)}</td>"
                    f"<td class='text'>{escape(d)}</td></tr>"
                    for n, k, d in rows
                ]
                parts.append("</table>")
    parts.append("</section></main></body></html>")
    return "\n".join(parts)
