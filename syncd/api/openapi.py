"""The OpenAPI 3.1 document, built from the declared routes and their pydantic models.

Nothing here is written by hand per operation: parameters come from each
route's query model, bodies and answers from its body and response models,
and the error answers from :class:`~syncd.api.errors.ErrorResponse`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from syncd.api.errors import ErrorResponse
from syncd.api.routing import Route

_REF = "#/components/schemas/{model}"
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad request: the issues name each offending parameter or field",
    401: "Missing or unknown API key",
    403: "The API key's scope does not allow this operation",
    404: "Not found",
    409: "Conflict with the current state",
    429: "Rate limit of the API key exceeded",
}


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value: drop the ``null`` branch of optionals."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            merged.update(rest[0])
            schema = merged
        elif len(rest) < len(options):
            schema = {**schema, "anyOf": rest}
    if schema.get("default", 0) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    if route.query is None:
        return params
    schema = route.query.model_json_schema(by_alias=True, ref_template=_REF, mode="validation")
    required = set(schema.get("required", ()))
    for name, declared in schema.get("properties", {}).items():
        prop = _strip_null(copy.deepcopy(declared))
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if prop.get("type") == "array":
            # Several values: repeated or comma-separated (both accepted).
            param["style"] = "form"
            param["explode"] = True
        if description:
            param["description"] = description
        params.append(param)
    return params


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.op_id,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": _parameters(route),
    }
    if route.description:
        op["description"] = route.description
    if route.scope is not None:
        op["security"] = [{"bearerAuth": []}]
        op["x-syncd-scope"] = route.scope.value
    else:
        op["security"] = []
    if route.body is not None:
        # An empty body reads as {}: it is optional when every field is.
        needed = any(f.is_required() for f in route.body.model_fields.values())
        op["requestBody"] = {"required": needed, "content": _content(route.body)}
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": _REASONS.get(route.status, "OK")}
    if route.response is not None:
        ok["content"] = _content(route.response)
    responses[str(route.status)] = ok
    failures = set(route.errors)
    if route.query is not None or route.body is not None:
        failures.add(400)
    if route.path_params:
        failures.add(404)
    if route.scope is not None:
        failures |= {401, 403, 429}
    error = _content(ErrorResponse)
    for status in sorted(failures):
        responses[str(status)] = {"description": _REASONS.get(status, "Error"), "content": error}
    op["responses"] = responses
    return op


def _models(
    routes: Iterable[Route],
) -> list[tuple[type[BaseModel], Literal["validation", "serialization"]]]:
    seen: dict[str, tuple[type[BaseModel], Literal["validation", "serialization"]]] = {
        ErrorResponse.__name__: (ErrorResponse, "serialization")
    }
    for route in routes:
        if route.body is not None:
            seen.setdefault(route.body.__name__, (route.body, "validation"))
        if route.response is not None:
            seen.setdefault(route.response.__name__, (route.response, "serialization"))
        if route.query is not None:
            # Enums and nested types of parameters are referenced from components.
            seen.setdefault(route.query.__name__, (route.query, "validation"))
    return list(seen.values())


def build_document(routes: list[Route], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``routes``."""
    _, top = models_json_schema(_models(routes), ref_template=_REF, by_alias=True)
    schemas = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "syncd's HTTP API: integrations, jobs, webhooks and the unified "
                "property-management data. Send `Authorization: Bearer <key>` "
                "(keys from `syncd keys create`)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
