"""Find, read and validate a vendor's transform schemas (the only I/O of transform).

Layout of a vendor directory::

    transforms/buildium/
        enums.yaml        # named enum maps (optional)
        properties.yaml   # one schema per unified model (any other *.yaml / *.yml)
        units.yaml
        ...

The default directory is ``syncd/data/transforms/<vendor>/`` in an installed
wheel, else ``<repo root>/transforms/<vendor>/`` in a source checkout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

import syncd
from syncd.errors import SchemaError
from syncd.transform.compiler import TransformSet
from syncd.transform.enums import EnumMap
from syncd.transform.schema import (
    LoadedSchema,
    check_model_schema,
    parse_enum_file,
    parse_model_schema,
)

#: The enum maps file inside a vendor directory.
ENUMS_FILE: Final = "enums.yaml"

_VENDOR_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]*")


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader for schemas: duplicate keys are errors, keys stay text.

    PyYAML keeps the last of duplicate keys silently, and reads plain keys
    such as ``yes``, ``No``, ``1`` or ``null`` as booleans, numbers or None.
    Schema keys are column names and raw PMS values, always text, so a key
    is kept exactly as written.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "keys must be plain text", key_node.start_mark
            )
        key = key_node.value
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def display_path(path: Path) -> str:
    """A path as shown in errors: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; syntax errors and duplicate keys become SchemaError."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read file: {exc.strerror or exc}", file=shown) from None
    except UnicodeDecodeError:
        raise SchemaError("file is not valid UTF-8", file=shown) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = exc.problem or str(exc)
        raise SchemaError(f"invalid YAML: {problem}{where}", file=shown) from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"invalid YAML: {exc}", file=shown) from None


def default_directory(vendor: str) -> Path:
    """The schema directory of ``vendor``: the installed package data, else the checkout."""
    name = vendor_dirname(vendor)
    package = Path(syncd.__file__).resolve().parent
    installed = package / "data" / "transforms" / name
    if installed.is_dir():
        return installed
    return package.parent / "transforms" / name


def vendor_dirname(vendor: str) -> str:
    """The directory name of a vendor (lowercase); refuses names that are not plain words."""
    name = vendor.strip().lower()
    if not _VENDOR_RE.fullmatch(name):
        raise SchemaError(f"invalid vendor name {vendor!r}")
    return name


def load_enum_maps(directory: Path) -> dict[str, EnumMap]:
    """The enum maps of a vendor directory (none when it has no enums.yaml)."""
    path = directory / ENUMS_FILE
    if not path.exists():
        return {}
    parsed = parse_enum_file(read_yaml(path), display_path(path))
    return {
        name: EnumMap(
            name,
            spec.values,
            spec.default,
            frozenset(spec.allowed) if spec.allowed is not None else None,
        )
        for name, spec in parsed.maps.items()
    }


def load_schemas(directory: Path, enum_names: frozenset[str]) -> dict[str, LoadedSchema]:
    """Read, validate and check every model schema of a vendor directory."""
    schemas: dict[str, LoadedSchema] = {}
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and p.name != ENUMS_FILE
    )
    for path in files:
        shown = display_path(path)
        data = read_yaml(path)
        if data is None:
            raise SchemaError("file is empty", file=shown)
        schema = parse_model_schema(data, shown)
        check_model_schema(schema, enum_names, shown)
        previous = schemas.get(schema.model)
        if previous is not None:
            raise SchemaError(
                f"model {schema.model!r} is already mapped by {previous.file}",
                file=shown,
                field="model",
            )
        schemas[schema.model] = LoadedSchema(schema, shown)
    return schemas


def load_transforms(
    vendor: str,
    *,
    directory: Path | None = None,
    enum_overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> TransformSet:
    """Load, validate and compile the transform schemas of ``vendor``.

    ``directory`` overrides where the schemas are read from (an operator's
    customized copy); ``enum_overrides`` are an integration's
    ``{map_name: {raw: normalized}}`` entries merged onto the vendor's maps.
    Raises SchemaError (naming file and field) for anything invalid.
    """
    if directory is None:
        directory = default_directory(vendor)
    if not directory.is_dir():
        raise SchemaError(
            f"no transform schemas for vendor {vendor!r}: not a directory",
            file=display_path(directory),
        )
    enum_maps = load_enum_maps(directory)
    schemas = load_schemas(directory, frozenset(enum_maps))
    if not schemas:
        raise SchemaError(
            f"no transform schemas for vendor {vendor!r} (no *.yaml besides {ENUMS_FILE})",
            file=display_path(directory),
        )
    return TransformSet(vendor, schemas, enum_maps, enum_overrides)
