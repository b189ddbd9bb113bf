"""Enum maps: raw PMS values → normalized unified values.

A vendor's maps live in ``transforms/<vendor>/enums.yaml``; an integration may
override single entries (``{map_name: {raw: normalized}}``), which merge on
top of the vendor's map. Unmapped raw values never fail: they get the map's
default (e.g. ``OTHER``).

Lookup is exact first, then case-insensitive, so ``active`` and ``Active``
both match an ``Active`` entry (PMSs are not consistent about case), while an
exact entry always wins over a case-folded one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from syncd.errors import SchemaError

#: Compiled lookup: raw string → normalized value (or the default).
Normalizer = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class EnumMap:
    """A named raw→normalized map with a default for unmapped values.

    ``allowed`` (when set) is the closed set of normalized values; overrides
    must stay within it.
    """

    name: str
    values: Mapping[str, str]
    default: str | None
    allowed: frozenset[str] | None = None
    #: True when an integration override changed this map.
    is_custom: bool = False
    _folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Later keys win, so an override's entry beats a base entry that only
        # differs by case.
        folded = {raw.casefold(): norm for raw, norm in self.values.items()}
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "_folded", MappingProxyType(folded))

    def normalize(self, raw: str) -> str | None:
        """The normalized value of ``raw``, or the default when unmapped."""
        hit = self.values.get(raw)
        if hit is not None:
            return hit
        return self._folded.get(raw.casefold(), self.default)

    def compile(self) -> Normalizer:
        """A fast closure doing :meth:`normalize` (the transform hot path)."""
        exact = dict(self.values)
        folded = dict(self._folded)
        default = self.default

        def normalize(raw: str) -> str | None:
            hit = exact.get(raw)
            if hit is not None:
                return hit
            return folded.get(raw.casefold(), default)

        return normalize

    def merged(self, overrides: Mapping[str, str], *, where: str = "enum_overrides") -> EnumMap:
        """This map with ``overrides`` on top; refuses values outside ``allowed``."""
        if not isinstance(overrides, Mapping):
            raise SchemaError(
                f"expected a mapping of raw to normalized values, got {type(overrides).__name__}",
                field=f"{where}.{self.name}",
            )
        merged = dict(self.values)
        for raw, normalized in overrides.items():
            field_path = f"{where}.{self.name}.{raw}"
            if not isinstance(raw, str) or not isinstance(normalized, str):
                raise SchemaError("raw and normalized values must be strings", field=field_path)
            if self.allowed is not None and normalized not in self.allowed:
                raise SchemaError(
                    f"{normalized!r} is not a valid value of {self.name!r} "
                    f"(allowed: {', '.join(sorted(self.allowed))})",
                    field=field_path,
                )
            merged[raw] = normalized
        return EnumMap(self.name, merged, self.default, self.allowed, is_custom=bool(overrides))


def apply_overrides(
    maps: Mapping[str, EnumMap],
    overrides: Mapping[str, Mapping[str, str]] | None,
    *,
    where: str = "enum_overrides",
) -> dict[str, EnumMap]:
    """Merge per-integration overrides onto a vendor's maps.

    An override naming a map the vendor does not have is refused: it would
    otherwise be silently ignored.
    """
    result = dict(maps)
    if not overrides:
        return result
    for name, entries in overrides.items():
        base = maps.get(name)
        if base is None:
            known = ", ".join(sorted(maps)) or "none"
            raise SchemaError(
                f"unknown enum map {name!r} (known: {known})", field=f"{where}.{name}"
            )
        result[name] = base.merged(entries, where=where)
    return result
