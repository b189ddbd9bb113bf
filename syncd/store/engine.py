"""Creating the async engine and translating driver errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from syncd.errors import ConfigError, DatabaseUnavailable, StoreError
from syncd.files import os_error_reason


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def redact_url(url: str) -> str:
    """The URL with any password masked, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid database url>"


def make_engine(url: str) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ConfigError(f"invalid database URL {url!r}", field="database_url") from error
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite+aiosqlite":
            raise ConfigError("use the sqlite+aiosqlite:/// driver", field="database_url")
        if parsed.database and parsed.database != ":memory:":
            directory = Path(parsed.database).expanduser().parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                reason = (
                    "part of it is a file"
                    if isinstance(error, FileExistsError)
                    else os_error_reason(error)
                )
                raise ConfigError(
                    f"cannot create the database directory {directory}: {reason}",
                    field="database_url",
                ) from error
        engine = create_async_engine(
            parsed, json_serializer=_json_dumps, json_deserializer=orjson.loads
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers (the CLI, /readyz) run while a sync writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+asyncpg":
            raise ConfigError("use the postgresql+asyncpg:// driver", field="database_url")
        return create_async_engine(
            parsed,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
        )
    raise ConfigError(
        f"unsupported database {backend!r}: use SQLite or PostgreSQL", field="database_url"
    )


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Turn driver exceptions into syncd's StoreError tree."""
    try:
        yield
    except exc.TimeoutError as error:
        # The pool had no free connection in time: the database is saturated.
        raise DatabaseUnavailable(f"database busy: {_short(error)}") from error
    except (exc.OperationalError, exc.InterfaceError, ConnectionError, OSError) as error:
        raise DatabaseUnavailable(f"database unavailable: {_short(error)}") from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise DatabaseUnavailable(f"database unavailable: {_short(error)}") from error
        raise StoreError(f"database error: {_short(error)}") from error
    except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError) as error:
        # Raised by the driver itself on the COPY path, which bypasses SQLAlchemy.
        raise DatabaseUnavailable(f"database unavailable: {_short(error)}") from error
    except asyncpg.PostgresError as error:
        raise StoreError(f"database error: {_short(error)}") from error


def _short(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else type(error).__name__
