"""Per-integration transform overrides: extra ``custom_data`` fields of a model.

An integration's ``transforms`` option holds, per model, fields added to
what the vendor's schema keeps in ``custom_data``::

    transforms:
      leases:
        custom_data:
          lease_type_raw: LeaseType          # a dotted source path
          renewal: {source: Renewal.Status}  # or any custom_data field spec

They are validated as the schema files are (the same structure and meaning
checks) and compiled into the integration's transforms by every sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from syncd.domain import Integration
from syncd.errors import SchemaError
from syncd.transform.compiler import TransformSet
from syncd.transform.loader import load_transforms, vendor_dirname
from syncd.transform.schema import FieldSpec, LoadedSchema, check_model_schema

#: The integration option holding the overrides.
OPTION = "transforms"


def custom_data_overrides(options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``{model: {name: field spec}}`` an integration adds to its models' custom_data."""
    found: dict[str, dict[str, Any]] = {}
    for model, own in (options.get(OPTION) or {}).items():
        fields = own.get("custom_data") if isinstance(own, Mapping) else None
        if isinstance(fields, Mapping) and fields:
            found[str(model)] = dict(fields)
    return found


def with_custom_data(
    transforms: TransformSet,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    *,
    where: str = "integration transforms",
) -> TransformSet:
    """``transforms`` with each model's added custom_data fields; SchemaError names the field.

    An added field replaces the vendor's field of the same name.
    """
    if not overrides:
        return transforms
    schemas: dict[str, LoadedSchema] = {m: transforms.schema(m) for m in transforms.models()}
    for model, fields in overrides.items():
        loaded = schemas.get(model)
        if loaded is None:
            raise SchemaError(
                f"{transforms.vendor} has no transform for {model!r} "
                f"(has: {', '.join(transforms.models())})",
                file=where,
                field=model,
            )
        added: dict[str, FieldSpec] = {}
        for name, spec in fields.items():
            try:
                added[name] = FieldSpec.model_validate(spec)
            except ValidationError as exc:
                reason = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
                raise SchemaError(reason, file=where, field=f"custom_data.{name}") from None
        schema = loaded.schema.model_copy(
            update={"custom_data": {**loaded.schema.custom_data, **added}}
        )
        check_model_schema(schema, transforms.enum_maps, where)
        schemas[model] = LoadedSchema(schema, f"{loaded.file} + {where}")
    # The maps are already merged with the integration's enum overrides.
    return TransformSet(transforms.vendor, schemas, transforms.enum_maps)


def integration_transforms(integration: Integration, transforms_dir: Path | None) -> TransformSet:
    """The transforms an integration's records go through (its enum maps and custom fields)."""
    transforms = load_transforms(
        integration.vendor,
        directory=transforms_dir / vendor_dirname(integration.vendor) if transforms_dir else None,
        enum_overrides=integration.options.get("enum_maps"),
    )
    return with_custom_data(transforms, custom_data_overrides(integration.options))
