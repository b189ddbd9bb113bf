"""The normalization operations of the /v1 admin API: enum maps and transform overrides.

``GET /v1/admin/normalization/{model}/{field}`` answers the reference's
``{is_custom_mapping, mappings, default_value}`` for a vendor's defaults
(``integration_vendor``) or an integration's effective map
(``integration_id``), plus where each entry comes from (``sources``), the
values the field allows, and the enum map's name and users. ``PUT`` and
``DELETE`` on ``/v1/admin/integrations/{id}/normalization/{model}/{field}``
replace or drop an integration's custom entries; the next sync applies them.
``/v1/admin/integrations/{id}/transforms/{model}`` reads and replaces the
fields an integration adds to a model's ``custom_data``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from syncd.api.data_access import integration_id
from syncd.api.errors import ApiError, invalid
from syncd.api.routing import Call, Route
from syncd.connectors.registry import known_vendors
from syncd.errors import ConfigError
from syncd.services.normalization import (
    MAX_ENTRIES,
    MAX_RAW_LENGTH,
    MAX_VALUE_LENGTH,
    MapNotFound,
    NormalizationMap,
    clear_custom_map,
    normalization_map,
    set_custom_map,
)
from syncd.services.transforms import (
    MAX_FIELDS,
    ModelTransforms,
    model_transforms,
    set_model_transforms,
)

_VENDOR_PATTERN = "^(" + "|".join(known_vendors()) + ")$"
_NO_NUL = r"^[^\x00]*$"


class NormalizationQuery(BaseModel):
    """Whose map: a vendor's defaults, or an integration's effective map."""

    model_config = ConfigDict(extra="forbid")

    integration_vendor: str | None = Field(
        default=None,
        pattern=_VENDOR_PATTERN,
        description="the vendor whose default map to show (needed without integration_id)",
    )
    integration_id: str | None = Field(
        default=None,
        max_length=200,
        pattern=_NO_NUL,
        description="an integration (id or name): its custom entries on top of its vendor's",
    )


RawValue = Annotated[str, StringConstraints(min_length=1, max_length=MAX_RAW_LENGTH)]
NormalizedValue = Annotated[str, StringConstraints(min_length=1, max_length=MAX_VALUE_LENGTH)]


class NormalizationIn(BaseModel):
    """An integration's custom entries of a field's map (replacing any it had)."""

    model_config = ConfigDict(extra="forbid")

    mappings: dict[RawValue, NormalizedValue] = Field(
        min_length=1,
        max_length=MAX_ENTRIES,
        description="raw PMS value → normalized value; each value must be one the field allows",
    )


class NormalizationOut(BaseModel):
    """The effective normalization map of one field."""

    model_config = ConfigDict(extra="forbid")

    is_custom_mapping: bool = Field(
        description="true when the integration asked about has custom entries for this map"
    )
    mappings: dict[str, str] = Field(description="raw PMS value → normalized value")
    default_value: str | None = Field(description="the normalized value of an unmapped raw value")
    sources: dict[str, Literal["default", "custom"]] = Field(
        description="per raw value: the vendor's default entry, or the integration's own"
    )
    allowed_values: list[str] | None = Field(
        description="the normalized values the field may take (null: any)"
    )
    enum_map: str = Field(description="the vendor's enum map behind the field, e.g. lease_status")
    fields: list[str] = Field(
        description="every `model.field` using this map: a custom map changes them all"
    )
    integration_vendor: str
    integration_id: str | None


class NormalizationResults(BaseModel):
    """The answer of a map's read (the reference's ``{results: {...}}``)."""

    model_config = ConfigDict(extra="forbid")

    results: NormalizationOut


class NormalizationResult(BaseModel):
    """The answer of a change: the map now in effect."""

    model_config = ConfigDict(extra="forbid")

    result: NormalizationOut


def _out(found: NormalizationMap) -> NormalizationOut:
    return NormalizationOut(
        is_custom_mapping=found.is_custom,
        mappings=dict(found.mappings),
        default_value=found.default_value,
        sources=dict(found.sources),
        allowed_values=list(found.allowed) if found.allowed is not None else None,
        enum_map=found.enum_map,
        fields=list(found.fields),
        integration_vendor=found.vendor,
        integration_id=found.integration_id,
    )


def _missing(exc: MapNotFound) -> ApiError:
    return ApiError(404, "not_found", str(exc))


async def _get_normalization(call: Call) -> NormalizationResults:
    q: NormalizationQuery = call.query
    try:
        found = await normalization_map(
            call.ctx.store,
            call.ctx.settings,
            call.path["model"],
            call.path["field"],
            vendor=q.integration_vendor,
            integration=q.integration_id,
        )
    except MapNotFound as exc:
        raise _missing(exc) from None
    except ConfigError as exc:
        # Which vendor: a query parameter, not a body field.
        message = str(exc).removeprefix(f"{exc.field}: ")
        raise invalid("query", exc.field or "integration_vendor", message) from None
    return NormalizationResults(results=_out(found))


async def _set_custom_normalization(call: Call) -> NormalizationResult:
    body: NormalizationIn = call.body
    try:
        found = await set_custom_map(
            call.ctx.store,
            call.ctx.settings,
            integration_id(call),
            call.path["model"],
            call.path["field"],
            body.mappings,
        )
    except MapNotFound as exc:
        raise _missing(exc) from None
    return NormalizationResult(result=_out(found))


async def _clear_custom_normalization(call: Call) -> NormalizationResult:
    try:
        found = await clear_custom_map(
            call.ctx.store,
            call.ctx.settings,
            integration_id(call),
            call.path["model"],
            call.path["field"],
        )
    except MapNotFound as exc:
        raise _missing(exc) from None
    return NormalizationResult(result=_out(found))


_CUSTOM_PATH = "/v1/admin/integrations/{integration_id}/normalization/{model}/{field}"

ROUTES: list[Route] = [
    Route(
        "GET",
        "/v1/admin/normalization/{model}/{field}",
        _get_normalization,
        summary="Read the normalization map of a field",
        tag="admin",
        query=NormalizationQuery,
        response=NormalizationResults,
        errors=(404,),
        operation_id="get_normalization",
        description=(
            "How raw PMS values of a field (e.g. `leases/status`, `properties/type`, "
            "`residents/phone_1_type`) become normalized values. With `integration_vendor` "
            "alone: the vendor's defaults; with `integration_id`: that integration's "
            "effective map (its custom entries on top, `is_custom_mapping` true when it has "
            "any). A field without a map, or an unknown model or field, is a 404."
        ),
    ),
    Route(
        "PUT",
        _CUSTOM_PATH,
        _set_custom_normalization,
        summary="Set an integration's custom normalization map of a field",
        tag="admin",
        body=NormalizationIn,
        response=NormalizationResult,
        errors=(404,),
        operation_id="set_custom_normalization",
        description=(
            "Replaces the integration's custom entries of the field's enum map (the map is "
            "shared by the fields listed in `fields`). Each normalized value must be one the "
            "field allows (a 400 names `mappings.<raw>`). Syncs that start afterwards apply "
            "it; records already stored change on the next sync that sees them."
        ),
    ),
    Route(
        "DELETE",
        _CUSTOM_PATH,
        _clear_custom_normalization,
        summary="Drop an integration's custom normalization map of a field",
        tag="admin",
        response=NormalizationResult,
        errors=(404,),
        operation_id="clear_custom_normalization",
        description="The vendor's default map applies again from the next sync; answers it.",
    ),
]


# -- transform overrides ------------------------------------------------------

FieldName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
]
SourcePath = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=_NO_NUL)]


class TransformsIn(BaseModel):
    """The fields an integration adds to a model's custom_data (replacing any it had)."""

    model_config = ConfigDict(extra="forbid")

    custom_data: dict[FieldName, SourcePath] = Field(
        max_length=MAX_FIELDS,
        description="name → dotted source path in the PMS record (e.g. `AccountDetails.Rent`); "
        "empty: drop the integration's own fields",
    )


class TransformFieldOut(BaseModel):
    """One custom_data field and whose it is."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="where it is read from in the PMS record")
    origin: Literal["default", "custom"] = Field(
        description="the vendor's schema, or the integration's own"
    )


class TransformsOut(BaseModel):
    """The custom_data fields of one model for one integration."""

    model_config = ConfigDict(extra="forbid")

    integration_id: str
    integration_vendor: str
    model: str
    schema_file: str = Field(description="the vendor's transform schema of the model")
    custom_data: dict[str, TransformFieldOut]


class TransformsResults(BaseModel):
    """The answer of a read."""

    model_config = ConfigDict(extra="forbid")

    results: TransformsOut


class TransformsResult(BaseModel):
    """The answer of a change: the fields now in effect."""

    model_config = ConfigDict(extra="forbid")

    result: TransformsOut


def _transforms_out(found: ModelTransforms) -> TransformsOut:
    return TransformsOut(
        integration_id=found.integration_id,
        integration_vendor=found.vendor,
        model=found.model,
        schema_file=found.file,
        custom_data={
            f.name: TransformFieldOut(source=f.source, origin=f.origin) for f in found.custom_data
        },
    )


async def _get_transforms(call: Call) -> TransformsResults:
    try:
        found = await model_transforms(
            call.ctx.store, call.ctx.settings, integration_id(call), call.path["model"]
        )
    except MapNotFound as exc:
        raise _missing(exc) from None
    return TransformsResults(results=_transforms_out(found))


async def _set_transforms(call: Call) -> TransformsResult:
    body: TransformsIn = call.body
    try:
        found = await set_model_transforms(
            call.ctx.store,
            call.ctx.settings,
            integration_id(call),
            call.path["model"],
            body.custom_data,
        )
    except MapNotFound as exc:
        raise _missing(exc) from None
    return TransformsResult(result=_transforms_out(found))


_TRANSFORMS_PATH = "/v1/admin/integrations/{integration_id}/transforms/{model}"

ROUTES += [
    Route(
        "GET",
        _TRANSFORMS_PATH,
        _get_transforms,
        summary="Read the custom_data fields of a model for an integration",
        tag="admin",
        response=TransformsResults,
        errors=(404,),
        operation_id="get_transforms",
        description=(
            "What each record of the model keeps in `custom_data`: the vendor schema's "
            "fields and the integration's own (`origin`)."
        ),
    ),
    Route(
        "PUT",
        _TRANSFORMS_PATH,
        _set_transforms,
        summary="Set the fields an integration adds to a model's custom_data",
        tag="admin",
        body=TransformsIn,
        response=TransformsResult,
        errors=(404,),
        operation_id="set_transforms",
        description=(
            "Replaces the integration's own custom_data fields of the model, each "
            "`name: <dotted source path>`, checked like a schema file (a 400 names "
            "`custom_data.<name>`). Syncs that start afterwards apply them."
        ),
    ),
]
