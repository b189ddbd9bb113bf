"""Compile validated transform schemas into fast per-record transforms.

Everything a schema says is resolved once, here: each target column becomes a
small closure (path getter + converter), plain text copies are batched into
one loop per parent object, and a record's transform is a run over those
closures. No YAML, option dicts or type dispatch remain on the hot path.

Value conventions (the same for every vendor):

* A missing source (absent key, null, or an empty string) yields None. Empty
  strings count as missing because PMSs send ``""`` for "not set"; strings
  are otherwise kept exactly as sent (no stripping).
* ``int`` accepts a JSON integer, an integral float (``900.0``) or a string of
  digits; anything else is an error. Booleans are never numbers.
* ``money`` turns a currency amount (number or numeric string) into integer
  cents, rounding half to even on the decimal as sent (``Decimal(repr(x))``),
  so 19.99 → 1999 and 2.675 → 268 exactly.
* ``date`` takes ``YYYY-MM-DD``; a datetime string keeps the date as written.
  ``datetime`` takes ISO 8601 and returns an aware UTC datetime; no zone means
  UTC and offsets are converted.
* Text columns accept integers too (ids and codes often arrive as numbers).
* ``custom_data`` holds JSON: dates, datetimes and UUIDs become ISO strings.

Errors are :class:`~syncd.errors.TransformError` whose ``field`` is the source
path and whose reason names the problem and the target column.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from hashlib import blake2b
from typing import Any, Final

import orjson

from syncd.domain import Link, NormalizedRecord, QuarantinedRecord, record_id
from syncd.errors import SchemaError, TransformError
from syncd.models import MODEL_ORDER, MODELS, ColumnType
from syncd.transform.enums import EnumMap, Normalizer, apply_overrides
from syncd.transform.schema import (
    LINK_COLUMN_TYPES,
    FieldSpec,
    LinkSpec,
    LoadedSchema,
    ModelSchema,
    NormalizedSpec,
    PhoneSpec,
    coerce_literal,
    effective_type,
)

Getter = Callable[[Mapping[str, Any]], Any]
Converter = Callable[[Any], Any]
ValueFn = Callable[[Mapping[str, Any]], Any]
IdFn = Callable[[Mapping[str, Any]], str | None]
Writer = Callable[[Mapping[str, Any], dict[str, Any]], None]
LookupFn = Callable[[Mapping[str, Any], str], Any]
LinksFn = Callable[[Mapping[str, Any], str], tuple[Link, ...]]

_INT_RE: Final = re.compile(r"[+-]?\d+")
_HUNDRED: Final = Decimal(100)
_ONE: Final = Decimal(1)
#: Below this, floats are precise enough that any amount with two decimals
#: maps to one float, which the fast cents path relies on.
_FAST_MONEY_LIMIT: Final = 1e13


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


# --- record ids -------------------------------------------------------------------


@lru_cache(maxsize=1 << 14)
def cached_record_id(integration_id: str, model: str, x_id: str) -> uuid.UUID:
    """:func:`syncd.domain.record_id`, memoized.

    References repeat a lot (every unit of a property, every lease of a unit);
    hashing each once saves a SHA-1 and a UUID build per column.
    """
    return record_id(integration_id, model, x_id)


# --- paths ------------------------------------------------------------------------


def compile_path(path: str) -> Getter:
    """A getter for a dotted path; None when any step is missing.

    Digit segments index lists (``Leases.0.PropertyId``) or are plain keys of
    objects. Stepping into a scalar is an error: the record's shape is not
    what the schema expects.
    """
    parts = path.split(".")
    if len(parts) == 1:
        key = parts[0]

        def get_top(record: Mapping[str, Any]) -> Any:
            return record.get(key)

        return get_top

    steps = tuple((part, int(part) if part.isdigit() else None) for part in parts)

    def walk_checked(record: Mapping[str, Any]) -> Any:
        # The slow, thorough walk: any Mapping, list indexes, clear errors.
        current: Any = record
        for depth, (key, index) in enumerate(steps):
            if current is None:
                return None
            if isinstance(current, Mapping):
                current = current.get(key)
            elif index is not None and isinstance(current, list):
                current = current[index] if index < len(current) else None
            else:
                where = ".".join(parts[:depth]) or "record"
                expected = "a list" if index is not None else "an object"
                raise TransformError(
                    f"expected {expected} at {where}, got {_describe(current)}", field=path
                )
        return current

    def get_nested(record: Mapping[str, Any]) -> Any:
        current: Any = record
        for key, index in steps:
            if type(current) is dict:
                current = current.get(key)
            elif current is None:
                return None
            elif index is not None and type(current) is list:
                current = current[index] if index < len(current) else None
            else:
                return walk_checked(record)
        return current

    first, second = steps[0][0], steps[1][0]
    if len(steps) == 2 and steps[1][1] is None:
        # Fast path for the common `Object.Key` shape; anything unusual (a
        # list, a non-dict mapping, a scalar) takes the thorough walk.
        def get_two(record: Mapping[str, Any]) -> Any:
            inner = record.get(first)
            if type(inner) is dict:
                return inner.get(second)
            if inner is None:
                return None
            return walk_checked(record)

        return get_two
    return get_nested


# --- converters (raise ValueError with a readable message) ------------------------


def to_string(value: Any) -> str:
    """Text; integers (and other numbers) become their decimal text."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is Decimal:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    raise ValueError(f"expected text, got {_describe(value)}")


def to_int(value: Any) -> int:
    """An integer from an int, an integral float or a digit string."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float and value.is_integer():
        return int(value)
    if kind is str:
        text = value.strip()
        if _INT_RE.fullmatch(text):
            return int(text)
    raise ValueError(f"expected an integer, got {_describe(value)}")


def to_float(value: Any) -> float:
    """A finite float from a number or a numeric string."""
    kind = type(value)
    if kind is float or kind is int:
        result = float(value)
    elif kind is str:
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {_describe(value)}") from None
    else:
        raise ValueError(f"expected a number, got {_describe(value)}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {_describe(value)}")
    return result


def to_cents(value: Any) -> int:
    """Integer cents from a currency amount, rounding half to even."""
    kind = type(value)
    if kind is int:
        return value * 100  # type: ignore[no-any-return]
    if kind is float:
        if value.is_integer():
            return int(value) * 100
        if not math.isfinite(value):
            raise ValueError(f"expected a finite amount, got {_describe(value)}")
        cents: int = round(value * 100)
        if cents / 100 == value and -_FAST_MONEY_LIMIT < value < _FAST_MONEY_LIMIT:
            # At most two decimals (the usual amount): the product is within
            # float error of an integer, so rounding it is exact and equals
            # the Decimal result below, at a fraction of the cost.
            return cents
        # repr() is the shortest text that round-trips, i.e. what the PMS
        # sent: 2.675 stays 2.675 (→ 268 half-even), not 2.67499999...
        amount = Decimal(repr(value))
    elif kind is str:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected an amount, got {_describe(value)}") from None
        if not amount.is_finite():
            raise ValueError(f"expected a finite amount, got {_describe(value)}")
    elif kind is Decimal:
        amount = value
    else:
        raise ValueError(f"expected an amount, got {_describe(value)}")
    return int((amount * _HUNDRED).quantize(_ONE, rounding=ROUND_HALF_EVEN))


def to_bool(value: Any) -> bool:
    """A bool; also "true"/"false" strings and 0/1 (some PMSs send those)."""
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[no-any-return]
    if kind is str:
        folded = value.strip().lower()
        if folded == "true":
            return True
        if folded == "false":
            return False
    elif kind is int and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a boolean, got {_describe(value)}")


def to_date(value: Any) -> date:
    """A date from ``YYYY-MM-DD`` (or the date part of an ISO datetime as written)."""
    if type(value) is str and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value).date()
        except ValueError:
            raise ValueError(f"invalid date {value!r}") from None
    if type(value) is date:
        return value
    if type(value) is str:
        raise ValueError(f"invalid date {value!r}")
    raise ValueError(f"expected a date string, got {_describe(value)}")


def to_datetime(value: Any) -> datetime:
    """An aware UTC datetime from ISO 8601; no zone means UTC."""
    if type(value) is str and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"invalid datetime {value!r}") from None
    elif type(value) is datetime:
        parsed = value
    elif type(value) is str:
        raise ValueError(f"invalid datetime {value!r}")
    else:
        raise ValueError(f"expected a datetime string, got {_describe(value)}")
    tz = parsed.tzinfo
    if tz is UTC:
        return parsed
    if tz is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_uuid(value: Any) -> uuid.UUID:
    """A UUID from its text form."""
    if type(value) is uuid.UUID:
        return value
    if type(value) is str:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValueError(f"expected a UUID, got {_describe(value)}")


def to_id(value: Any) -> str:
    """A record id: an integer or a non-empty string, as a string."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if kind is float and value.is_integer():
        return str(int(value))
    raise ValueError(f"expected an id (integer or text), got {_describe(value)}")


def _int_id(value: Any) -> str:
    return str(to_int(value))


def _identity(value: Any) -> Any:
    return value


def _datetime_as_date(value: Any) -> date:
    return to_datetime(value).date()


def _date_as_datetime(value: Any) -> datetime:
    return datetime.combine(to_date(value), datetime.min.time(), UTC)


_CONVERTERS: Final[dict[str, Converter]] = {
    "string": to_string,
    "text": to_string,
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
    "money": to_cents,
    "cents": to_int,
    "date": to_date,
    "datetime": to_datetime,
    "uuid": to_uuid,
    "json": _identity,
    "id": to_id,
}


def _converter(source_type: str, column_type: ColumnType | None) -> Converter:
    """The converter reading ``source_type`` into a value of ``column_type``."""
    if column_type is ColumnType.DATE and source_type == "datetime":
        return _datetime_as_date
    if column_type is ColumnType.DATETIME and source_type == "date":
        return _date_as_datetime
    if column_type in (ColumnType.STRING, ColumnType.TEXT) and source_type == "int":
        return _int_id
    if column_type is ColumnType.FLOAT and source_type == "int":
        return lambda value: float(to_int(value))
    base = _CONVERTERS[source_type]
    if column_type is None and source_type in _NOT_JSON_NATIVE:
        # custom_data is a JSON column: keep dates, datetimes and UUIDs as text.
        return lambda value: str(base(value)) if source_type == "uuid" else base(value).isoformat()
    if source_type in _INTEGRAL:
        return _bounded(base, _INT_BITS.get(column_type, 64) if column_type else 64)
    return base


_INTEGRAL: Final = frozenset({"int", "cents", "money"})
#: Bits of the signed integer a column stores (the rest, like custom_data's JSON, 64).
_INT_BITS: Final = {ColumnType.INT: 32, ColumnType.BIGINT: 64}


def _bounded(convert: Converter, bits: int) -> Converter:
    """``convert``, refusing integers its column cannot store (so the field is named)."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def bounded(value: Any) -> Any:
        result = convert(value)
        if not low <= result <= high:
            raise ValueError(f"{_describe(value)} does not fit a {bits}-bit integer")
        return result

    return bounded


_NOT_JSON_NATIVE: Final = frozenset({"date", "datetime", "uuid"})


def _enum_raw(value: Any, path: str) -> str:
    """A raw enum value as text (some PMSs send numeric codes)."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise TransformError(f"expected an enum value (text), got {_describe(value)}", field=path)


def _text_other(raw: Any, column: str, path: str) -> str | None:
    """The slow path of a text column: a non-string source value."""
    if raw is None:
        return None
    try:
        return to_string(raw)
    except ValueError as exc:
        raise TransformError(f"{exc} (for {column})", field=path) from None


#: One batched column: (column, key in its object, full source path, converter
#: or None for text, which has its own fast path).
_Simple = tuple[str, str, str, Converter | None]


def _fill(source: Mapping[str, Any], entries: tuple[_Simple, ...], values: dict[str, Any]) -> None:
    """Fill batched columns from one object (the record or a nested object)."""
    for column, key, path, convert in entries:
        raw = source.get(key)
        if convert is None:
            if type(raw) is str:
                values[column] = raw or None
            else:
                values[column] = _text_other(raw, column, path)
        elif raw is None or raw == "":
            values[column] = None
        else:
            try:
                values[column] = convert(raw)
            except ValueError as exc:
                raise TransformError(f"{exc} (for {column})", field=path) from None


def _top_writer(entries: tuple[_Simple, ...]) -> Writer:
    def write_top(record: Mapping[str, Any], values: dict[str, Any]) -> None:
        _fill(record, entries, values)

    return write_top


def _nested_writer(parent: str, entries: tuple[_Simple, ...]) -> Writer:
    def write_nested(record: Mapping[str, Any], values: dict[str, Any]) -> None:
        inner = record.get(parent)
        if type(inner) is dict:
            _fill(inner, entries, values)
        elif inner is None:
            for entry in entries:
                values[entry[0]] = None
        elif isinstance(inner, Mapping):
            _fill(inner, entries, values)
        else:
            raise TransformError(
                f"expected an object at {parent}, got {_describe(inner)}",
                field=entries[0][2],
            )

    return write_nested


class _LeaseLevelError(TransformError):
    """A link error whose field is a path in the lease, not in the link's item."""


# --- fields -----------------------------------------------------------------------


class _Compiler:
    """Compiles one model schema; holds the enum normalizers it may use."""

    def __init__(self, loaded: LoadedSchema, normalizers: Mapping[str, Normalizer]) -> None:
        self.schema: ModelSchema = loaded.schema
        self.file = loaded.file
        self.normalizers = normalizers
        self.model = MODELS[self.schema.model]
        self.column_types = {c.name: c.type for c in self.model.columns}

    def value(self, spec: FieldSpec, column: str, column_type: ColumnType | None) -> ValueFn:
        """A closure computing one value from a record."""
        if spec.is_const:
            constant = coerce_literal(spec.const, column_type)
            return lambda record: constant
        if spec.sources is not None:
            return self._joined(spec.sources, spec.join if spec.join is not None else " ")
        assert spec.source is not None  # the schema checks guarantee one origin
        path = spec.source
        get = compile_path(path)
        if spec.map is not None:
            return self._mapped(spec, column_type, get, path)
        if spec.enum is not None:
            return self._enum(self.normalizers[spec.enum], get, path)
        source_type = effective_type(spec, column_type)
        if spec.as_list:
            return self._as_list(get, _converter(source_type, None), path, column)
        convert = _converter(source_type, column_type)
        if source_type == "json":
            return get
        if source_type in ("string", "text") and column_type is not None:
            return self._text(get, path, column)
        if spec.negate:

            def negated(record: Mapping[str, Any]) -> Any:
                raw = get(record)
                if raw is None or raw == "":
                    return None
                try:
                    return not convert(raw)
                except ValueError as exc:
                    raise TransformError(f"{exc} (for {column})", field=path) from None

            return negated
        if "." not in path:
            key = path

            def top_value(record: Mapping[str, Any]) -> Any:
                raw = record.get(key)
                if raw is None or raw == "":
                    return None
                try:
                    return convert(raw)
                except ValueError as exc:
                    raise TransformError(f"{exc} (for {column})", field=path) from None

            return top_value

        def field_value(record: Mapping[str, Any]) -> Any:
            raw = get(record)
            if raw is None or raw == "":
                return None
            try:
                return convert(raw)
            except ValueError as exc:
                raise TransformError(f"{exc} (for {column})", field=path) from None

        return field_value

    @staticmethod
    def _text(get: Getter, path: str, column: str) -> ValueFn:
        # The most common field kind: fuse the path walk in for plain keys and
        # keep the happy path to one type check.
        def other(raw: Any) -> str | None:
            if raw is None:
                return None
            try:
                return to_string(raw)
            except ValueError as exc:
                raise TransformError(f"{exc} (for {column})", field=path) from None

        parts = path.split(".")
        if len(parts) == 1:
            key = parts[0]

            def text_top(record: Mapping[str, Any]) -> Any:
                raw = record.get(key)
                if type(raw) is str:
                    return raw or None
                return other(raw)

            return text_top
        if len(parts) == 2 and not parts[1].isdigit():
            first, second = parts

            def text_two(record: Mapping[str, Any]) -> Any:
                inner = record.get(first)
                if type(inner) is dict:
                    raw = inner.get(second)
                    if type(raw) is str:
                        return raw or None
                    return other(raw)
                if inner is None:
                    return None
                return other(get(record))

            return text_two

        def text_value(record: Mapping[str, Any]) -> Any:
            raw = get(record)
            if type(raw) is str:
                return raw or None
            return other(raw)

        return text_value

    def simple_groups(self, simple: Sequence[tuple[str, FieldSpec]]) -> list[Writer]:
        """Writers for option-free columns, batched by the object they read from.

        Plain copies and conversions are most of a record; filling them in
        one loop per object (``Address.City``, ``Address.State``... share one
        ``Address`` look-up) costs far less than one closure call per column.
        """
        top: list[_Simple] = []
        nested: dict[str, list[_Simple]] = {}
        for column, spec in simple:
            assert spec.source is not None
            path = spec.source
            column_type = self.column_types[column]
            source_type = effective_type(spec, column_type)
            convert = (
                None if source_type in ("string", "text") else _converter(source_type, column_type)
            )
            parts = path.split(".")
            if len(parts) == 1:
                top.append((column, path, path, convert))
            else:
                nested.setdefault(parts[0], []).append((column, parts[1], path, convert))
        writers = [_top_writer(tuple(top))] if top else []
        writers += [_nested_writer(parent, tuple(e)) for parent, e in nested.items()]
        return writers

    @staticmethod
    def _joined(paths: Sequence[str], separator: str) -> ValueFn:
        getters = tuple((compile_path(p), p) for p in paths)

        def joined_value(record: Mapping[str, Any]) -> Any:
            parts: list[str] = []
            for get, path in getters:
                raw = get(record)
                if raw is None or raw == "":
                    continue
                try:
                    parts.append(to_string(raw))
                except ValueError as exc:
                    raise TransformError(str(exc), field=path) from None
            return separator.join(parts) if parts else None

        return joined_value

    @staticmethod
    def _mapped(spec: FieldSpec, column_type: ColumnType | None, get: Getter, path: str) -> ValueFn:
        assert spec.map is not None
        table = {raw: coerce_literal(v, column_type) for raw, v in spec.map.items()}
        default = coerce_literal(spec.map_default, column_type)

        def mapped_value(record: Mapping[str, Any]) -> Any:
            raw = get(record)
            if raw is None or raw == "":
                return None
            return table.get(_enum_raw(raw, path), default)

        return mapped_value

    @staticmethod
    def _enum(normalize: Normalizer, get: Getter, path: str) -> ValueFn:
        def enum_value(record: Mapping[str, Any]) -> Any:
            raw = get(record)
            if raw is None or raw == "":
                return None
            return normalize(_enum_raw(raw, path))

        return enum_value

    @staticmethod
    def _as_list(get: Getter, convert: Converter, path: str, column: str) -> ValueFn:
        # A scalar becomes a one-element list; a list has each element
        # converted; missing becomes an empty list (a JSON column wants a
        # value, and "no roles" is an empty list, not unknown).
        def list_value(record: Mapping[str, Any]) -> Any:
            raw = get(record)
            items = raw if isinstance(raw, list) else [raw]
            try:
                return [convert(item) for item in items if item is not None and item != ""]
            except ValueError as exc:
                raise TransformError(f"{exc} (for {column})", field=path) from None

        return list_value

    @staticmethod
    def record_id_fn(spec: FieldSpec) -> IdFn:
        """A closure reading an id (as a string) from a record; None if missing."""
        assert spec.source is not None
        path = spec.source
        get = compile_path(path)
        convert = _int_id if spec.type == "int" else to_id
        strings_ok = spec.type != "int"

        def id_value(record: Mapping[str, Any]) -> str | None:
            raw = get(record)
            if type(raw) is int:  # the usual case: a JSON integer id
                return str(raw)
            if raw is None or raw == "":
                return None
            if strings_ok and type(raw) is str:
                return raw
            try:
                return convert(raw)
            except ValueError as exc:
                raise TransformError(str(exc), field=path) from None

        return id_value

    def normalized(self, name: str, spec: NormalizedSpec) -> Writer:
        """A writer filling ``<name>_raw`` and ``<name>_normalized``."""
        raw_column, norm_column = f"{name}_raw", f"{name}_normalized"
        path = spec.source
        get = compile_path(path)
        normalize = self.normalizers[spec.enum]

        def write_pair(record: Mapping[str, Any], values: dict[str, Any]) -> None:
            raw = get(record)
            if raw is None or raw == "":
                values[raw_column] = None
                values[norm_column] = None
                return
            text = _enum_raw(raw, path)
            values[raw_column] = text
            values[norm_column] = normalize(text)

        return write_pair

    def phones(self, spec: PhoneSpec) -> Writer:
        """A writer filling numbered phone columns from a list of phone objects."""
        path = spec.source
        get = compile_path(path)
        get_number = compile_path(spec.number)
        get_type = compile_path(spec.type) if spec.type is not None else None
        normalize = self.normalizers[spec.enum] if spec.enum is not None else None
        # A number whose type is missing still gets the map's default (OTHER).
        missing_type = normalize("") if normalize is not None else None
        columns = spec.columns
        type_columns = tuple(f"{c}_type" for c in columns) if get_type is not None else ()
        slots = len(columns)

        def read_type(entry: Mapping[str, Any], i: int) -> str | None:
            assert get_type is not None
            kind = get_type(entry)
            if kind is None or kind == "":
                return missing_type
            if type(kind) is not str:
                kind = _enum_raw(kind, f"{path}.{i}.{spec.type}")
            return normalize(kind) if normalize is not None else kind

        def write_phones(record: Mapping[str, Any], values: dict[str, Any]) -> None:
            entries = get(record)
            filled = 0
            if entries:
                if type(entries) is not list:
                    raise TransformError(f"expected a list, got {_describe(entries)}", field=path)
                for i, entry in enumerate(entries):
                    if type(entry) is not dict and not isinstance(entry, Mapping):
                        raise TransformError(
                            f"expected an object, got {_describe(entry)}", field=f"{path}.{i}"
                        )
                    number = get_number(entry)
                    if number is None or number == "":
                        continue
                    if type(number) is not str:
                        try:
                            number = to_string(number)
                        except ValueError as exc:
                            raise TransformError(
                                str(exc), field=f"{path}.{i}.{spec.number}"
                            ) from None
                    values[columns[filled]] = number
                    if type_columns:
                        values[type_columns[filled]] = read_type(entry, i)
                    filled += 1
                    if filled == slots:
                        return
            for j in range(filled, slots):
                values[columns[j]] = None
                if type_columns:
                    values[type_columns[j]] = None

        return write_phones

    def links(self, spec: LinkSpec) -> LinksFn:
        """The closure deriving resident links from a lease record."""
        source = spec.source
        get_items = compile_path(source)
        resident_id = self.record_id_fn(spec.resident_id)
        resident_path = spec.resident_id.source
        from_item: list[tuple[str, ValueFn]] = []
        by_position: list[tuple[str, tuple[Any, ...], int]] = []
        looked_up: list[tuple[str, LookupFn]] = []
        for column, field_spec in spec.fields.items():
            column_type = LINK_COLUMN_TYPES[column]
            if field_spec.position is not None:
                options = tuple(coerce_literal(v, column_type) for v in field_spec.position)
                by_position.append((column, options, len(options) - 1))
            elif field_spec.lookup is not None:
                looked_up.append((column, self._lookup(field_spec, column, column_type)))
            else:
                from_item.append((column, self.value(field_spec, column, column_type)))

        def derive_links(record: Mapping[str, Any], x_lease_id: str) -> tuple[Link, ...]:
            items = get_items(record)
            if not items:
                return ()
            if type(items) is not list:
                raise TransformError(f"expected a list, got {_describe(items)}", field=source)
            links: list[Link] = []
            seen: set[str] = set()
            for i, item in enumerate(items):
                if type(item) is not dict and not isinstance(item, Mapping):
                    raise TransformError(
                        f"expected an object, got {_describe(item)}", field=f"{source}.{i}"
                    )
                try:
                    rid = resident_id(item)
                    if rid is None:
                        raise TransformError("missing resident id", field=resident_path)
                    values: dict[str, Any] = {"x_lease_id": x_lease_id, "x_resident_id": rid}
                    for column, fn in from_item:
                        values[column] = fn(item)
                    for column, options, last in by_position:
                        values[column] = options[i if i < last else last]
                    for column, lookup in looked_up:
                        values[column] = lookup(record, rid)
                except _LeaseLevelError:
                    raise
                except TransformError as exc:
                    inner = f"{source}.{i}.{exc.field}" if exc.field else f"{source}.{i}"
                    raise TransformError(exc.reason, field=inner) from None
                # A PMS may list one tenant twice; the first entry wins.
                if rid not in seen:
                    seen.add(rid)
                    links.append(Link(rid, values))
            return tuple(links)

        return derive_links

    def _lookup(self, spec: FieldSpec, column: str, column_type: ColumnType) -> LookupFn:
        lookup = spec.lookup
        assert lookup is not None
        get_list = compile_path(lookup.source)
        get_key = compile_path(lookup.key)
        read_value = self.value(FieldSpec(source=lookup.value, type=spec.type), column, column_type)

        def looked_up(record: Mapping[str, Any], rid: str) -> Any:
            entries = get_list(record)
            if not entries:
                return None
            if type(entries) is not list:
                raise _LeaseLevelError(
                    f"expected a list, got {_describe(entries)}", field=lookup.source
                )
            for j, entry in enumerate(entries):
                if type(entry) is not dict and not isinstance(entry, Mapping):
                    continue
                key = get_key(entry)
                if type(key) is int:
                    key = str(key)
                if key != rid:
                    continue
                try:
                    return read_value(entry)
                except TransformError as exc:
                    raise _LeaseLevelError(
                        exc.reason, field=f"{lookup.source}.{j}.{lookup.value}"
                    ) from None
            return None

        return looked_up


# --- runtime ----------------------------------------------------------------------


class ModelTransform:
    """The compiled transform of one unified model for one vendor."""

    __slots__ = (
        "_custom",
        "_fields",
        "_id",
        "_id_get",
        "_id_path",
        "_is_properties",
        "_links",
        "_property",
        "_refs",
        "_writers",
        "file",
        "fingerprint",
        "model",
    )

    def __init__(
        self,
        *,
        model: str,
        file: str,
        id_fn: IdFn,
        id_path: str,
        property_fn: IdFn | None,
        fields: tuple[tuple[str, ValueFn], ...],
        writers: tuple[Writer, ...],
        refs: tuple[tuple[str, str, IdFn], ...],
        custom: tuple[tuple[str, ValueFn], ...],
        links: LinksFn | None,
        fingerprint: bytes = b"",
    ) -> None:
        self.model = model
        #: Digest of the schema and enum maps this transform was compiled from.
        self.fingerprint = fingerprint
        self.file = file
        self._id = id_fn
        self._id_path = id_path
        self._id_get = compile_path(id_path)
        self._property = property_fn
        self._is_properties = model == "properties"
        self._fields = fields
        self._writers = writers
        self._refs = refs
        self._custom = custom
        self._links = links

    def __repr__(self) -> str:
        return f"ModelTransform(model={self.model!r}, file={self.file!r})"

    def transform(self, raw: Mapping[str, Any], integration_id: str) -> NormalizedRecord:
        """Normalize one raw record; raise TransformError naming the source field."""
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise TransformError(f"record is not an object (got {type(raw).__name__})")
        x_id = self._id(raw)
        if x_id is None:
            raise TransformError("missing record id", field=self._id_path)
        values: dict[str, Any] = {column: fn(raw) for column, fn in self._fields}
        for write in self._writers:
            write(raw, values)
        for column, target, ref_fn in self._refs:
            x_ref = ref_fn(raw)
            values[column] = (
                None if x_ref is None else cached_record_id(integration_id, target, x_ref)
            )
        if self._is_properties:
            x_property_id: str | None = x_id
        elif self._property is not None:
            x_property_id = self._property(raw)
        else:
            x_property_id = None
        values["x_property_id"] = x_property_id
        values["property_id"] = (
            None
            if x_property_id is None
            else cached_record_id(integration_id, "properties", x_property_id)
        )
        values["custom_data"] = {key: fn(raw) for key, fn in self._custom}
        links = self._links(raw, x_id) if self._links is not None else ()
        return NormalizedRecord(x_id, values, content_hash(values, links), links)

    def source_key(self, raw: Any) -> tuple[str, str] | None:
        """``(x_id, source digest)`` of a raw record, or None if it has no readable id.

        The digest covers the raw record and this transform's fingerprint: an
        equal digest means the record would normalize exactly as before, so
        the runner may skip transforming it. A changed schema or enum map
        changes every digest.
        """
        if type(raw) is not dict:
            return None
        try:
            x_id = self._id(raw)
            # Keys in the order the PMS sent them: sorting would cost more than
            # it saves, since a PMS that reorders keys only causes a re-transform.
            blob = orjson.dumps(raw)
        except (TransformError, TypeError, ValueError):
            return None
        if x_id is None:
            return None
        return x_id, blake2b(self.fingerprint + blob, digest_size=16).hexdigest()

    def transform_page(
        self, raws: Sequence[Any], integration_id: str
    ) -> tuple[list[NormalizedRecord], list[QuarantinedRecord]]:
        """Normalize a page; a record that fails is quarantined, the rest go on."""
        ok: list[NormalizedRecord] = []
        bad: list[QuarantinedRecord] = []
        transform = self.transform
        for raw in raws:
            try:
                ok.append(transform(raw, integration_id))
            except TransformError as exc:
                bad.append(QuarantinedRecord(self._guess_id(raw), str(exc), raw))
            except Exception as exc:
                # A malformed record must never fail its page, whatever it
                # trips over; the reason keeps the exception for the operator.
                reason = f"unexpected {type(exc).__name__}: {exc}"
                bad.append(QuarantinedRecord(self._guess_id(raw), reason, raw))
        return ok, bad

    def _guess_id(self, raw: Any) -> str | None:
        """The record's id for the quarantine: as sent, even when malformed."""
        if not isinstance(raw, Mapping):
            return None
        try:
            value = self._id_get(raw)
        except TransformError:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return to_string(value) or None
        return None


def content_hash(values: Mapping[str, Any], links: Sequence[Link] = ()) -> str:
    """A stable digest of a record's values and links (order of keys is irrelevant)."""
    payload: Any = values
    if links:
        payload = {"values": values, "links": [[link.x_resident_id, link.values] for link in links]}
    try:
        blob = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise TransformError(f"value cannot be serialized: {exc}") from None
    return blake2b(blob, digest_size=16).hexdigest()


def compile_model(loaded: LoadedSchema, enum_maps: Mapping[str, EnumMap]) -> ModelTransform:
    """Compile one validated schema with the given (already merged) enum maps."""
    normalizers = {name: m.compile() for name, m in enum_maps.items()}
    compiler = _Compiler(loaded, normalizers)
    schema = loaded.schema
    fields: list[tuple[str, ValueFn]] = []
    refs: list[tuple[str, str, IdFn]] = []
    simple: list[tuple[str, FieldSpec]] = []
    for column, spec in schema.fields.items():
        column_type = compiler.column_types[column]
        if spec.ref is not None:
            refs.append((column, spec.ref, compiler.record_id_fn(spec)))
        elif _is_simple(spec, column_type):
            simple.append((column, spec))
        else:
            fields.append((column, compiler.value(spec, column, column_type)))
    writers: list[Writer] = compiler.simple_groups(simple)
    writers += [compiler.normalized(name, pair) for name, pair in schema.normalized.items()]
    writers += [compiler.phones(spec) for spec in schema.phones]
    custom = tuple(
        (key, compiler.value(spec, key, None)) for key, spec in schema.custom_data.items()
    )
    assert schema.id.source is not None
    return ModelTransform(
        model=schema.model,
        file=loaded.file,
        id_fn=compiler.record_id_fn(schema.id),
        id_path=schema.id.source,
        property_fn=(
            compiler.record_id_fn(schema.property_id) if schema.property_id is not None else None
        ),
        fields=tuple(fields),
        writers=tuple(writers),
        refs=tuple(refs),
        custom=custom,
        links=compiler.links(schema.links) if schema.links is not None else None,
        fingerprint=_fingerprint(loaded, enum_maps),
    )


def _fingerprint(loaded: LoadedSchema, enum_maps: Mapping[str, EnumMap]) -> bytes:
    """What the output of a compiled transform depends on, digested."""
    maps = {name: [sorted(m.values.items()), m.default] for name, m in sorted(enum_maps.items())}
    blob = orjson.dumps([loaded.schema.model_dump(mode="json"), maps], option=orjson.OPT_SORT_KEYS)
    return blake2b(blob, digest_size=16).digest()


def _is_simple(spec: FieldSpec, column_type: ColumnType) -> bool:
    """True for a column read from one plain path (``Key`` or ``Object.Key``) with no options."""
    source = spec.source
    if source is None or source.count(".") > 1:
        return False
    if "." in source and source.split(".")[1].isdigit():
        return False  # `List.0` needs the general walk
    return (
        spec.map is None
        and spec.enum is None
        and spec.ref is None
        and not spec.negate
        and not spec.as_list
        and effective_type(spec, column_type) != "json"
    )


class TransformSet:
    """The compiled transforms of one vendor (one per unified model it serves)."""

    def __init__(
        self,
        vendor: str,
        schemas: Mapping[str, LoadedSchema],
        enum_maps: Mapping[str, EnumMap],
        enum_overrides: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.vendor = vendor
        self._schemas = dict(schemas)
        self._base_enums = dict(enum_maps)
        self._enums = apply_overrides(self._base_enums, enum_overrides)
        self._transforms = {
            model: compile_model(loaded, self._enums) for model, loaded in self._schemas.items()
        }
        order = {m: i for i, m in enumerate(MODEL_ORDER)}
        self._models = tuple(sorted(self._transforms, key=lambda m: (order.get(m, 99), m)))

    def __repr__(self) -> str:
        return f"TransformSet(vendor={self.vendor!r}, models={self._models!r})"

    def models(self) -> tuple[str, ...]:
        """The models this vendor has schemas for, in dependency order."""
        return self._models

    def for_model(self, model: str) -> ModelTransform:
        """The transform of ``model``; SchemaError when the vendor has none."""
        try:
            return self._transforms[model]
        except KeyError:
            raise SchemaError(
                f"vendor {self.vendor!r} has no transform schema for model {model!r} "
                f"(has: {', '.join(self._models) or 'none'})"
            ) from None

    @property
    def enum_maps(self) -> Mapping[str, EnumMap]:
        """The enum maps in effect (vendor maps with this set's overrides merged)."""
        return dict(self._enums)

    def schema(self, model: str) -> LoadedSchema:
        """The validated schema (and its file) behind ``model``'s transform."""
        self.for_model(model)
        return self._schemas[model]

    def with_enum_overrides(
        self, enum_overrides: Mapping[str, Mapping[str, str]] | None
    ) -> TransformSet:
        """The same schemas recompiled with an integration's enum overrides.

        Overrides replace (not stack on) any this set was built with; no file
        is read again.
        """
        return TransformSet(self.vendor, self._schemas, self._base_enums, enum_overrides)
