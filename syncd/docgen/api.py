"""``docs/api.md``: the HTTP API reference, rendered from the served OpenAPI document.

The document is itself generated from the routes' models, so this page, the
document and the server cannot disagree.
"""

from __future__ import annotations

import json
from typing import Any

from syncd.api.application import OPENAPI_PATH, openapi_document

_INTRO = f"""# The HTTP API

Generated from the OpenAPI 3.1 document that `syncd serve` answers at
`{OPENAPI_PATH}` (run `python scripts/gen_docs.py` after changing a route).
Every `/v1` operation needs `Authorization: Bearer <key>`; make keys with
`syncd keys create --name NAME --scope admin|read` (the key is printed once).
A `read` key may use the read API and the change feed; everything else needs
an `admin` key. `/healthz`, `/readyz`, `/metrics` and `{OPENAPI_PATH}` are open
unless `SYNCD_HTTP_OPEN_PROBES=false`.

Conventions (those of the reference unified API):

- Lists page with `offset` and `limit` (default 100, at most 250), order with
  `order-by=field:asc,other:desc`, and answer
  `{{"meta": {{offset, limit, orderBy, hasMore, total}}, "results": [...]}}`;
  one record answers `{{"results": {{...}}}}`. List paths work with and without
  the trailing slash.
- Every 4xx answer is `{{"error": {{"code", "message", "details": {{"issues":
  [{{"location", "field", "message", "code"}}]}}}}}}`, naming each offending
  parameter or field; unknown query parameters and body fields are refused.
- Each key has a rate limit per minute: answers carry `x-ratelimit-limit`,
  `x-ratelimit-remaining` and `x-ratelimit-reset`; over the limit, 429 with
  `retry-after`.
"""


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(kind)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    scope = op.get("x-syncd-scope")
    lines = [f"### `{method.upper()} {path}`", "", op.get("summary", ""), ""]
    if op.get("description"):
        lines += [op["description"], ""]
    lines += [f"Key scope: {scope}." if scope else "Open: no key needed.", ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            default = schema.get("default")
            desc = p.get("description", "")
            if default is not None:
                desc = f"{desc} (default `{json.dumps(default)}`)".strip()
            lines.append(
                f"| `{p['name']}` | {p['in']} | {_cell(_type(schema))} "
                f"| {'yes' if p.get('required') else 'no'} | {_cell(desc)} |"
            )
        lines.append("")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if body:
        lines += [f"Body: `{_type(body['schema'])}`.", ""]
    answers = []
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content", {}).get("application/json")
        shape = f" `{_type(content['schema'])}`" if content else ""
        answers.append(f"{status}{shape}")
    lines += ["Answers: " + ", ".join(answers) + ".", ""]
    return lines


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### `{name}`", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    props = schema.get("properties", {})
    if not props:
        kind = _type(schema)
        return [*lines, f"{kind}.", ""]
    required = set(schema.get("required", ()))
    lines += ["| field | type | required | description |", "|---|---|---|---|"]
    for field, prop in props.items():
        lines.append(
            f"| `{field}` | {_cell(_type(prop))} | {'yes' if field in required else 'no'} "
            f"| {_cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def api_markdown() -> str:
    """The whole page."""
    doc = openapi_document()
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc["paths"].items():  # type: ignore[attr-defined]
        for method, op in item.items():
            by_tag.setdefault(op["tags"][0], []).append((method, path, op))
    lines = [_INTRO, "## Operations", ""]
    for tag, ops in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, op in ops:
            lines += _operation(method, path, op)
    lines += ["## Schemas", ""]
    for name, schema in sorted(doc["components"]["schemas"].items()):  # type: ignore[index]
        if name.endswith("Query"):
            continue  # parameters, shown with their operations
        lines += _schema(name, schema)
    return "\n".join(lines).rstrip() + "\n"
