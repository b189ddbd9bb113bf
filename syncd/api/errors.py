"""The HTTP API's error answers: one JSON shape for every 4xx, and the mapping
from syncd's own exceptions to status codes.

Every error answer is ``{"error": {"code", "message", "details": {"issues":
[...]}}}``, the reference unified API's ``errorResponse``; each issue names
where (``location``: query, path, body, header) and which ``field`` was wrong,
so a client can show the message beside its own input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from syncd.errors import (
    ConfigError,
    IntegrationNotFound,
    InvalidFields,
    KeyNotFound,
    NotFound,
    RunConflict,
    SubscriptionNotFound,
    SyncdError,
)


class Issue(BaseModel):
    """One offending input: where it was, which field, and what is wrong."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(description="query, path, body or header")
    field: str = Field(description="the parameter or body field, dotted for nested fields")
    message: str
    code: str = Field(description="a stable machine-readable reason, e.g. missing, extra_forbidden")


class ErrorDetails(BaseModel):
    """The issues behind an error (empty when the error is not about one field)."""

    model_config = ConfigDict(extra="forbid")

    issues: list[Issue] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The error itself."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="e.g. invalid_request, unauthorized, not_found")
    message: str
    details: ErrorDetails = Field(default_factory=ErrorDetails)


class ErrorResponse(BaseModel):
    """Every 4xx answer of the API."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


@dataclass(slots=True)
class ApiError(Exception):
    """An answer other than success, raised anywhere below a handler."""

    status: int
    code: str
    message: str
    issues: Sequence[Issue] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def response(self) -> web.Response:
        """The JSON answer for this error."""
        body = ErrorResponse(
            error=ErrorBody(
                code=self.code, message=self.message, details=ErrorDetails(issues=list(self.issues))
            )
        )
        return web.Response(
            status=self.status,
            body=body.model_dump_json().encode(),
            content_type="application/json",
            headers=self.headers,
        )


def invalid(location: str, field: str, message: str, code: str = "invalid") -> ApiError:
    """A 400 about one field."""
    return ApiError(
        400,
        "invalid_request",
        f"{location} {field}: {message}",
        (Issue(location=location, field=field, message=message, code=code),),
    )


def from_validation(exc: ValidationError, location: str) -> ApiError:
    """A 400 naming every field pydantic found wrong."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"]) or location
        issues.append(Issue(location=location, field=loc, message=err["msg"], code=err["type"]))
    summary = "; ".join(f"{i.field}: {i.message}" for i in issues[:5])
    return ApiError(400, "invalid_request", f"invalid {location}: {summary}", tuple(issues))


def not_found(what: str) -> ApiError:
    """A 404 for a record or resource that does not exist."""
    return ApiError(404, "not_found", f"{what} not found")


def translate(exc: SyncdError) -> ApiError:
    """The answer for one of syncd's own errors raised by a service."""
    if isinstance(exc, InvalidFields):
        issues = tuple(Issue(location="body", field=f, message=m, code=c) for f, m, c in exc.issues)
        return ApiError(400, "invalid_request", str(exc), issues)
    if isinstance(exc, ConfigError):
        name = exc.field or "body"
        return ApiError(
            400,
            "invalid_request",
            str(exc),
            (Issue(location="body", field=name, message=str(exc), code="invalid"),),
        )
    if isinstance(exc, IntegrationNotFound | SubscriptionNotFound | NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, RunConflict):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, KeyNotFound):
        return ApiError(404, "not_found", str(exc))
    return ApiError(409, "conflict", str(exc))


def json_response(
    payload: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer from plain data (dicts, lists, strings, numbers)."""
    return web.Response(
        status=status,
        body=orjson.dumps(payload),
        content_type="application/json",
        headers=headers,
    )
