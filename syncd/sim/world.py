"""One seeded, vendor-neutral PMS world for the simulators to render.

A world is what a property manager's account holds, whatever PMS it lives
in: properties, floor plans, units, residents, leases, lead sources, leads
and employees, linked to each other. A renderer (one per PMS, see
:mod:`syncd.sim.server`) turns these entities into its vendor's wire
format; the world knows no vendor.

Entities are plain dicts with vendor-neutral snake_case keys (documented
per model in :data:`ENTITY_KEYS`): ids are positive integers, unique per
model; references are the referenced entity's id (or None); money is in
cents; dates are ISO ``YYYY-MM-DD`` strings; ``created``/``updated`` are
epoch seconds (UTC). Base entities are a pure function of
``(seed, scale, model, id)``, generated on demand; changes made by
:meth:`World.mutate` live in an overlay (revisions, created ids, deleted
ids), so a world of any size costs little memory until it is listed.

:meth:`World.truth` tells which entities exist and which were deleted, so a
test can compare a cache with what the PMS really holds.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

Entity = dict[str, Any]

#: Models of a world, in dependency order (references point backwards).
WORLD_MODELS: Final = (
    "properties",
    "floor_plans",
    "units",
    "residents",
    "leases",
    "lead_sources",
    "leads",
    "employees",
)

#: The keys each model's entities carry (every key present; None where empty).
ENTITY_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "properties": (
        "id", "name", "code", "address_1", "city", "state", "zip", "country", "type",
        "is_active", "year_built", "unit_count", "phone", "email", "website",
        "manager_id", "created", "updated",
    ),
    "floor_plans": (
        "id", "property_id", "name", "code", "bedrooms", "bathrooms", "square_feet",
        "rent_min_cents", "rent_max_cents", "unit_count", "created", "updated",
    ),
    "units": (
        "id", "property_id", "floor_plan_id", "number", "building", "floor", "bedrooms",
        "bathrooms", "square_feet", "market_rent_cents", "is_vacant", "is_listed",
        "address_1", "address_2", "city", "state", "zip", "country", "created", "updated",
    ),
    "residents": (
        "id", "property_id", "unit_id", "first_name", "middle_name", "last_name",
        "email", "phones", "date_of_birth", "balance_cents", "status", "created", "updated",
    ),
    "leases": (
        "id", "property_id", "unit_id", "resident_ids", "primary_resident_id", "start_date",
        "end_date", "move_in_date", "move_out_date", "rent_cents", "market_rent_cents",
        "deposit_cents", "balance_cents", "status", "rent_due_day", "created", "updated",
    ),
    "lead_sources": ("id", "property_id", "name", "created", "updated"),
    "leads": (
        "id", "property_id", "unit_id", "floor_plan_id", "lead_source_id", "employee_id",
        "first_name", "last_name", "email", "phones", "address_1", "address_2", "city",
        "state", "zip", "status", "target_move_in_date", "desired_bedrooms",
        "desired_bathrooms", "desired_max_rent_cents", "desired_lease_term_months",
        "notes", "first_contact", "created", "updated",
    ),
    "employees": (
        "id", "first_name", "last_name", "email", "phone", "title", "is_active",
        "created", "updated",
    ),
}  # fmt: skip

#: Lease statuses of the world (renderers map them to their vendor's words).
LEASE_STATUSES: Final = ("CURRENT", "PAST", "FUTURE")
#: Lead statuses of the world.
LEAD_STATUSES: Final = ("NEW", "CONTACTED", "TOURED", "APPLIED", "LOST", "CONVERTED")
#: Property types of the world.
PROPERTY_TYPES: Final = ("MULTI_FAMILY", "SINGLE_FAMILY", "STUDENT", "SENIOR", "CONDO")
#: Phone types of the world.
PHONE_TYPES: Final = ("MOBILE", "HOME", "WORK")

#: What a PMS sets itself on an entity a client creates.
_WRITE_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "leads": {"status": "NEW"},
    "residents": {"status": "CURRENT"},
}

_M64 = (1 << 64) - 1
_MODEL_SALT: Final = {m: i + 1 for i, m in enumerate(WORLD_MODELS)}
_DAY = 86_400
# Base times: created in [2018-01-01, 2024-01-01), updated up to 120 days later.
_CREATED_START = 1_514_764_800
_CREATED_SPAN = 6 * 365 * _DAY
_UPDATE_SPAN = 120 * _DAY
# "Today" of the generated snapshot, so lease statuses agree with their dates
# whatever the wall clock says.
_TODAY = date(2025, 1, 1)
_UNITS_PER_PROPERTY = 20
_FLOOR_PLANS_PER_PROPERTY = 3
_LEAD_SOURCES_PER_PROPERTY = 4

_FIRST = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mason", "Sophia", "Lucas", "Isabella", "Ethan",
    "Mia", "Logan", "Amelia", "James", "Harper", "Elijah", "Evelyn", "Benjamin", "Abigail",
    "Henry", "Emily", "Jackson", "Ella", "Sebastian", "Grace", "Mateo", "Chloe", "Owen",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
)  # fmt: skip
_STREETS = (
    "Elm", "Oak", "Maple", "Cedar", "Pine", "Birch", "Willow", "Chestnut", "Walnut", "Lake",
    "Hill", "Park", "River", "Sunset", "Highland", "Meadow", "Main", "Union", "Mill", "Harbor",
)  # fmt: skip
_SUFFIXES = ("Court", "Commons", "Place", "Residences", "Gardens", "Lofts", "Terrace", "Flats")
_CITIES = (
    ("Boston", "MA", "021", "617"), ("Providence", "RI", "029", "401"),
    ("Albany", "NY", "122", "518"), ("Baltimore", "MD", "212", "410"),
    ("Raleigh", "NC", "276", "919"), ("Atlanta", "GA", "303", "404"),
    ("Nashville", "TN", "372", "615"), ("Columbus", "OH", "432", "614"),
    ("Chicago", "IL", "606", "312"), ("Denver", "CO", "802", "303"),
    ("Austin", "TX", "787", "512"), ("Phoenix", "AZ", "850", "602"),
    ("Portland", "OR", "972", "503"), ("Seattle", "WA", "981", "206"),
)  # fmt: skip
_SOURCES = ("Website", "Zillow", "Apartments.com", "Walk-in", "Referral", "Craigslist")
_TITLES = ("Property Manager", "Leasing Agent", "Maintenance Supervisor", "Accountant")
_FLOOR_PLANS = (("Studio", 0, 1.0, 480), ("One Bedroom", 1, 1.0, 690), ("Two Bedroom", 2, 2.0, 980))


def mix64(x: int) -> int:
    """A 64-bit finaliser (splitmix64): decorrelates neighbouring inputs."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _day(moment: date) -> str:
    return moment.isoformat()


@dataclass(frozen=True, slots=True)
class WorldCounts:
    """How many base entities a world of ``scale`` units holds per model."""

    properties: int
    floor_plans: int
    units: int
    residents: int
    leases: int
    lead_sources: int
    leads: int
    employees: int

    @classmethod
    def for_scale(cls, scale: int) -> WorldCounts:
        """Counts that follow from ``scale`` units (about 3.3 records per unit in all)."""
        units = max(0, scale)
        properties = math.ceil(units / _UNITS_PER_PROPERTY) if units else 0
        return cls(
            properties=properties,
            floor_plans=properties * _FLOOR_PLANS_PER_PROPERTY,
            units=units,
            # One resident per unit, a second on every fourth unit.
            residents=units + units // 4,
            leases=units,
            lead_sources=properties * _LEAD_SOURCES_PER_PROPERTY,
            leads=units // 2,
            employees=max(3, properties // 2 + 2) if units else 0,
        )

    def of(self, model: str) -> int:
        """The base count of ``model``."""
        return int(getattr(self, model))


@dataclass(slots=True)
class _Overlay:
    """Changes made to one model since the world was generated."""

    revisions: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (rev, time)
    created: dict[int, int] = field(default_factory=dict)  # id -> creation time
    deleted: set[int] = field(default_factory=set)
    next_id: int = 0
    # Field values written by a client (a PMS's create or update endpoint):
    # id -> (values, time written); they win over generated ones.
    written: dict[int, tuple[dict[str, Any], int]] = field(default_factory=dict)


class World:
    """A seeded world of ``scale`` units; deterministic until mutated.

    ``get`` returns one entity (None if it does not exist); ``select``
    lists live entities in id order, optionally of one property and within
    an updated/created time range. Listings are cached per model until the
    next mutation of that model.
    """

    def __init__(self, *, seed: int = 0, scale: int = 100) -> None:
        if scale < 0:
            raise ValueError("scale must be >= 0")
        self.seed = seed
        self.scale = scale
        self.base = WorldCounts.for_scale(scale)
        self._overlays = {m: _Overlay(next_id=self.base.of(m) + 1) for m in WORLD_MODELS}
        self._versions = dict.fromkeys(WORLD_MODELS, 0)
        self._lists: OrderedDict[tuple[str, int, int], list[Entity]] = OrderedDict()
        # Per-property listings (a per-property PMS asks for each property in turn).
        self._by_property: OrderedDict[tuple[str, int, int], dict[int, list[Entity]]] = (
            OrderedDict()
        )
        # Entities by id, once a model was listed (renderers look up related ones).
        self._by_id: dict[tuple[str, int, int], dict[int, Entity]] = {}
        self._rng = random.Random(mix64(seed ^ 0x5107))

    # -- reading ---------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Live entities per model."""
        return {m: len(self.live_ids(m)) for m in WORLD_MODELS}

    def version(self, model: str) -> int:
        """A number that changes whenever ``model`` is mutated (for caches of listings)."""
        return self._versions[model]

    def _cache_key(self, model: str) -> tuple[str, int, int]:
        # A lease lists its residents as they exist: it changes with them.
        linked = self._versions["residents"] if model == "leases" else 0
        return (model, self._versions[model], linked)

    def exists(self, model: str, entity_id: int) -> bool:
        """Whether ``entity_id`` of ``model`` exists now."""
        overlay = self._overlay(model)
        if entity_id in overlay.deleted:
            return False
        return 1 <= entity_id <= self.base.of(model) or entity_id in overlay.created

    def live_ids(self, model: str) -> list[int]:
        """Ids of the live entities of ``model``, ascending."""
        overlay = self._overlay(model)
        ids = [i for i in range(1, self.base.of(model) + 1) if i not in overlay.deleted]
        ids.extend(sorted(i for i in overlay.created if i not in overlay.deleted))
        return ids

    def deleted_ids(self, model: str) -> list[int]:
        """Ids of the entities of ``model`` deleted since generation, ascending."""
        return sorted(self._overlay(model).deleted)

    def get(self, model: str, entity_id: int) -> Entity | None:
        """The entity, as it is now; None if it never existed or was deleted.

        Once ``model`` was listed, the listed entity itself is returned:
        treat it as read-only.
        """
        listed = self._by_id.get(self._cache_key(model))
        if listed is not None:
            return listed.get(entity_id)
        if not self.exists(model, entity_id):
            return None
        return self._build(model, entity_id)

    def _build(self, model: str, entity_id: int) -> Entity | None:
        overlay = self._overlay(model)
        created = overlay.created.get(entity_id)
        entity = self._generate(model, entity_id, created)
        revision = overlay.revisions.get(entity_id)
        if revision is not None:
            _revise(model, entity, *revision)
        written = overlay.written.get(entity_id)
        if entity is not None and written is not None:
            values, at = written
            entity.update(values)
            entity["updated"] = max(entity["updated"], at)
        return entity

    def all(self, model: str) -> list[Entity]:
        """Every live entity of ``model`` in id order (cached until the next mutation)."""
        key = self._cache_key(model)
        cached = self._lists.get(key)
        if cached is not None:
            self._lists.move_to_end(key)
            return cached
        entities = [e for i in self.live_ids(model) if (e := self._build(model, i)) is not None]
        self._lists[key] = entities
        self._by_id = {k: v for k, v in self._by_id.items() if k[0] != model}
        self._by_id[key] = {e["id"]: e for e in entities}
        while len(self._lists) > len(WORLD_MODELS) * 2:
            self._lists.popitem(last=False)
        return entities

    def _of_property(self, model: str) -> dict[int, list[Entity]]:
        """Live entities of ``model`` by property id, in id order (cached like :meth:`all`)."""
        key = self._cache_key(model)
        cached = self._by_property.get(key)
        if cached is not None:
            return cached
        field = "id" if model == "properties" else "property_id"
        index: dict[int, list[Entity]] = {}
        for entity in self.all(model):
            owner = entity.get(field)
            if owner is not None:
                index.setdefault(owner, []).append(entity)
        self._by_property[key] = index
        while len(self._by_property) > len(WORLD_MODELS) * 2:
            self._by_property.popitem(last=False)
        return index

    def select(
        self,
        model: str,
        *,
        property_id: int | None = None,
        updated_since: int | None = None,
        updated_until: int | None = None,
        created_since: int | None = None,
        created_until: int | None = None,
    ) -> list[Entity]:
        """Live entities of ``model`` in id order matching every given filter (bounds inclusive)."""
        if property_id is not None:
            out = self._of_property(model).get(property_id, [])
        else:
            out = self.all(model)
        if updated_since is not None:
            out = [e for e in out if e["updated"] >= updated_since]
        if updated_until is not None:
            out = [e for e in out if e["updated"] <= updated_until]
        if created_since is not None:
            out = [e for e in out if e["created"] >= created_since]
        if created_until is not None:
            out = [e for e in out if e["created"] <= created_until]
        return out

    def truth(self) -> dict[str, dict[str, list[int]]]:
        """Per model, the ids that exist (``live``) and those deleted (``deleted``)."""
        return {m: {"live": self.live_ids(m), "deleted": self.deleted_ids(m)} for m in WORLD_MODELS}

    # -- changing --------------------------------------------------------

    def mutate(
        self, model: str, *, create: int = 0, update: int = 0, delete: int = 0, now: int
    ) -> dict[str, list[int]]:
        """Create, update and delete entities of ``model`` at time ``now``; the ids by action.

        Updates change a visible field and set ``updated`` to ``now``;
        created entities get ids above every existing one and belong to
        existing properties. Deleted entities vanish from every listing.
        """
        overlay = self._overlay(model)
        if min(create, update, delete) < 0:
            raise ValueError("create, update and delete must be >= 0")
        live = self.live_ids(model)
        doomed = self._rng.sample(live, min(delete, len(live)))
        overlay.deleted.update(doomed)
        remaining = [i for i in live if i not in overlay.deleted]
        touched = self._rng.sample(remaining, min(update, len(remaining)))
        for entity_id in touched:
            rev, _ = overlay.revisions.get(entity_id, (0, 0))
            overlay.revisions[entity_id] = (rev + 1, now)
        created = []
        for _ in range(create):
            entity_id = overlay.next_id
            overlay.next_id += 1
            overlay.created[entity_id] = now
            created.append(entity_id)
        self._versions[model] += 1
        return {"created": created, "updated": sorted(touched), "deleted": sorted(doomed)}

    def insert(self, model: str, values: Mapping[str, Any], *, now: int) -> Entity:
        """Create one entity of ``model`` with ``values`` (a client's write); the new entity.

        Keys not given are empty (None, or no phones and residents), except
        what a PMS sets itself: a new lead's status (NEW) and first contact
        (the day written), a new resident's status (CURRENT). ``id``,
        ``created`` and ``updated`` are the world's. Unknown keys raise
        KeyError: a renderer maps its vendor's fields to world keys first.
        """
        overlay = self._overlay(model)
        fields: dict[str, Any] = dict.fromkeys(ENTITY_KEYS[model])
        fields.update({k: [] for k in ("phones", "resident_ids") if k in fields})
        fields.update(_WRITE_DEFAULTS.get(model, {}))
        if "first_contact" in fields:
            fields["first_contact"] = _day(date(1970, 1, 1) + timedelta(seconds=now))
        fields.update(self._written_fields(model, values))
        fields = {k: v for k, v in fields.items() if k not in ("id", "created", "updated")}
        entity_id = overlay.next_id
        overlay.next_id += 1
        overlay.created[entity_id] = now
        overlay.written[entity_id] = (fields, now)
        self._versions[model] += 1
        entity = self._build(model, entity_id)
        assert entity is not None  # just created
        return entity

    def update(self, model: str, entity_id: int, values: Mapping[str, Any], *, now: int) -> Entity:
        """Change the given keys of one live entity (a client's write); the entity as it is now.

        Raises KeyError if the entity does not exist or a key is unknown.
        """
        if not self.exists(model, entity_id):
            raise KeyError(f"no {model} entity {entity_id}")
        overlay = self._overlay(model)
        fields = self._written_fields(model, values)
        before, _ = overlay.written.get(entity_id, ({}, 0))
        overlay.written[entity_id] = ({**before, **fields}, now)
        self._versions[model] += 1
        entity = self._build(model, entity_id)
        assert entity is not None  # exists
        return entity

    def delete(self, model: str, entity_id: int) -> None:
        """Remove one entity, as someone deleting it in the PMS; KeyError if it does not exist."""
        if not self.exists(model, entity_id):
            raise KeyError(f"no {model} entity {entity_id}")
        self._overlay(model).deleted.add(entity_id)
        self._versions[model] += 1

    @staticmethod
    def _written_fields(model: str, values: Mapping[str, Any]) -> dict[str, Any]:
        keys = ENTITY_KEYS[model]
        unknown = sorted(set(values) - set(keys))
        if unknown:
            raise KeyError(f"{model} entities have no {', '.join(unknown)}")
        return {k: v for k, v in values.items() if k not in ("id", "created", "updated")}

    def _overlay(self, model: str) -> _Overlay:
        try:
            return self._overlays[model]
        except KeyError:
            raise KeyError(f"unknown model {model!r} (known: {', '.join(WORLD_MODELS)})") from None

    # -- generation --------------------------------------------------------

    def _h(self, model: str, entity_id: int, salt: int = 0) -> int:
        # A fixed salt per model: str hashes vary between processes.
        base = self.seed * 0x100000001B3 ^ _MODEL_SALT[model] << 40
        return mix64(base ^ entity_id ^ salt << 32)

    def _times(self, model: str, entity_id: int, created: int | None) -> tuple[int, int]:
        if created is not None:
            return created, created
        h = self._h(model, entity_id, 0x71)
        start = _CREATED_START + h % _CREATED_SPAN
        return start, start + (h >> 20) % _UPDATE_SPAN

    def _home_of(self, model: str, entity_id: int) -> int:
        """The id of an existing base property an entity belongs to (0: none)."""
        p = self.base.properties
        if p == 0:
            return 0
        if model == "units" and entity_id <= self.base.units:
            return (entity_id - 1) // _UNITS_PER_PROPERTY + 1
        if model in ("floor_plans", "lead_sources"):
            per = (
                _FLOOR_PLANS_PER_PROPERTY if model == "floor_plans" else _LEAD_SOURCES_PER_PROPERTY
            )
            if entity_id <= self.base.of(model):
                return (entity_id - 1) // per + 1
        return self._h(model, entity_id, 0x9) % p + 1

    def _unit_of(self, model: str, entity_id: int) -> int | None:
        units = self.base.units
        if units == 0:
            return None
        if model == "leases" and entity_id <= self.base.leases:
            return entity_id
        if model == "residents" and entity_id <= self.base.residents:
            return entity_id if entity_id <= units else (entity_id - units) * 4
        return self._h(model, entity_id, 0x11) % units + 1

    def _generate(self, model: str, entity_id: int, created: int | None) -> Entity:
        created_at, updated_at = self._times(model, entity_id, created)
        make = getattr(self, f"_make_{model}")
        entity: Entity = make(entity_id)
        entity["created"], entity["updated"] = created_at, updated_at
        return entity

    def _place(self, property_id: int) -> tuple[str, str, str, str, str, str]:
        h = self._h("properties", property_id, 0x3)
        city, state, zip3, area = _CITIES[h % len(_CITIES)]
        street = f"{(h >> 8) % 9000 + 100} {_STREETS[(h >> 24) % len(_STREETS)]} St"
        return street, city, state, f"{zip3}{(h >> 32) % 100:02d}", area, _STREETS[(h >> 40) % 20]

    def _make_properties(self, pid: int) -> Entity:
        h = self._h("properties", pid)
        street, city, state, zip_code, area, word = self._place(pid)
        name = f"{word} {_SUFFIXES[(h >> 4) % len(_SUFFIXES)]}"
        units = min(_UNITS_PER_PROPERTY, max(0, self.base.units - (pid - 1) * _UNITS_PER_PROPERTY))
        employees = self.base.employees
        return {
            "id": pid,
            "name": name if pid <= self.base.properties else f"{name} {pid}",
            "code": f"P{pid:05d}",
            "address_1": street,
            "city": city,
            "state": state,
            "zip": zip_code,
            "country": "US",
            "type": PROPERTY_TYPES[(h >> 12) % len(PROPERTY_TYPES)],
            "is_active": (h >> 16) % 10 != 0,
            "year_built": 1950 + (h >> 20) % 74,
            "unit_count": units if pid <= self.base.properties else 0,
            "phone": f"({area}) 555-{(h >> 28) % 10000:04d}",
            "email": f"office.{pid}@{word.lower()}-homes.example",
            "website": f"https://{word.lower()}{pid}.example",
            "manager_id": (h >> 36) % employees + 1 if employees else None,
        }

    def _make_floor_plans(self, fid: int) -> Entity:
        pid = self._home_of("floor_plans", fid)
        name, beds, baths, sqft = _FLOOR_PLANS[(fid - 1) % len(_FLOOR_PLANS)]
        h = self._h("floor_plans", fid)
        low = 90_000 + beds * 45_000 + (h % 200) * 100
        return {
            "id": fid,
            "property_id": pid or None,
            "name": name,
            "code": f"FP{beds}{'A' if (fid - 1) % 3 == 0 else 'B'}-{fid}",
            "bedrooms": beds,
            "bathrooms": baths,
            "square_feet": sqft + (h >> 8) % 60,
            "rent_min_cents": low,
            "rent_max_cents": low + 25_000,
            "unit_count": _UNITS_PER_PROPERTY // _FLOOR_PLANS_PER_PROPERTY,
        }

    def _make_units(self, uid: int) -> Entity:
        pid = self._home_of("units", uid)
        street, city, state, zip_code, _, _ = self._place(pid) if pid else ("",) * 6
        plan_slot = (uid - 1) % _FLOOR_PLANS_PER_PROPERTY
        plan = (pid - 1) * _FLOOR_PLANS_PER_PROPERTY + plan_slot + 1 if pid else None
        _, beds, baths, sqft = _FLOOR_PLANS[plan_slot]
        h = self._h("units", uid)
        floor = (uid - 1) % _UNITS_PER_PROPERTY // 4 + 1
        number = f"{floor}{(uid - 1) % 4 + 1:02d}"
        lease_status = self._lease_status(uid) if uid <= self.base.leases else "PAST"
        return {
            "id": uid,
            "property_id": pid or None,
            "floor_plan_id": plan,
            "number": number,
            "building": f"Building {chr(65 + (uid - 1) % _UNITS_PER_PROPERTY // 10)}",
            "floor": str(floor),
            "bedrooms": beds,
            "bathrooms": baths,
            "square_feet": sqft + h % 80,
            "market_rent_cents": 95_000 + beds * 45_000 + (h >> 8) % 300 * 100,
            "is_vacant": lease_status != "CURRENT",
            "is_listed": lease_status != "CURRENT" and (h >> 16) % 2 == 0,
            "address_1": street,
            "address_2": f"Unit {number}",
            "city": city,
            "state": state,
            "zip": zip_code,
            "country": "US",
        }

    def _lease_status(self, lid: int) -> str:
        roll = self._h("leases", lid, 0x5) % 20
        return "PAST" if roll < 2 else "FUTURE" if roll < 3 else "CURRENT"

    def _lease_dates(self, lid: int) -> tuple[date, date]:
        status = self._lease_status(lid)
        h = self._h("leases", lid, 0x6)
        if status == "FUTURE":
            start = _TODAY + timedelta(days=10 + h % 60)
        elif status == "PAST":
            start = _TODAY - timedelta(days=400 + h % 700)
        else:
            start = _TODAY - timedelta(days=30 + h % 330)
        return start, start + timedelta(days=365)

    def _person(self, model: str, pid: int) -> tuple[str, str, int]:
        h = self._h(model, pid, 0x2)
        return _FIRST[h % len(_FIRST)], _LAST[(h >> 8) % len(_LAST)], h

    def _phones(self, h: int, area: str) -> list[dict[str, str]]:
        phones = [{"type": PHONE_TYPES[h % 3], "number": f"({area}) 555-{(h >> 4) % 10000:04d}"}]
        if (h >> 20) % 3 == 0:
            other = PHONE_TYPES[(h % 3 + 1) % 3]
            phones.append({"type": other, "number": f"({area}) 555-{(h >> 24) % 10000:04d}"})
        return phones

    def _make_residents(self, rid: int) -> Entity:
        uid = self._unit_of("residents", rid)
        pid = self._home_of("units", uid) if uid else 0
        first, last, h = self._person("residents", rid)
        area = self._place(pid)[4] if pid else "555"
        status = self._lease_status(uid) if uid and uid <= self.base.leases else "CURRENT"
        born = date(1950, 1, 1) + timedelta(days=h % 18_000)
        return {
            "id": rid,
            "property_id": pid or None,
            "unit_id": uid,
            "first_name": first,
            "middle_name": _FIRST[(h >> 12) % len(_FIRST)][0] if (h >> 30) % 3 == 0 else None,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}.{rid}@mail.example",
            "phones": self._phones(h >> 3, area),
            "date_of_birth": _day(born),
            "balance_cents": (h >> 40) % 5 * 2_500 if (h >> 36) % 4 == 0 else 0,
            "status": status,
        }

    def _make_leases(self, lid: int) -> Entity:
        uid = self._unit_of("leases", lid)
        pid = self._home_of("units", uid) if uid else 0
        status = self._lease_status(lid)
        start, end = self._lease_dates(lid)
        h = self._h("leases", lid)
        residents = [] if uid is None else self._residents_of(uid)
        rent = 95_000 + (h % 300) * 100
        return {
            "id": lid,
            "property_id": pid or None,
            "unit_id": uid,
            "resident_ids": residents,
            "primary_resident_id": residents[0] if residents else None,
            "start_date": _day(start),
            "end_date": _day(end),
            "move_in_date": _day(start),
            "move_out_date": _day(end) if status == "PAST" else None,
            "rent_cents": rent,
            "market_rent_cents": rent + (h >> 10) % 50 * 100,
            "deposit_cents": rent,
            "balance_cents": (h >> 20) % 4 * 5_000 if status == "CURRENT" else 0,
            "status": status,
            "rent_due_day": 1,
        }

    def _residents_of(self, uid: int) -> list[int]:
        """Base residents living in unit ``uid`` that still exist."""
        candidates = [uid] if uid <= self.base.residents else []
        if uid % 4 == 0 and self.base.units + uid // 4 <= self.base.residents:
            candidates.append(self.base.units + uid // 4)
        return [r for r in candidates if self.exists("residents", r)]

    def _make_lead_sources(self, sid: int) -> Entity:
        pid = self._home_of("lead_sources", sid)
        return {
            "id": sid,
            "property_id": pid or None,
            "name": _SOURCES[(sid - 1) % _LEAD_SOURCES_PER_PROPERTY + (pid % 3)],
        }

    def _make_leads(self, lid: int) -> Entity:
        pid = self._home_of("leads", lid)
        first, last, h = self._person("leads", lid)
        _, city, state, zip_code, area, _ = self._place(pid) if pid else ("", "", "", "", "555", "")
        units_here = [
            u for u in range((pid - 1) * _UNITS_PER_PROPERTY + 1, pid * _UNITS_PER_PROPERTY + 1)
            if u <= self.base.units
        ] if pid else []  # fmt: skip
        unit = units_here[h % len(units_here)] if units_here and (h >> 5) % 2 == 0 else None
        sources = self.base.lead_sources
        source = (
            (pid - 1) * _LEAD_SOURCES_PER_PROPERTY + (h >> 9) % 4 + 1 if pid and sources else None
        )
        employees = self.base.employees
        _, created = self._times("leads", lid, None)
        contact = date(1970, 1, 1) + timedelta(seconds=created)
        return {
            "id": lid,
            "property_id": pid or None,
            "unit_id": unit,
            "floor_plan_id": (pid - 1) * 3 + (h >> 7) % 3 + 1 if pid else None,
            "lead_source_id": source,
            "employee_id": (h >> 13) % employees + 1 if employees else None,
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}{lid}@inbox.example",
            "phones": self._phones(h >> 2, area),
            "address_1": f"{(h >> 17) % 900 + 10} {_STREETS[(h >> 27) % 20]} Ave",
            "address_2": None,
            "city": city,
            "state": state,
            "zip": zip_code,
            "status": LEAD_STATUSES[(h >> 33) % len(LEAD_STATUSES)],
            "target_move_in_date": _day(contact + timedelta(days=30 + h % 60)),
            "desired_bedrooms": (h >> 38) % 3,
            "desired_bathrooms": None,
            "desired_max_rent_cents": 120_000 + (h >> 41) % 20 * 5_000,
            "desired_lease_term_months": None,
            "notes": "Prefers a quiet unit." if (h >> 45) % 4 == 0 else None,
            "first_contact": _day(contact),
        }

    def _make_employees(self, eid: int) -> Entity:
        first, last, h = self._person("employees", eid)
        return {
            "id": eid,
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}@manager.example",
            "phone": f"(617) 555-{h % 10000:04d}",
            "title": _TITLES[(h >> 8) % len(_TITLES)],
            "is_active": (h >> 16) % 8 != 0,
        }


def _revise(model: str, entity: Entity, revision: int, when: int) -> None:
    """Apply update number ``revision`` (made at ``when``) to a generated entity."""
    entity["updated"] = when
    tag = f" r{revision}"
    if model in ("residents", "leads", "employees"):
        entity["last_name"] = f"{str(entity['last_name']).split(' r')[0]}{tag}"
    elif model in ("properties", "floor_plans", "lead_sources"):
        entity["name"] = f"{str(entity['name']).split(' r')[0]}{tag}"
    elif model == "units":
        entity["market_rent_cents"] = int(entity["market_rent_cents"]) + 1_000 * revision
    elif model == "leases":
        entity["rent_cents"] = int(entity["rent_cents"]) + 1_000 * revision


def entity_keys_of(model: str) -> Iterable[str]:
    """The keys :data:`ENTITY_KEYS` documents for ``model``."""
    return ENTITY_KEYS[model]
