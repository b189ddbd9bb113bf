"""The data-access operations of the /v1 admin API: start a check, read its results.

``POST`` claims the integration's check (409 while one runs, on any node)
and hands it to the server's background work, answering 202 at once;
``GET`` polls. Every operation of every model the vendor supports has one
typed result: ``{status, error_message, checked_at}`` with ``status`` one of
SUCCESS, FAILED, PROCESSING, UNSUPPORTED, UNTESTED (the reference's
``{unsupported: true}`` / ``{untested: true}`` variants are statuses here).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from syncd.api.background import BackgroundUnavailable
from syncd.api.context import ApiContext
from syncd.api.errors import ApiError, not_found
from syncd.api.routing import Answer, Call, Route
from syncd.services.data_access import (
    AccessResult,
    AccessStatus,
    ClaimedCheck,
    DataAccessReport,
    ModelAccess,
    claim_check,
    data_access,
    release_check,
    run_check,
)


class DataAccessStart(BaseModel):
    """The body of a check's start (nothing to give)."""

    model_config = ConfigDict(extra="forbid")


class DataAccessStarted(BaseModel):
    """A check was started."""

    model_config = ConfigDict(extra="forbid")

    began_data_access: bool = Field(description="true: the check runs; poll GET for its results")


class DataAccessResultOut(BaseModel):
    """The result of one operation of one model."""

    model_config = ConfigDict(extra="forbid")

    status: AccessStatus = Field(
        description="SUCCESS, FAILED (see error_message), PROCESSING (being checked), "
        "UNSUPPORTED (the connector cannot do it) or UNTESTED (supported, not probed: "
        "no check yet, or a write, which a check never makes)"
    )
    error_message: str | None = Field(description="the PMS's answer when FAILED")
    checked_at: datetime | None = Field(description="when it was probed (UTC); null if never")


class DataAccessModelOut(BaseModel):
    """Read, create and update access to one model."""

    model_config = ConfigDict(extra="forbid")

    read: DataAccessResultOut
    create: DataAccessResultOut
    update: DataAccessResultOut


class DataAccessOut(BaseModel):
    """An integration's data access as last checked."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, DataAccessModelOut] = Field(
        description="every model the vendor supports, by name"
    )
    last_data_access_check: datetime | None = Field(
        description="when the last check ended (UTC); null before the first"
    )
    data_access_check_in_process: bool


def integration_id(call: Call) -> str:
    """The path's integration id or name; one no integration can have is a 404."""
    value = call.path["integration_id"]
    # Names are at most 200 characters and hold no NUL (PostgreSQL text cannot).
    if len(value) > 200 or "\x00" in value:
        raise not_found(f"integration {value[:64]!r}")
    return value


class DataAccessStartedResult(BaseModel):
    """The answer to a check's start (the reference's ``{result: {began_data_access}}``)."""

    model_config = ConfigDict(extra="forbid")

    result: DataAccessStarted


class DataAccessResult(BaseModel):
    """The answer of the data-access read (the reference's ``{result: {...}}``)."""

    model_config = ConfigDict(extra="forbid")

    result: DataAccessOut


def _result(r: AccessResult) -> DataAccessResultOut:
    return DataAccessResultOut(
        status=r.status, error_message=r.error_message, checked_at=r.checked_at
    )


def _model(m: ModelAccess) -> DataAccessModelOut:
    return DataAccessModelOut(
        read=_result(m.read), create=_result(m.create), update=_result(m.update)
    )


def report_out(report: DataAccessReport) -> DataAccessOut:
    """The answer for a report."""
    return DataAccessOut(
        models={m.model: _model(m) for m in report.models},
        last_data_access_check=report.last_check,
        data_access_check_in_process=report.in_process,
    )


async def begin_data_access_check(ctx: ApiContext, integration: str) -> ClaimedCheck:
    """Claim an integration's (id or name) check and run it in the server's background.

    RunConflict while one runs; BackgroundUnavailable when this server runs
    no background work or is stopping.
    """
    background = ctx.background
    if background is None or not background.running:
        raise BackgroundUnavailable("this server runs no background work")
    claimed = await claim_check(ctx.store, ctx.settings, integration)
    try:
        background.spawn(
            f"data-access-{claimed.integration.id}", run_check, ctx.store, ctx.settings, claimed
        )
    except BackgroundUnavailable:
        # Stopping right now: give the claim up rather than hold it until its lease ends.
        await release_check(ctx.store, claimed)
        raise BackgroundUnavailable("the server is stopping") from None
    return claimed


async def _start_data_access_check(call: Call) -> Answer:
    try:
        await begin_data_access_check(call.ctx, integration_id(call))
    except BackgroundUnavailable as exc:
        raise ApiError(503, "unavailable", str(exc)) from None
    started = DataAccessStartedResult(result=DataAccessStarted(began_data_access=True))
    return Answer(started, status=202)


async def _get_data_access(call: Call) -> DataAccessResult:
    report = await data_access(call.ctx.store, call.ctx.settings, integration_id(call))
    return DataAccessResult(result=report_out(report))


ROUTES: list[Route] = [
    Route(
        "POST",
        "/v1/admin/integrations/{integration_id}/data-access",
        _start_data_access_check,
        summary="Start a data-access check of an integration",
        tag="admin",
        body=DataAccessStart,
        response=DataAccessStartedResult,
        status=202,
        errors=(404, 409, 503),
        operation_id="start_data_access_check",
        description=(
            "Probes every model the integration's PMS supports: a read of the first page "
            "of each (SUCCESS or FAILED with the PMS's message); writes are never made, so "
            "a supported create or update stays UNTESTED. Answers 202 at once; poll GET for "
            "the results. Only one check runs per integration at a time (409 otherwise); "
            "a check ends within a minute."
        ),
    ),
    Route(
        "GET",
        "/v1/admin/integrations/{integration_id}/data-access",
        _get_data_access,
        summary="Read the data access of an integration",
        tag="admin",
        response=DataAccessResult,
        errors=(404,),
        operation_id="get_data_access",
        description=(
            "Per model, the result of read, create and update as last checked. Before any "
            "check, supported operations are UNTESTED and `last_data_access_check` is null."
        ),
    ),
]
