"""Alembic environment: runs on a connection handed over by syncd.store.migrate."""

from __future__ import annotations

from alembic import context

from syncd.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a bare `alembic` call
    raise RuntimeError("run migrations through `syncd db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    user_module_prefix="syncd.store.types.",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
