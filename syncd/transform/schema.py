"""The transform schema format: pydantic models of the YAML files, and their checks.

A vendor directory (``transforms/<vendor>/``) holds one YAML file per unified
model plus ``enums.yaml``. Loading validates each file in two passes:

1. *Structure* (pydantic): known keys only, right shapes, known value types.
2. *Meaning* (:func:`check_model_schema`): the model exists, every target
   column is declared for it in :mod:`syncd.models`, each option suits the
   column's logical type, enum maps and referenced models exist, and no
   column is written twice.

Every failure is a :class:`~syncd.errors.SchemaError` naming the file and the
dotted key path of the offending entry, so an operator can fix it at once.

A model schema, in brief::

    model: units
    id: {source: Id, type: int}              # the PMS id -> x_id
    property_id: {source: PropertyId, type: int}
    fields:                                   # target column: source spec
      number: UnitNumber                      # shorthand for {source: UnitNumber}
      rent_amount_market_in_cents: {source: MarketRent, type: money}
      bedrooms: {source: UnitBedrooms, map: {Studio: 0, OneBed: 1}}
      is_vacant: {source: IsUnitOccupied, negate: true}
    normalized:                               # writes status_raw + status_normalized
      status: {source: LeaseStatus, enum: lease_status}
    phones:                                   # a list of {Number, Type} -> phone_N(+_type)
      - {source: PhoneNumbers, enum: phone_type, columns: [phone_1, phone_2]}
    custom_data:                              # extra source fields kept as JSON
      description: Description

Field options: ``type`` (how to read the source: see :data:`SOURCE_TYPES`;
default from the column's type), ``sources`` + ``join`` (several paths as one
text, empty parts skipped), ``const``, ``map`` + ``map_default`` (inline
raw→value map, exact match), ``enum`` (a named map of ``enums.yaml``: exact,
then case-insensitive, else its default), ``negate``, ``as_list``, ``ref``
(``unit_id: {source: UnitId, ref: units}`` → the unit's syncd id). A
``links`` section (leases only) derives resident links, with ``position``
and ``lookup`` options for its fields; see the Buildium leases schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from syncd.errors import SchemaError
from syncd.models import COMMON_COLUMNS, LINK_COLUMNS, MODELS, ColumnType

#: Names accepted by a field's ``type`` option: how to read the source value.
SOURCE_TYPES: Final = (
    "string",  # text; an integer source becomes its decimal string
    "text",  # same as string (for long free text)
    "int",  # an integer (JSON int, integral float or digit string)
    "float",
    "bool",
    "money",  # a currency amount (1850.5) -> integer cents (185050)
    "cents",  # an integer already in cents
    "date",  # YYYY-MM-DD (a datetime string keeps its written date)
    "datetime",  # ISO 8601 -> aware UTC; no zone means UTC
    "uuid",
    "json",  # any JSON value, passed through
    "id",  # a record id: integer or non-empty string -> string
)

#: Source types allowed for record ids and references.
ID_TYPES: Final = frozenset({"int", "string", "id"})

#: Per column type: the source types that may feed it, and the default.
_STRINGISH: Final = frozenset({"string", "text", "int", "id"})
COMPATIBLE_TYPES: Final[dict[ColumnType, tuple[frozenset[str], str]]] = {
    ColumnType.STRING: (_STRINGISH, "string"),
    ColumnType.TEXT: (_STRINGISH, "text"),
    ColumnType.INT: (frozenset({"int"}), "int"),
    ColumnType.BIGINT: (frozenset({"money", "cents"}), "money"),
    ColumnType.FLOAT: (frozenset({"float", "int"}), "float"),
    ColumnType.BOOL: (frozenset({"bool"}), "bool"),
    ColumnType.DATE: (frozenset({"date", "datetime"}), "date"),
    ColumnType.DATETIME: (frozenset({"datetime", "date"}), "datetime"),
    ColumnType.UUID: (frozenset({"uuid"}), "uuid"),
    ColumnType.JSON: (frozenset({"json"}), "json"),
}

#: Link columns the link section fills itself (from the lease and the item id).
LINK_KEY_COLUMNS: Final = frozenset({"x_lease_id", "x_resident_id"})
LINK_COLUMN_TYPES: Final[dict[str, ColumnType]] = {c.name: c.type for c in LINK_COLUMNS}

#: The model whose records carry resident links.
LINK_SOURCE_MODEL: Final = "leases"


def _check_path(path: str) -> str:
    """Validate a dotted source path (``Address.City``, ``Leases.0.PropertyId``)."""
    if not path or any(part == "" or part != part.strip() for part in path.split(".")):
        raise ValueError(f"invalid source path {path!r} (dot-separated keys, no empty parts)")
    return path


#: A dotted source path, checked when the schema loads.
SourcePath = Annotated[str, AfterValidator(_check_path)]


class _Strict(BaseModel):
    """Base of the YAML models: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LookupSpec(_Strict):
    """Find an element of a list in the parent record whose ``key`` equals the link's id.

    Used by link fields, e.g. a tenant's move-out date kept in the lease's
    ``MoveOutData`` list rather than on the tenant entry itself.
    """

    source: SourcePath
    key: SourcePath
    value: SourcePath


class FieldSpec(_Strict):
    """How one target value is computed from a source record.

    Exactly one origin: ``source`` (a dotted path), ``sources`` (several paths
    joined as text), ``const`` (a literal), or, in link fields only,
    ``position`` / ``lookup``. Options then shape the value: ``type`` (how to
    read the source), ``map`` (an inline raw→value map, e.g. Buildium's
    ``TwoBed`` → 2), ``enum`` (a named enum map), ``negate``, ``as_list``,
    ``ref`` (a reference: the id of a record of another model).
    """

    source: SourcePath | None = None
    sources: tuple[SourcePath, ...] | None = None
    join: str | None = None
    const: Any = None
    position: tuple[Any, ...] | None = None
    lookup: LookupSpec | None = None
    type: str | None = None
    map: dict[str, Any] | None = None
    map_default: Any = None
    enum: str | None = None
    negate: bool = False
    as_list: bool = False
    ref: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `column: Some.Path` is the common case; keep the YAML short.
        if isinstance(data, str):
            return {"source": data}
        if not isinstance(data, dict):
            raise ValueError("expected a source path or a mapping of options")
        return data

    @field_validator("sources")
    @classmethod
    def _some_sources(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("sources must list at least one path")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in SOURCE_TYPES:
            raise ValueError(f"unknown type {value!r} (known: {', '.join(SOURCE_TYPES)})")
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        origins = [
            name
            for name in ("source", "sources", "position", "lookup")
            if getattr(self, name) is not None
        ]
        if "const" in self.model_fields_set:
            origins.append("const")
        if len(origins) != 1:
            found = ", ".join(origins) if origins else "none"
            raise ValueError(
                f"needs exactly one of source, sources, const, position, lookup (found: {found})"
            )
        if self.join is not None and self.sources is None:
            raise ValueError("join applies only with sources")
        if "map_default" in self.model_fields_set and self.map is None:
            raise ValueError("map_default applies only with map")
        shaping = [n for n in ("map", "enum", "ref") if getattr(self, n) is not None]
        if len(shaping) > 1:
            raise ValueError(f"{' and '.join(shaping)} cannot be combined")
        if shaping and self.source is None:
            raise ValueError(f"{shaping[0]} needs a single source")
        for flag in ("negate", "as_list"):
            if getattr(self, flag) and (self.source is None or shaping):
                raise ValueError(f"{flag} needs a single source and no map, enum or ref")
        if self.negate and self.as_list:
            raise ValueError("negate and as_list cannot be combined")
        return self

    @property
    def is_const(self) -> bool:
        """True when the value is the ``const`` literal."""
        return "const" in self.model_fields_set


class NormalizedSpec(_Strict):
    """An enum pair: ``<name>_raw`` and ``<name>_normalized`` from one source field."""

    source: SourcePath
    enum: str


class PhoneSpec(_Strict):
    """Numbered phone columns from a list of ``{number, type}`` objects.

    Entries without a number are skipped; ``columns`` are filled in order and
    each ``<column>_type`` gets the entry's type through ``enum`` (when
    ``type`` is not null).
    """

    source: SourcePath
    number: SourcePath = "Number"
    type: SourcePath | None = "Type"
    enum: str | None = None
    columns: tuple[str, ...] = Field(min_length=1)


class LinkSpec(_Strict):
    """Resident↔lease links: one per element of a list in the lease record.

    ``resident_id`` is read from each element; ``fields`` map link columns
    (see :data:`syncd.models.LINK_COLUMNS`) from the element, a ``lookup`` in
    the lease, or the element's ``position`` in the list.
    """

    source: SourcePath
    resident_id: FieldSpec
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


class ModelSchema(_Strict):
    """One YAML file: how one PMS resource maps to one unified model."""

    version: Literal[1] = 1
    model: str
    description: str | None = None
    id: FieldSpec
    property_id: FieldSpec | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    normalized: dict[str, NormalizedSpec] = Field(default_factory=dict)
    phones: tuple[PhoneSpec, ...] = ()
    custom_data: dict[str, FieldSpec] = Field(default_factory=dict)
    links: LinkSpec | None = None


class EnumMapSpec(_Strict):
    """One enum map in ``enums.yaml``.

    ``values`` maps raw PMS values to normalized ones; unmapped raw values get
    ``default``. ``allowed`` (optional) lists the normalized values the map
    may produce, so a typo here or in an integration's override is refused.
    """

    description: str | None = None
    default: str | None
    allowed: tuple[str, ...] | None = None
    values: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _within_allowed(self) -> EnumMapSpec:
        if self.allowed is None:
            return self
        allowed = set(self.allowed)
        if self.default is not None and self.default not in allowed:
            raise ValueError(f"default {self.default!r} is not in allowed {sorted(allowed)}")
        for raw, normalized in self.values.items():
            if normalized not in allowed:
                raise ValueError(
                    f"values.{raw}: {normalized!r} is not in allowed {sorted(allowed)}"
                )
        return self


class EnumFile(_Strict):
    """``enums.yaml``: the vendor's named enum maps."""

    version: Literal[1] = 1
    maps: dict[str, EnumMapSpec] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadedSchema:
    """A validated model schema and the file it came from (for error messages)."""

    schema: ModelSchema
    file: str


# --- structure ---------------------------------------------------------------

_PYDANTIC_MESSAGES: Final = {
    "extra_forbidden": "unknown key",
    "missing": "required key missing",
}


def _loc_to_path(loc: Iterable[int | str]) -> str:
    parts = [str(p) for p in loc if p != "[key]"]
    return ".".join(parts)


def _schema_error_from(exc: ValidationError, file: str) -> SchemaError:
    """The first validation error as a SchemaError (file + dotted key path)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    message = _PYDANTIC_MESSAGES.get(kind, first["msg"])
    if kind == "value_error" and message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if loc and loc[-1] == "[key]":
        message = f"key {loc[-2]!r} must be a string (quote it in YAML)"
        loc = loc[:-1]
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return SchemaError(message, file=file, field=_loc_to_path(loc) or None)


def parse_model_schema(data: Any, file: str) -> ModelSchema:
    """Validate the structure of one model schema file's content."""
    if not isinstance(data, dict):
        raise SchemaError("expected a mapping at the top level", file=file)
    try:
        return ModelSchema.model_validate(data)
    except ValidationError as exc:
        raise _schema_error_from(exc, file) from None


def parse_enum_file(data: Any, file: str) -> EnumFile:
    """Validate the structure of an ``enums.yaml`` file's content."""
    if data is None:
        return EnumFile()
    if not isinstance(data, dict):
        raise SchemaError("expected a mapping at the top level", file=file)
    try:
        return EnumFile.model_validate(data)
    except ValidationError as exc:
        raise _schema_error_from(exc, file) from None


# --- literals ------------------------------------------------------------------


def coerce_literal(value: Any, column_type: ColumnType | None) -> Any:
    """Check a YAML literal (``const``, ``map`` values) against a column type.

    Returns the value as the transform will emit it; raises ``ValueError``.
    ``column_type`` None means a custom_data entry: any JSON value.
    """
    if value is None or column_type is None or column_type is ColumnType.JSON:
        if column_type is None and isinstance(value, date | datetime):
            # YAML parses bare dates; custom_data holds JSON, so keep text.
            return value.isoformat()
        return value
    try:
        result = _literal(value, column_type)
    except ValueError:
        result = None
    if result is None:
        raise ValueError(f"{value!r} is not a valid {column_type.value} value")
    return result


def _literal(value: Any, column_type: ColumnType) -> Any:
    """The literal as a value of ``column_type``; None when it is not one."""
    match column_type:
        case ColumnType.STRING | ColumnType.TEXT:
            if isinstance(value, str):
                return value
        case ColumnType.INT | ColumnType.BIGINT:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        case ColumnType.FLOAT:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        case ColumnType.BOOL:
            if isinstance(value, bool):
                return value
        case ColumnType.DATE:
            if isinstance(value, date) and not isinstance(value, datetime):
                return value
            if isinstance(value, str):
                return date.fromisoformat(value)
        case ColumnType.DATETIME:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
            if isinstance(parsed, datetime):
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed.astimezone(UTC)
        case ColumnType.UUID:
            if isinstance(value, str):
                return uuid.UUID(value)
    return None


# --- meaning -------------------------------------------------------------------


class _Checker:
    """Checks one model schema against the model registry and enum names."""

    def __init__(self, schema: ModelSchema, enum_names: frozenset[str], file: str) -> None:
        self.schema = schema
        self.enum_names = enum_names
        self.file = file
        self.written: dict[str, str] = {}  # column -> where it is written

    def fail(self, message: str, field: str) -> SchemaError:
        return SchemaError(message, file=self.file, field=field)

    def check(self) -> None:
        schema = self.schema
        model = MODELS.get(schema.model)
        if model is None:
            raise self.fail(f"unknown model {schema.model!r} (known: {', '.join(MODELS)})", "model")
        columns = {c.name: c.type for c in model.columns}
        self.check_id(schema.id, "id")
        if schema.property_id is not None:
            if schema.model == "properties":
                raise self.fail(
                    "a property's x_property_id is its own id; remove property_id",
                    "property_id",
                )
            self.check_id(schema.property_id, "property_id")
        for column, spec in schema.fields.items():
            where = f"fields.{column}"
            self.claim(column, columns, where)
            self.check_field(spec, columns[column], where)
        for name, pair in schema.normalized.items():
            where = f"normalized.{name}"
            for column in (f"{name}_raw", f"{name}_normalized"):
                if column not in columns:
                    raise self.fail(
                        f"model {schema.model!r} has no column {column!r} "
                        f"(an enum pair needs {name}_raw and {name}_normalized)",
                        where,
                    )
                self.claim(column, columns, where)
            self.check_enum(pair.enum, f"{where}.enum")
        for i, phones in enumerate(schema.phones):
            where = f"phones.{i}"
            if phones.enum is not None:
                self.check_enum(phones.enum, f"{where}.enum")
            for column in phones.columns:
                self.claim(column, columns, f"{where}.columns")
                if columns[column] not in (ColumnType.STRING, ColumnType.TEXT):
                    raise self.fail(f"column {column!r} is not a string column", where)
                if phones.type is not None:
                    self.claim(f"{column}_type", columns, f"{where}.columns")
        for key, spec in schema.custom_data.items():
            self.check_field(spec, None, f"custom_data.{key}")
        if schema.links is not None:
            self.check_links(schema.links)

    def claim(self, column: str, columns: Mapping[str, ColumnType], where: str) -> None:
        if column in COMMON_COLUMNS:
            raise self.fail(
                f"{column!r} is a common column: use the top-level id / property_id / "
                "custom_data keys",
                where,
            )
        if column not in columns:
            raise self.fail(
                f"column {column!r} is not declared for model {self.schema.model!r}", where
            )
        if column in self.written:
            raise self.fail(
                f"column {column!r} is already written by {self.written[column]}", where
            )
        self.written[column] = where

    def check_enum(self, name: str, where: str) -> None:
        if name not in self.enum_names:
            known = ", ".join(sorted(self.enum_names)) or "none"
            raise self.fail(f"unknown enum map {name!r} (known: {known})", where)

    def check_id(self, spec: FieldSpec, where: str) -> None:
        if spec.source is None:
            raise self.fail("an id needs a single source path", where)
        extra = [n for n in ("map", "enum", "ref") if getattr(spec, n) is not None] + [
            n for n in ("negate", "as_list") if getattr(spec, n)
        ]
        if extra:
            raise self.fail(f"option {extra[0]!r} does not apply to an id", where)
        if spec.type is not None and spec.type not in ID_TYPES:
            raise self.fail(
                f"type {spec.type!r} cannot be an id (use one of: {', '.join(sorted(ID_TYPES))})",
                f"{where}.type",
            )

    def check_field(
        self, spec: FieldSpec, column_type: ColumnType | None, where: str, *, in_link: bool = False
    ) -> None:
        """Check one field spec against the type of the column it fills.

        ``column_type`` None is a custom_data entry (any JSON value).
        """
        kind = column_type.value if column_type is not None else "custom_data"
        if not in_link:
            for option in ("position", "lookup"):
                if getattr(spec, option) is not None:
                    raise self.fail(f"option {option!r} is only allowed in links.fields", where)

        def literal(value: Any, field: str) -> None:
            try:
                coerce_literal(value, column_type)
            except ValueError as exc:
                raise self.fail(str(exc), field) from None

        if spec.is_const:
            literal(spec.const, f"{where}.const")
        if spec.position is not None:
            if not spec.position:
                raise self.fail("position must list at least one value", f"{where}.position")
            for i, value in enumerate(spec.position):
                literal(value, f"{where}.position.{i}")
        if spec.sources is not None and column_type not in (
            ColumnType.STRING,
            ColumnType.TEXT,
            None,
        ):
            raise self.fail(f"sources (a joined text) cannot fill a {kind} column", where)
        if spec.negate and column_type not in (ColumnType.BOOL, None):
            raise self.fail(f"negate applies to bool columns, not {kind}", f"{where}.negate")
        if spec.negate and spec.type not in (None, "bool"):
            raise self.fail("negate needs type bool", f"{where}.negate")
        if spec.as_list and column_type not in (ColumnType.JSON, None):
            raise self.fail(f"as_list fills json columns, not {kind}", f"{where}.as_list")
        if spec.enum is not None:
            self.check_enum(spec.enum, f"{where}.enum")
            if column_type not in (ColumnType.STRING, ColumnType.TEXT, None):
                raise self.fail(f"an enum map yields text; cannot fill a {kind} column", where)
        if spec.map is not None:
            for raw, value in spec.map.items():
                literal(value, f"{where}.map.{raw}")
            literal(spec.map_default, f"{where}.map_default")
        if spec.ref is not None:
            if column_type is None:
                raise self.fail(
                    "ref is not supported in custom_data (keep the PMS id with type id)",
                    f"{where}.ref",
                )
            if spec.ref not in MODELS:
                raise self.fail(
                    f"unknown model {spec.ref!r} (known: {', '.join(MODELS)})", f"{where}.ref"
                )
            if column_type not in (ColumnType.UUID, None):
                raise self.fail(f"ref yields a uuid; cannot fill a {kind} column", where)
            if spec.type is not None and spec.type not in ID_TYPES:
                raise self.fail(
                    f"type {spec.type!r} cannot be a reference id "
                    f"(use one of: {', '.join(sorted(ID_TYPES))})",
                    f"{where}.type",
                )
            return
        if spec.type is None:
            return
        if spec.map is not None or spec.enum is not None or spec.sources is not None:
            raise self.fail("type does not apply with map, enum or sources", f"{where}.type")
        if spec.is_const or spec.position is not None:
            raise self.fail("type does not apply to a literal", f"{where}.type")
        if column_type is None or spec.as_list:
            return
        allowed, _default = COMPATIBLE_TYPES[column_type]
        if spec.type not in allowed:
            raise self.fail(
                f"type {spec.type!r} cannot fill {kind} column "
                f"(allowed: {', '.join(sorted(allowed))})",
                f"{where}.type",
            )

    def check_links(self, links: LinkSpec) -> None:
        if self.schema.model != LINK_SOURCE_MODEL:
            raise self.fail(f"links are derived from {LINK_SOURCE_MODEL} records only", "links")
        self.check_id(links.resident_id, "links.resident_id")
        for column, spec in links.fields.items():
            where = f"links.fields.{column}"
            if column in LINK_KEY_COLUMNS:
                raise self.fail(f"{column!r} is filled from the lease and resident ids", where)
            if column not in LINK_COLUMN_TYPES:
                allowed = sorted(set(LINK_COLUMN_TYPES) - LINK_KEY_COLUMNS)
                raise self.fail(
                    f"column {column!r} is not a link column (allowed: {', '.join(allowed)})",
                    where,
                )
            self.check_field(spec, LINK_COLUMN_TYPES[column], where, in_link=True)


def check_model_schema(schema: ModelSchema, enum_names: Iterable[str], file: str) -> None:
    """Check a structurally valid schema's meaning; raise SchemaError naming file + field."""
    _Checker(schema, frozenset(enum_names), file).check()


def effective_type(spec: FieldSpec, column_type: ColumnType | None) -> str:
    """The source type a field is read as: its ``type`` or the column's default."""
    if spec.type is not None:
        return spec.type
    if spec.ref is not None:
        return "id"
    if spec.negate:
        return "bool"
    if column_type is None or spec.as_list:
        return "json"
    return COMPATIBLE_TYPES[column_type][1]
