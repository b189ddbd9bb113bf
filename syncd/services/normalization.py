"""Normalization maps: how a PMS's raw enum values become syncd's normalized ones.

A field's map is the vendor's named enum map (``transforms/<vendor>/enums.yaml``)
that the model's transform schema applies to it: leases ``status`` →
``lease_status``, properties ``type`` → ``property_type``, the phone
``phone_N_type`` columns → ``phone_type`` … An integration may keep custom
entries for a map (its ``enum_maps.<map>`` option); they are merged on top of
the vendor's entries by every sync that starts after they are stored.

Maps are named per vendor, not per field: a custom map of one field applies
to every field that uses the same map (both phone types, say), and
:attr:`NormalizationMap.fields` lists them.

A field is named as the reference unified API names it (``status``,
``type``) or by its column (``status_normalized``, ``phone_1_type``);
hyphens may stand for underscores (``floor-plans``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import structlog

from syncd.connectors.registry import get_connector_class
from syncd.domain import Integration
from syncd.errors import ConfigError
from syncd.models import LINK_COLUMNS, MODELS
from syncd.services.integrations import find_integration
from syncd.settings import Settings
from syncd.store.sql import SqlStore
from syncd.transform import TransformSet, load_transforms
from syncd.transform.enums import EnumMap
from syncd.transform.loader import vendor_dirname
from syncd.transform.schema import LINK_SOURCE_MODEL

log = structlog.get_logger(__name__)

#: Limits of a custom map (raw values and normalized values are short codes).
MAX_ENTRIES = 1000
MAX_RAW_LENGTH = 200
MAX_VALUE_LENGTH = 64

Source = Literal["default", "custom"]


class MapNotFound(ConfigError):
    """The model, the field or the field's enum map does not exist (HTTP 404)."""


@dataclass(frozen=True, slots=True)
class NormalizationMap:
    """The effective map of one field, for a vendor or for one integration."""

    vendor: str
    model: str
    #: The field as its ``*_normalized`` column is named, e.g. ``status``.
    field: str
    #: The vendor's enum map behind it, e.g. ``lease_status``.
    enum_map: str
    #: Every ``model.field`` that uses the same map (a custom map changes them all).
    fields: tuple[str, ...]
    #: raw PMS value → normalized value (defaults, with custom entries on top).
    mappings: Mapping[str, str]
    #: Where each entry comes from.
    sources: Mapping[str, Source]
    #: The normalized value of an unmapped raw value.
    default_value: str | None
    #: The normalized values the map may produce (None: any).
    allowed: tuple[str, ...] | None
    #: The integration asked about (None: the vendor's defaults).
    integration_id: str | None
    #: True when that integration has custom entries for this map.
    is_custom: bool


def _canonical(name: str) -> str:
    return name.strip().replace("-", "_")


def _transforms(vendor: str, settings: Settings) -> TransformSet:
    root = settings.transforms_dir
    return load_transforms(vendor, directory=root / vendor_dirname(vendor) if root else None)


def enum_fields(transforms: TransformSet, model: str) -> dict[str, str]:
    """The fields of ``model`` that go through an enum map: field name → map name.

    Each field appears under the names it may be asked by (``status`` and
    ``status_normalized``, a column such as ``phone_1_type``).
    """
    schema = transforms.schema(model).schema
    found: dict[str, str] = {}
    for name, pair in schema.normalized.items():
        found[name] = pair.enum
        found[f"{name}_normalized"] = pair.enum
    for column, spec in schema.fields.items():
        if spec.enum is not None:
            found[column] = spec.enum
    for phones in schema.phones:
        if phones.enum is not None:
            for column in phones.columns:
                found[f"{column}_type"] = phones.enum
    if schema.links is not None:
        for column, spec in schema.links.fields.items():
            if spec.enum is not None:
                found[column] = spec.enum
    return found


def _is_alias(name: str, fields: Mapping[str, str]) -> bool:
    """Whether ``name`` is the ``*_normalized`` spelling of another name in ``fields``."""
    return name.endswith("_normalized") and name.removesuffix("_normalized") in fields


def _users(transforms: TransformSet, enum_map: str) -> tuple[str, ...]:
    """Every ``model.field`` of the vendor that uses ``enum_map``."""
    used = []
    for model in transforms.models():
        fields = enum_fields(transforms, model)
        used += [
            f"{model}.{name}"
            for name, used_map in fields.items()
            if used_map == enum_map and not _is_alias(name, fields)
        ]
    return tuple(used)


@dataclass(frozen=True, slots=True)
class _Target:
    vendor: str
    model: str
    field: str
    base: EnumMap
    transforms: TransformSet


def _target(settings: Settings, vendor: str, model: str, field: str) -> _Target:
    """The vendor's enum map behind ``model``'s ``field``; MapNotFound naming what is missing."""
    vendor = get_connector_class(vendor).vendor
    model, field = _canonical(model), _canonical(field)
    if model not in MODELS:
        raise MapNotFound(f"unknown model {model!r} (models: {', '.join(MODELS)})", field="model")
    transforms = _transforms(vendor, settings)
    if model not in transforms.models():
        raise MapNotFound(f"{vendor} has no transform for {model}")
    fields = enum_fields(transforms, model)
    if field not in fields:
        columns = MODELS[model].column_names
        if model == LINK_SOURCE_MODEL:
            columns |= {c.name for c in LINK_COLUMNS}
        known = columns | {c.removesuffix("_normalized") for c in columns}
        mapped = ", ".join(sorted(n for n in fields if not _is_alias(n, fields))) or "none"
        if field in known:
            message = f"{model}.{field} has no enum map in {vendor}'s transforms"
        else:
            message = f"{model} has no field {field!r}"
        raise MapNotFound(f"{message} (fields with a map: {mapped})")
    name = fields[field]
    shown = field.removesuffix("_normalized") if _is_alias(field, fields) else field
    return _Target(vendor, model, shown, transforms.enum_maps[name], transforms)


def _effective(target: _Target, integration: Integration | None) -> NormalizationMap:
    custom: Mapping[str, Any] = {}
    if integration is not None:
        own = integration.options.get("enum_maps", {}).get(target.base.name)
        custom = own if isinstance(own, Mapping) else {}
    mappings = dict(target.base.values)
    sources: dict[str, Source] = dict.fromkeys(mappings, "default")
    for raw, normalized in custom.items():
        mappings[str(raw)] = str(normalized)
        sources[str(raw)] = "custom"
    allowed = tuple(sorted(target.base.allowed)) if target.base.allowed is not None else None
    return NormalizationMap(
        vendor=target.vendor,
        model=target.model,
        field=target.field,
        enum_map=target.base.name,
        fields=_users(target.transforms, target.base.name),
        mappings=mappings,
        sources=sources,
        default_value=target.base.default,
        allowed=allowed,
        integration_id=integration.id if integration is not None else None,
        is_custom=bool(custom),
    )


async def normalization_map(
    store: SqlStore,
    settings: Settings,
    model: str,
    field: str,
    *,
    vendor: str | None = None,
    integration: str | None = None,
) -> NormalizationMap:
    """The effective map of ``model``'s ``field``: the vendor's, or an integration's.

    Give ``vendor`` (the defaults), ``integration`` (id or name: its custom
    entries on top of its vendor's), or both when they agree.
    """
    found = await find_integration(store, integration) if integration is not None else None
    if (
        found is not None
        and vendor is not None
        and get_connector_class(vendor).vendor != found.vendor
    ):
        raise ConfigError(
            f"integration {found.id!r} is a {found.vendor} integration, not {vendor.upper()}",
            field="integration_vendor",
        )
    chosen = found.vendor if found is not None else vendor
    if chosen is None:
        raise ConfigError(
            "give an integration vendor or an integration", field="integration_vendor"
        )
    return _effective(_target(settings, chosen, model, field), found)


def _checked(target: _Target, mappings: Mapping[str, Any]) -> dict[str, str]:
    """Custom entries validated against the map; ConfigError names ``mappings.<raw>``."""
    if not isinstance(mappings, Mapping) or not mappings:
        raise ConfigError(
            "expected at least one raw: normalized entry (DELETE drops a custom map)",
            field="mappings",
        )
    if len(mappings) > MAX_ENTRIES:
        raise ConfigError(f"at most {MAX_ENTRIES} entries", field="mappings")
    allowed = target.base.allowed
    entries: dict[str, str] = {}
    for raw, normalized in mappings.items():
        where = f"mappings.{raw}"
        if not isinstance(raw, str) or not raw or len(raw) > MAX_RAW_LENGTH or "\x00" in raw:
            raise ConfigError(
                f"a raw value is 1-{MAX_RAW_LENGTH} characters without NUL", field=where
            )
        if not isinstance(normalized, str):
            raise ConfigError(f"expected a normalized value, got {normalized!r}", field=where)
        if allowed is not None and normalized not in allowed:
            raise ConfigError(
                f"{normalized!r} is not a normalized value of {target.model}.{target.field} "
                f"(allowed: {', '.join(sorted(allowed))})",
                field=where,
            )
        if not normalized or len(normalized) > MAX_VALUE_LENGTH or "\x00" in normalized:
            raise ConfigError(
                f"a normalized value is 1-{MAX_VALUE_LENGTH} characters without NUL", field=where
            )
        entries[raw] = normalized
    return entries


async def _store_custom(
    store: SqlStore, integration: Integration, name: str, entries: dict[str, str] | None
) -> Integration:
    options = copy.deepcopy(dict(integration.options))
    maps = dict(options.get("enum_maps", {}))
    if entries is None:
        maps.pop(name, None)
    else:
        maps[name] = entries
    if maps:
        options["enum_maps"] = maps
    else:
        options.pop("enum_maps", None)
    if options == dict(integration.options):
        return integration
    changed = replace(integration, options=options)
    await store.update_integration(changed)
    log.info(
        "normalization.changed",
        integration_id=integration.id,
        enum_map=name,
        custom=entries is not None,
    )
    return changed


async def set_custom_map(
    store: SqlStore,
    settings: Settings,
    integration: str,
    model: str,
    field: str,
    mappings: Mapping[str, Any],
) -> NormalizationMap:
    """Replace the integration's custom entries of the field's map; effective from the next sync.

    Each normalized value must be one the field allows: otherwise a
    ConfigError names ``mappings.<raw>`` and nothing is stored.
    """
    found = await store.get_integration(integration)
    target = _target(settings, found.vendor, model, field)
    entries = _checked(target, mappings)
    return _effective(target, await _store_custom(store, found, target.base.name, entries))


async def clear_custom_map(
    store: SqlStore, settings: Settings, integration: str, model: str, field: str
) -> NormalizationMap:
    """Drop the integration's custom entries of the field's map (the vendor's apply again)."""
    found = await store.get_integration(integration)
    target = _target(settings, found.vendor, model, field)
    return _effective(target, await _store_custom(store, found, target.base.name, None))


def map_json(found: NormalizationMap) -> dict[str, Any]:
    """A map as plain JSON data (the HTTP answer's and ``--json``'s shape)."""
    return {
        "is_custom_mapping": found.is_custom,
        "mappings": dict(found.mappings),
        "default_value": found.default_value,
        "sources": dict(found.sources),
        "allowed_values": list(found.allowed) if found.allowed is not None else None,
        "enum_map": found.enum_map,
        "fields": list(found.fields),
        "integration_vendor": found.vendor,
        "integration_id": found.integration_id,
    }
