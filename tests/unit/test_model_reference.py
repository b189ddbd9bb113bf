"""The unified model holds every field of the reference API's records.

Each first-wave model is compared with the reference OpenAPI document's
answer to a GET by id: every field there must be a column of the model, one
of the common columns, or listed (with its reason) in
``REFERENCE_FIELDS_NOT_MAPPED``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from syncd.models import COMMON_COLUMNS, MODELS, REFERENCE_FIELDS_NOT_MAPPED

# The reference document: in shared/ beside the checkout, else the subset kept
# in tests/reference/ (the get-by-id operations and what they reference).
_SHARED = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "propexo-openapi.yml"
)
REFERENCE = (
    _SHARED
    if _SHARED.is_file()
    else Path(__file__).resolve().parents[1] / "reference" / "propexo-openapi.subset.yml"
)

#: Per model, the reference path whose GET returns one record of it.
GET_BY_ID: dict[str, str] = {
    "properties": "/v1/properties/{id}",
    "units": "/v1/units/{id}",
    "floor_plans": "/v1/floor-plans/{floor_plan_id}",
    "residents": "/v1/residents/{id}",
    "leases": "/v1/leases/{lease_id}",
    "leads": "/v1/leads/{id}",
    "lead_sources": "/v1/lead-sources/{lead_source_id}",
    "employees": "/v1/employees/{employee_id}",
}


@cache
def _document() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
    with REFERENCE.open(encoding="utf-8") as f:
        document: dict[str, Any] = yaml.load(f, Loader=loader)
    return document


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow ``$ref`` pointers (``#/components/...``) until a plain node."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def reference_fields(model: str) -> dict[str, dict[str, Any]]:
    """The reference's record fields of ``model``: name -> its (resolved) schema."""
    document = _document()
    answer = _resolve(document, document["paths"][GET_BY_ID[model]]["get"]["responses"]["200"])
    body = _resolve(document, answer["content"]["application/json"]["schema"])
    record = _resolve(document, body["properties"]["results"])
    return {
        name: _resolve(document, schema) for name, schema in record.get("properties", {}).items()
    }


def test_every_first_wave_model_is_compared() -> None:
    assert set(GET_BY_ID) == set(MODELS)
    assert set(REFERENCE_FIELDS_NOT_MAPPED) == set(MODELS)


def test_every_reference_field_is_a_column_or_deliberately_not_mapped() -> None:
    missing: dict[str, list[str]] = {}
    for model in GET_BY_ID:
        known = (
            MODELS[model].column_names
            | set(COMMON_COLUMNS)
            | set(REFERENCE_FIELDS_NOT_MAPPED[model])
        )
        absent = [name for name in reference_fields(model) if name not in known]
        if absent:
            missing[model] = absent
    report = "; ".join(f"{model}: {', '.join(names)}" for model, names in missing.items())
    assert not missing, f"reference fields missing from syncd.models: {report}"


def test_the_not_mapped_list_holds_only_real_unmapped_fields() -> None:
    # An entry that became a column, or that the reference no longer has, is
    # stale: the list must stay the exact set of deliberate gaps.
    stale: list[str] = []
    for model, entries in REFERENCE_FIELDS_NOT_MAPPED.items():
        fields = reference_fields(model)
        for name, reason in entries.items():
            assert reason.strip(), f"{model}.{name} needs a reason"
            if name not in fields or name in MODELS[model].column_names or name in COMMON_COLUMNS:
                stale.append(f"{model}.{name}")
    assert not stale, f"stale REFERENCE_FIELDS_NOT_MAPPED entries: {', '.join(stale)}"


def test_deprecated_reference_fields_are_not_added_as_columns() -> None:
    # Deprecated fields have a successor the model holds instead. Kept from
    # before: units.is_listed (its successor, listings, is no first-wave
    # model) and leads.x_unit_id (one unit beside x_unit_id_preferred).
    kept = {("units", "is_listed"), ("leads", "x_unit_id")}
    added = [
        f"{model}.{name}"
        for model in GET_BY_ID
        for name, schema in reference_fields(model).items()
        if schema.get("deprecated")
        and name in MODELS[model].column_names
        and (model, name) not in kept
    ]
    assert not added, f"deprecated reference fields declared as columns: {', '.join(added)}"
