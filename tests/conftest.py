"""Shared fixtures: a real PostgreSQL and real SQLite files, each test on a fresh database.

The schema is migrated once per session into a template (a PostgreSQL
template database, a SQLite file); each test gets a copy, which is far
cheaper than migrating per test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from syncd.crypto import Cipher
from syncd.store.engine import make_engine
from syncd.store.migrate import upgrade
from syncd.store.sql import SqlStore

PG_HOST = os.environ.get("SYNCD_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SYNCD_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("SYNCD_TEST_PGUSER", "postgres")
TEMPLATE = f"syncd_tpl_{os.getpid()}"
ENGINES = ("sqlite", "postgresql")

REPO = Path(__file__).resolve().parents[1]


def pg_url(database: str) -> str:
    """An asyncpg SQLAlchemy URL of a test database."""
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=10
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL template database (a failure here fails, never skips)."""

    async def create() -> None:
        try:
            await _pg_admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        except (OSError, asyncpg.PostgresError) as exc:
            raise RuntimeError(
                f"PostgreSQL is required for the tests and is not reachable at "
                f"{PG_HOST}:{PG_PORT} ({exc}); run scripts/ensure-postgres.sh"
            ) from exc
        await _pg_admin(f"CREATE DATABASE {TEMPLATE}")
        await _migrate(pg_url(TEMPLATE))

    asyncio.run(create())
    yield TEMPLATE
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy."""
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each engine."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "syncd.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"syncd_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f"CREATE DATABASE {name} TEMPLATE {template_name}"))
    yield pg_url(name)
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def pg_database_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (for tests that need PostgreSQL itself)."""
    name = f"syncd_p_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
    yield pg_url(name)
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema (parametrize indirectly with an engine name)."""
    engine_name = getattr(request, "param", "sqlite")
    if engine_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"syncd_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f"CREATE DATABASE {name}"))
    yield pg_url(name)
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def cipher() -> Cipher:
    """A cipher with a fresh key."""
    return Cipher(Fernet.generate_key())


@pytest.fixture
async def store(database_url: str, cipher: Cipher) -> AsyncIterator[SqlStore]:
    """A store on a fresh database (runs once per engine)."""
    s = SqlStore(make_engine(database_url), cipher)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults (a test may configure it)."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[Callable[..., tuple[str, dict[str, str]]]]:
    """Start `syncd sim buildium` subprocesses: start(scale, seed) gives (URL, credentials)."""
    started: list[tuple[subprocess.Popen[str], Any]] = []

    def start(scale: int = 30, seed: int = 5) -> tuple[str, dict[str, str]]:
        log = (tmp_path / f"sim-{len(started)}.log").open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncd",
                "sim",
                "buildium",
                "--port",
                "0",
                "--scale",
                str(scale),
                "--seed",
                str(seed),
                "--rate-limit",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        started.append((proc, log))
        assert proc.stdout is not None
        url, creds = "", {}
        while len(creds) < 2:
            line = proc.stdout.readline()
            assert line, "simulator exited before printing its address"
            if line.startswith("base_url="):
                url = line.strip().split("=", 1)[1]
            elif line.startswith("credential "):
                key, value = line.strip().split(" ", 1)[1].split("=", 1)
                creds[key] = value
        return url, creds

    yield start
    for proc, log in started:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
        log.close()
