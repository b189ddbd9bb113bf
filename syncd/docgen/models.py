"""``docs/models.md``: the unified models, their typed columns and who fills them.

The table is built from :mod:`syncd.models` and the shipped transform
schemas: a column counts as filled by a vendor when that vendor's schema
writes it. Vendor directories are discovered under the transforms directory,
so a new vendor shows up without touching this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from syncd.models import (
    COMMON_COLUMNS,
    LINK_COLUMNS,
    LINK_MODEL,
    MODEL_ORDER,
    MODELS,
    REFERENCE_FIELDS_NOT_MAPPED,
    ModelDef,
)
from syncd.transform.loader import load_enum_maps, load_schemas, vendor_dirname
from syncd.transform.schema import LINK_KEY_COLUMNS, ModelSchema

#: What a cell shows when no vendor fills a column.
NOBODY: Final = "—"

#: Common columns filled from a vendor's schema (the rest the store maintains).
_SCHEMA_FILLED_COMMON: Final = ("x_id", "x_property_id", "property_id", "custom_data")

#: Per vendor (as ``integration_vendor`` spells it): model -> columns written.
VendorColumns = dict[str, dict[str, frozenset[str]]]


def vendor_directories(transforms_dir: Path) -> list[Path]:
    """The vendor directories under ``transforms_dir``: those holding a YAML file."""
    found: list[Path] = []
    for path in sorted(transforms_dir.iterdir()):
        if not path.is_dir() or path.name.startswith((".", "_")):
            continue
        if any(p.suffix in (".yaml", ".yml") for p in path.iterdir() if p.is_file()):
            # Refuses a directory that could not be a vendor name, as loading does.
            vendor_dirname(path.name)
            found.append(path)
    return found


def written_columns(schema: ModelSchema) -> frozenset[str]:
    """The model columns a schema writes (fields, enum pairs, phone columns)."""
    columns = set(schema.fields)
    for name in schema.normalized:
        columns |= {f"{name}_raw", f"{name}_normalized"}
    for phones in schema.phones:
        columns |= set(phones.columns)
        if phones.type is not None:
            columns |= {f"{column}_type" for column in phones.columns}
    if schema.links is not None:
        # A links section fills the link model, keyed by lease and resident.
        columns |= {f"{LINK_MODEL}.{c}" for c in (*LINK_KEY_COLUMNS, *schema.links.fields)}
    return frozenset(columns)


def vendor_columns(transforms_dir: Path) -> VendorColumns:
    """Which columns each vendor's schemas write; invalid schemas raise SchemaError."""
    result: VendorColumns = {}
    for directory in vendor_directories(transforms_dir):
        enum_maps = load_enum_maps(directory)
        schemas = load_schemas(directory, frozenset(enum_maps))
        result[directory.name.upper()] = {
            model: written_columns(loaded.schema) for model, loaded in schemas.items()
        }
    return result


def _cell(names: list[str]) -> str:
    return ", ".join(names) if names else NOBODY


def _fillers(vendors: VendorColumns, model: str, column: str) -> list[str]:
    return [v for v, models in vendors.items() if column in models.get(model, frozenset())]


def _model_section(model: ModelDef, vendors: VendorColumns) -> list[str]:
    mapped_by = [v for v, models in vendors.items() if model.name in models]
    lines = [
        f"## {model.name}",
        "",
        f"Vendors with a schema for it: {', '.join(mapped_by) or 'none yet'}.",
        "",
        "| Field | Type | Filled by |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| `{c.name}` | {c.type.value} | {_cell(_fillers(vendors, model.name, c.name))} |"
        for c in model.columns
    ]
    unmapped = REFERENCE_FIELDS_NOT_MAPPED.get(model.name, {})
    if unmapped:
        lines += ["", "Reference fields deliberately not mapped:", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in sorted(unmapped.items())]
    return [*lines, ""]


def _link_section(vendors: VendorColumns) -> list[str]:
    lines = [
        f"## {LINK_MODEL}",
        "",
        "The resident↔lease link, derived from lease records (the `links` section of a "
        "leases schema). Besides the columns below it has `id`, `integration_id`, "
        "`integration_vendor`, `lease_id`, `resident_id` (syncd ids), `created_at`, "
        "`updated_at` and `last_seen`.",
        "",
        "| Field | Type | Filled by |",
        "| --- | --- | --- |",
    ]
    for column in LINK_COLUMNS:
        fillers = _fillers(vendors, "leases", f"{LINK_MODEL}.{column.name}")
        lines.append(f"| `{column.name}` | {column.type.value} | {_cell(fillers)} |")
    return [*lines, ""]


def _common_section(vendors: VendorColumns) -> list[str]:
    store_kept = [c for c in COMMON_COLUMNS if c not in _SCHEMA_FILLED_COMMON]
    return [
        "## Common columns",
        "",
        "Every model table also has these columns, left out of the tables below: "
        + ", ".join(f"`{c}`" for c in COMMON_COLUMNS)
        + ".",
        "",
        "- "
        + ", ".join(f"`{c}`" for c in _SCHEMA_FILLED_COMMON)
        + " come from the vendor's schema (its `id`, `property_id` and `custom_data` keys).",
        "- " + ", ".join(f"`{c}`" for c in store_kept) + " are kept by syncd itself.",
        "",
        f"Vendors with transform schemas: {', '.join(vendors) or 'none yet'}.",
        "",
    ]


def models_markdown(transforms_dir: Path) -> str:
    """Render ``docs/models.md`` from the model registry and the vendor schemas."""
    vendors = vendor_columns(transforms_dir)
    lines = [
        "<!-- Generated by scripts/gen_docs.py from syncd/models.py and transforms/*/;"
        " do not edit by hand. -->",
        "",
        "# Unified models",
        "",
        "The cache tables and their typed columns, one section per model, with the PMS "
        "vendors whose shipped transform schemas fill each column. A column no vendor "
        "fills stays null until a schema maps it. Field names follow the reference "
        "unified API.",
        "",
        *_common_section(vendors),
    ]
    for name in MODEL_ORDER:
        lines += _model_section(MODELS[name], vendors)
    # Models outside MODEL_ORDER would otherwise be missing from the page.
    for name in sorted(set(MODELS) - set(MODEL_ORDER)):
        lines += _model_section(MODELS[name], vendors)
    lines += _link_section(vendors)
    return "\n".join(lines).rstrip("\n") + "\n"
