"""Every way a transform schema or enum file is refused, with the file and field named."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from syncd.errors import SchemaError
from syncd.models import MODELS
from syncd.transform import default_directory, load_transforms

BUILDIUM = default_directory("buildium")

UNITS = """\
model: units
id: {source: Id, type: int}
property_id: {source: PropertyId, type: int}
fields:
  number: UnitNumber
  rent_amount_market_in_cents: {source: MarketRent, type: money}
"""


def vendor(tmp_path: Path, files: dict[str, str], *, enums: str | None = None) -> Path:
    """A vendor directory with Buildium's enum maps (unless given) and ``files``."""
    directory = tmp_path / "acme"
    directory.mkdir(exist_ok=True)
    if enums is None:
        shutil.copy(BUILDIUM / "enums.yaml", directory / "enums.yaml")
    else:
        (directory / "enums.yaml").write_text(textwrap.dedent(enums))
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def refused(tmp_path: Path, files: dict[str, str], *, enums: str | None = None) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        load_transforms("acme", directory=vendor(tmp_path, files, enums=enums))
    return info.value


def test_a_valid_minimal_schema_loads(tmp_path: Path) -> None:
    transforms = load_transforms("acme", directory=vendor(tmp_path, {"units.yaml": UNITS}))
    assert transforms.models() == ("units",)
    rec = transforms.for_model("units").transform({"Id": 1, "MarketRent": 2.5}, "i")
    assert rec.values["rent_amount_market_in_cents"] == 250


def test_error_names_file_and_field_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = UNITS.replace("type: money", "type: monye")
    vendor(tmp_path, {"units.yaml": bad})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SchemaError) as info:
        load_transforms("acme", directory=Path("acme"))
    err = info.value
    assert err.file == "acme/units.yaml"
    assert err.field == "fields.rent_amount_market_in_cents.type"
    assert str(err).startswith(
        "acme/units.yaml: fields.rent_amount_market_in_cents.type: unknown type 'monye'"
    )


def _fields(extra: str, model: str = "units") -> str:
    head = UNITS.replace("model: units", f"model: {model}")
    return head + textwrap.indent(textwrap.dedent(extra), "  ")


@pytest.mark.parametrize(
    ("schema", "field", "message"),
    [
        pytest.param(
            UNITS.replace("type: money", "type: monye"),
            "fields.rent_amount_market_in_cents.type",
            "unknown type 'monye' (known: string, text, int",
            id="unknown-type",
        ),
        pytest.param(
            _fields("rent_amount: MarketRent"),
            "fields.rent_amount",
            "column 'rent_amount' is not declared for model 'units'",
            id="undeclared-column",
        ),
        pytest.param(
            UNITS.replace("number: UnitNumber", "number: {sorce: UnitNumber}"),
            "fields.number.sorce",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            UNITS.replace("id: {source: Id, type: int}\n", ""),
            "id",
            "required key missing",
            id="missing-id",
        ),
        pytest.param(
            UNITS.replace("model: units", "model: unit"),
            "model",
            "unknown model 'unit' (known: properties, units",
            id="unknown-model",
        ),
        pytest.param(
            "model: properties\nid: Id\nnormalized:\n  type: {source: RentalSubType, enum: nope}\n",
            "normalized.type.enum",
            "unknown enum map 'nope' (known: lease_status, phone_type, property_type)",
            id="unknown-enum-pair",
        ),
        pytest.param(
            UNITS + "normalized:\n  status: {source: S, enum: lease_status}\n",
            "normalized.status",
            "model 'units' has no column 'status_raw'",
            id="pair-without-columns",
        ),
        pytest.param(
            "model: residents\nid: Id\nphones:\n"
            "  - {source: P, enum: phones, columns: [phone_1]}\n",
            "phones.0.enum",
            "unknown enum map 'phones'",
            id="unknown-phone-enum",
        ),
        pytest.param(
            "model: residents\nid: Id\nphones:\n  - {source: P, columns: [phone_3]}\n",
            "phones.0.columns",
            "column 'phone_3' is not declared for model 'residents'",
            id="undeclared-phone-column",
        ),
        pytest.param(
            "model: residents\nid: Id\nphones:\n  - {source: P, columns: []}\n",
            "phones.0.columns",
            "at least 1 item",
            id="no-phone-columns",
        ),
        pytest.param(
            "model: residents\nid: Id\nfields:\n  phone_1: X\nphones:\n"
            "  - {source: P, columns: [phone_1]}\n",
            "phones.0.columns",
            "column 'phone_1' is already written by fields.phone_1",
            id="column-written-twice",
        ),
        pytest.param(
            _fields("number_2: {source: X}").replace("number_2", "number"),
            None,
            "duplicate key 'number'",
            id="duplicate-yaml-key",
        ),
        pytest.param(
            _fields("floor: {source: F, enum: colors}"),
            "fields.floor.enum",
            "unknown enum map 'colors'",
            id="unknown-field-enum",
        ),
        pytest.param(
            _fields("square_feet: {source: UnitSize, type: date}"),
            "fields.square_feet.type",
            "type 'date' cannot fill int column (allowed: int)",
            id="incompatible-type",
        ),
        pytest.param(
            _fields("floor: {source: X, negate: true}"),
            "fields.floor.negate",
            "negate applies to bool columns, not string",
            id="negate-non-bool",
        ),
        pytest.param(
            _fields("is_vacant: {source: X, negate: true, type: int}"),
            "fields.is_vacant.negate",
            "negate needs type bool",
            id="negate-typed",
        ),
        pytest.param(
            _fields("is_vacant: {source: X, negate: true, map: {a: true}}"),
            "fields.is_vacant",
            "negate needs a single source and no map, enum or ref",
            id="negate-with-map",
        ),
        pytest.param(
            _fields("floor: {source: X, as_list: true}"),
            "fields.floor.as_list",
            "as_list fills json columns, not string",
            id="as-list-non-json",
        ),
        pytest.param(
            _fields("square_feet: {sources: [A, B]}"),
            "fields.square_feet",
            "sources (a joined text) cannot fill a int column",
            id="sources-non-text",
        ),
        pytest.param(
            _fields("floor_plan_id: {source: X, ref: plans}"),
            "fields.floor_plan_id.ref",
            "unknown model 'plans'",
            id="ref-unknown-model",
        ),
        pytest.param(
            _fields("floor: {source: X, ref: floor_plans}"),
            "fields.floor",
            "ref yields a uuid; cannot fill a string column",
            id="ref-non-uuid",
        ),
        pytest.param(
            _fields("floor_plan_id: {source: X, ref: floor_plans, type: date}"),
            "fields.floor_plan_id.type",
            "type 'date' cannot be a reference id",
            id="ref-bad-type",
        ),
        pytest.param(
            _fields("bedrooms: {source: B, map: {Two: two}}"),
            "fields.bedrooms.map.Two",
            "'two' is not a valid int value",
            id="map-value-type",
        ),
        pytest.param(
            _fields("bedrooms: {source: B, map: {One: 1}, map_default: many}"),
            "fields.bedrooms.map_default",
            "'many' is not a valid int value",
            id="map-default-type",
        ),
        pytest.param(
            _fields("bedrooms: {source: B, map_default: 1}"),
            "fields.bedrooms",
            "map_default applies only with map",
            id="map-default-alone",
        ),
        pytest.param(
            _fields("floor: {sources: [A, B], enum: phone_type}"),
            "fields.floor",
            "enum needs a single source",
            id="enum-with-sources",
        ),
        pytest.param(
            _fields("floor: {source: B, map: {a: b}, enum: phone_type}"),
            "fields.floor",
            "map and enum cannot be combined",
            id="map-and-enum",
        ),
        pytest.param(
            _fields("square_feet: {const: big}"),
            "fields.square_feet.const",
            "'big' is not a valid int value",
            id="const-type",
        ),
        pytest.param(
            _fields("floor: {source: A, const: B}"),
            "fields.floor",
            "needs exactly one of source, sources, const, position, lookup (found: source, const)",
            id="two-origins",
        ),
        pytest.param(
            _fields("floor: {type: string}"),
            "fields.floor",
            "(found: none)",
            id="no-origin",
        ),
        pytest.param(
            _fields("floor: {position: [a, b]}"),
            "fields.floor",
            "option 'position' is only allowed in links.fields",
            id="position-outside-links",
        ),
        pytest.param(
            _fields("floor: {lookup: {source: L, key: K, value: V}}"),
            "fields.floor",
            "option 'lookup' is only allowed in links.fields",
            id="lookup-outside-links",
        ),
        pytest.param(
            _fields("floor: {source: A, join: ', '}"),
            "fields.floor",
            "join applies only with sources",
            id="join-without-sources",
        ),
        pytest.param(
            _fields("floor: 5"),
            "fields.floor",
            "expected a source path or a mapping of options",
            id="spec-not-mapping",
        ),
        pytest.param(
            _fields("floor: {sources: []}"),
            "fields.floor.sources",
            "sources must list at least one path",
            id="empty-sources",
        ),
        pytest.param(
            _fields("city: Address..City"),
            "fields.city.source",
            "invalid source path 'Address..City'",
            id="bad-path",
        ),
        pytest.param(
            _fields("x_property_id: PropertyId"),
            "fields.x_property_id",
            "'x_property_id' is a common column",
            id="common-column",
        ),
        pytest.param(
            UNITS.replace("id: {source: Id, type: int}", "id: {source: Id, type: money}"),
            "id.type",
            "type 'money' cannot be an id",
            id="id-type",
        ),
        pytest.param(
            UNITS.replace("id: {source: Id, type: int}", "id: {sources: [A, B]}"),
            "id",
            "an id needs a single source path",
            id="id-sources",
        ),
        pytest.param(
            UNITS.replace("id: {source: Id, type: int}", "id: {source: Id, enum: phone_type}"),
            "id",
            "option 'enum' does not apply to an id",
            id="id-enum",
        ),
        pytest.param(
            "model: properties\nid: Id\nproperty_id: Id\n",
            "property_id",
            "a property's x_property_id is its own id",
            id="property-id-on-properties",
        ),
        pytest.param(
            UNITS + "version: 2\n",
            "version",
            "Input should be 1",
            id="unknown-version",
        ),
        pytest.param(
            "model: units\nid: Id\nfields: [a, b]\n",
            "fields",
            "valid dictionary",
            id="fields-not-mapping",
        ),
        pytest.param(
            UNITS + "custom_data:\n  unit: {source: U, ref: units}\n",
            "custom_data.unit.ref",
            "ref is not supported in custom_data",
            id="custom-ref",
        ),
        pytest.param(
            UNITS + "custom_data:\n  flag: {source: F, enum: nope}\n",
            "custom_data.flag.enum",
            "unknown enum map 'nope'",
            id="custom-unknown-enum",
        ),
        pytest.param(
            UNITS + "links:\n  source: Tenants\n  resident_id: Id\n",
            "links",
            "links are derived from leases records only",
            id="links-not-leases",
        ),
    ],
)
def test_bad_schema_is_refused(
    tmp_path: Path, schema: str, field: str | None, message: str
) -> None:
    err = refused(tmp_path, {"units.yaml": schema})
    assert err.file is not None and err.file.endswith("acme/units.yaml")
    assert err.field == field
    assert message in str(err)


LEASES = """\
model: leases
id: {source: Id, type: int}
links:
  source: Tenants
  resident_id: {source: Id, type: int}
  fields:
"""


@pytest.mark.parametrize(
    ("link_fields", "field", "message"),
    [
        (
            "nope: Status",
            "links.fields.nope",
            "column 'nope' is not a link column (allowed: move_in_date, move_out_date, "
            "resident_type_normalized, resident_type_raw, status_raw)",
        ),
        ("x_resident_id: Id", "links.fields.x_resident_id", "filled from the lease and resident"),
        (
            "move_in_date: {position: [a]}",
            "links.fields.move_in_date.position.0",
            "'a' is not a valid date value",
        ),
        ("status_raw: {position: []}", "links.fields.status_raw.position", "at least one value"),
        ("move_in_date: {source: M, type: bool}", "links.fields.move_in_date.type", "bool"),
        (
            "move_out_date: {lookup: {source: M, key: K}}",
            "links.fields.move_out_date.lookup.value",
            "required key missing",
        ),
    ],
)
def test_bad_link_section_is_refused(
    tmp_path: Path, link_fields: str, field: str, message: str
) -> None:
    err = refused(tmp_path, {"leases.yaml": LEASES + "    " + link_fields + "\n"})
    assert err.field == field
    assert message in str(err)


def test_link_resident_id_must_be_an_id(tmp_path: Path) -> None:
    schema = LEASES.replace("resident_id: {source: Id, type: int}", "resident_id: {const: 1}")
    err = refused(tmp_path, {"leases.yaml": schema + "    status_raw: S\n"})
    assert err.field == "links.resident_id"
    assert "an id needs a single source path" in str(err)


# --- whole files --------------------------------------------------------------------


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = refused(tmp_path, {"units.yaml": UNITS + "fields: [unclosed\n"})
    assert err.file is not None and err.file.endswith("units.yaml")
    assert err.field is None
    assert "invalid YAML" in str(err)
    assert "line 8" in str(err)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, {"units.yaml": UNITS + "model: units\n"})
    assert "duplicate key 'model' (line 7, column 1)" in str(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("# only a comment\n", "file is empty"),
        ("- model: units\n", "expected a mapping at the top level"),
        ("just text\n", "expected a mapping at the top level"),
    ],
)
def test_files_that_are_not_schemas(tmp_path: Path, text: str, message: str) -> None:
    err = refused(tmp_path, {"units.yaml": text})
    assert err.file is not None and err.file.endswith("units.yaml")
    assert message in str(err)


def test_non_utf8_file(tmp_path: Path) -> None:
    directory = vendor(tmp_path, {})
    (directory / "units.yaml").write_bytes(b"model: \xff\xfe\n")
    with pytest.raises(SchemaError, match="not valid UTF-8"):
        load_transforms("acme", directory=directory)


def test_two_files_for_one_model(tmp_path: Path) -> None:
    err = refused(tmp_path, {"units.yaml": UNITS, "units_copy.yml": UNITS})
    assert err.file is not None and err.file.endswith("units_copy.yml")
    assert err.field == "model"
    assert "model 'units' is already mapped by" in str(err)


def test_several_errors_are_counted(tmp_path: Path) -> None:
    err = refused(tmp_path, {"units.yaml": "model: units\nid: Id\nbogus: 1\nother: 2\n"})
    assert err.field == "bogus"
    assert "unknown key (and 1 more error)" in str(err)


def test_missing_directory_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no transform schemas for vendor 'acme': not a dir"):
        load_transforms("acme", directory=tmp_path / "missing")
    directory = vendor(tmp_path, {})
    with pytest.raises(SchemaError, match=r"no \*\.yaml besides enums\.yaml"):
        load_transforms("acme", directory=directory)


@pytest.mark.parametrize("name", ["../etc", "", "a/b", "Büildium"])
def test_vendor_names_must_be_plain(name: str) -> None:
    with pytest.raises(SchemaError, match="invalid vendor name"):
        load_transforms(name)


def test_unknown_vendor_has_no_directory() -> None:
    with pytest.raises(SchemaError, match="no transform schemas for vendor 'nopms'"):
        load_transforms("nopms")


# --- enums.yaml ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enums", "field", "message"),
    [
        (
            "maps:\n  c:\n    default: NOPE\n    allowed: [A, OTHER]\n",
            "maps.c",
            "default 'NOPE' is not in allowed ['A', 'OTHER']",
        ),
        (
            "maps:\n  c:\n    default: OTHER\n    allowed: [A, OTHER]\n    values: {x: Z}\n",
            "maps.c",
            "values.x: 'Z' is not in allowed",
        ),
        ("maps:\n  c:\n    values: {x: A}\n", "maps.c.default", "required key missing"),
        ("maps:\n  c:\n    default: A\n    valuez: {x: A}\n", "maps.c.valuez", "unknown key"),
        ("maps:\n  c:\n    default: A\n    values: {x: 1}\n", "maps.c.values.x", "valid string"),
        ("maps: [a]\n", "maps", "valid dictionary"),
        ("- a\n", None, "expected a mapping at the top level"),
    ],
)
def test_bad_enum_file_is_refused(
    tmp_path: Path, enums: str, field: str | None, message: str
) -> None:
    err = refused(tmp_path, {"units.yaml": UNITS}, enums=enums)
    assert err.file is not None and err.file.endswith("acme/enums.yaml")
    assert err.field == field
    assert message in str(err)


def test_enum_file_is_optional_but_then_no_map_can_be_named(tmp_path: Path) -> None:
    directory = vendor(tmp_path, {"units.yaml": UNITS})
    (directory / "enums.yaml").unlink()
    assert load_transforms("acme", directory=directory).models() == ("units",)
    (directory / "residents.yaml").write_text(
        "model: residents\nid: Id\nphones:\n  - {source: P, enum: phone_type, columns: [phone_1]}\n"
    )
    with pytest.raises(SchemaError, match="unknown enum map 'phone_type' \\(known: none\\)"):
        load_transforms("acme", directory=directory)


# --- the shipped Buildium schemas ------------------------------------------------------


def test_every_buildium_schema_loads_and_writes_only_declared_columns() -> None:
    transforms = load_transforms("buildium")
    files = sorted(p.name for p in BUILDIUM.glob("*.yaml") if p.name != "enums.yaml")
    assert files == [f"{m}.yaml" for m in sorted(transforms.models())]
    for model in transforms.models():
        loaded = transforms.schema(model)
        schema = loaded.schema
        assert schema.model == model
        assert Path(loaded.file).name == f"{model}.yaml"
        declared = MODELS[model].column_names
        written = set(schema.fields)
        for name in schema.normalized:
            written |= {f"{name}_raw", f"{name}_normalized"}
        for phones in schema.phones:
            written |= set(phones.columns)
            written |= {f"{column}_type" for column in phones.columns}
        assert written <= declared, written - declared
        if schema.links is not None:
            assert model == "leases"


def test_plain_yaml_keys_stay_text(tmp_path: Path) -> None:
    # YAML 1.1 would read these keys as booleans, numbers and None.
    schema = _fields("bedrooms: {source: B, map: {yes: 1, No: 0, 2: 2, null: 3, 1.5: 4}}")
    enums = "maps:\n  c:\n    default: A\n    values: {no: B, on: C}\n"
    directory = vendor(tmp_path, {"units.yaml": schema}, enums=enums)
    transforms = load_transforms("acme", directory=directory)
    units = transforms.for_model("units")
    for raw, bedrooms in [("yes", 1), ("No", 0), ("2", 2), (2, 2), ("null", 3), ("1.5", 4)]:
        assert units.transform({"Id": 1, "B": raw}, "i").values["bedrooms"] == bedrooms
    assert dict(transforms.enum_maps["c"].values) == {"no": "B", "on": "C"}


def test_complex_yaml_keys_are_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, {"units.yaml": UNITS + "? [a, b]\n: 1\n"})
    assert "keys must be plain text" in str(err)
