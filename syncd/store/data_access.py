"""Data-access checks in SQL: one row per integration, claimed by one conditional write.

A check is claimed by setting ``running`` on the integration's row, with an
UPDATE that only matches an idle row (or one whose lease ran out, or one
left by a removed integration of the same id), else by INSERTing the row;
the primary key refuses a second INSERT. Either way exactly one claimant
wins on either engine, so two nodes never check one integration at once.
The winner's random ``claim`` token guards every later write: a check that
lost its lease cannot overwrite its successor's results.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.store.engine import translate_errors
from syncd.store.tables import data_access_checks

_checks = data_access_checks


@dataclass(frozen=True, slots=True)
class DataAccessRow:
    """The stored state of an integration's data-access check."""

    integration_id: str
    integration_created_at: datetime
    running: bool
    started_at: datetime
    lease_until: datetime
    #: When the last check ended (None: none has ended yet).
    finished_at: datetime | None
    #: ``{model: {operation: {status, error_message, checked_at}}}``.
    results: Mapping[str, Any]


class SqlDataAccessChecks:
    """The ``data_access_checks`` table, on the cache database's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, integration_id: str) -> DataAccessRow | None:
        """The integration's row (None: no check was ever claimed)."""
        query = select(_checks).where(_checks.c.integration_id == integration_id)
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return DataAccessRow(
            integration_id=row.integration_id,
            integration_created_at=row.integration_created_at,
            running=bool(row.running),
            started_at=row.started_at,
            lease_until=row.lease_until,
            finished_at=row.finished_at,
            results=dict(row.results or {}),
        )

    async def claim(
        self,
        integration_id: str,
        integration_created_at: datetime,
        *,
        now: datetime,
        lease: timedelta,
        results: Mapping[str, Any],
    ) -> str | None:
        """Mark a check running and return its claim token; None while another runs."""
        token = str(uuid.uuid4())
        same = _checks.c.integration_created_at == integration_created_at
        values = {
            "running": True,
            "claim": token,
            "started_at": now,
            "lease_until": now + lease,
            "integration_created_at": integration_created_at,
            "results": dict(results),
            # A row left by a removed integration of the same id is not this
            # one's history.
            "finished_at": case((same, _checks.c.finished_at), else_=None),
        }
        update = (
            _checks.update()
            .where(
                _checks.c.integration_id == integration_id,
                or_(_checks.c.running.is_(False), _checks.c.lease_until < now, ~same),
            )
            .values(**values)
        )
        async with translate_errors():
            async with self.engine.begin() as conn:
                if (await conn.execute(update)).rowcount == 1:
                    return token
            insert = _checks.insert().values(
                integration_id=integration_id,
                running=True,
                claim=token,
                started_at=now,
                lease_until=now + lease,
                integration_created_at=integration_created_at,
                results=dict(results),
                finished_at=None,
            )
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(insert)
            except IntegrityError:
                # The row exists and the update did not match it: a check runs.
                return None
        return token

    async def save(
        self,
        integration_id: str,
        token: str,
        results: Mapping[str, Any],
        *,
        finished_at: datetime | None = None,
    ) -> bool:
        """Store the results so far (and end the check when ``finished_at`` is given).

        Returns False when the claim is no longer this token's (its lease
        ran out and another check took over): nothing is written then.
        """
        values: dict[str, Any] = {"results": dict(results)}
        if finished_at is not None:
            values |= {"running": False, "finished_at": finished_at}
        update = (
            _checks.update()
            .where(
                _checks.c.integration_id == integration_id,
                _checks.c.claim == token,
                _checks.c.running.is_(True),
            )
            .values(**values)
        )
        async with translate_errors(), self.engine.begin() as conn:
            return bool((await conn.execute(update)).rowcount == 1)

    async def release(self, integration_id: str, token: str) -> None:
        """Give up a claimed check that never ran (its results stay as they were)."""
        update = (
            _checks.update()
            .where(_checks.c.integration_id == integration_id, _checks.c.claim == token)
            .values(running=False)
        )
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(update)
