"""Transform: PMS records → the unified model, driven by YAML schemas.

Schemas (``transforms/<vendor>/*.yaml``) are validated when loaded and
compiled once into per-field closures; transforming does no I/O.

    transforms = load_transforms("buildium", enum_overrides=integration_overrides)
    ok, quarantined = transforms.for_model("units").transform_page(page.records, integration.id)
"""

from syncd.transform.compiler import (
    ModelTransform,
    TransformSet,
    compile_model,
    content_hash,
)
from syncd.transform.enums import EnumMap, apply_overrides
from syncd.transform.loader import default_directory, load_transforms
from syncd.transform.schema import (
    SOURCE_TYPES,
    EnumFile,
    EnumMapSpec,
    FieldSpec,
    LinkSpec,
    LoadedSchema,
    ModelSchema,
    NormalizedSpec,
    PhoneSpec,
    check_model_schema,
)

__all__ = [
    "SOURCE_TYPES",
    "EnumFile",
    "EnumMap",
    "EnumMapSpec",
    "FieldSpec",
    "LinkSpec",
    "LoadedSchema",
    "ModelSchema",
    "ModelTransform",
    "NormalizedSpec",
    "PhoneSpec",
    "TransformSet",
    "apply_overrides",
    "check_model_schema",
    "compile_model",
    "content_hash",
    "default_directory",
    "load_transforms",
]
