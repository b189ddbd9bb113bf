"""The cache database schema (SQLAlchemy Core), one definition for both engines."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from syncd.models import LINK_COLUMNS, LINK_MODEL, MODELS, ColumnType
from syncd.store.types import BigIntPK, JSONType, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _sql_type(t: ColumnType) -> TypeEngine[Any]:
    from sqlalchemy import BigInteger

    types: dict[ColumnType, TypeEngine[Any]] = {
        ColumnType.STRING: String(),
        ColumnType.TEXT: Text(),
        ColumnType.INT: Integer(),
        ColumnType.BIGINT: BigInteger(),
        ColumnType.FLOAT: Float(),
        ColumnType.BOOL: Boolean(),
        ColumnType.DATE: Date(),
        ColumnType.DATETIME: UTCDateTime(),
        ColumnType.UUID: Uuid(),
        ColumnType.JSON: JSONType,
    }
    return types[t]


def _common_columns() -> list[Column[object]]:
    return [
        Column("id", Uuid(), primary_key=True),
        Column("integration_id", String(64), nullable=False),
        Column("integration_vendor", String(32), nullable=False),
        Column("x_id", String(128), nullable=False),
        Column("x_property_id", String(128)),
        Column("property_id", Uuid()),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("last_seen", UTCDateTime(), nullable=False),
        Column("deleted_at", UTCDateTime()),
        Column("custom_data", JSONType, nullable=False),
        Column("content_hash", String(64), nullable=False),
        # Digest of the raw PMS record and the transform that read it: equal
        # means the record need not even be transformed again.
        Column("source_hash", String(64)),
        Column("last_run_id", String(36)),
    ]


#: Indexes for a model's common filtered or ordered lists, beyond every model's own.
_LIST_INDEXES: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "leases": (
        ("integration_id", "status_normalized", "created_at", "id"),
        ("integration_id", "start_date", "id"),
    ),
}


def _model_table(name: str) -> Table:
    model = MODELS[name]
    return Table(
        name,
        metadata,
        *_common_columns(),
        *(Column(c.name, _sql_type(c.type)) for c in model.columns),
        UniqueConstraint("integration_id", "x_id"),
        Index(None, "integration_id", "property_id"),
        # The read API's default order (newest first, id breaking ties), over
        # every integration and over one.
        Index(None, "created_at", "id"),
        Index(None, "integration_id", "created_at", "id"),
        *(Index(None, *columns) for columns in _LIST_INDEXES.get(name, ())),
    )


#: One table per unified model.
MODEL_TABLES: Final[dict[str, Table]] = {name: _model_table(name) for name in MODELS}

residents_to_leases = Table(
    LINK_MODEL,
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("integration_id", String(64), nullable=False),
    Column("integration_vendor", String(32), nullable=False),
    Column("lease_id", Uuid(), nullable=False),
    Column("resident_id", Uuid(), nullable=False),
    *(Column(c.name, _sql_type(c.type)) for c in LINK_COLUMNS),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    UniqueConstraint("integration_id", "x_lease_id", "x_resident_id"),
    Index(None, "resident_id"),
    Index(None, "lease_id"),
)

integrations = Table(
    "integrations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("vendor", String(32), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("base_url", String(500)),
    Column("credentials", Text(), nullable=False),  # Fernet token
    Column("options", JSONType, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("root_run_id", String(36)),
    Column("parent_run_id", String(36)),
    Column("integration_id", String(64), nullable=False),
    Column("vendor", String(32), nullable=False),
    Column("model", String(64)),
    Column("mode", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("fetched", Integer(), nullable=False, default=0),
    Column("created", Integer(), nullable=False, default=0),
    Column("updated", Integer(), nullable=False, default=0),
    Column("unchanged", Integer(), nullable=False, default=0),
    Column("deleted", Integer(), nullable=False, default=0),
    Column("quarantined", Integer(), nullable=False, default=0),
    Column("requests", Integer(), nullable=False, default=0),
    Column("retries", Integer(), nullable=False, default=0),
    Column("records_processed", Integer(), nullable=False, default=0),
    Column("error", Text()),
    # Refreshed with every stored page; a RUNNING run without a recent
    # heartbeat belongs to a process that died and may be taken over.
    Column("heartbeat_at", UTCDateTime()),
    # The fire time a scheduled run answers: one run per fire, checkable.
    Column("scheduled_for", UTCDateTime()),
    # The fetch window the run asked for: a sweep (or its later approval)
    # only considers records inside it.
    Column("window_since", UTCDateTime()),
    Column("window_until", UTCDateTime()),
    # The process that runs it (node id): a process recognizes its own
    # orphaned runs (e.g. after its database connections were cut).
    Column("owner", String(128)),
    # Fire times of the schedule that passed while the previous run was
    # still going: coalesced into this run, none run twice.
    Column("coalesced_fires", Integer(), nullable=False, default=0, server_default="0"),
    Index(None, "integration_id", "started_at"),
    Index(None, "root_run_id"),
    # The database itself forbids two active runs of one (integration, model).
    Index(
        "uq_sync_runs_one_running",
        "integration_id",
        "model",
        unique=True,
        postgresql_where=text("status = 'RUNNING' AND model IS NOT NULL"),
        sqlite_where=text("status = 'RUNNING' AND model IS NOT NULL"),
    ),
)

schedules = Table(
    "schedules",
    metadata,
    Column("integration_id", String(64), nullable=False),
    Column("job", String(64), nullable=False),
    Column("trigger", JSONType, nullable=False),
    Column("state", String(16), nullable=False),
    # None: the trigger will never fire again.
    Column("next_run_at", UTCDateTime()),
    Column("last_run_at", UTCDateTime()),
    # The node running the job and until when its claim holds without renewal.
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Fire times missed while the last run went on (the next run records them).
    Column("coalesced_fires", Integer(), nullable=False, default=0, server_default="0"),
    PrimaryKeyConstraint("integration_id", "job"),
    Index(None, "state", "next_run_at"),
    # What claims read: the free due rows in fire order, and the few leased
    # ones (busy integrations, expired leases). Partial, so a claim never
    # walks past thousands of rows it cannot take.
    Index(
        "ix_schedules_free_next_run_at",
        "next_run_at",
        postgresql_where=text("state = 'ACTIVE' AND lease_owner IS NULL"),
        sqlite_where=text("state = 'ACTIVE' AND lease_owner IS NULL"),
    ),
    Index(
        "ix_schedules_leased",
        "integration_id",
        "lease_expires_at",
        postgresql_where=text("lease_owner IS NOT NULL"),
        sqlite_where=text("lease_owner IS NOT NULL"),
    ),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("integration_id", String(64), nullable=False),
    Column("model", String(64), nullable=False),
    # Upper bound of the last successfully completed window: the next
    # incremental run asks from here (minus an overlap).
    Column("watermark", UTCDateTime()),
    # Progress of an unfinished run: resume after `cursor` with the same window.
    Column("cursor", String(200)),
    Column("cursor_run_id", String(36)),
    Column("cursor_mode", String(16)),
    Column("window_since", UTCDateTime()),
    Column("window_until", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("integration_id", "model"),
)

change_events = Table(
    "change_events",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("integration_id", String(64), nullable=False),
    Column("integration_vendor", String(32), nullable=False),
    # Lifecycle events (SYNC_COMPLETE, JOB_FAILURE...) concern no record.
    Column("model", String(64)),
    Column("record_id", Uuid()),
    Column("x_id", String(128)),
    Column("event_type", String(32), nullable=False),
    Column("run_id", String(36)),
    Column("diff", JSONType),
    # The webhook body's "data": complete, so delivery needs no other table.
    Column("payload", JSONType),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "integration_id", "id"),
    # Retention pruning deletes by age.
    Index(None, "created_at"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("integration_id", String(64), nullable=False),
    Column("model", String(64), nullable=False),
    Column("x_id", String(128)),
    Column("run_id", String(36)),
    Column("reason", Text(), nullable=False),
    Column("raw", JSONType),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "integration_id", "model", "x_id"),
)

#: The x_ids a run saw without writing their rows (unchanged or quarantined),
#: one row per page: a deletion sweep spares them. Rewriting each unchanged
#: row's ``last_seen`` and run id instead would make an unchanged re-sync
#: write every row of the cache (and every index entry of it on PostgreSQL).
#: Rows live while their run does (longer only while a sweep is held).
seen_pages = Table(
    "seen_pages",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("integration_id", String(64), nullable=False),
    Column("model", String(64), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
    # A text[] on PostgreSQL, a JSON array on SQLite.
    Column("x_ids", Text().with_variant(postgresql.ARRAY(Text()), "postgresql"), nullable=False),
    Index(None, "run_id"),
    Index(None, "integration_id", "model"),
)

# -- webhooks -----------------------------------------------------------------

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("triggers", JSONType, nullable=False),
    # None: every model. Only data events carry a model to filter on.
    Column("models", JSONType),
    # Names only: the values may be credentials and live in `secret`.
    Column("headers", JSONType, nullable=False),
    # Fernet token of the signing secret and the header values.
    Column("secret", Text(), nullable=False),
    Column("state", String(16), nullable=False),
    # Events up to this id predate the subscription and are never sent to it.
    Column("start_event_id", BigInteger(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscription_id", String(32), nullable=False),
    Column("event_id", BigInteger(), nullable=False),
    # The record the event is about: a record's events go out one at a time,
    # in event order (at most one PENDING, the rest WAITING). None (lifecycle
    # events): no order to keep.
    Column("order_key", String(64)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    # While a dispatcher holds the delivery this is its lease's end: a
    # dispatcher that dies simply lets it come due again.
    Column("next_attempt_at", UTCDateTime()),
    Column("first_attempt_at", UTCDateTime()),
    Column("last_attempt_at", UTCDateTime()),
    Column("last_status_code", Integer()),
    Column("last_error", Text()),
    Column("last_latency_ms", Float()),
    Column("delivered_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("subscription_id", "event_id"),
    Index(None, "event_id"),
    # Partial, so claims and counts never walk the (large) delivered history.
    Index(
        "ix_webhook_deliveries_due",
        "subscription_id",
        "next_attempt_at",
        "id",
        postgresql_where=text("status = 'PENDING'"),
        sqlite_where=text("status = 'PENDING'"),
    ),
    # A record's queued events: the ones behind an ending delivery.
    Index(
        "ix_webhook_deliveries_queued",
        "order_key",
        "subscription_id",
        "event_id",
        postgresql_where=text("status IN ('PENDING', 'WAITING')"),
        sqlite_where=text("status IN ('PENDING', 'WAITING')"),
    ),
    Index(
        "ix_webhook_deliveries_dead",
        "subscription_id",
        postgresql_where=text("status = 'DEAD'"),
        sqlite_where=text("status = 'DEAD'"),
    ),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscription_id", String(32), nullable=False),
    Column("event_id", BigInteger(), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("attempted_at", UTCDateTime(), nullable=False),
    Column("status_code", Integer()),
    Column("latency_ms", Float(), nullable=False),
    Column("error", Text()),
    # The start of a refusing receiver's answer, for the operator.
    Column("response", Text()),
    Index(None, "event_id"),
)

webhook_fanout = Table(
    "webhook_fanout",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    # Every event up to here was fanned out, except the ids in pending_ids.
    Column("last_event_id", BigInteger(), nullable=False),
    # {id: first missed (unix time)}: ids skipped over because their
    # transaction had not committed yet (PostgreSQL hands out sequence values
    # before commit); looked for again until they appear or age out.
    Column("pending_ids", JSONType, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# -- API keys -----------------------------------------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    # The key's first characters: enough for an operator to tell keys apart,
    # far too few to guess the rest.
    Column("prefix", String(16), nullable=False),
    # SHA-256 of the whole key: the key itself is never stored. Unique, so a
    # request's key is found by one index look-up.
    Column("hash", String(64), nullable=False, unique=True),
    Column("rate_limit_per_minute", Integer(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Written at most about once a minute per key, not on every request.
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

# -- data-access checks -------------------------------------------------------

data_access_checks = Table(
    "data_access_checks",
    metadata,
    Column("integration_id", String(64), primary_key=True),
    # The integration's created_at when the row was written: a row left by a
    # removed integration of the same id is recognized as someone else's.
    Column("integration_created_at", UTCDateTime(), nullable=False),
    # Set while a check runs; the claim is one conditional write on it.
    Column("running", Boolean(), nullable=False),
    # Who holds the running check (a random token per claim): only the holder
    # records its results.
    Column("claim", String(36), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    # A running check not finished by then was lost (its process died):
    # another may claim the integration.
    Column("lease_until", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    # {model: {read|create|update: {status, error_message, checked_at}}}.
    Column("results", JSONType, nullable=False),
)

# -- write jobs -----------------------------------------------------------------

write_jobs = Table(
    "write_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("integration_id", String(64), nullable=False),
    Column("vendor", String(32), nullable=False),
    Column("model", String(32), nullable=False),
    Column("operation", String(16), nullable=False),
    # The record an update changes: its syncd id and its PMS id.
    Column("record_id", Uuid()),
    Column("x_id", String(128)),
    Column("property_x_id", String(128)),
    # What the client asked for (unified fields, syncd ids), as answered.
    Column("payload", JSONType, nullable=False),
    # The same with references as PMS ids: what the connector is handed.
    Column("pms_payload", JSONType, nullable=False),
    Column("stripped_fields", JSONType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    # A PENDING job is claimable from then on (retries wait for their backoff).
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    # Who carries it out now; a RUNNING job whose lease ran out was lost with
    # its worker and may be claimed again.
    Column("lease_owner", String(128)),
    Column("lease_until", UTCDateTime()),
    # When a create was first handed to the PMS: a later attempt first looks
    # for a record made since then, so a lost answer never makes a duplicate.
    Column("sent_at", UTCDateTime()),
    Column("errors", JSONType, nullable=False),
    Column("created_x_id", String(128)),
    Column("created_record_id", Uuid()),
    # The client's Idempotency-Key and a digest of its request: the same key
    # with another request is refused.
    Column("idempotency_key", String(255), unique=True),
    Column("request_hash", String(64), nullable=False),
    Column("retry_of", String(36)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    # The claim's look-up: due PENDING jobs, and RUNNING ones to take over.
    Index(None, "status", "next_attempt_at"),
    Index(None, "integration_id", "created_at"),
    Index(None, "created_at"),
)
