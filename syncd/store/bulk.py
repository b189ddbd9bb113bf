"""Bulk statements for the page hot path, one per engine.

SQLAlchemy's per-row parameter processing costs more than the database work
for a 1,000-record page, so page writes go to the driver directly:

- PostgreSQL: one statement per page whose parameters are column arrays,
  ``INSERT … SELECT * FROM unnest($1::uuid[], …)``; look-ups join
  ``unnest($1::text[])`` so the plan stays an index or hash join whatever the
  table statistics say (an ``IN`` list of 1,000 parameters against stale
  statistics degrades into a nested scan).
- SQLite: ``executemany`` of pre-encoded tuples (the sqlite3 module loops in C).

Values are encoded here exactly as SQLAlchemy's own types store them, so rows
written by either path read back identically through SQLAlchemy.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter, TextClause

from syncd.events import RECORD_EVENT_KEYS
from syncd.store.types import UTCDateTime

if TYPE_CHECKING:
    from syncd.store.seen import SeenStatements

Encoder = Callable[[Any], Any]


def _sqlite_uuid(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    return v.hex if isinstance(v, uuid.UUID) else v


def sqlite_datetime(v: datetime | None) -> str | None:
    """A timestamp in the text form SQLAlchemy's SQLite DateTime stores (UTC)."""
    if v is None:
        return None
    if v.tzinfo is not None:
        v = v.astimezone(UTC)
    # The text format SQLAlchemy's SQLite DateTime stores and parses.
    return v.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_date(v: date | None) -> str | None:
    return None if v is None else v.isoformat()


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    # Most custom_data is empty: skip the serializer for it.
    return "{}" if v == {} else orjson.dumps(v).decode()


def _sqlite_bool(v: bool | None) -> int | None:
    return None if v is None else int(v)


def _identity(v: Any) -> Any:
    return v


def _pg_datetime(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


def _kind(column_type: Any) -> str:
    # Order matters: Text and UTCDateTime are subclasses of broader types.
    if isinstance(column_type, UTCDateTime):
        return "timestamptz"
    for cls, name in (
        (Uuid, "uuid"),
        (BigInteger, "int8"),
        (Integer, "int4"),
        (Float, "float8"),
        (Boolean, "bool"),
        (Date, "date"),
        (JSON, "jsonb"),
        (Text, "text"),
        (String, "text"),
    ):
        if isinstance(column_type, cls):
            return name
    raise TypeError(f"no bulk encoding for {column_type!r}")


_SQLITE_ENCODERS: dict[str, Encoder] = {
    "timestamptz": sqlite_datetime,
    "uuid": _sqlite_uuid,
    "int8": _identity,
    "int4": _identity,
    "float8": _identity,
    "bool": _sqlite_bool,
    "date": _sqlite_date,
    "jsonb": _json_text,
    "text": _identity,
}
_PG_ENCODERS: dict[str, Encoder] = {
    # Timestamps reaching the store are timezone-aware by construction (the
    # transform and the store both produce UTC-aware values): no per-value call.
    "timestamptz": _identity,
    "uuid": _identity,
    "int8": _identity,
    "int4": _identity,
    "float8": _identity,
    "bool": _identity,
    "date": _identity,
    "jsonb": _json_text,
    "text": _identity,
}


#: Encoders that change nothing: skipped per row.
_PASS_THROUGH: frozenset[Encoder] = frozenset({_identity})


@dataclass(frozen=True, slots=True)
class BulkInsert:
    """An insert (or upsert) of many rows given as tuples in ``columns`` order.

    Plain inserts on PostgreSQL use binary COPY, the fastest way in; upserts
    use one ``INSERT … SELECT FROM unnest(…) ON CONFLICT`` statement.
    """

    dialect: str
    table: str
    columns: tuple[str, ...]
    sql: str
    #: (column index, encoder) for the columns whose values need converting.
    conversions: tuple[tuple[int, Encoder], ...]
    copy: bool

    def _encode(self, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        # Rows given as lists are the caller's to give away: encoded in place.
        conversions = self.conversions
        if not conversions:
            return rows
        out: list[list[Any]] = []
        for row in rows:
            values = row if type(row) is list else list(row)
            for i, enc in conversions:
                values[i] = enc(values[i])
            out.append(values)
        return out

    async def execute(self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        """Write ``rows`` (each a sequence of raw Python values) in one round."""
        if not rows:
            return
        encoded = self._encode(rows)
        if self.copy:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.copy_records_to_table(
                self.table, records=encoded, columns=list(self.columns)
            )
        elif self.dialect == "postgresql":
            await conn.exec_driver_sql(self.sql, tuple(map(list, zip(*encoded, strict=True))))
        else:
            # SQLAlchemy takes an executemany's rows as tuples only.
            await conn.exec_driver_sql(self.sql, [tuple(r) for r in encoded])


def bulk_insert(
    dialect: str,
    table: Table,
    columns: Sequence[str],
    *,
    conflict: Sequence[str] = (),
    keep: Sequence[str] = (),
) -> BulkInsert:
    """A bulk insert into ``table``; with ``conflict``, an upsert updating all but ``keep``."""
    kinds = [_kind(table.c[name].type) for name in columns]
    cols = ", ".join(columns)
    if dialect == "postgresql":
        arrays = ", ".join(f"${i}::{k}[]" for i, k in enumerate(kinds, start=1))
        sql = f"INSERT INTO {table.name} ({cols}) SELECT * FROM unnest({arrays})"
        encoders = [_PG_ENCODERS[k] for k in kinds]
    else:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks})"
        encoders = [_SQLITE_ENCODERS[k] for k in kinds]
    if conflict:
        target = ", ".join(conflict)
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in columns if c not in set(conflict) | set(keep)
        )
        sql += f" ON CONFLICT ({target}) DO UPDATE SET {updates}"
    conversions = tuple((i, e) for i, e in enumerate(encoders) if e not in _PASS_THROUGH)
    return BulkInsert(
        dialect=dialect,
        table=table.name,
        columns=tuple(columns),
        sql=sql,
        conversions=conversions,
        copy=dialect == "postgresql" and not conflict,
    )


@dataclass(frozen=True, slots=True)
class KeyedStatements:
    """Look-up and touch of records by (integration_id, x_id) for one table."""

    dialect: str
    lookup_sql: str
    touch_sql: str

    async def lookup(
        self, conn: AsyncConnection, integration_id: str, x_ids: Sequence[str]
    ) -> dict[str, tuple[str, str | None, bool]]:
        """x_id → (content_hash, source_hash, is soft-deleted) of the x_ids already stored."""
        found: dict[str, tuple[str, str | None, bool]] = {}
        if self.dialect == "postgresql":
            result = await conn.exec_driver_sql(self.lookup_sql, (integration_id, list(x_ids)))
            found.update(_found(result.all()))
            return found
        for chunk in _chunks(x_ids):
            sql = self.lookup_sql.replace("{marks}", ", ".join("?" * len(chunk)))
            result = await conn.exec_driver_sql(sql, (integration_id, *chunk))
            found.update(_found(result.all()))
        return found

    async def touch(
        self,
        conn: AsyncConnection,
        integration_id: str,
        x_ids: Sequence[str],
        now: datetime,
        before: datetime,
    ) -> None:
        """Set ``last_seen`` of unchanged records to ``now`` where it is older than ``before``.

        A row whose ``last_seen`` is recent enough is left alone, so it is not
        rewritten (with every index entry of it, on PostgreSQL) on each run.
        """
        if self.dialect == "postgresql":
            await conn.exec_driver_sql(
                self.touch_sql,
                (_pg_datetime(now), _pg_datetime(before), integration_id, list(x_ids)),
            )
            return
        for chunk in _chunks(x_ids):
            sql = self.touch_sql.replace("{marks}", ", ".join("?" * len(chunk)))
            await conn.exec_driver_sql(
                sql, (sqlite_datetime(now), sqlite_datetime(before), integration_id, *chunk)
            )


def _found(rows: Sequence[Any]) -> list[tuple[str, tuple[str, str | None, bool]]]:
    return [(r[0], (r[1], r[2], r[3] is not None)) for r in rows]


def _chunks(items: Sequence[str], size: int = 900) -> list[Sequence[str]]:
    # Older SQLite builds allow 999 variables per statement.
    return [items[i : i + size] for i in range(0, len(items), size)]


def keyed_statements(dialect: str, table: Table) -> KeyedStatements:
    """Look-up and touch statements of a model table."""
    t = table.name
    if dialect == "postgresql":
        lookup = (
            f"SELECT t.x_id, t.content_hash, t.source_hash, t.deleted_at "
            f"FROM unnest($2::text[]) AS k(x_id) "
            f"JOIN {t} AS t ON t.integration_id = $1 AND t.x_id = k.x_id"
        )
        touch = (
            f"UPDATE {t} AS t SET last_seen = $1 "
            f"FROM unnest($4::text[]) AS k(x_id) "
            f"WHERE t.integration_id = $3 AND t.x_id = k.x_id AND t.last_seen < $2"
        )
    else:
        lookup = (
            f"SELECT x_id, content_hash, source_hash, deleted_at FROM {t} "
            f"WHERE integration_id = ? AND x_id IN ({{marks}})"
        )
        touch = (
            f"UPDATE {t} SET last_seen = ? "
            f"WHERE last_seen < ? AND integration_id = ? AND x_id IN ({{marks}})"
        )
    return KeyedStatements(dialect, lookup, touch)


@dataclass(frozen=True, slots=True)
class KeyedDelete:
    """``DELETE FROM t WHERE integration_id = ? [AND extra = ?] AND key IN (…)``."""

    dialect: str
    sql: str

    async def execute(
        self,
        conn: AsyncConnection,
        integration_id: str,
        keys: Sequence[str],
        *extra: str,
    ) -> None:
        """Delete the rows of ``keys``."""
        if not keys:
            return
        if self.dialect == "postgresql":
            await conn.exec_driver_sql(self.sql, (integration_id, *extra, list(keys)))
            return
        for chunk in _chunks(keys):
            sql = self.sql.replace("{marks}", ", ".join("?" * len(chunk)))
            await conn.exec_driver_sql(sql, (integration_id, *extra, *chunk))


def keyed_delete(dialect: str, table: Table, key: str, *extra: str) -> KeyedDelete:
    """A delete of ``table`` rows by integration, ``extra`` columns and a list of ``key``."""
    if dialect == "postgresql":
        conds = "".join(f" AND t.{c} = ${i}" for i, c in enumerate(extra, start=2))
        n = len(extra) + 2
        # A join on unnest, like the look-ups: never a nested scan.
        sql = (
            f"DELETE FROM {table.name} AS t USING unnest(${n}::text[]) AS k(key) "
            f"WHERE t.integration_id = $1{conds} AND t.{key} = k.key"
        )
    else:
        conds = "".join(f" AND {c} = ?" for c in extra)
        sql = f"DELETE FROM {table.name} WHERE integration_id = ?{conds} AND {key} IN ({{marks}})"
    return KeyedDelete(dialect, sql)


# -- deletion sweeps -----------------------------------------------------------

#: Records soft-deleted per statement on PostgreSQL: bounds the size of one
#: UPDATE … RETURNING and its event insert, not the transaction.
SWEEP_BATCH = 50_000


def _sqlite_dashed_uuid(column: str) -> str:
    # SQLite stores UUIDs as 32 hex digits; events show the usual dashed form.
    parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
    return " || '-' || ".join(f"substr({column}, {a}, {n})" for a, n in parts)


@dataclass(frozen=True, slots=True)
class SweepStatements:
    """Counting and soft-deleting the unseen records of a sweep's scope, in SQL.

    The scope is ``integration_id = :iid AND deleted_at IS NULL`` plus an
    optional date window on one column. "Unseen" is a row predicate given by
    the caller (not written by the run, or last seen before a given time)
    and, in SQL, in none of the seen pages matching ``pages`` (see
    :mod:`syncd.store.seen`). Nothing is read into Python but two counts.
    """

    dialect: str
    table: Table
    seen: SeenStatements

    def _where(
        self,
        alias: str,
        date_field: str | None,
        since: object,
        until: object,
        unseen: str,
        excluded: object = None,
    ) -> str:
        p = f"{alias}." if alias else ""
        conds = [f"{p}integration_id = :iid", f"{p}deleted_at IS NULL"]
        if excluded:
            # Records of disabled properties are not synced, so their absence
            # from a run says nothing.
            if self.table.name == "properties":
                conds.append(f"{p}x_id NOT IN :excluded")
            else:
                conds.append(f"({p}x_property_id IS NULL OR {p}x_property_id NOT IN :excluded)")
        if since is not None:
            conds.append(f"{p}{date_field} >= :since")
        if until is not None:
            conds.append(f"{p}{date_field} < :until")
        if unseen:
            conds.append(unseen.replace("{p}", p))
        return " AND ".join(conds)

    def _statement(self, sql: str, date_field: str | None, params: dict[str, Any]) -> TextClause:
        """``sql`` with the parameters it names bound, typed like the columns they meet."""
        out: list[BindParameter[Any]] = []
        for name, value in params.items():
            if not re.search(rf":{name}\b", sql):
                continue
            if name == "excluded":
                out.append(bindparam(name, sorted(value), expanding=True))
            elif name in ("since", "until") and date_field is not None:
                column_type = self.table.c[date_field].type
                day = isinstance(column_type, Date) and isinstance(value, datetime)
                out.append(bindparam(name, value.date() if day else value, type_=column_type))
            elif isinstance(value, datetime):
                out.append(bindparam(name, value, type_=UTCDateTime()))
            else:
                out.append(bindparam(name, value))
        return text(sql).bindparams(*out)

    async def count(
        self,
        conn: AsyncConnection,
        params: dict[str, Any],
        date_field: str | None,
        unseen: str,
        pages: str,
    ) -> tuple[int, int]:
        """(live records in scope, the unseen ones) in one scan."""
        where = self._where(
            "t", date_field, params.get("since"), params.get("until"), "", params.get("excluded")
        )
        flag = unseen.replace("{p}", "t.")
        t = self.table.name
        if self.dialect == "postgresql":
            # A per-row NOT EXISTS inside the sum would not become a join.
            sql = (
                f"SELECT count(*), "
                f"coalesce(sum(CASE WHEN {flag} AND s.x_id IS NULL THEN 1 ELSE 0 END), 0) "
                f"FROM {t} AS t LEFT JOIN ({self.seen.seen_set(pages)}) AS s ON s.x_id = t.x_id "
                f"WHERE {where}"
            )
        else:
            flag += " AND " + self.seen.not_seen(pages).replace("{p}", "t.")
            sql = (
                f"SELECT count(*), coalesce(sum(CASE WHEN {flag} THEN 1 ELSE 0 END), 0) "
                f"FROM {t} AS t WHERE {where}"
            )
        row = (await conn.execute(self._statement(sql, date_field, params))).one()
        return int(row[0]), int(row[1])

    async def soft_delete(
        self,
        conn: AsyncConnection,
        params: dict[str, Any],
        date_field: str | None,
        unseen: str,
        pages: str,
        *,
        events: bool,
    ) -> int:
        """Set ``deleted_at`` of the unseen records (and write DATA_DELETED events).

        ``params`` must hold ``iid``, ``now`` and, with ``events``, ``vendor``,
        ``model`` and ``run_id`` (the events' job). Returns the records deleted.
        """
        t = self.table.name
        rows_unseen = unseen
        unseen = f"{unseen} AND {self.seen.not_seen(pages)}"
        since, until = params.get("since"), params.get("until")
        excluded = params.get("excluded")
        cols = (
            "integration_id, integration_vendor, model, record_id, x_id, event_type, run_id, "
            "payload, created_at"
        )
        if self.dialect == "postgresql":
            where = self._where("t", date_field, since, until, unseen, excluded)
            cand = f"WITH cand AS (SELECT t.id FROM {t} AS t WHERE {where} LIMIT {SWEEP_BATCH})"
            # The UPDATE repeats the row predicate: a row refreshed by a
            # concurrent run while this one waited for its lock is re-checked
            # and spared. The seen pages are not repeated: in one statement
            # they are read from one snapshot, so a second anti-join would
            # only hash them again.
            recheck = self._where("t", date_field, since, until, rows_unseen, excluded)
            update = (
                f"UPDATE {t} AS t SET deleted_at = :now, updated_at = :now FROM cand "
                f"WHERE t.id = cand.id AND {recheck}"
            )
            if events:
                payload = _json_object("jsonb_build_object", _PG_DELETED_PAYLOAD)
                sql = (
                    f"{cand}, gone AS ({update} RETURNING t.id, t.x_id, t.property_id) "
                    f"INSERT INTO change_events ({cols}) "
                    f"SELECT :iid, :vendor, :model, g.id, g.x_id, 'DATA_DELETED', :run_id, "
                    f"{payload}, :now FROM gone AS g"
                )
            else:
                sql = f"{cand} {update}"
            stmt = self._statement(sql, date_field, params)
            total = 0
            while True:
                done = int((await conn.execute(stmt)).rowcount)
                total += done
                if done < SWEEP_BATCH:
                    return total
        # SQLite has one writer at a time: within this transaction the INSERT
        # and the UPDATE see the same rows.
        where = self._where("", date_field, since, until, unseen, excluded)
        if events:
            payload = _json_object("json_object", _SQLITE_DELETED_PAYLOAD)
            insert = (
                f"INSERT INTO change_events ({cols}) "
                f"SELECT :iid, :vendor, :model, id, x_id, 'DATA_DELETED', :run_id, "
                f"{payload}, :now FROM {t} WHERE {where}"
            )
            await conn.execute(self._statement(insert, date_field, params))
        update = f"UPDATE {t} SET deleted_at = :now, updated_at = :now WHERE {where}"
        result = await conn.execute(self._statement(update, date_field, params))
        return int(result.rowcount)


def _json_object(function: str, columns: dict[str, str]) -> str:
    """A SQL JSON object of a DATA_DELETED payload, its keys in RECORD_EVENT_KEYS order."""
    if tuple(columns) != RECORD_EVENT_KEYS:
        raise AssertionError(f"a DATA_DELETED payload needs {RECORD_EVENT_KEYS}")
    pairs = ", ".join(f"'{key}', {value}" for key, value in columns.items())
    return f"{function}({pairs})"


# The payload of a swept record's DATA_DELETED event, as syncd.events
# builds a data event's (no record, no diff), in SQL: one statement writes
# the events of a whole sweep batch.
_PG_DELETED_PAYLOAD = {
    "integration_id": "CAST(:iid AS text)",
    "vendor": "CAST(:vendor AS text)",
    "model": "CAST(:model AS text)",
    "record_id": "CAST(g.id AS text)",
    "x_id": "g.x_id",
    "property_id": "CAST(g.property_id AS text)",
    "job_id": "CAST(:run_id AS text)",
}
_SQLITE_DELETED_PAYLOAD = {
    "integration_id": ":iid",
    "vendor": ":vendor",
    "model": ":model",
    "record_id": _sqlite_dashed_uuid("id"),
    "x_id": "x_id",
    "property_id": _sqlite_dashed_uuid("property_id"),
    "job_id": ":run_id",
}


def sweep_statements(dialect: str, table: Table, seen: SeenStatements) -> SweepStatements:
    """The sweep statements of a model table, its runs' seen pages read with ``seen``."""
    return SweepStatements(dialect, table, seen)
