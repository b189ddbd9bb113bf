"""Seen pages: which records a run saw without rewriting them, in SQL.

A run writes the rows it creates or changes, stamping them with its run id.
The records it finds unchanged (or quarantines) are recorded instead as one
``seen_pages`` row per page holding their x_ids, so an unchanged re-sync does
not rewrite the whole cache. A deletion sweep spares both kinds.

Rows live while their run does. When it ends they are dropped; if a sweep of
the same model is held (waiting for approval, which spares every record seen
since the held run started), they are first folded into the rows'
``last_seen`` (one statement), so the approval still knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Table, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from syncd.domain import RunStatus
from syncd.store.bulk import sqlite_datetime

#: A seen page of the sweeping run.
OF_RUN = "sp.run_id = :run_id"
#: A seen page of any run of the scope's integration and model.
OF_MODEL = "sp.integration_id = :iid AND sp.model = :model"


@dataclass(frozen=True, slots=True)
class SeenStatements:
    """The seen-page statements of one engine."""

    dialect: str

    async def insert(
        self,
        conn: AsyncConnection,
        *,
        run_id: str,
        integration_id: str,
        model: str,
        now: datetime,
        x_ids: Sequence[str],
    ) -> None:
        """Record that ``run_id`` saw ``x_ids`` (one row, however many)."""
        if not x_ids:
            return
        if self.dialect == "postgresql":
            await conn.exec_driver_sql(
                "INSERT INTO seen_pages (run_id, integration_id, model, seen_at, x_ids) "
                "VALUES ($1, $2, $3, $4, $5::text[])",
                (run_id, integration_id, model, now, list(x_ids)),
            )
            return
        await conn.exec_driver_sql(
            "INSERT INTO seen_pages (run_id, integration_id, model, seen_at, x_ids) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                run_id,
                integration_id,
                model,
                sqlite_datetime(now),
                orjson.dumps(list(x_ids)).decode(),
            ),
        )

    def _x_ids(self, pages: str, also: str = "") -> str:
        """The x_ids of the seen pages matching ``pages`` (alias ``sp``) as ``x_id`` rows.

        ``also`` adds columns of ``sp`` before it (e.g. ``"sp.seen_at, "``).
        """
        if self.dialect == "postgresql":
            return (
                f"SELECT {also}u.x_id FROM seen_pages AS sp "
                f"CROSS JOIN LATERAL unnest(sp.x_ids) AS u(x_id) WHERE {pages}"
            )
        return (
            f"SELECT {also}j.value AS x_id FROM seen_pages AS sp, json_each(sp.x_ids) AS j "
            f"WHERE {pages}"
        )

    def seen_set(self, pages: str) -> str:
        """A subquery of the distinct x_ids seen in ``pages``, for a LEFT JOIN on ``x_id``."""
        return f"SELECT DISTINCT s.x_id FROM ({self._x_ids(pages)}) AS s"

    def not_seen(self, pages: str) -> str:
        """A predicate on ``{p}x_id``: in none of the seen pages matching ``pages``.

        PostgreSQL plans the NOT EXISTS as a hash anti-join (a NOT IN of a
        large set would be a per-row scan once it outgrows ``work_mem``);
        SQLite builds the NOT IN's set once, as an index.
        """
        if self.dialect == "postgresql":
            return (
                "NOT EXISTS (SELECT 1 FROM seen_pages AS sp "
                "CROSS JOIN LATERAL unnest(sp.x_ids) AS u(x_id) "
                f"WHERE {pages} AND u.x_id = {{p}}x_id)"
            )
        return f"{{p}}x_id NOT IN ({self._x_ids(pages)})"

    async def release(
        self, conn: AsyncConnection, table: Table, integration_id: str, model: str
    ) -> int:
        """Drop the seen pages of ``model``'s finished runs; fold them first if a sweep is held.

        Returns the seen pages dropped.
        """
        params = {
            "iid": integration_id,
            "model": model,
            "running": RunStatus.RUNNING.value,
            "held": RunStatus.NEEDS_ATTENTION.value,
        }
        finished = (
            f"{OF_MODEL} AND sp.run_id IN (SELECT r.id FROM sync_runs AS r "
            "WHERE r.integration_id = :iid AND r.model = :model AND r.status <> :running)"
        )
        held = await conn.execute(
            _bound(
                "SELECT 1 FROM sync_runs WHERE integration_id = :iid AND model = :model "
                "AND status = :held LIMIT 1",
                params,
            )
        )
        if held.first() is not None:
            latest = (
                f"SELECT x.x_id, max(x.seen_at) AS seen_at "
                f"FROM ({self._x_ids(finished, 'sp.seen_at, ')}) AS x GROUP BY x.x_id"
            )
            t = table.name
            fold = (
                f"UPDATE {t} SET last_seen = f.seen_at FROM ({latest}) AS f "
                f"WHERE {t}.integration_id = :iid AND {t}.x_id = f.x_id "
                f"AND {t}.last_seen < f.seen_at"
            )
            await conn.execute(_bound(fold, params))
        drop = (
            f"DELETE FROM seen_pages WHERE id IN "
            f"(SELECT sp.id FROM seen_pages AS sp WHERE {finished})"
        )
        result = await conn.execute(_bound(drop, params))
        return int(result.rowcount)


def _bound(sql: str, params: Mapping[str, object]) -> TextClause:
    """``sql`` with those of ``params`` it names bound."""
    return text(sql).bindparams(
        *(bindparam(k, v) for k, v in params.items() if re.search(rf":{k}\b", sql))
    )


def seen_statements(dialect: str) -> SeenStatements:
    """The seen-page statements of ``dialect``."""
    return SeenStatements(dialect)
