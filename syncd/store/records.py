"""Cached records in SQL: :class:`SqlRecords`.

Page upserts of every model with their change events, resident↔lease
links, quarantine rows and checkpoints, all in one transaction per page;
and the look-ups a sync makes of what is already stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from syncd.crypto import Cipher
from syncd.domain import (
    Checkpoint,
    FetchWindow,
    Integration,
    NormalizedRecord,
    QuarantinedRecord,
    SyncMode,
    UpsertResult,
    record_key,
)
from syncd.events import record_event
from syncd.models import COMMON_COLUMNS, LINK_COLUMNS, LINK_MODEL, MODELS
from syncd.store._shared import SqlRepository, utc_now
from syncd.store.base import PageProgress, Records
from syncd.store.bulk import bulk_insert, keyed_delete, keyed_statements
from syncd.store.engine import translate_errors
from syncd.store.seen import seen_statements
from syncd.store.tables import (
    MODEL_TABLES,
    change_events,
    checkpoints,
    quarantine,
    residents_to_leases,
    sync_runs,
)


class SqlRecords(SqlRepository, Records):
    """:class:`~syncd.store.base.Records` on an SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        super().__init__(engine, cipher)
        dialect = engine.dialect.name
        # Column lists per model, computed once: rows for executemany must all
        # carry the same keys.
        self._model_columns = {name: tuple(c.name for c in m.columns) for name, m in MODELS.items()}
        self._link_columns = tuple(c.name for c in LINK_COLUMNS)
        # The fields an event's record and diff show: the record's data, not
        # the store's bookkeeping (last_seen, hashes, run id, timestamps).
        self._event_fields = {
            name: ("x_property_id", "property_id", *cols, "custom_data")
            for name, cols in self._model_columns.items()
        }
        self._keyed = {name: keyed_statements(dialect, t) for name, t in MODEL_TABLES.items()}
        self._seen = seen_statements(dialect)
        self._inserts = {
            name: bulk_insert(
                dialect,
                MODEL_TABLES[name],
                (*COMMON_COLUMNS, *self._model_columns[name]),
            )
            for name in MODELS
        }
        self._upserts = {
            name: bulk_insert(
                dialect,
                MODEL_TABLES[name],
                (*COMMON_COLUMNS, *self._model_columns[name]),
                conflict=("integration_id", "x_id"),
                keep=("id", "created_at"),
            )
            for name in MODELS
        }
        self._link_delete = keyed_delete(dialect, residents_to_leases, "x_lease_id")
        self._quarantine_delete = keyed_delete(dialect, quarantine, "x_id", "model")
        self._event_insert = bulk_insert(
            dialect,
            change_events,
            (
                "integration_id",
                "integration_vendor",
                "model",
                "record_id",
                "x_id",
                "event_type",
                "run_id",
                "diff",
                "payload",
                "created_at",
            ),
        )
        self._link_insert = bulk_insert(
            dialect,
            residents_to_leases,
            (
                "id",
                "integration_id",
                "integration_vendor",
                "lease_id",
                "resident_id",
                "created_at",
                "updated_at",
                "last_seen",
                *self._link_columns,
            ),
        )

    async def get_checkpoint(self, integration_id: str, model: str) -> Checkpoint:
        query = select(checkpoints).where(
            checkpoints.c.integration_id == integration_id, checkpoints.c.model == model
        )
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return Checkpoint()
        window = None
        if row.cursor is not None:
            window = FetchWindow(since=row.window_since, until=row.window_until)
        return Checkpoint(
            watermark=row.watermark,
            cursor=row.cursor,
            cursor_run_id=row.cursor_run_id,
            cursor_mode=SyncMode(row.cursor_mode) if row.cursor_mode else None,
            window=window,
        )

    async def _save_checkpoint(
        self, conn: AsyncConnection, integration_id: str, model: str, values: dict[str, Any]
    ) -> None:
        stmt = self._insert(checkpoints).values(
            integration_id=integration_id, model=model, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[checkpoints.c.integration_id, checkpoints.c.model], set_=values
        )
        await conn.execute(stmt)

    async def store_page(
        self,
        *,
        integration: Integration,
        model: str,
        records: Sequence[NormalizedRecord],
        quarantined: Sequence[QuarantinedRecord],
        progress: PageProgress,
        now: datetime,
        seen: Sequence[str] = (),
        source_hashes: Mapping[str, str] | None = None,
        events: bool = True,
        fetched: int = 0,
        refresh_before: datetime | None = None,
    ) -> UpsertResult:
        iid = integration.id
        # A PMS may repeat a record within a page; the last copy wins.
        by_x = {r.x_id: r for r in records}
        keyed = self._keyed[model]
        async with translate_errors(), self.engine.begin() as conn:
            existing = await keyed.lookup(conn, iid, list(by_x)) if by_x else {}
            changed: list[NormalizedRecord] = []
            unchanged: list[str] = list(seen)
            created = 0
            for x_id, rec in by_x.items():
                prev = existing.get(x_id)
                if prev is None:
                    created += 1
                    changed.append(rec)
                elif prev[0] != rec.content_hash or prev[2]:
                    changed.append(rec)
                else:
                    unchanged.append(x_id)
            if changed:
                previous: dict[str, dict[str, Any]] = {}
                if events:
                    # One look-up per page for the diffs, before the rows change.
                    live = [
                        r.x_id for r in changed if r.x_id in existing and not existing[r.x_id][2]
                    ]
                    previous = await self._previous_values(conn, model, iid, live)
                await self._write_records(
                    conn,
                    integration,
                    model,
                    changed,
                    existing,
                    source_hashes or {},
                    progress,
                    now,
                    previous if events else None,
                )
            # The PMS listed the quarantined records too: a deletion sweep
            # must not take them for deleted.
            touched = unchanged + [
                q.x_id for q in quarantined if q.x_id is not None and q.x_id not in by_x
            ]
            if touched:
                await self._seen.insert(
                    conn,
                    run_id=progress.run_id,
                    integration_id=iid,
                    model=model,
                    now=now,
                    x_ids=touched,
                )
                await keyed.touch(conn, iid, touched, now, refresh_before or now)
            if quarantined:
                await conn.execute(
                    quarantine.insert(),
                    [
                        {
                            "integration_id": iid,
                            "model": model,
                            "x_id": q.x_id,
                            "run_id": progress.run_id,
                            "reason": q.reason,
                            "raw": q.raw,
                            "created_at": now,
                        }
                        for q in quarantined
                    ],
                )
            # The run's counts grow page by page: `jobs list` shows a running
            # sync's progress, and a killed one keeps what it stored.
            c = sync_runs.c
            n_unchanged = len(unchanged)
            await conn.execute(
                sync_runs.update()
                .where(c.id == progress.run_id)
                .values(
                    heartbeat_at=now,
                    fetched=c.fetched + fetched,
                    records_processed=c.records_processed + fetched,
                    created=c.created + created,
                    updated=c.updated + (len(changed) - created),
                    unchanged=c.unchanged + n_unchanged,
                    quarantined=c.quarantined + len(quarantined),
                )
            )
            if progress.checkpoint:
                await self._save_checkpoint(
                    conn,
                    iid,
                    model,
                    {
                        "cursor": progress.cursor,
                        "cursor_run_id": progress.run_id,
                        "cursor_mode": progress.mode.value,
                        "window_since": progress.window.since,
                        "window_until": progress.window.until,
                        "updated_at": now,
                    },
                )
        return UpsertResult(
            created=created, updated=len(changed) - created, unchanged=len(unchanged)
        )

    async def _write_records(
        self,
        conn: AsyncConnection,
        integration: Integration,
        model: str,
        records: list[NormalizedRecord],
        existing: Mapping[str, tuple[str, str | None, bool]],
        source_hashes: Mapping[str, str],
        progress: PageProgress,
        now: datetime,
        previous: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        """Upsert changed records, their links, events; clear their quarantine entries.

        ``previous`` holds the stored fields of updated records (for diffs);
        None writes no events.
        """
        iid, vendor, run_id = integration.id, integration.vendor, progress.run_id
        columns = self._model_columns[model]
        fields = self._event_fields[model]
        new_rows: list[list[Any]] = []
        changed_rows: list[list[Any]] = []
        events: list[tuple[Any, ...]] = []
        ids: dict[str, str] = {}
        for rec in records:
            values = rec.values
            x_id = rec.x_id
            rid = ids[x_id] = record_key(iid, model, x_id)
            # A list, so the bulk insert can encode it in place.
            row = [  # in COMMON_COLUMNS order, then the model's own
                rid,
                x_id,
                iid,
                vendor,
                values.get("x_property_id"),
                values.get("property_id"),
                now,
                now,
                now,
                None,
                values.get("custom_data") or {},
                rec.content_hash,
                source_hashes.get(x_id),
                run_id,
            ]
            row.extend(map(values.get, columns))
            (changed_rows if x_id in existing else new_rows).append(row)
            if previous is not None:
                known = existing.get(rec.x_id)
                event = record_event(
                    integration,
                    model,
                    rid,
                    values,
                    fields,
                    run_id,
                    x_id=rec.x_id,
                    stored=None if known is None else previous.get(rec.x_id, {}),
                    was_deleted=known is not None and known[2],
                )
                if event is not None:
                    kind, change, payload = event
                    events.append(
                        (
                            iid,
                            vendor,
                            model,
                            rid,
                            rec.x_id,
                            kind.value,
                            run_id,
                            change,
                            payload,
                            now,
                        )
                    )
        # New records are plain inserts (COPY on PostgreSQL): the look-up in
        # this transaction found none of them, and one run per (integration,
        # model) at a time means no one else writes them meanwhile.
        await self._inserts[model].execute(conn, new_rows)
        await self._upserts[model].execute(conn, changed_rows)
        await self._event_insert.execute(conn, events)
        if model == "leases":
            await self._replace_links(conn, integration, records, existing, ids, now)
        # Entries of records that now transform cleanly are stale.
        has_quarantine = await conn.execute(
            select(quarantine.c.id)
            .where(quarantine.c.integration_id == iid, quarantine.c.model == model)
            .limit(1)
        )
        if has_quarantine.first() is not None:
            await self._quarantine_delete.execute(conn, iid, [r.x_id for r in records], model)

    async def _previous_values(
        self, conn: AsyncConnection, model: str, integration_id: str, x_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """x_id → the stored event fields of these records, in one query per page."""
        if not x_ids:
            return {}
        table = MODEL_TABLES[model]
        fields = self._event_fields[model]
        query = select(table.c.x_id, *(table.c[f] for f in fields)).where(
            table.c.integration_id == integration_id
        )
        rows: list[Any] = []
        if self.engine.dialect.name == "postgresql":
            # = ANY(array): one parameter, an index look-up per key.
            keys = bindparam("x_ids", list(x_ids), type_=postgresql.ARRAY(table.c.x_id.type))
            rows.extend(await conn.execute(query.where(table.c.x_id == any_(keys))))
        else:
            for i in range(0, len(x_ids), 900):
                chunk = list(x_ids[i : i + 900])
                rows.extend(await conn.execute(query.where(table.c.x_id.in_(chunk))))
        return {r.x_id: {f: r._mapping[f] for f in fields} for r in rows}

    async def _replace_links(
        self,
        conn: AsyncConnection,
        integration: Integration,
        leases: list[NormalizedRecord],
        existing: Mapping[str, object],
        lease_ids: Mapping[str, str],
        now: datetime,
    ) -> None:
        iid, vendor = integration.id, integration.vendor
        # New leases have no links yet; only updated ones need theirs replaced.
        await self._link_delete.execute(conn, iid, [r.x_id for r in leases if r.x_id in existing])
        link_cols = self._link_columns
        # Keyed by (lease, resident): a PMS may list one tenant twice on a lease.
        rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        for rec in leases:
            lease_id = lease_ids[rec.x_id]
            for link in rec.links:
                values = {
                    **link.values,
                    "x_lease_id": rec.x_id,
                    "x_resident_id": link.x_resident_id,
                }
                rows[(rec.x_id, link.x_resident_id)] = (
                    record_key(iid, LINK_MODEL, f"{rec.x_id}:{link.x_resident_id}"),
                    iid,
                    vendor,
                    lease_id,
                    record_key(iid, "residents", link.x_resident_id),
                    now,
                    now,
                    now,
                    *[values.get(c) for c in link_cols],
                )
        await self._link_insert.execute(conn, list(rows.values()))

    async def known_sources(
        self, integration_id: str, model: str, x_ids: Sequence[str]
    ) -> dict[str, str]:
        if not x_ids:
            return {}
        async with translate_errors(), self.engine.connect() as conn:
            found = await self._keyed[model].lookup(conn, integration_id, x_ids)
        return {x: source for x, (_, source, deleted) in found.items() if source and not deleted}

    async def complete_checkpoint(
        self, integration_id: str, model: str, watermark: datetime | None
    ) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            await self._save_checkpoint(
                conn,
                integration_id,
                model,
                {
                    "watermark": watermark,
                    "cursor": None,
                    "cursor_run_id": None,
                    "cursor_mode": None,
                    "window_since": None,
                    "window_until": None,
                    "updated_at": utc_now(),
                },
            )

    async def count_records(self, integration_id: str, model: str) -> int:
        table = MODEL_TABLES.get(model, residents_to_leases)
        query = (
            select(func.count()).select_from(table).where(table.c.integration_id == integration_id)
        )
        if "deleted_at" in table.c:
            query = query.where(table.c.deleted_at.is_(None))
        async with translate_errors(), self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
