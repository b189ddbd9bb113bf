"""The Buildium transforms: realistic records in, typed unified records out."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from syncd.domain import Link, NormalizedRecord, record_id
from syncd.errors import SchemaError, TransformError
from syncd.models import COMMON_COLUMNS, LINK_COLUMNS, MODELS
from syncd.transform import TransformSet, default_directory, load_transforms

IID = "integration-1"
BUILDIUM_MODELS = ("properties", "units", "residents", "leases", "leads", "employees")


def rid(model: str, x_id: str) -> uuid.UUID:
    return record_id(IID, model, x_id)


# --- samples shaped like Buildium's OpenAPI schemas ----------------------------------


def address(line1: str = "1 Elm St", line2: str | None = None) -> dict[str, Any]:
    """AddressMessage."""
    return {
        "AddressLine1": line1,
        "AddressLine2": line2,
        "AddressLine3": None,
        "City": "Boston",
        "State": "MA",
        "PostalCode": "02110",
        "Country": "UnitedStates",
    }


RENTAL: dict[str, Any] = {  # RentalMessage
    "Id": 101,
    "Name": "Elm Court",
    "StructureDescription": "Brick walk-up, 3 floors",
    "NumberUnits": 12,
    "IsActive": True,
    "OperatingBankAccountId": 3,
    "Reserve": 500.0,
    "Address": address(),
    "YearBuilt": 1990,
    "RentalType": "Residential",
    "RentalSubType": "MultiFamily",
    "RentalManager": {  # PropertyManagerMessage
        "Id": 9,
        "FirstName": "Maria",
        "LastName": "Lopez",
        "CompanyName": None,
        "IsCompany": False,
        "ProfilePhotoUrl": None,
        "Email": "maria@pm.example",
        "PhoneNumbers": [{"Number": "(617) 555-0199", "Type": "Office"}],
    },
}

UNIT: dict[str, Any] = {  # RentalUnitMessage
    "Id": 501,
    "PropertyId": 101,
    "BuildingName": "",
    "UnitNumber": "2B",
    "Description": "Corner unit, south light",
    "MarketRent": 1850.0,
    "Address": address(line2="Unit 2B"),
    "UnitBedrooms": "TwoBed",
    "UnitBathrooms": "OnePointFiveBath",
    "UnitSize": 900,
    "IsUnitListed": False,
    "IsUnitOccupied": True,
}

TENANT: dict[str, Any] = {  # TenantMessage
    "Id": 77,
    "FirstName": "Ann",
    "LastName": "Lee",
    "Email": "ann@example.com",
    "AlternateEmail": "ann.lee@work.example",
    "PhoneNumbers": [
        {"Number": "(555) 555-0100", "Type": "Cell"},
        {"Number": "", "Type": "Home"},  # empty numbers are skipped
        {"Number": "(555) 555-0101", "Type": "Office"},
    ],
    "CreatedDateTime": "2023-11-30T09:15:00.1234567Z",
    "EmergencyContact": {
        "Name": "Bo Lee",
        "RelationshipDescription": "Brother",
        "Phone": "(555) 555-0102",
        "Email": "bo@example.com",
    },
    "DateOfBirth": "1990-05-06",
    "SMSOptInStatus": "OptedIn",
    "Address": address(line2="Unit 2B"),
    "AlternateAddress": {
        "AddressLine1": "9 Oak Ave",
        "AddressLine2": "Apt 1",
        "AddressLine3": "Rear",
        "City": "Cambridge",
        "State": "MA",
        "PostalCode": "02139",
        "Country": "UnitedStates",
    },
    "MailingPreference": "PrimaryAddress",
    "Leases": [
        {
            "Id": 3001,
            "PropertyId": 101,
            "UnitId": 501,
            "UnitNumber": "2B",
            "LeaseFromDate": "2024-01-01",
            "LeaseToDate": "2024-12-31",
            "LeaseStatus": "Active",
        }
    ],
    "Comment": "Prefers email.",
    "TaxId": None,
}

LEASE: dict[str, Any] = {  # LeaseMessage
    "Id": 3001,
    "PropertyId": 101,
    "UnitId": 501,
    "UnitNumber": "2B",
    "LeaseFromDate": "2024-01-01",
    "LeaseToDate": "2024-12-31",
    "LeaseType": "Fixed",
    "LeaseStatus": "Active",
    "IsEvictionPending": False,
    "TermType": "Standard",
    "RenewalOfferStatus": "NotSet",
    "CurrentTenants": [{"Id": 77, "FirstName": "Ann", "LastName": "Lee"}],
    "CurrentNumberOfOccupants": 2,
    "AccountDetails": {"SecurityDeposit": 1850.0, "Rent": 1850.55},
    "Cosigners": [],
    "AutomaticallyMoveOutTenants": False,
    "CreatedDateTime": "2023-12-01T10:11:12Z",
    "LastUpdatedDateTime": "2024-01-02T03:04:05.5Z",
    "MoveOutData": [{"TenantId": 78, "MoveOutDate": "2024-06-30", "NoticeGivenDate": "2024-05-31"}],
    "PaymentDueDay": 1,
    "Tenants": [  # LeaseTenantMessage
        {"Id": 77, "Status": "Current", "MoveInDate": "2024-01-01"},
        {"Id": 78, "Status": "MovedOut", "MoveInDate": "2024-01-15"},
    ],
}

APPLICANT: dict[str, Any] = {  # ApplicantDetailsMessage
    "Id": 9001,
    "ApplicantGroupId": 4001,
    "PropertyId": 101,
    "UnitId": 502,
    "TenantId": None,
    "FirstName": "Cal",
    "LastName": "Ng",
    "Email": "cal@example.com",
    "PhoneNumbers": [{"Number": "555-0123", "Type": "Personal"}],
    "Status": "Undecided",
    "Applications": [
        {
            "Id": 7001,
            "ApplicationNumber": "APP-0007001",
            "ApplicationStatus": "Undecided",
            "ApplicationSubmittedDateTime": "2024-03-04T05:06:07Z",
        }
    ],
    "UnsubmittedApplications": [],
    "LastUpdatedDateTime": "2024-03-05T00:00:00+02:00",
}

USER: dict[str, Any] = {  # UserMessage
    "Id": 12,
    "UserTypes": ["Staff"],
    "IsActive": True,
    "LastLogin": "2024-04-01T08:00:00Z",
    "FirstName": "Dee",
    "LastName": "Park",
    "CompanyName": None,
    "Email": "dee@pm.example",
    "AlternateEmail": None,
    "PhoneNumbers": [
        {"Number": "(617) 555-0142", "Type": "Office"},
        {"Number": "(617) 555-0143", "Type": "Cell"},
    ],
    "UserRole": {
        "Id": 2,
        "Name": "Property Manager",
        "Description": "Manages properties",
        "NumberOfUsers": 4,
    },
    "IsCompany": False,
}

SAMPLES: dict[str, dict[str, Any]] = {
    "properties": RENTAL,
    "units": UNIT,
    "residents": TENANT,
    "leases": LEASE,
    "leads": APPLICANT,
    "employees": USER,
}


@pytest.fixture(scope="module")
def transforms() -> TransformSet:
    return load_transforms("buildium")


@pytest.fixture
def run(transforms: TransformSet) -> Callable[..., NormalizedRecord]:
    def run(model: str, raw: Any = None, **changes: Any) -> NormalizedRecord:
        record = copy.deepcopy(SAMPLES[model] if raw is None else raw)
        record.update(changes)
        return transforms.for_model(model).transform(record, IID)

    return run


# --- the set ---------------------------------------------------------------------


def test_buildium_set_lists_its_models_in_dependency_order(transforms: TransformSet) -> None:
    assert transforms.models() == BUILDIUM_MODELS
    assert transforms.for_model("units").model == "units"


def test_a_model_without_a_schema_is_a_schema_error(transforms: TransformSet) -> None:
    with pytest.raises(SchemaError, match="no transform schema for model 'floor_plans'"):
        transforms.for_model("floor_plans")


def test_vendor_name_is_case_insensitive_and_resolves_to_the_checkout() -> None:
    assert load_transforms("BUILDIUM").models() == BUILDIUM_MODELS
    assert default_directory("Buildium").parts[-2:] == ("transforms", "buildium")


# --- each model --------------------------------------------------------------------


def test_property(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("properties")
    assert rec.x_id == "101"
    assert rec.links == ()
    assert dict(rec.values) == {
        "name": "Elm Court",
        "is_active": True,
        "number_of_units": 12,
        "year_built": 1990,
        "address_1": "1 Elm St",
        "address_2": None,
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "country": "UnitedStates",
        "manager_name": "Maria Lopez",
        "manager_email": "maria@pm.example",
        "manager_phone_1": "(617) 555-0199",
        "manager_phone_1_type": "WORK",
        "manager_phone_2": None,
        "manager_phone_2_type": None,
        "notes": "Brick walk-up, 3 floors",
        "type_raw": "MultiFamily",
        "type_normalized": "MULTI_FAMILY",
        "x_property_id": "101",
        "property_id": rid("properties", "101"),
        "custom_data": {"rental_type": "Residential", "rental_manager_id": "9"},
    }


def test_property_without_manager_or_address(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("properties", RentalManager=None, Address=None, RentalSubType=None)
    values = rec.values
    assert values["manager_name"] is None
    assert values["manager_phone_1"] is None
    assert values["manager_phone_1_type"] is None
    assert values["address_1"] is None
    assert values["city"] is None
    assert values["type_raw"] is None
    assert values["type_normalized"] is None
    assert values["custom_data"] == {"rental_type": "Residential", "rental_manager_id": None}


def test_unit(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("units")
    assert rec.x_id == "501"
    assert dict(rec.values) == {
        "number": "2B",
        "building_name": None,  # "" counts as not set
        "bedrooms": 2,
        "bathrooms": 1.5,
        "square_feet": 900,
        "address_1": "1 Elm St",
        "address_2": "Unit 2B",
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "country": "UnitedStates",
        "is_vacant": False,
        "is_listed": False,
        "rent_amount_market_in_cents": 185000,
        "notes": "Corner unit, south light",
        "x_property_id": "101",
        "property_id": rid("properties", "101"),
        "custom_data": {},
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NotSet", None),
        ("Studio", 0),
        ("OneBed", 1),
        ("FiveBed", 5),
        ("NineBedPlus", 9),
        ("TenBed", None),  # unknown: no guess
        (None, None),
    ],
)
def test_unit_bedrooms(
    run: Callable[..., NormalizedRecord], raw: str | None, expected: int
) -> None:
    assert run("units", UnitBedrooms=raw).values["bedrooms"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NotSet", None),
        ("OneBath", 1.0),
        ("TwoPointFiveBath", 2.5),
        ("ThreePointFiveBath", 3.5),
        ("FourPointFiveBath", 4.5),
        ("FivePlusBath", 5.0),
    ],
)
def test_unit_bathrooms(
    run: Callable[..., NormalizedRecord], raw: str, expected: float | None
) -> None:
    value = run("units", UnitBathrooms=raw).values["bathrooms"]
    assert value == expected
    assert value is None or isinstance(value, float)


def test_unit_vacancy_is_the_negation_of_occupancy(run: Callable[..., NormalizedRecord]) -> None:
    assert run("units", IsUnitOccupied=False).values["is_vacant"] is True
    assert run("units", IsUnitOccupied=None).values["is_vacant"] is None


def test_resident(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("residents")
    assert rec.x_id == "77"
    assert dict(rec.values) == {
        "x_created_at": datetime(2023, 11, 30, 9, 15, 0, 123456, tzinfo=UTC),
        "first_name": "Ann",
        "last_name": "Lee",
        "date_of_birth": date(1990, 5, 6),
        "email_1": "ann@example.com",
        "email_2": "ann.lee@work.example",
        "phone_1": "(555) 555-0100",
        "phone_1_type": "MOBILE",
        "phone_2": "(555) 555-0101",
        "phone_2_type": "WORK",
        "address_1": "1 Elm St",
        "address_2": "Unit 2B",
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "country": "UnitedStates",
        "address_1_alternate": "9 Oak Ave",
        "address_2_alternate": "Apt 1, Rear",
        "city_alternate": "Cambridge",
        "state_alternate": "MA",
        "zip_alternate": "02139",
        "country_alternate": "UnitedStates",
        "notes": "Prefers email.",
        "x_property_id": "101",
        "property_id": rid("properties", "101"),
        "custom_data": {"mailing_preference": "PrimaryAddress"},
    }


def test_resident_without_leases_has_no_property(run: Callable[..., NormalizedRecord]) -> None:
    leases: list[Any] | None
    for leases in ([], None):
        values = run("residents", Leases=leases).values
        assert values["x_property_id"] is None
        assert values["property_id"] is None


def test_resident_phones_fill_in_order_and_clear_unused_slots(
    run: Callable[..., NormalizedRecord],
) -> None:
    values = run("residents", PhoneNumbers=[{"Number": "1", "Type": "Fax"}]).values
    assert (values["phone_1"], values["phone_1_type"]) == ("1", "FAX")
    assert (values["phone_2"], values["phone_2_type"]) == (None, None)
    values = run("residents", PhoneNumbers=None).values
    assert values["phone_1"] is None and values["phone_2_type"] is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Home", "HOME"),
        ("Cell", "MOBILE"),
        ("Personal", "MOBILE"),
        ("Office", "WORK"),
        ("Fax", "FAX"),
        ("NotSet", "OTHER"),
        ("Other", "OTHER"),
        ("Pager", "OTHER"),  # unknown → the map's default
        ("cell", "MOBILE"),  # case-insensitive fallback
        (None, "OTHER"),  # a number without a type
    ],
)
def test_phone_types(run: Callable[..., NormalizedRecord], raw: str | None, expected: str) -> None:
    values = run("residents", PhoneNumbers=[{"Number": "555", "Type": raw}]).values
    assert values["phone_1_type"] == expected


def test_lease(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("leases")
    assert rec.x_id == "3001"
    assert dict(rec.values) == {
        "x_created_at": datetime(2023, 12, 1, 10, 11, 12, tzinfo=UTC),
        "x_updated_at": datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC),
        "x_unit_id": "501",
        "unit_id": rid("units", "501"),
        "unit_number": "2B",
        "start_date": date(2024, 1, 1),
        "end_date": date(2024, 12, 31),
        "rent_amount_in_cents": 185055,
        "deposit_amount_in_cents": 185000,
        "rent_due_day": 1,
        "type": "Fixed",
        "term": "Standard",
        "status_raw": "Active",
        "status_normalized": "ACTIVE",
        "x_property_id": "101",
        "property_id": rid("properties", "101"),
        "custom_data": {"is_eviction_pending": False, "renewal_offer_status": "NotSet"},
    }


def test_lease_links_one_per_tenant(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("leases")
    assert rec.links == (
        Link(
            "77",
            {
                "x_lease_id": "3001",
                "x_resident_id": "77",
                "resident_type_normalized": "PRIMARY",
                "status_raw": "Current",
                "move_in_date": date(2024, 1, 1),
                "move_out_date": None,
            },
        ),
        Link(
            "78",
            {
                "x_lease_id": "3001",
                "x_resident_id": "78",
                "resident_type_normalized": "SECONDARY",
                "status_raw": "MovedOut",
                "move_in_date": date(2024, 1, 15),
                "move_out_date": date(2024, 6, 30),  # from MoveOutData by TenantId
            },
        ),
    )
    link_columns = {c.name for c in LINK_COLUMNS}
    for link in rec.links:
        assert set(link.values) <= link_columns


def test_lease_links_third_tenant_is_secondary_and_duplicates_collapse(
    run: Callable[..., NormalizedRecord],
) -> None:
    tenants = [
        {"Id": 1, "Status": "Current", "MoveInDate": None},
        {"Id": 2, "Status": "Current", "MoveInDate": None},
        {"Id": 1, "Status": "Future", "MoveInDate": None},
        {"Id": 3, "Status": "Future", "MoveInDate": None},
    ]
    links = run("leases", Tenants=tenants).links
    assert [link.x_resident_id for link in links] == ["1", "2", "3"]
    assert [link.values["resident_type_normalized"] for link in links] == [
        "PRIMARY",
        "SECONDARY",
        "SECONDARY",
    ]
    assert links[0].values["status_raw"] == "Current"  # the first entry wins


def test_lease_without_tenants_has_no_links(run: Callable[..., NormalizedRecord]) -> None:
    assert run("leases", Tenants=[]).links == ()
    assert run("leases", Tenants=None).links == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Active", "ACTIVE"),
        ("Past", "INACTIVE"),
        ("Future", "PENDING"),
        ("Evicted", "OTHER"),  # unknown → the map's default, never a failure
        ("ACTIVE", "ACTIVE"),
        (None, None),
    ],
)
def test_lease_status(run: Callable[..., NormalizedRecord], raw: str | None, expected: str) -> None:
    values = run("leases", LeaseStatus=raw).values
    assert values["status_raw"] == raw
    assert values["status_normalized"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SingleFamily", "SINGLE_FAMILY"),
        ("CondoTownhome", "SINGLE_FAMILY"),
        ("MultiFamily", "MULTI_FAMILY"),
        ("Industrial", "COMMERCIAL"),
        ("Office", "COMMERCIAL"),
        ("Retail", "COMMERCIAL"),
        ("ShoppingCenter", "COMMERCIAL"),
        ("Storage", "COMMERCIAL"),
        ("ParkingSpace", "COMMERCIAL"),
        ("Houseboat", "OTHER"),
    ],
)
def test_property_type(run: Callable[..., NormalizedRecord], raw: str, expected: str) -> None:
    values = run("properties", RentalSubType=raw).values
    assert (values["type_raw"], values["type_normalized"]) == (raw, expected)


def test_lead(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("leads")
    assert rec.x_id == "9001"
    assert dict(rec.values) == {
        "x_created_at": datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC),
        "x_updated_at": datetime(2024, 3, 4, 22, 0, tzinfo=UTC),  # +02:00 → UTC
        "x_unit_id": "502",
        "unit_id": rid("units", "502"),
        "x_unit_id_preferred": ["502"],
        "first_name": "Cal",
        "last_name": "Ng",
        "email_1": "cal@example.com",
        "phone_1": "555-0123",
        "phone_1_type": "MOBILE",
        "phone_2": None,
        "phone_2_type": None,
        "status": "Undecided",
        "x_property_id": "101",
        "property_id": rid("properties", "101"),
        "custom_data": {"applicant_group_id": "4001", "tenant_id": None},
    }


def test_lead_without_applications_or_unit(run: Callable[..., NormalizedRecord]) -> None:
    values = run("leads", Applications=[], UnitId=None).values
    assert values["x_created_at"] is None
    assert values["x_unit_id"] is None
    assert values["unit_id"] is None
    assert values["x_unit_id_preferred"] == []


def test_employee(run: Callable[..., NormalizedRecord]) -> None:
    rec = run("employees")
    assert rec.x_id == "12"
    assert dict(rec.values) == {
        "name": "Dee Park",
        "first_name": "Dee",
        "last_name": "Park",
        "email": "dee@pm.example",
        "phone_1": "(617) 555-0142",
        "phone_1_type": "WORK",
        "is_active": True,
        "roles": ["Property Manager"],
        "x_property_id": None,
        "property_id": None,
        "custom_data": {"user_types": ["Staff"], "company_name": None},
    }


def test_employee_name_and_roles_when_parts_are_missing(
    run: Callable[..., NormalizedRecord],
) -> None:
    values = run("employees", FirstName=None, UserRole=None, IsActive=False).values
    assert values["name"] == "Park"
    assert values["roles"] == []
    assert values["is_active"] is False
    assert run("employees", FirstName="", LastName=None).values["name"] is None


# --- schemas only write declared columns ------------------------------------------


@pytest.mark.parametrize("model", BUILDIUM_MODELS)
def test_every_value_is_a_declared_column(
    run: Callable[..., NormalizedRecord], transforms: TransformSet, model: str
) -> None:
    rec = run(model)
    allowed = MODELS[model].column_names | {"x_property_id", "property_id", "custom_data"}
    assert set(rec.values) <= allowed
    assert not set(rec.values) & (
        set(COMMON_COLUMNS) - {"x_property_id", "property_id", "custom_data"}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", rec.content_hash)
    schema = transforms.schema(model).schema
    assert transforms.schema(model).file.endswith(f"transforms/buildium/{model}.yaml")
    written = set(schema.fields)
    for name in schema.normalized:
        written |= {f"{name}_raw", f"{name}_normalized"}
    for phones in schema.phones:
        written |= set(phones.columns) | {f"{c}_type" for c in phones.columns}
    assert written <= MODELS[model].column_names
    assert written == set(rec.values) - {"x_property_id", "property_id", "custom_data"}


# --- enum overrides ----------------------------------------------------------------


def test_enum_overrides_merge_on_top_of_the_vendor_map(
    run: Callable[..., NormalizedRecord],
) -> None:
    custom = load_transforms(
        "buildium", enum_overrides={"lease_status": {"Past": "EVICTED", "Draft": "PENDING"}}
    )
    leases = custom.for_model("leases")

    def status(raw: str) -> Any:
        record = dict(LEASE, LeaseStatus=raw)
        return leases.transform(record, IID).values["status_normalized"]

    assert status("Past") == "EVICTED"
    assert status("past") == "EVICTED"  # an override beats the base entry case-folded too
    assert status("Draft") == "PENDING"
    assert status("Active") == "ACTIVE"  # untouched entries remain
    assert status("Whatever") == "OTHER"
    assert custom.enum_maps["lease_status"].is_custom
    assert not custom.enum_maps["phone_type"].is_custom
    # The vendor's own set is unchanged.
    assert run("leases", LeaseStatus="Past").values["status_normalized"] == "INACTIVE"


def test_with_enum_overrides_recompiles_without_stacking(transforms: TransformSet) -> None:
    a = transforms.with_enum_overrides({"phone_type": {"Personal": "HOME"}})
    b = a.with_enum_overrides({"phone_type": {"Fax": "OTHER"}})
    record = dict(TENANT, PhoneNumbers=[{"Number": "1", "Type": "Personal"}])
    assert a.for_model("residents").transform(record, IID).values["phone_1_type"] == "HOME"
    assert b.for_model("residents").transform(record, IID).values["phone_1_type"] == "MOBILE"
    assert transforms.for_model("residents").transform(record, IID).values["phone_1_type"] == (
        "MOBILE"
    )


def test_override_of_an_unknown_map_is_refused() -> None:
    with pytest.raises(SchemaError) as info:
        load_transforms("buildium", enum_overrides={"lease_stauts": {"Past": "INACTIVE"}})
    assert info.value.field == "enum_overrides.lease_stauts"
    assert "unknown enum map 'lease_stauts'" in str(info.value)


def test_override_outside_the_allowed_values_is_refused(transforms: TransformSet) -> None:
    with pytest.raises(SchemaError) as info:
        transforms.with_enum_overrides({"lease_status": {"Past": "GONE"}})
    assert info.value.field == "enum_overrides.lease_status.Past"
    assert "'GONE' is not a valid value of 'lease_status'" in str(info.value)


def test_override_must_be_strings(transforms: TransformSet) -> None:
    with pytest.raises(SchemaError, match="must be strings"):
        transforms.with_enum_overrides({"lease_status": {"Past": 3}})  # type: ignore[dict-item]


# --- content hash ----------------------------------------------------------------------


@pytest.mark.parametrize("model", BUILDIUM_MODELS)
def test_hash_is_stable_and_ignores_key_order(
    run: Callable[..., NormalizedRecord], model: str
) -> None:
    first = run(model)
    again = run(model)
    reordered = run(model, dict(reversed(list(copy.deepcopy(SAMPLES[model]).items()))))
    assert first.content_hash == again.content_hash == reordered.content_hash


@pytest.mark.parametrize(
    ("model", "change"),
    [
        ("units", {"MarketRent": 1850.01}),
        ("units", {"UnitBedrooms": "ThreeBed"}),
        ("units", {"IsUnitOccupied": False}),
        ("units", {"PropertyId": 102}),
        ("units", {"Address": address(line1="2 Elm St")}),
        ("properties", {"RentalSubType": "SingleFamily"}),
        ("properties", {"RentalType": "Commercial"}),  # a custom_data value
        ("residents", {"PhoneNumbers": []}),
        ("residents", {"DateOfBirth": "1990-05-07"}),
        ("leases", {"LastUpdatedDateTime": "2024-01-02T03:04:06Z"}),
        ("leases", {"Tenants": [{"Id": 77, "Status": "MovedOut", "MoveInDate": "2024-01-01"}]}),
        ("leases", {"MoveOutData": []}),  # only a link value changes
        ("leads", {"Status": "Approved"}),
        ("employees", {"UserRole": {"Id": 3, "Name": "Leasing Agent"}}),
    ],
)
def test_hash_changes_with_any_mapped_value(
    run: Callable[..., NormalizedRecord], model: str, change: dict[str, Any]
) -> None:
    assert run(model).content_hash != run(model, **change).content_hash


def test_hash_ignores_unmapped_source_fields(run: Callable[..., NormalizedRecord]) -> None:
    base = run("properties").content_hash
    assert run("properties", Reserve=999.0, OperatingBankAccountId=4).content_hash == base
    assert run("employees", LastLogin="2030-01-01T00:00:00Z").content_hash == (
        run("employees").content_hash
    )


# --- quarantine ----------------------------------------------------------------------


def test_transform_raises_naming_the_source_field(transforms: TransformSet) -> None:
    units = transforms.for_model("units")
    with pytest.raises(TransformError) as info:
        units.transform(dict(UNIT, MarketRent="abc"), IID)
    assert info.value.field == "MarketRent"
    assert "expected an amount" in info.value.reason
    assert "rent_amount_market_in_cents" in info.value.reason


def test_values_a_column_cannot_store_are_quarantined_naming_the_field(
    transforms: TransformSet,
) -> None:
    # Buildium's schema allows any double for MarketRent; in cents it would
    # not fit a 64-bit column (nor the JSON of the content hash).
    units = transforms.for_model("units")
    ok, bad = units.transform_page(
        [
            dict(UNIT, Id=1, MarketRent=-1.797e308),
            dict(UNIT, Id=2, MarketRent=92_233_720_368_547_758.08),
            dict(UNIT, Id=3, UnitSize=3_000_000_000),  # square_feet is a 32-bit column
            dict(UNIT, Id=4, UnitSize=2_147_483_647, MarketRent=92_233_720_368_547.75),
        ],
        IID,
    )
    reasons = {q.x_id: q.reason for q in bad}
    assert reasons["1"] == (
        "MarketRent: float -1.797e+308 does not fit a 64-bit integer "
        "(for rent_amount_market_in_cents)"
    )
    assert reasons["2"].startswith("MarketRent: float 9.223372036854776e+16 does not fit a 64-bit")
    assert reasons["3"] == (
        "UnitSize: int 3000000000 does not fit a 32-bit integer (for square_feet)"
    )
    # The largest values the columns hold still pass.
    assert [r.x_id for r in ok] == ["4"]
    assert ok[0].values["square_feet"] == 2_147_483_647


def test_page_quarantines_each_malformed_record_and_keeps_the_rest(
    transforms: TransformSet,
) -> None:
    def unit(**changes: Any) -> dict[str, Any]:
        return dict(copy.deepcopy(UNIT), **changes)

    page: list[Any] = [
        unit(Id=1),
        "not a record",
        unit(Id=None),
        unit(Id="not-a-number"),
        unit(Id=2, MarketRent="abc"),
        unit(Id=3, UnitSize=900.5),
        unit(Id=4, IsUnitListed="maybe"),
        unit(Id=5, Address="1 Elm St"),
        unit(Id=6, PropertyId={"Id": 101}),
        unit(Id=7, UnitBedrooms=["TwoBed"]),
        unit(Id=8),
        {k: v for k, v in UNIT.items() if k != "Id"},
    ]
    ok, bad = transforms.for_model("units").transform_page(page, IID)
    assert [r.x_id for r in ok] == ["1", "8"]
    reasons = {q.x_id: q.reason for q in bad}
    assert len(bad) == 10
    assert bad[0].x_id is None and "record is not an object (got str)" in bad[0].reason
    assert bad[0].raw == "not a record"
    assert [q.reason for q in bad if q.x_id is None][1:] == [
        "Id: missing record id",
        "Id: missing record id",
    ]
    assert reasons["not-a-number"] == "Id: expected an integer, got str 'not-a-number'"
    assert reasons["2"].startswith("MarketRent: expected an amount, got str 'abc'")
    assert reasons["3"].startswith("UnitSize: expected an integer, got float 900.5")
    assert reasons["4"].startswith("IsUnitListed: expected a boolean, got str 'maybe'")
    assert re.match(r"Address\.AddressLine\d: expected an object at Address, got str", reasons["5"])
    assert reasons["6"].startswith("PropertyId: expected an integer, got dict")
    assert reasons["7"].startswith("UnitBedrooms: expected an enum value (text), got list")


def test_page_quarantines_bad_dates_and_datetimes(transforms: TransformSet) -> None:
    page = [
        dict(LEASE, Id=1, LeaseFromDate="2024-02-31"),
        dict(LEASE, Id=2, LeaseToDate="next year"),
        dict(LEASE, Id=3, CreatedDateTime="2024-13-01T00:00:00Z"),
        dict(LEASE, Id=4, LastUpdatedDateTime=1704067200),
        dict(LEASE, Id=5),
    ]
    ok, bad = transforms.for_model("leases").transform_page(page, IID)
    assert [r.x_id for r in ok] == ["5"]
    reasons = [q.reason for q in bad]
    assert reasons[0] == "LeaseFromDate: invalid date '2024-02-31' (for start_date)"
    assert reasons[1] == "LeaseToDate: invalid date 'next year' (for end_date)"
    assert reasons[2].startswith("CreatedDateTime: invalid datetime '2024-13-01T00:00:00Z'")
    assert reasons[3].startswith("LastUpdatedDateTime: expected a datetime string, got int")


def test_page_quarantines_bad_links_with_their_position(transforms: TransformSet) -> None:
    page = [
        dict(LEASE, Id=1, Tenants=[{"Id": 77, "Status": "Current"}, {"Status": "Current"}]),
        dict(LEASE, Id=2, Tenants=[{"Id": 77, "MoveInDate": "2024-02-30"}]),
        dict(LEASE, Id=3, Tenants={"Id": 77}),
        dict(LEASE, Id=4, Tenants=[77]),
        dict(LEASE, Id=5, MoveOutData=[{"TenantId": 77, "MoveOutDate": "soon"}]),
        dict(LEASE, Id=6, Tenants=[{"Id": "x-9"}]),
    ]
    ok, bad = transforms.for_model("leases").transform_page(page, IID)
    assert ok == []
    assert [q.reason for q in bad] == [
        "Tenants.1.Id: missing resident id",
        "Tenants.0.MoveInDate: invalid date '2024-02-30' (for move_in_date)",
        "Tenants: expected a list, got dict {'Id': 77}",
        "Tenants.0: expected an object, got int 77",
        "MoveOutData.0.MoveOutDate: invalid date 'soon' (for move_out_date)",
        "Tenants.0.Id: expected an integer, got str 'x-9'",
    ]


def test_page_quarantines_bad_phone_lists(transforms: TransformSet) -> None:
    page = [
        dict(TENANT, Id=1, PhoneNumbers="555-0100"),
        dict(TENANT, Id=2, PhoneNumbers=["555-0100"]),
        dict(TENANT, Id=3, PhoneNumbers=[{"Number": ["555"], "Type": "Cell"}]),
        dict(TENANT, Id=4, PhoneNumbers=[{"Number": "555", "Type": {"x": 1}}]),
    ]
    ok, bad = transforms.for_model("residents").transform_page(page, IID)
    assert ok == []
    assert [q.reason for q in bad] == [
        "PhoneNumbers: expected a list, got str '555-0100'",
        "PhoneNumbers.0: expected an object, got str '555-0100'",
        "PhoneNumbers.0.Number: expected text, got list ['555']",
        "PhoneNumbers.0.Type: expected an enum value (text), got dict {'x': 1}",
    ]


def test_page_survives_values_that_cannot_be_hashed(transforms: TransformSet) -> None:
    # custom_data passes JSON through; a non-JSON object must not break the page.
    record = dict(RENTAL, RentalType=object())
    ok, bad = transforms.for_model("properties").transform_page([record, RENTAL], IID)
    assert [r.x_id for r in ok] == ["101"]
    assert bad[0].x_id == "101"
    assert "cannot be serialized" in bad[0].reason


def test_integral_numbers_and_numeric_strings_are_accepted_where_sensible(
    run: Callable[..., NormalizedRecord],
) -> None:
    rec = run("units", Id="501", UnitSize=900.0, PropertyId="101", MarketRent="1850.505")
    assert rec.x_id == "501"
    assert rec.values["square_feet"] == 900
    assert rec.values["x_property_id"] == "101"
    assert rec.values["rent_amount_market_in_cents"] == 185050  # half to even
    with pytest.raises(TransformError, match="expected an integer, got bool True"):
        run("units", Id=True)


# --- the simulator's data ------------------------------------------------------------


def test_simulated_buildium_data_transforms_cleanly(transforms: TransformSet) -> None:
    sim = pytest.importorskip("syncd.sim.buildium_data")
    data = sim.BuildiumData(seed=3, scale=200)
    resources = {
        "rentals": "properties",
        "units": "units",
        "tenants": "residents",
        "leases": "leases",
        "applicants": "leads",
        "users": "employees",
    }
    for resource, model in resources.items():
        raws = [data.record(resource, i) for i in range(data.base_count(resource))]
        ok, bad = transforms.for_model(model).transform_page(raws, IID)
        assert bad == [], (model, bad[:1])
        assert len(ok) == len(raws)
    leases = [data.record("leases", i) for i in range(20)]
    ok, _ = transforms.for_model("leases").transform_page(leases, IID)
    assert any(rec.links for rec in ok)
