"""Shapes shared by the API's list operations: paging, ordering and the ``meta`` block.

Lists page by ``offset``/``limit`` (default 100, at most 250) and order by
``order-by=field:asc,other:desc``, as the reference unified API does; each
answer is ``{"meta": {offset, limit, orderBy, hasMore, total}, "results": [...]}``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from syncd.api.errors import invalid
from syncd.connectors.registry import known_vendors

DEFAULT_LIMIT = 100
MAX_LIMIT = 250


class ListQuery(BaseModel):
    """``offset``, ``limit`` and ``order-by``: the paging parameters of every list."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    offset: int = Field(default=0, ge=0, le=2**31 - 1, description="how many results to skip")
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="results per page, 1 to 250"
    )
    order_by: str | None = Field(
        default=None,
        alias="order-by",
        max_length=500,
        description="fields to order by, e.g. `updated_at:desc,id:asc` (default direction asc)",
    )


class OrderBy(BaseModel):
    """One ordering term as echoed in ``meta.orderBy``."""

    model_config = ConfigDict(extra="forbid")

    field: str
    direction: Literal["asc", "desc"]


class Meta(BaseModel):
    """Where a page sits in its list."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    offset: int
    limit: int
    order_by: list[OrderBy] = Field(alias="orderBy")
    has_more: bool = Field(alias="hasMore")
    total: int


@dataclass(frozen=True, slots=True)
class Ordering:
    """A parsed ``order-by``: (column, descending) pairs."""

    terms: tuple[tuple[str, bool], ...]

    def echo(self) -> list[OrderBy]:
        """The terms as ``meta.orderBy``."""
        return [OrderBy(field=f, direction="desc" if d else "asc") for f, d in self.terms]


def parse_order_by(
    value: str | None, allowed: Collection[str], *, default: tuple[tuple[str, bool], ...]
) -> Ordering:
    """``order-by`` checked against the fields that may be ordered by; a bad term is a 400."""
    if not value:
        return Ordering(default)
    terms: list[tuple[str, bool]] = []
    for part in value.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if name not in allowed:
            raise invalid("query", "order-by", f"cannot order by {name!r}", "order_by_field")
        if direction not in ("asc", "desc"):
            raise invalid(
                "query",
                "order-by",
                f"direction must be asc or desc, not {direction!r}",
                "order_by_direction",
            )
        if any(name == seen for seen, _ in terms):
            raise invalid("query", "order-by", f"{name!r} given twice", "order_by_repeated")
        terms.append((name, direction == "desc"))
    return Ordering(tuple(terms))


def meta(query: ListQuery, ordering: Ordering, total: int) -> Meta:
    """The ``meta`` block of one page."""
    return Meta(
        offset=query.offset,
        limit=query.limit,
        order_by=ordering.echo(),
        has_more=query.offset + query.limit < total,
        total=total,
    )


def record_id_pattern() -> str:
    """What a record's ``{id}`` in ``/v1/{model}/{id}`` may be: anything but a vendor's path.

    ``/v1/leads/resman/`` is the per-PMS write endpoint, never the record
    ``resman``: kept apart so each path answers (and advertises) only its
    own methods.
    """
    slugs = "|".join(sorted(v.lower() for v in known_vendors()))
    return rf"(?!(?:{slugs})(?![^/]))[^/]+"
