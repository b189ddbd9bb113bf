"""Deterministic Buildium data for the simulator, of any size, generated lazily.

Every base record is a pure function of ``(seed, scale, resource, index)``;
nothing is stored for it, so a million units cost no memory. Changes made
through :meth:`BuildiumStore.mutate` live in an overlay (updated and created
records, a set of deleted ids) on top of the generated base.

Shapes follow Buildium's OpenAPI document: ``RentalMessage``,
``RentalUnitMessage``, ``TenantMessage``, ``LeaseMessage``,
``ApplicantDetailsMessage`` and ``UserMessage``, with every documented key
present (``null`` where empty), datetimes as ``YYYY-MM-DDTHH:MM:SSZ`` and
dates as ``YYYY-MM-DD``.

Base records' internal created/last-updated times increase with the index
(within each resource), so a time filter maps to an index range found by
bisection; they all lie before 2025, so before any simulator starts.
"""

from __future__ import annotations

import heapq
import random
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import Any

Record = dict[str, Any]

#: Resource names, in the order the simulator lists them.
RESOURCES: tuple[str, ...] = ("rentals", "units", "tenants", "leases", "applicants", "users")

#: First id of each resource; the blocks are far apart so a mixed-up id is
#: never silently valid for another resource.
FIRST_ID: dict[str, int] = {
    "rentals": 10_000,
    "units": 1_000_000,
    "tenants": 20_000_000,
    "leases": 40_000_000,
    "applicants": 60_000_000,
    "users": 80_000_000,
}
_APPLICATION_FIRST_ID = 70_000_000
_APPLICANT_GROUP_FIRST_ID = 75_000_000
#: First id of the notes clients add (applicant notes); not a listed resource.
FIRST_NOTE_ID = 85_000_000

#: Largest supported scale (units): keeps every id block below the next one.
MAX_SCALE = 10_000_000

_M64 = (1 << 64) - 1
_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Base times: created in [2018-01-01, 2024-01-01), updated up to 120 days later.
_CREATED_START = 1_514_764_800
_CREATED_SPAN = 6 * 365 * _DAY
_UPDATE_OFFSET = 120 * _DAY
# "Today" of the generated snapshot: lease statuses agree with lease dates
# relative to it, so the data stays identical whatever the wall clock says.
_TODAY = date(2025, 1, 1).toordinal() - _EPOCH_ORDINAL


def _mix64(x: int) -> int:
    """A 64-bit finaliser (splitmix64): decorrelates neighbouring inputs."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def format_timestamp(ts: int) -> str:
    """Epoch seconds as Buildium writes datetimes: ``YYYY-MM-DDTHH:MM:SSZ``."""
    day, seconds = divmod(ts, _DAY)
    return f"{_format_day(day)}T{_CLOCK[seconds // 60]}:{seconds % 60:02d}Z"


_CLOCK = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60))


@lru_cache(maxsize=1 << 16)
def _format_day(day: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


_FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mason", "Sophia", "Lucas", "Isabella", "Ethan",
    "Mia", "Logan", "Amelia", "James", "Harper", "Elijah", "Evelyn", "Benjamin", "Abigail",
    "Henry", "Emily", "Jackson", "Ella", "Sebastian", "Grace", "Mateo", "Chloe", "Owen", "Nora",
    "Samuel", "Lily", "Daniel", "Zoe", "Leo", "Hannah", "Julian", "Aria", "Ezra", "Layla", "Miles",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores",
)  # fmt: skip
_STREETS = (
    "Elm", "Oak", "Maple", "Cedar", "Pine", "Birch", "Willow", "Chestnut", "Walnut", "Spruce",
    "Lake", "Hill", "Park", "River", "Sunset", "Highland", "Meadow", "Forest", "Spring",
    "Church", "Main", "Washington", "Franklin", "Jefferson", "Lincoln", "Madison", "Adams",
    "Union", "Mill", "Harbor",
)  # fmt: skip
_STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Way", "Ct", "Pl", "Ter")
_PROPERTY_SUFFIXES = (
    "Court", "Commons", "Apartments", "Place", "Residences", "Gardens", "Lofts", "Terrace",
    "Heights", "Village", "Flats", "Manor",
)  # fmt: skip
# (city, state, first three digits of the ZIP code, area code)
_CITIES = (
    ("Boston", "MA", "021", "617"), ("Cambridge", "MA", "021", "617"),
    ("Providence", "RI", "029", "401"), ("Hartford", "CT", "061", "860"),
    ("Albany", "NY", "122", "518"), ("Philadelphia", "PA", "191", "215"),
    ("Baltimore", "MD", "212", "410"), ("Richmond", "VA", "232", "804"),
    ("Raleigh", "NC", "276", "919"), ("Atlanta", "GA", "303", "404"),
    ("Nashville", "TN", "372", "615"), ("Columbus", "OH", "432", "614"),
    ("Chicago", "IL", "606", "312"), ("Minneapolis", "MN", "554", "612"),
    ("Denver", "CO", "802", "303"), ("Austin", "TX", "787", "512"),
    ("Phoenix", "AZ", "850", "602"), ("Portland", "OR", "972", "503"),
    ("Seattle", "WA", "981", "206"), ("San Diego", "CA", "921", "619"),
)  # fmt: skip
_RELATIONSHIPS = ("Spouse", "Parent", "Sibling", "Friend", "Partner", "Coworker")
_BEDROOMS = ("Studio", "OneBed", "TwoBed", "ThreeBed", "FourBed")
_BATHROOMS = ("OneBath", "OneBath", "OnePointFiveBath", "TwoBath", "TwoPointFiveBath")
_APPLICANT_STATUSES = (
    "New", "Undecided", "Approved", "Rejected", "AddedToLease", "Cancelled", "Deferred",
)  # fmt: skip
_USER_ROLES = (
    (1, "Property Manager", "Manages properties, leases and residents"),
    (2, "Leasing Agent", "Shows units and handles applicants"),
    (3, "Accountant", "Handles rent collection and owner statements"),
    (4, "Maintenance Coordinator", "Schedules and tracks work orders"),
    (5, "Administrator", "Full access to the account"),
)
_LEASE_TO_TENANT_STATUS = {"Active": "Current", "Past": "MovedOut", "Future": "Future"}
_SALTS = {name: i + 1 for i, name in enumerate(RESOURCES)}


def applicant_group_id(applicant_id: int) -> int:
    """The applicant group of applicant ``applicant_id``: every applicant has its own."""
    return _APPLICANT_GROUP_FIRST_ID + applicant_id - FIRST_ID["applicants"]


def default_credentials(seed: int) -> dict[str, str]:
    """API credentials a simulator with ``seed`` accepts when none are given."""
    a = _mix64(seed * 0x100000001B3 + 0xC1)
    b = _mix64(a ^ 0x5EC7E7)
    c = _mix64(b)
    return {"client_id": f"sim-{a:016x}", "client_secret": f"{b:016x}{c:016x}"}


class BuildiumData:
    """The generated base data set of one ``(seed, scale)``: pure functions of an index.

    ``scale`` is the number of rental units. Counts: rentals ``ceil(N/10)``
    (unit ``k`` belongs to rental ``k // 10``), units ``N``, tenants
    ``N + N // 5`` (every fifth unit has a second tenant), leases ``N`` (one
    per unit), applicants ``N // 2``, users ``max(5, N // 50)``.

    The record functions also accept indexes at or beyond the base count:
    that is how created records get their content (references then wrap
    around to existing records).
    """

    def __init__(self, *, seed: int, scale: int) -> None:
        if not 1 <= scale <= MAX_SCALE:
            raise ValueError(f"scale must be between 1 and {MAX_SCALE}")
        self.seed = seed
        self.scale = scale
        n = scale
        self._counts = {
            "rentals": -(-n // 10),
            "units": n,
            "tenants": n + n // 5,
            "leases": n,
            "applicants": n // 2,
            "users": max(5, n // 50),
        }
        base = _mix64(seed & _M64)
        self._keys = {name: _mix64(base + salt * 0x1000193) for name, salt in _SALTS.items()}
        self._time_keys = {name: _mix64(key ^ 0x7153) for name, key in self._keys.items()}
        self._builders: dict[str, Callable[[int], Record]] = {
            "rentals": self._rental,
            "units": self._unit,
            "tenants": self._tenant,
            "leases": self._lease,
            "applicants": self._applicant,
            "users": self._user,
        }
        self._places: dict[int, tuple[str, str, str, str, str, str]] = {}

    # -- counts, ids and times ------------------------------------------------

    def base_count(self, resource: str) -> int:
        """Number of generated (base) records of ``resource``."""
        return self._counts[resource]

    @staticmethod
    def id_of(resource: str, index: int) -> int:
        """The Buildium id of record ``index`` of ``resource``."""
        return FIRST_ID[resource] + index

    def record(self, resource: str, index: int) -> Record:
        """A fresh copy of record ``index`` of ``resource``."""
        return self._builders[resource](index)

    def _slot(self, resource: str, index: int) -> tuple[int, int, int]:
        """Start and length of the index's time slot, and its hash."""
        n = max(1, self._counts[resource])
        start = index * _CREATED_SPAN // n
        length = (index + 1) * _CREATED_SPAN // n - start
        return _CREATED_START + start, length, _mix64(self._time_keys[resource] + index)

    def created_at(self, resource: str, index: int) -> int:
        """Internal creation time (epoch seconds); non-decreasing in ``index``."""
        start, length, h = self._slot(resource, index)
        return start + (h % length if length > 0 else 0)

    def updated_at(self, resource: str, index: int) -> int:
        """Internal last-updated time (epoch seconds); non-decreasing in ``index``.

        Never before :meth:`created_at` of the same record.
        """
        start, length, h = self._slot(resource, index)
        if length <= 0:
            return start + _UPDATE_OFFSET
        j1 = h % length
        j2 = j1 + (h >> 32) % (length - j1)
        return start + _UPDATE_OFFSET + j2

    def index_range_for_times(
        self,
        resource: str,
        *,
        updated: tuple[int | None, int | None] = (None, None),
        created: tuple[int | None, int | None] = (None, None),
    ) -> tuple[int, int]:
        """The base index range whose times fall in the inclusive bounds given."""
        n = self._counts[resource]
        lo, hi = 0, n
        indexes = range(n)

        def updated_key(i: int) -> int:
            return self.updated_at(resource, i)

        def created_key(i: int) -> int:
            return self.created_at(resource, i)

        bounds = ((updated, updated_key), (created, created_key))
        for (start, end), key in bounds:
            if start is not None:
                lo = max(lo, bisect_left(indexes, start, key=key))
            if end is not None:
                hi = min(hi, bisect_right(indexes, end, key=key))
        return lo, max(lo, hi)

    def rental_index_of(self, resource: str, index: int) -> int | None:
        """The rental (property) index record ``index`` belongs to, if any."""
        if resource == "rentals":
            return index
        if resource in ("units", "leases"):
            return self._unit_rental(self._wrap_unit(index))
        if resource == "tenants":
            return self._unit_rental(self._tenant_unit(index)[0])
        if resource == "applicants":
            return self._unit_rental(self._applicant_unit(index))
        return None

    def index_ranges_for_rentals(
        self, resource: str, rental_indexes: Iterable[int]
    ) -> list[tuple[int, int]]:
        """Base index ranges of ``resource`` records belonging to the given rentals.

        Supported for rentals themselves and for units, leases and tenants,
        whose records are laid out contiguously per rental.
        """
        n = self.scale
        units: list[tuple[int, int]] = []
        for r in sorted(set(rental_indexes)):
            if 0 <= r < self._counts["rentals"]:
                units.append((r * 10, min(n, r * 10 + 10)))
        if resource == "rentals":
            count = self._counts["rentals"]
            return _merge_ranges((r, r + 1) for r in rental_indexes if 0 <= r < count)
        if resource in ("units", "leases"):
            return _merge_ranges(units)
        if resource == "tenants":
            return _merge_ranges([(a + a // 5, b + b // 5) for a, b in units])
        raise ValueError(f"{resource} cannot be filtered by property")

    def rental_is_active(self, index: int) -> bool:
        """Whether rental ``index`` is active (about one in twenty is not)."""
        return _mix64(self._keys["rentals"] + index) % 20 != 7

    # -- relations ------------------------------------------------------------

    def _wrap_unit(self, k: int) -> int:
        return k if k < self.scale else (k - self.scale) % self.scale

    def _unit_rental(self, k: int) -> int:
        return k // 10

    def _tenant_unit(self, t: int) -> tuple[int, int]:
        """(unit index, slot) of tenant ``t``: slot 1 is a unit's second tenant."""
        if t >= self._counts["tenants"]:
            return (t - self._counts["tenants"]) % self.scale, 0
        group, r = divmod(t, 6)
        if r == 5:
            return group * 5 + 4, 1
        return group * 5 + r, 0

    def _unit_tenants(self, k: int) -> list[int]:
        first = k + k // 5
        return [first, first + 1] if k % 5 == 4 else [first]

    def _applicant_unit(self, i: int) -> int:
        return (2 * i + 1) % self.scale

    # -- shared pieces --------------------------------------------------------

    def _rental_place(self, r: int) -> tuple[str, str, str, str, str, str]:
        """(line 1, street name, city, state, postal code, area code) of rental ``r``."""
        place = self._places.get(r)
        if place is None:
            h = _mix64(self._keys["rentals"] + r) >> 8
            h, number = divmod(h, 9_899)
            h, street = divmod(h, len(_STREETS))
            h, suffix = divmod(h, len(_STREET_SUFFIXES))
            h, city = divmod(h, len(_CITIES))
            name, state, zip3, area = _CITIES[city]
            line1 = f"{number + 1} {_STREETS[street]} {_STREET_SUFFIXES[suffix]}"
            place = (line1, _STREETS[street], name, state, f"{zip3}{h % 100:02d}", area)
            if len(self._places) >= 4096:
                # Pages walk ids in order, so recent rentals are the ones reused.
                self._places.clear()
            self._places[r] = place
        return place

    def _rental_address(self, r: int, line2: str | None = None) -> Record:
        line1, _street, city, state, postal, _area = self._rental_place(r)
        return {
            "AddressLine1": line1,
            "AddressLine2": line2,
            "AddressLine3": None,
            "City": city,
            "State": state,
            "PostalCode": postal,
            "Country": "UnitedStates",
        }

    def _area_code(self, r: int) -> str:
        return self._rental_place(r)[5]

    @staticmethod
    def _phone(area: str, h: int) -> str:
        exchange = 201 + h % 788
        line = (h // 788) % 10_000
        return f"({area}) {exchange}-{line:04d}"

    def _unit_number(self, k: int) -> str:
        if k >= self.scale:
            return f"A{k - self.scale + 1}"
        j = k % 10
        return f"{j // 4 + 1}{'ABCD'[j % 4]}"

    def _unit_layout(self, k: int) -> tuple[int, int, int, float]:
        """(bedroom index, bathroom index, size in sq ft, market rent) of unit ``k``."""
        h = _mix64(self._keys["units"] + k)
        beds = h % len(_BEDROOMS)
        baths = min(len(_BATHROOMS) - 1, beds + (h >> 8) % 2)
        size = 420 + 260 * beds + ((h >> 16) % 31) * 5
        rent = 850.0 + 425.0 * beds + 25.0 * ((h >> 24) % 21)
        return beds, baths, size, rent

    def _lease_terms(self, k: int) -> tuple[str, str, str, int, int | None]:
        """(status, lease type, term type, from day, to day) of lease ``k``."""
        h = _mix64(self._keys["leases"] + k)
        roll = h % 100
        h >>= 8
        if roll < 75:
            status = "Active"
            start = _TODAY - 365 + 1 + h % 365
        elif roll < 90:
            status = "Past"
            start = _TODAY - 4 * 365 + h % 730
        else:
            status = "Future"
            start = _TODAY + 31 + h % 150
        kind = (h >> 12) % 10
        if status == "Active" and kind == 0:
            return status, "AtWill", "MonthToMonth", start, None
        lease_type = "FixedWithRollover" if kind in (1, 2) else "Fixed"
        return status, lease_type, "Standard", start, start + 364

    def _person(self, resource: str, index: int) -> tuple[str, str, int]:
        """(first name, last name, spare hash bits) of a person record."""
        h = _mix64(self._keys[resource] + index)
        first = _FIRST_NAMES[h % len(_FIRST_NAMES)]
        last = _LAST_NAMES[(h >> 8) % len(_LAST_NAMES)]
        return first, last, h >> 16

    def _tenant_name(self, t: int) -> tuple[str, str, int]:
        first, last, h = self._person("tenants", t)
        if t < self._counts["tenants"] and t % 6 == 5:
            # A unit's second tenant shares the household's last name.
            last = self._person("tenants", t - 1)[1]
        return first, last, h

    @staticmethod
    def _email(first: str, last: str, tag: str) -> str:
        return f"{first}.{last}.{tag}@example.com".lower()

    def _user_contact(self, u: int) -> tuple[str, str, str, list[Record]]:
        first, last, h = self._person("users", u)
        email = self._email(first, last, f"u{u}")
        phones = [{"Number": self._phone("617", h), "Type": "Office"}]
        return first, last, email, phones

    # -- records --------------------------------------------------------------

    def _rental(self, r: int) -> Record:
        h = _mix64(self._keys["rentals"] + r)
        street = self._rental_place(r)[1]
        suffix = _PROPERTY_SUFFIXES[(h >> 40) % len(_PROPERTY_SUFFIXES)]
        n = self.scale
        units = max(0, min(n, r * 10 + 10) - r * 10) if r < self._counts["rentals"] else 0
        sub = (h >> 48) % 10
        subtype = "SingleFamily" if units == 1 else ("CondoTownhome" if sub < 2 else "MultiFamily")
        manager = r % self._counts["users"]
        first, last, email, phones = self._user_contact(manager)
        return {
            "Id": FIRST_ID["rentals"] + r,
            "Name": f"{street} {suffix}",
            "StructureDescription": None,
            "NumberUnits": units,
            "IsActive": self.rental_is_active(r),
            "OperatingBankAccountId": 1 + r % 3,
            "Reserve": 250.0 * ((h >> 52) % 9),
            "Address": self._rental_address(r),
            "YearBuilt": 1925 + (h >> 56) % 99,
            "RentalType": "Residential",
            "RentalSubType": subtype,
            "RentalManager": {
                "Id": FIRST_ID["users"] + manager,
                "FirstName": first,
                "LastName": last,
                "CompanyName": None,
                "IsCompany": False,
                "ProfilePhotoUrl": None,
                "Email": email,
                "PhoneNumbers": phones,
            },
        }

    def _unit_address(self, k: int) -> Record:
        rental = self._unit_rental(self._wrap_unit(k))
        return self._rental_address(rental, f"Unit {self._unit_number(k)}")

    def _unit(self, k: int) -> Record:
        w = self._wrap_unit(k)
        beds, baths, size, rent = self._unit_layout(k)
        occupied = self._lease_terms(w)[0] == "Active"
        floor = self._unit_number(k)[0] if k < self.scale else "1"
        return {
            "Id": FIRST_ID["units"] + k,
            "PropertyId": FIRST_ID["rentals"] + self._unit_rental(w),
            "BuildingName": None,
            "UnitNumber": self._unit_number(k),
            "Description": f"{_BEDROOMS[beds]} on floor {floor}",
            "MarketRent": rent,
            "Address": self._unit_address(k),
            "UnitBedrooms": _BEDROOMS[beds],
            "UnitBathrooms": _BATHROOMS[baths],
            "UnitSize": size,
            "IsUnitListed": not occupied,
            "IsUnitOccupied": occupied,
        }

    def _tenant(self, t: int) -> Record:
        k, _slot = self._tenant_unit(t)
        first, last, h = self._tenant_name(t)
        area = self._area_code(self._unit_rental(k))
        h, p1 = divmod(h, 7_880_000)
        phones = [{"Number": self._phone(area, p1), "Type": "Cell"}]
        if h % 3 == 0:
            phones.append({"Number": self._phone(area, h // 3), "Type": "Home"})
        h2 = _mix64(self._keys["tenants"] ^ (t * 0x2545F4914F6CDD1D))
        h2, dob = divmod(h2, 53 * 365)
        h2, relation = divmod(h2, len(_RELATIONSHIPS) * 2)
        h2, sms = divmod(h2, 4)
        contact = None
        if relation < len(_RELATIONSHIPS):
            c_first = _FIRST_NAMES[h2 % len(_FIRST_NAMES)]
            contact = {
                "Name": f"{c_first} {last}",
                "RelationshipDescription": _RELATIONSHIPS[relation],
                "Phone": self._phone(area, h2 >> 8),
                "Email": self._email(c_first, last, f"ec{t}"),
            }
        status, _type, _term, start, end = self._lease_terms(k)
        return {
            "Id": FIRST_ID["tenants"] + t,
            "FirstName": first,
            "LastName": last,
            "Email": self._email(first, last, f"t{t}"),
            "AlternateEmail": None,
            "PhoneNumbers": phones,
            "CreatedDateTime": format_timestamp(self.created_at("tenants", t)),
            "EmergencyContact": contact,
            "DateOfBirth": _format_day(-7_305 + dob),  # born 1950..2002
            "SMSOptInStatus": "OptedIn" if sms == 0 else "NotSet",
            "Address": self._unit_address(k),
            "AlternateAddress": None,
            "MailingPreference": "PrimaryAddress",
            "Leases": [
                {
                    "Id": FIRST_ID["leases"] + k,
                    "PropertyId": FIRST_ID["rentals"] + self._unit_rental(k),
                    "UnitId": FIRST_ID["units"] + k,
                    "UnitNumber": self._unit_number(k),
                    "LeaseFromDate": _format_day(start),
                    "LeaseToDate": None if end is None else _format_day(end),
                    "LeaseStatus": status,
                }
            ],
            "Comment": None,
            "TaxId": None,
        }

    def _lease(self, k: int) -> Record:
        u = self._wrap_unit(k)
        status, lease_type, term, start, end = self._lease_terms(k)
        tenants = self._unit_tenants(u)
        tenant_status = _LEASE_TO_TENANT_STATUS[status]
        rent = self._unit_layout(u)[3]
        current: list[Record] = []
        if status == "Active":
            for t in tenants:
                first, last, _h = self._tenant_name(t)
                current.append(
                    {"Id": FIRST_ID["tenants"] + t, "FirstName": first, "LastName": last}
                )
        move_out: list[Record] | None = None
        if status == "Past" and end is not None:
            move_out = [
                {
                    "TenantId": FIRST_ID["tenants"] + t,
                    "MoveOutDate": _format_day(end),
                    "NoticeGivenDate": _format_day(end - 30),
                }
                for t in tenants
            ]
        return {
            "Id": FIRST_ID["leases"] + k,
            "PropertyId": FIRST_ID["rentals"] + self._unit_rental(u),
            "UnitId": FIRST_ID["units"] + u,
            "UnitNumber": self._unit_number(u),
            "LeaseFromDate": _format_day(start),
            "LeaseToDate": None if end is None else _format_day(end),
            "LeaseType": lease_type,
            "LeaseStatus": status,
            "IsEvictionPending": False,
            "TermType": term,
            "RenewalOfferStatus": "NotSet",
            "CurrentTenants": current,
            "CurrentNumberOfOccupants": len(current),
            "AccountDetails": {"SecurityDeposit": rent, "Rent": rent},
            "Cosigners": [],
            "AutomaticallyMoveOutTenants": False,
            "CreatedDateTime": format_timestamp(self.created_at("leases", k)),
            "LastUpdatedDateTime": format_timestamp(self.updated_at("leases", k)),
            "MoveOutData": move_out or [],
            "PaymentDueDay": 1,
            "Tenants": [
                {
                    "Id": FIRST_ID["tenants"] + t,
                    "Status": tenant_status,
                    "MoveInDate": _format_day(start),
                }
                for t in tenants
            ],
        }

    def _applicant(self, i: int) -> Record:
        k = self._applicant_unit(i)
        first, last, h = self._person("applicants", i)
        status = _APPLICANT_STATUSES[h % len(_APPLICANT_STATUSES)]
        area = self._area_code(self._unit_rental(k))
        phones = [{"Number": self._phone(area, h >> 4), "Type": "Cell"}]
        submitted = self.created_at("applicants", i)
        return {
            "Id": FIRST_ID["applicants"] + i,
            "ApplicantGroupId": _APPLICANT_GROUP_FIRST_ID + i,
            "PropertyId": FIRST_ID["rentals"] + self._unit_rental(k),
            "UnitId": FIRST_ID["units"] + k,
            "TenantId": None,
            "FirstName": first,
            "LastName": last,
            "Email": self._email(first, last, f"a{i}"),
            "PhoneNumbers": phones,
            "Status": status,
            "Applications": [
                {
                    "Id": _APPLICATION_FIRST_ID + i,
                    "ApplicationNumber": f"APP-{i + 1:07d}",
                    "ApplicationStatus": status,
                    "ApplicationSubmittedDateTime": format_timestamp(submitted),
                }
            ],
            "UnsubmittedApplications": [],
            "LastUpdatedDateTime": format_timestamp(self.updated_at("applicants", i)),
        }

    def _user(self, u: int) -> Record:
        first, last, email, phones = self._user_contact(u)
        role_id, role_name, role_description = _USER_ROLES[u % len(_USER_ROLES)]
        n = self._counts["users"]
        active = u % 11 != 10
        return {
            "Id": FIRST_ID["users"] + u,
            "UserTypes": ["Staff"],
            "IsActive": active,
            "LastLogin": format_timestamp(self.updated_at("users", u)) if active else None,
            "FirstName": first,
            "LastName": last,
            "CompanyName": None,
            "Email": email,
            "AlternateEmail": None,
            "PhoneNumbers": phones,
            "UserRole": {
                "Id": role_id,
                "Name": role_name,
                "Description": role_description,
                "NumberOfUsers": (n - role_id + len(_USER_ROLES)) // len(_USER_ROLES),
            },
            "IsCompany": False,
        }

    # -- mutations ------------------------------------------------------------

    def new_record(self, resource: str, index: int, now: int) -> Record:
        """Content of a record created at ``now`` with index ``index`` (beyond the base)."""
        record = self.record(resource, index)
        stamp = format_timestamp(now)
        if resource in ("leases", "tenants"):
            record["CreatedDateTime"] = stamp
        if resource in ("leases", "applicants"):
            record["LastUpdatedDateTime"] = stamp
        if resource == "applicants":
            record["Applications"][0]["ApplicationSubmittedDateTime"] = stamp
        return record

    @staticmethod
    def apply_update(resource: str, record: Record, revision: int, now: int) -> Record:
        """``record`` after its ``revision``-th update at ``now`` (visible change)."""
        record = dict(record)
        stamp = format_timestamp(now)
        if resource == "rentals":
            record["Reserve"] = float(record["Reserve"]) + 250.0
            record["StructureDescription"] = f"Renovated (revision {revision})"
        elif resource == "units":
            record["MarketRent"] = float(record["MarketRent"]) + 25.0
        elif resource == "tenants":
            name = f"{record['FirstName']}.{record['LastName']}".lower()
            record["Email"] = f"{name}.r{revision}.{record['Id']}@example.com"
        elif resource == "leases":
            details = dict(record["AccountDetails"])
            details["Rent"] = float(details["Rent"]) + 25.0
            record["AccountDetails"] = details
            record["LastUpdatedDateTime"] = stamp
        elif resource == "applicants":
            current = _APPLICANT_STATUSES.index(record["Status"])
            status = _APPLICANT_STATUSES[(current + 1) % len(_APPLICANT_STATUSES)]
            record["Status"] = status
            record["Applications"] = [
                {**app, "ApplicationStatus": status} for app in record["Applications"]
            ]
            record["LastUpdatedDateTime"] = stamp
        elif resource == "users":
            record["LastLogin"] = stamp
            record["PhoneNumbers"] = [
                *record["PhoneNumbers"],
                {"Number": f"(617) 555-{100 + revision % 100:04d}", "Type": "Cell"},
            ][-2:]
        else:
            raise ValueError(f"unknown resource {resource!r}")
        return record


def _merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _intersect(ranges: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    return [(max(a, lo), min(b, hi)) for a, b in ranges if min(b, hi) > max(a, lo)]


# -- selections ------------------------------------------------------------------


class Selection(ABC):
    """The ids a query selects, in the order it returns them."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def page(self, offset: int, limit: int) -> list[int]:
        """Ids at positions ``[offset, offset + limit)``."""


class ListSelection(Selection):
    """A materialised selection: an explicit list of ids in order."""

    def __init__(self, ids: Sequence[int]) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    def page(self, offset: int, limit: int) -> list[int]:
        """Ids at positions ``[offset, offset + limit)``."""
        return list(self._ids[offset : offset + limit])


class RangeSelection(Selection):
    """Ids in order: sorted id ranges, minus excluded ids, plus extra ids.

    ``excluded`` (sorted) holds ids inside the ranges to skip; ``extra``
    (sorted) holds ids outside the ranges (or excluded from them) to add.
    Positions map to ids by bisection, so a page deep into a million ids
    costs the same as the first one.
    """

    def __init__(
        self,
        ranges: list[tuple[int, int]],
        excluded: list[int],
        extra: list[int],
        *,
        descending: bool = False,
    ) -> None:
        self._ranges = ranges
        self._starts = [a for a, _b in ranges]
        self._cum: list[int] = []
        total = 0
        for a, b in ranges:
            self._cum.append(total)
            total += b - a
        self._excluded = excluded
        self._extra = extra
        self._len = total - len(excluded) + len(extra)
        self.descending = descending

    def with_order(self, *, descending: bool) -> RangeSelection:
        """The same ids in the other (or same) direction, sharing the tables."""
        if descending == self.descending:
            return self
        clone = RangeSelection.__new__(RangeSelection)
        clone.__dict__.update(self.__dict__)
        clone.descending = descending
        return clone

    def __len__(self) -> int:
        return self._len

    def _rank(self, v: int) -> int:
        """Number of selected ids below ``v``."""
        count = 0
        i = bisect_right(self._starts, v) - 1
        if i >= 0:
            a, b = self._ranges[i]
            count = self._cum[i] + min(v - a, b - a)
        return count - bisect_left(self._excluded, v) + bisect_left(self._extra, v)

    def _select(self, position: int) -> int:
        """The id at ascending ``position`` (0-based, < len)."""
        candidates = []
        if self._ranges:
            candidates.append((self._ranges[0][0], self._ranges[-1][1] - 1))
        if self._extra:
            candidates.append((self._extra[0], self._extra[-1]))
        lo = min(c[0] for c in candidates)
        hi = max(c[1] for c in candidates)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._rank(mid + 1) > position:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _ranges_up(self, v: int) -> Iterator[int]:
        excluded = self._excluded
        e = bisect_left(excluded, v)
        n_excluded = len(excluded)
        for i in range(max(0, bisect_right(self._starts, v) - 1), len(self._ranges)):
            a, b = self._ranges[i]
            x = max(a, v)
            while x < b:
                if e < n_excluded and excluded[e] == x:
                    e += 1
                else:
                    yield x
                x += 1

    def _ranges_down(self, v: int) -> Iterator[int]:
        excluded = self._excluded
        e = bisect_right(excluded, v) - 1
        for i in range(bisect_right(self._starts, v) - 1, -1, -1):
            a, b = self._ranges[i]
            x = min(b - 1, v)
            while x >= a:
                if e >= 0 and excluded[e] == x:
                    e -= 1
                else:
                    yield x
                x -= 1

    def page(self, offset: int, limit: int) -> list[int]:
        """Ids at positions ``[offset, offset + limit)`` in this selection's order."""
        if offset >= self._len or limit <= 0:
            return []
        extra = self._extra
        if self.descending:
            start = self._select(self._len - 1 - offset)
            tail = reversed(extra[: bisect_right(extra, start)])
            merged = heapq.merge(self._ranges_down(start), tail, reverse=True)
        else:
            start = self._select(offset)
            merged = heapq.merge(
                self._ranges_up(start), islice(extra, bisect_left(extra, start), None)
            )
        return list(islice(merged, limit))


# -- the store -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Filters of one list request (times are inclusive epoch-second bounds)."""

    updated_from: int | None = None
    updated_to: int | None = None
    created_from: int | None = None
    created_to: int | None = None
    property_ids: tuple[int, ...] | None = None
    active: bool | None = None


#: One ``orderby`` term: a path of keys into the record and whether descending.
OrderTerm = tuple[tuple[str, ...], bool]


@dataclass(slots=True)
class _Changed:
    """A record that differs from (or is missing in) the generated base."""

    data: Record
    updated: int
    created: int
    rental_index: int | None
    revision: int = 0


@dataclass(slots=True)
class _Table:
    resource: str
    first_id: int
    base_count: int
    next_index: int
    changed: dict[int, _Changed] = field(default_factory=dict)
    changed_base_ids: list[int] = field(default_factory=list)  # sorted
    created_ids: list[int] = field(default_factory=list)  # sorted, live only
    deleted: set[int] = field(default_factory=set)
    deleted_sorted: list[int] = field(default_factory=list)
    version: int = 0
    mutations: int = 0

    def is_base(self, record_id: int) -> bool:
        return self.first_id <= record_id < self.first_id + self.base_count


class BuildiumStore:
    """The simulator's data: generated base records plus an overlay of changes.

    Answers list queries (filters, order, paging) and single-record lookups,
    and applies mutations. Not thread-safe; the simulator uses it from one
    event loop.
    """

    def __init__(self, *, seed: int, scale: int, cache_size: int = 64) -> None:
        self.data = BuildiumData(seed=seed, scale=scale)
        self._tables = {
            name: _Table(
                resource=name,
                first_id=FIRST_ID[name],
                base_count=self.data.base_count(name),
                next_index=self.data.base_count(name),
            )
            for name in RESOURCES
        }
        self._selections: OrderedDict[tuple[Any, ...], Selection] = OrderedDict()
        self._cache_size = cache_size
        self._fields: dict[str, dict[str, tuple[str, ...]]] = {}

    # -- reads ----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Current number of live records per resource."""
        return {
            name: t.base_count - len(t.deleted_sorted) + len(t.created_ids)
            for name, t in self._tables.items()
        }

    def get(self, resource: str, record_id: int) -> Record | None:
        """The live record ``record_id`` of ``resource``, or None.

        The returned object may be shared with the overlay: callers copy
        before changing it.
        """
        table = self._tables[resource]
        changed = table.changed.get(record_id)
        if changed is not None:
            return changed.data
        if table.is_base(record_id) and record_id not in table.deleted:
            return self.data.record(resource, record_id - table.first_id)
        return None

    def get_many(self, resource: str, ids: Iterable[int]) -> list[Record]:
        """Records of live ``ids`` (ids come from a selection, so all exist)."""
        table = self._tables[resource]
        changed = table.changed
        build = self.data.record
        first = table.first_id
        out: list[Record] = []
        for record_id in ids:
            c = changed.get(record_id)
            out.append(c.data if c is not None else build(resource, record_id - first))
        return out

    def sort_fields(self, resource: str) -> dict[str, tuple[str, ...]]:
        """Sortable property names (lower-cased) of ``resource`` and their key paths.

        Top-level scalar properties, plus scalar properties of nested objects
        both as ``Parent.Child`` and, when unambiguous, bare ``Child``.
        """
        fields = self._fields.get(resource)
        if fields is not None:
            return fields
        top: dict[str, tuple[str, ...]] = {}
        nested: dict[str, list[tuple[str, ...]]] = {}
        for i in range(20):
            for key, value in self.data.record(resource, i).items():
                if isinstance(value, list):
                    continue
                if isinstance(value, dict):
                    for sub, sub_value in value.items():
                        if not isinstance(sub_value, dict | list):
                            path = (key, sub)
                            top[f"{key}.{sub}".lower()] = path
                            paths = nested.setdefault(sub.lower(), [])
                            if path not in paths:
                                paths.append(path)
                else:
                    top[key.lower()] = (key,)
        for name, paths in nested.items():
            if name not in top and len(paths) == 1:
                top[name] = paths[0]
        self._fields[resource] = top
        return top

    def select(self, resource: str, query: ListQuery, order: Sequence[OrderTerm] = ()) -> Selection:
        """The ids ``query`` selects, in ``order`` (Id ascending by default)."""
        table = self._tables[resource]
        terms = tuple(order)
        if terms and terms[0][0] == ("Id",):
            # Ids are unique: later terms cannot change the order.
            return self._base_selection(table, query).with_order(descending=terms[0][1])
        if not terms:
            return self._base_selection(table, query)
        key = (resource, table.version, query, terms)
        cached = self._cache_get(key)
        if cached is not None:
            return cached
        base = self._base_selection(table, query)
        ids = base.page(0, len(base))
        records = self.get_many(resource, ids)
        order_ids = list(range(len(ids)))
        for path, descending in reversed(terms):
            keys = [_sort_key(r, path) for r in records]
            order_ids.sort(key=keys.__getitem__, reverse=descending)
        selection = ListSelection([ids[i] for i in order_ids])
        self._cache_put(key, selection)
        return selection

    def _base_selection(self, table: _Table, query: ListQuery) -> RangeSelection:
        key = (table.resource, table.version, query)
        cached = self._cache_get(key)
        if isinstance(cached, RangeSelection):
            return cached.with_order(descending=False)
        data = self.data
        lo, hi = data.index_range_for_times(
            table.resource,
            updated=(query.updated_from, query.updated_to),
            created=(query.created_from, query.created_to),
        )
        ranges = [(lo, hi)] if hi > lo else []
        rental_indexes: set[int] | None = None
        if query.property_ids is not None:
            rental_indexes = {pid - FIRST_ID["rentals"] for pid in query.property_ids}
            ranges = [
                r
                for a, b in data.index_ranges_for_rentals(table.resource, rental_indexes)
                for r in _intersect(ranges, a, b)
            ]
        first = table.first_id
        id_ranges = [(first + a, first + b) for a, b in ranges]
        excluded = _within(sorted({*table.deleted_sorted, *table.changed_base_ids}), id_ranges)
        extra = [
            record_id
            for record_id in sorted(table.changed)
            if _matches(table.changed[record_id], query, rental_indexes)
        ]
        if query.active is not None:
            # No index structure for this one: materialise the matching base ids.
            wanted = query.active
            skip = set(excluded)
            base_ids = [
                first + i
                for a, b in ranges
                for i in range(a, b)
                if data.rental_is_active(i) is wanted and first + i not in skip
            ]
            selection = RangeSelection([], [], sorted({*base_ids, *extra}))
        else:
            selection = RangeSelection(id_ranges, excluded, extra)
        self._cache_put(key, selection)
        return selection

    def _cache_get(self, key: tuple[Any, ...]) -> Selection | None:
        hit = self._selections.get(key)
        if hit is not None:
            self._selections.move_to_end(key)
        return hit

    def _cache_put(self, key: tuple[Any, ...], selection: Selection) -> None:
        self._selections[key] = selection
        while len(self._selections) > self._cache_size:
            self._selections.popitem(last=False)

    # -- writes ---------------------------------------------------------------

    def mutate(
        self, resource: str, *, create: int = 0, update: int = 0, delete: int = 0, now: int
    ) -> dict[str, list[int]]:
        """Create, update and delete records; returns the ids affected.

        Updated and deleted records are distinct live records picked
        deterministically (from the seed and the number of earlier
        mutations); created records get ids above every existing one.
        Updates change a visible field and set the last-updated time to ``now``.
        """
        if resource not in self._tables:
            raise ValueError(f"unknown model {resource!r}; expected one of {', '.join(RESOURCES)}")
        if min(create, update, delete) < 0:
            raise ValueError("create, update and delete must be >= 0")
        table = self._tables[resource]
        table.mutations += 1
        everything = self._base_selection(table, ListQuery())
        total = len(everything)
        rng = random.Random(
            _mix64(self.data.seed * 1_000_003 + _SALTS[resource] * 7919 + table.mutations)
        )
        picks = rng.sample(range(total), min(total, update + delete))
        picked_ids = [everything.page(p, 1)[0] for p in picks]
        to_update = sorted(picked_ids[:update])
        to_delete = sorted(picked_ids[update:])
        for record_id in to_update:
            self._update(table, record_id, now)
        for record_id in to_delete:
            self._delete(table, record_id)
        created: list[int] = []
        for _ in range(create):
            index = table.next_index
            table.next_index += 1
            record_id = table.first_id + index
            table.changed[record_id] = _Changed(
                data=self.data.new_record(resource, index, now),
                updated=now,
                created=now,
                rental_index=self.data.rental_index_of(resource, index),
            )
            table.created_ids.append(record_id)
            created.append(record_id)
        table.version += 1
        return {"created": created, "updated": to_update, "deleted": to_delete}

    def add(
        self,
        resource: str,
        build: Callable[[int], Record],
        *,
        now: int,
        rental_index: int | None,
    ) -> Record:
        """Create one record (a client's write): ``build(id)`` gives its content.

        The id is above every existing one; ``rental_index`` is the rental
        it belongs to (for the property filter), if any.
        """
        table = self._tables[resource]
        index = table.next_index
        table.next_index += 1
        record_id = table.first_id + index
        record = build(record_id)
        table.changed[record_id] = _Changed(
            data=record, updated=now, created=now, rental_index=rental_index
        )
        table.created_ids.append(record_id)
        table.version += 1
        return record

    def replace(
        self, resource: str, record_id: int, data: Record, *, now: int, rental_index: int | None
    ) -> Record:
        """Set the content of live record ``record_id`` (a client's write); KeyError if none."""
        table = self._tables[resource]
        changed = table.changed.get(record_id)
        if changed is None:
            if not table.is_base(record_id) or record_id in table.deleted:
                raise KeyError(f"no {resource} record {record_id}")
            changed = _Changed(
                data=data,
                updated=now,
                created=self.data.created_at(resource, record_id - table.first_id),
                rental_index=rental_index,
            )
            table.changed[record_id] = changed
            insort(table.changed_base_ids, record_id)
        changed.revision += 1
        changed.updated = now
        changed.data = data
        changed.rental_index = rental_index
        table.version += 1
        return data

    def _update(self, table: _Table, record_id: int, now: int) -> None:
        changed = table.changed.get(record_id)
        if changed is None:
            index = record_id - table.first_id
            changed = _Changed(
                data=self.data.record(table.resource, index),
                updated=now,
                created=self.data.created_at(table.resource, index),
                rental_index=self.data.rental_index_of(table.resource, index),
            )
            table.changed[record_id] = changed
            insort(table.changed_base_ids, record_id)
        changed.revision += 1
        changed.updated = now
        changed.data = self.data.apply_update(table.resource, changed.data, changed.revision, now)

    def _delete(self, table: _Table, record_id: int) -> None:
        table.changed.pop(record_id, None)
        if table.is_base(record_id):
            i = bisect_left(table.changed_base_ids, record_id)
            if i < len(table.changed_base_ids) and table.changed_base_ids[i] == record_id:
                del table.changed_base_ids[i]
            table.deleted.add(record_id)
            insort(table.deleted_sorted, record_id)
        else:
            table.created_ids.remove(record_id)


def _within(ids: list[int], ranges: list[tuple[int, int]]) -> list[int]:
    """The sorted ``ids`` lying inside any of the sorted ``ranges``."""
    out: list[int] = []
    for a, b in ranges:
        out.extend(ids[bisect_left(ids, a) : bisect_left(ids, b)])
    return out


def _matches(changed: _Changed, query: ListQuery, rental_indexes: set[int] | None) -> bool:
    if query.updated_from is not None and changed.updated < query.updated_from:
        return False
    if query.updated_to is not None and changed.updated > query.updated_to:
        return False
    if query.created_from is not None and changed.created < query.created_from:
        return False
    if query.created_to is not None and changed.created > query.created_to:
        return False
    if rental_indexes is not None and changed.rental_index not in rental_indexes:
        return False
    return query.active is None or changed.data.get("IsActive") is query.active


def _sort_key(record: Record, path: tuple[str, ...]) -> tuple[int, Any]:
    value: Any = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, value.casefold())
    return (1, value)
