"""An integration's transform overrides: extra fields kept in a model's ``custom_data``.

The vendor's schema (``transforms/<vendor>/<model>.yaml``) names what each
record keeps in ``custom_data``; an integration may add fields of its own,
``{name: <dotted source path>}``, validated like the schema files and
applied by every sync that starts after they are stored (see
:mod:`syncd.transform.overrides`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import structlog

from syncd.domain import Integration
from syncd.errors import ConfigError, SchemaError
from syncd.services.integrations import find_integration
from syncd.services.normalization import MapNotFound
from syncd.settings import Settings
from syncd.store.sql import SqlStore
from syncd.transform import TransformSet, load_transforms
from syncd.transform.loader import vendor_dirname
from syncd.transform.overrides import OPTION, custom_data_overrides, with_custom_data
from syncd.transform.schema import FieldSpec

log = structlog.get_logger(__name__)

Origin = Literal["default", "custom"]

#: Limits of an integration's added fields.
MAX_FIELDS = 200


@dataclass(frozen=True, slots=True)
class CustomField:
    """One field of a model's ``custom_data``: where it is read from, and whose it is."""

    name: str
    #: The source as written: a dotted path, several joined, or a constant.
    source: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class ModelTransforms:
    """The custom_data fields of one model for one integration."""

    integration_id: str
    vendor: str
    model: str
    #: The vendor's schema file behind the model.
    file: str
    custom_data: tuple[CustomField, ...]


def _described(spec: FieldSpec) -> str:
    if spec.source is not None:
        return spec.source
    if spec.sources is not None:
        return " + ".join(spec.sources)
    return f"const {spec.const!r}"


def _base(integration: Integration, settings: Settings) -> TransformSet:
    root = settings.transforms_dir
    vendor = integration.vendor
    return load_transforms(vendor, directory=root / vendor_dirname(vendor) if root else None)


def _view(
    integration: Integration, base: TransformSet, model: str, own: Mapping[str, Any]
) -> ModelTransforms:
    if model not in base.models():
        raise MapNotFound(
            f"{integration.vendor} has no transform for {model!r} (has: {', '.join(base.models())})"
        )
    loaded = base.schema(model)
    fields = {
        name: CustomField(name, _described(spec), "default")
        for name, spec in loaded.schema.custom_data.items()
    }
    for name, spec in own.items():
        fields[name] = CustomField(name, _described(FieldSpec.model_validate(spec)), "custom")
    return ModelTransforms(
        integration_id=integration.id,
        vendor=integration.vendor,
        model=model,
        file=loaded.file,
        custom_data=tuple(fields.values()),
    )


async def model_transforms(
    store: SqlStore, settings: Settings, integration: str, model: str
) -> ModelTransforms:
    """The custom_data fields of ``model`` for an integration (id or name), with their origin."""
    found = await find_integration(store, integration)
    model = model.strip().replace("-", "_")
    own = custom_data_overrides(found.options).get(model, {})
    return _view(found, _base(found, settings), model, own)


async def set_model_transforms(
    store: SqlStore,
    settings: Settings,
    integration: str,
    model: str,
    custom_data: Mapping[str, str],
) -> ModelTransforms:
    """Replace the fields an integration adds to ``model``'s custom_data (none: drop them).

    Each is checked as a schema file's would be: a ConfigError names
    ``custom_data.<name>`` and nothing is stored. Syncs that start afterwards
    apply them.
    """
    found = await store.get_integration(integration)
    model = model.strip().replace("-", "_")
    base = _base(found, settings)
    if model not in base.models():
        _view(found, base, model, {})
    if len(custom_data) > MAX_FIELDS:
        raise ConfigError(f"at most {MAX_FIELDS} fields", field="custom_data")
    entries = dict(custom_data)
    try:
        with_custom_data(base, {model: entries} if entries else None)
    except SchemaError as exc:
        where = ": ".join(part for part in (exc.file, exc.field) if part)
        message = str(exc).removeprefix(f"{where}: ")
        raise ConfigError(message, field=exc.field or "custom_data") from None
    options = copy.deepcopy(dict(found.options))
    per_model = dict(options.get(OPTION) or {})
    if entries:
        per_model[model] = {"custom_data": entries}
    else:
        per_model.pop(model, None)
    if per_model:
        options[OPTION] = per_model
    else:
        options.pop(OPTION, None)
    if options != dict(found.options):
        found = replace(found, options=options)
        await store.update_integration(found)
        log.info("transforms.changed", integration_id=found.id, model=model, fields=len(entries))
    return _view(found, base, model, entries)
