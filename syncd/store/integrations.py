"""Integrations in SQL: :class:`SqlIntegrations`.

The PMS connections syncd syncs, credentials encrypted at rest with the
store's cipher, and removing one together with everything kept of it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import desc, func, or_, select
from sqlalchemy.exc import IntegrityError

from syncd.domain import Environment, Integration, RunStatus
from syncd.errors import IntegrationNotFound, RunConflict, StoreError
from syncd.store._shared import SqlRepository, utc_now
from syncd.store.base import Integrations
from syncd.store.engine import translate_errors
from syncd.store.tables import (
    MODEL_TABLES,
    checkpoints,
    data_access_checks,
    integrations,
    quarantine,
    residents_to_leases,
    schedules,
    seen_pages,
    sync_runs,
)


class SqlIntegrations(SqlRepository, Integrations):
    """:class:`~syncd.store.base.Integrations` on an SQLAlchemy async engine."""

    def _integration_row(self, integration: Integration, now: datetime) -> dict[str, Any]:
        return {
            "id": integration.id,
            "name": integration.name,
            "vendor": integration.vendor,
            "environment": integration.environment.value,
            "enabled": integration.enabled,
            "base_url": integration.base_url,
            "credentials": self._cipher.encrypt(integration.credentials),
            "options": dict(integration.options),
            "updated_at": now,
        }

    def _integration(self, row: Any) -> Integration:
        return replace(_head(row), credentials=self._cipher.decrypt(row.credentials))

    async def add_integration(self, integration: Integration) -> None:
        now = utc_now()
        row = self._integration_row(integration, now) | {"created_at": now}
        async with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(integrations.insert().values(**row))
            except IntegrityError as exc:
                raise StoreError(
                    f"an integration with id {integration.id!r} or name {integration.name!r} "
                    "already exists"
                ) from exc

    async def update_integration(self, integration: Integration) -> None:
        row = self._integration_row(integration, utc_now())
        async with translate_errors(), self.engine.begin() as conn:
            result = await conn.execute(
                integrations.update().where(integrations.c.id == integration.id).values(**row)
            )
            if result.rowcount == 0:
                raise IntegrationNotFound(f"no integration {integration.id!r}")

    async def get_integration(self, id_or_name: str) -> Integration:
        async with translate_errors(), self.engine.connect() as conn:
            row = (
                await conn.execute(select(integrations).where(integrations.c.id == id_or_name))
            ).first()
            if row is None:
                row = (
                    await conn.execute(
                        select(integrations).where(integrations.c.name == id_or_name)
                    )
                ).first()
        if row is None:
            raise IntegrationNotFound(f"no integration with id or name {id_or_name!r}")
        return self._integration(row)

    async def list_integrations(self) -> list[Integration]:
        async with translate_errors(), self.engine.connect() as conn:
            rows = await conn.execute(select(integrations).order_by(integrations.c.id))
            return [self._integration(r) for r in rows]

    async def list_integration_heads(self) -> list[Integration]:
        async with translate_errors(), self.engine.connect() as conn:
            rows = await conn.execute(select(*_HEAD_COLUMNS).order_by(integrations.c.id))
            return [_head(r) for r in rows]

    async def find_integration_head(self, id_or_name: str) -> Integration | None:
        # An id wins over another integration's equal name, as get_integration does.
        query = (
            select(*_HEAD_COLUMNS, (integrations.c.id == id_or_name).label("by_id"))
            .where(or_(integrations.c.id == id_or_name, integrations.c.name == id_or_name))
            .order_by(desc("by_id"))
            .limit(1)
        )
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _head(row) if row is not None else None

    async def updated_times(self) -> dict[str, datetime]:
        """When each integration was last changed, by id (not part of the Store protocol)."""
        query = select(integrations.c.id, integrations.c.updated_at)
        async with translate_errors(), self.engine.connect() as conn:
            return {r.id: r.updated_at for r in await conn.execute(query)}

    async def set_enabled(self, integration_id: str, enabled: bool) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            result = await conn.execute(
                integrations.update()
                .where(integrations.c.id == integration_id)
                .values(enabled=enabled, updated_at=utc_now())
            )
        if result.rowcount == 0:
            raise IntegrationNotFound(f"no integration {integration_id!r}")

    async def remove_integration(
        self, integration_id: str, *, live_since: datetime | None = None
    ) -> dict[str, int]:
        owned = [
            *MODEL_TABLES.values(),
            residents_to_leases,
            quarantine,
            seen_pages,
            checkpoints,
            schedules,
            sync_runs,
            data_access_checks,
        ]
        removed: dict[str, int] = {}
        async with translate_errors(), self.engine.begin() as conn:
            # The integration row goes first: on SQLite that write takes the
            # database's write lock, so no run can start between the check
            # below and the commit.
            gone = await conn.execute(
                integrations.delete().where(integrations.c.id == integration_id)
            )
            if gone.rowcount == 0:
                raise IntegrationNotFound(f"no integration {integration_id!r}")
            if live_since is not None:
                beat = func.coalesce(sync_runs.c.heartbeat_at, sync_runs.c.started_at)
                live = (
                    await conn.execute(
                        select(sync_runs.c.id, sync_runs.c.model)
                        .where(
                            sync_runs.c.integration_id == integration_id,
                            sync_runs.c.status == RunStatus.RUNNING.value,
                            beat >= live_since,
                        )
                        .order_by(sync_runs.c.model.is_(None), sync_runs.c.started_at)
                        .limit(1)
                    )
                ).first()
                if live is not None:
                    raise RunConflict(
                        f"integration {integration_id!r} is syncing right now "
                        f"(run {live.id} of {live.model or 'all models'})"
                    )
            removed["integrations"] = int(gone.rowcount)
            for table in owned:
                result = await conn.execute(
                    table.delete().where(table.c.integration_id == integration_id)
                )
                removed[table.name] = int(result.rowcount)
        return removed


_HEAD_COLUMNS = [c for c in integrations.c if c.name != "credentials"]


def _head(r: Any) -> Integration:
    """An integration row without its credentials."""
    return Integration(
        id=r.id,
        name=r.name,
        vendor=r.vendor,
        environment=Environment(r.environment),
        enabled=r.enabled,
        base_url=r.base_url,
        credentials={},
        options=dict(r.options or {}),
        created_at=r.created_at,
    )
