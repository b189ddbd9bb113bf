"""The read API of the unified data: a list and a get-by-id operation per model.

Paths follow the reference unified API (``/v1/leases/``, ``/v1/leases/{id}``;
lists also without the trailing slash). The record, list and query models
are generated from :data:`syncd.models.MODELS` and the filters of
:mod:`syncd.services.records`, so the OpenAPI document always matches what
is served. Answers are serialized straight from the rows (no per-record
validation): the generated models describe exactly those rows.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from syncd.api.common import ListQuery, Meta, Ordering, parse_order_by, record_id_pattern
from syncd.api.errors import invalid, not_found
from syncd.api.routing import Call, Handler, Raw, Route, Scope
from syncd.models import LINK_COLUMNS, MODELS, ColumnType
from syncd.services.records import (
    DEFAULT_ORDER,
    VIEWS,
    InvalidParameter,
    ListParams,
    ModelView,
    SyncStatus,
    get_record,
    list_records,
    orderable,
)
from syncd.store.reads import SqlRecordReader

_PYTHON: dict[ColumnType, Any] = {
    ColumnType.STRING: str,
    ColumnType.TEXT: str,
    ColumnType.INT: int,
    ColumnType.BIGINT: int,
    ColumnType.FLOAT: float,
    ColumnType.BOOL: bool,
    ColumnType.DATE: date,
    ColumnType.DATETIME: datetime,
    ColumnType.UUID: uuid.UUID,
    ColumnType.JSON: Any,
}

#: The common fields; the database holds x_id and custom_data for every record too.
_COMMON: dict[str, Any] = {
    "id": uuid.UUID,
    "x_id": str,
    "integration_id": str,
    "integration_vendor": str,
    "x_property_id": str | None,
    "property_id": uuid.UUID | None,
    "created_at": datetime,
    "updated_at": datetime,
    "last_seen": datetime,
    "deleted_at": datetime | None,
    "custom_data": dict[str, Any],
}

_DESCRIPTIONS = {
    "id": "syncd's id of the record (stable: derived from integration, model and PMS id)",
    "x_id": "the record's id in the PMS",
    "created_at": "when syncd first stored the record (UTC)",
    "updated_at": "when syncd last stored a change of the record (UTC)",
    "last_seen": "when a sync last saw the record in the PMS (UTC), to within "
    "SYNCD_LAST_SEEN_RESOLUTION_SECONDS (default an hour)",
    "deleted_at": "when syncd found the record gone from the PMS; null while it exists",
}

_STRICT = ConfigDict(extra="forbid")

#: Text parameters hold no NUL (PostgreSQL text cannot, so none could match).
NO_NUL = r"^[^\x00]*$"


class RecordMeta(Meta):
    """``meta`` of a record list: paging, order, and whether the data is complete yet."""

    total: int | None = Field(  # type: ignore[assignment]
        default=None,
        description="how many records match; left out when more than SYNCD_API_EXACT_TOTAL_LIMIT "
        "(default 1,000) do, and total_exceeds is given instead",
    )
    total_exceeds: int | None = Field(
        default=None,
        description="given instead of total when more records match than syncd counts "
        "exactly: more than this many match (hasMore stays exact)",
    )

    sync_status: SyncStatus = Field(
        description=(
            "SYNCED; FIRST_SYNC_IN_PROGRESS while a first sync of this model is running "
            "(of the integration asked for, or of any), so an empty or short list is not "
            "final; NOT_SYNCED when the integration asked for never synced the model"
        )
    )


def _link_model(view: ModelView) -> type[BaseModel] | None:
    if view.link_other is None:
        return None
    other = view.link_other
    fields: dict[str, Any] = {
        other: (uuid.UUID, Field(description=f"syncd's id of the {other[:-3]}")),
        "x_" + other: (str, Field(description=f"the PMS id of the {other[:-3]}")),
    }
    link_types = {c.name: _PYTHON[c.type] for c in LINK_COLUMNS}
    for name in ("resident_type_normalized", "resident_type_raw", "status_raw"):
        fields[name] = (link_types[name] | None, ...)
    fields["move_in_date"] = (date | None, Field(description="this resident's move-in date"))
    fields["move_out_date"] = (date | None, Field(description="this resident's move-out date"))
    name = view.singular + other.removesuffix("_id").capitalize() + "Link"
    doc = f"One {other[:-3]} on this {view.singular.lower()} (from the resident-lease links)."
    return create_model(name, __config__=_STRICT, __doc__=doc, **fields)


def _record_model(view: ModelView) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, kind in _COMMON.items():
        fields[name] = (kind, Field(description=_DESCRIPTIONS.get(name)))
    for column in MODELS[view.model].columns:
        kind = _PYTHON[column.type]
        fields[column.name] = (kind if kind is Any else kind | None, ...)
    link = _link_model(view)
    if link is not None and view.link_field is not None:
        fields[view.link_field] = (list[link], ...)  # type: ignore[valid-type]
    doc = f"A record of {view.path} in the unified model."
    return create_model(view.singular, __config__=_STRICT, __doc__=doc, **fields)


def _order_pattern(model: str) -> str:
    """What ``parse_order_by`` accepts for ``model``, as a regular expression.

    Only documented (the parser checks, with clearer messages), so clients
    and generated tests know the fields without reading the prose.
    """
    names = "|".join(sorted(orderable(model), key=lambda n: (-len(n), n)))
    term = rf"\s*({names})(:\s*([aA][sS][cC]|[dD][eE][sS][cC])?)?\s*"
    return rf"^({term}(,{term})*)?$"


def _only(pattern: str, what: str) -> BeforeValidator:
    """Accept only strings in the documented form (pydantic alone also takes
    e.g. ``0`` for a date, ``yes`` for a boolean, bare hex for a UUID)."""
    form = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not form.fullmatch(value):
            raise ValueError(f"expected {what}")
        return value

    return BeforeValidator(check)


#: Query parameter types by filter type: exactly the form the document gives.
_PARAM_TYPES: dict[type, Any] = {
    str: Annotated[str, Field(max_length=500, pattern=NO_NUL)],
    bool: Annotated[bool, _only(r"(?i)true|false", "true or false")],
    date: Annotated[date, _only(r"\d{4}-\d{2}-\d{2}", "a date as YYYY-MM-DD")],
    uuid.UUID: Annotated[
        uuid.UUID, _only(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", "a UUID")
    ],
}


def _query_model(view: ModelView) -> type[ListQuery]:
    fields: dict[str, Any] = {
        "order_by": (
            str | None,
            Field(
                default=None,
                alias="order-by",
                max_length=500,
                json_schema_extra={"pattern": _order_pattern(view.model)},
                description=(
                    "fields to order by, e.g. `updated_at:desc,id:asc` (default direction "
                    "asc); any field that is not an object or list; default "
                    "`created_at:desc`; `id` is always added last as the tie-breaker"
                ),
            ),
        ),
        "include_deleted": (
            _PARAM_TYPES[bool],
            Field(default=False, description="also list records gone from the PMS"),
        ),
    }
    for spec in view.filters:
        kind = _PARAM_TYPES[spec.type]
        fields[spec.name] = (kind | None, Field(None, description=spec.description))
    return create_model(view.singular + "ListQuery", __base__=ListQuery, **fields)


def _json_default(value: object) -> str:
    # asyncpg hands out its own UUID subclass, which orjson does not take for one.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(body: object) -> bytes:
    """JSON of an answer built from rows (UUIDs, dates and datetimes as ISO strings)."""
    return orjson.dumps(body, default=_json_default)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _reader(call: Call) -> SqlRecordReader:
    return SqlRecordReader(call.ctx.store.engine)


def _list_handler(view: ModelView) -> Handler:
    names = tuple(f.name for f in view.filters)
    allowed = orderable(view.model)

    async def handle(call: Call) -> Raw:
        q = call.query
        ordering = parse_order_by(q.order_by, allowed, default=DEFAULT_ORDER)
        params = ListParams(
            model=view.model,
            filters={n: getattr(q, n) for n in names},
            include_deleted=q.include_deleted,
            order=ordering.terms,
            offset=q.offset,
            limit=q.limit,
            count_limit=call.ctx.settings.api_exact_total_limit,
        )
        try:
            found = await list_records(_reader(call), params)
        except InvalidParameter as exc:
            raise invalid("query", exc.field, exc.reason, exc.code) from None
        meta = RecordMeta(
            offset=q.offset,
            limit=q.limit,
            order_by=Ordering(found.order).echo(),
            has_more=found.has_more,
            total=found.total,
            total_exceeds=(
                call.ctx.settings.api_exact_total_limit if found.total is None else None
            ),
            sync_status=found.sync_status,
        )
        body = {
            "meta": meta.model_dump(mode="json", by_alias=True, exclude_none=True),
            "results": found.records,
        }
        return Raw(dumps(body))

    return handle


def _get_handler(view: ModelView) -> Handler:
    what = _snake(view.singular).replace("_", " ")

    async def handle(call: Call) -> Raw:
        record_id = call.path["id"]
        found = await get_record(_reader(call), view.model, record_id)
        if found is None:
            raise not_found(f"{what} {record_id!r}")
        return Raw(dumps({"results": found}))

    return handle


def _routes() -> list[Route]:
    routes: list[Route] = []
    for view in VIEWS.values():
        record = _record_model(view)
        listing = create_model(
            view.singular + "List",
            __config__=_STRICT,
            __doc__=f"A page of {view.path}.",
            meta=(RecordMeta, ...),
            results=(list[record], ...),  # type: ignore[valid-type]
        )
        one = create_model(
            view.singular + "One",
            __config__=_STRICT,
            __doc__=f"One record of {view.path}.",
            results=(record, ...),
        )
        base = f"/v1/{view.path}/"
        human = view.path.replace("-", " ")
        routes.append(
            Route(
                "GET",
                base,
                _list_handler(view),
                summary=f"List {human}",
                tag=view.path,
                scope=Scope.READ,
                query=_query_model(view),
                response=listing,
                aliases=(base.rstrip("/"),),
                operation_id=f"list_{view.model}",
                description=(
                    f"The cached {human}, newest first unless `order-by` says otherwise. "
                    "Filters are exact matches and combine with AND; records gone from "
                    "the PMS are left out unless `include_deleted=true`."
                ),
            )
        )
        routes.append(
            Route(
                "GET",
                base + "{id}",
                _get_handler(view),
                summary=f"Get one of the {human}",
                tag=view.path,
                scope=Scope.READ,
                response=one,
                errors=(404,),
                aliases=(base + "{id}/",),
                patterns={"id": record_id_pattern()},
                operation_id=f"get_{_snake(view.singular)}",
                description="By syncd id; a record gone from the PMS comes with `deleted_at` set.",
            )
        )
    return routes


ROUTES: list[Route] = _routes()
