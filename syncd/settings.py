"""One settings object: defaults < TOML file < ``SYNCD_*`` environment < command line."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from syncd.errors import ConfigError
from syncd.files import read_text

ENV_PREFIX = "SYNCD_"


def default_state_dir() -> Path:
    """Where syncd keeps its embedded database and key file.

    systemd's ``StateDirectory=`` sets ``$STATE_DIRECTORY``; otherwise the XDG
    state directory of the user.
    """
    if sd := os.environ.get("STATE_DIRECTORY"):
        return Path(sd.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "syncd"


class Settings(BaseSettings):
    """Every daemon and CLI setting; each has a ``SYNCD_<NAME>`` environment variable."""

    # inf would pass every ``gt=0`` bound and then overflow a timedelta or
    # never let a loop come round: only finite numbers are settings.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, allow_inf_nan=False
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the cache database: sqlite+aiosqlite:///PATH or "
        "postgresql+asyncpg://USER@HOST/DB (default: SQLite in the state directory)",
    )
    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="directory for the embedded database and the key file",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key encrypting credentials at rest"
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="file holding the Fernet key; a file named here must exist "
        "(default: STATE_DIR/secret.key, created with mode 0600 on first use)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="minimum log level"
    )
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto", description="auto = console on a terminal, JSON otherwise"
    )
    jobs_dir: Path | None = Field(
        default=None, description="override directory for job definitions (VENDOR.yaml)"
    )
    transforms_dir: Path | None = Field(
        default=None, description="override directory for transform schemas (VENDOR/MODEL.yaml)"
    )
    http_host: str = Field(default="127.0.0.1", description="HTTP bind address of syncd serve")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP port of syncd serve")
    incremental_overlap_seconds: int = Field(
        default=300,
        ge=0,
        description="incremental runs re-ask this many seconds before the last watermark",
    )
    last_seen_resolution_seconds: int = Field(
        default=3600,
        ge=0,
        description="an unchanged record's last_seen is rewritten by a sync once it is this "
        "old (0: by every sync); deletion sweeps do not depend on it",
    )
    node_id: str | None = Field(
        default=None, description="this node's name in schedule leases (default: host-pid-random)"
    )
    scheduler_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often syncd serve looks for due schedules"
    )
    lease_seconds: int = Field(
        default=60, ge=5, description="a claimed schedule's lease; renewed every third of it"
    )
    max_concurrent_jobs: int = Field(
        default=4, ge=1, description="jobs one node runs at once (all integrations)"
    )
    max_jobs_per_vendor: int = Field(
        default=4, ge=1, description="jobs one node runs at once against one PMS vendor"
    )
    stop_timeout_seconds: float = Field(
        default=30.0, gt=0, description="on SIGTERM, how long running jobs get to finish a page"
    )
    pms_rate_limit_wait_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how long a storm of 429 answers from a PMS is waited out (each wait "
        "logged as pms.rate_limited) before the request, and its model run, fails",
    )
    listing_drift_records: int = Field(
        default=10,
        ge=0,
        description="a listing may differ from the total the PMS announced by this many "
        "records (or listing_drift_share of it, whichever is larger) and still count as "
        "complete: records created or deleted while it was listed",
    )
    listing_drift_share: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="the drift a listing may show, as a share of the announced total",
    )
    progress: Literal["auto", "always", "never"] = Field(
        default="auto", description="progress bars for syncd run: auto = on a terminal"
    )
    webhook_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="how often an idle webhook dispatcher looks for new events and due retries",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="seconds a webhook receiver has to answer a delivery"
    )
    webhook_max_concurrency: int = Field(
        default=128, ge=1, description="webhook deliveries one dispatcher posts at once"
    )
    webhook_max_per_subscription: int = Field(
        default=32,
        ge=1,
        description="webhook deliveries posted at once to one subscription: all a slow "
        "receiver can hold of the concurrent posts",
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long a claimed delivery is held before another dispatcher may take "
        "it (at least twice the timeout is used)",
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="longest wait before the first webhook retry"
    )
    webhook_retry_max_delay_seconds: float = Field(
        default=21600.0,
        gt=0,
        description="longest wait between webhook retries (the wait doubles up to it, "
        "randomized with full jitter)",
    )
    webhook_retry_window_seconds: float = Field(
        default=86400.0,
        ge=0,
        description="how long after the first attempt a webhook delivery is retried before "
        "it is dead-lettered",
    )
    write_max_attempts: int = Field(
        default=6,
        ge=1,
        le=100,
        description="attempts at a write job before a transient PMS fault fails it (a refusal "
        "by the PMS is never retried)",
    )
    write_backoff_base_seconds: float = Field(
        default=2.0,
        gt=0,
        description="wait after a write's first transient fault; it doubles per attempt, "
        "with jitter, up to 300 s",
    )
    write_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="how long a claimed write job is held before another worker may take it "
        "over (its worker presumed dead)",
    )
    write_read_back_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long reading a written record back waits for a running sync of the "
        "same model before leaving it to the next sync",
    )
    write_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often an idle write worker looks for due write jobs",
    )
    event_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="change events (and their delivered webhooks) are pruned after this many days",
    )
    api_key_rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="requests per minute a new API key may make (syncd keys create "
        "--rate-limit overrides it per key; existing keys keep theirs)",
    )
    api_exact_total_limit: int = Field(
        default=1_000,
        ge=0,
        le=100_000_000,
        description="the read API counts a list's matches exactly up to this many; beyond, "
        "meta.total is left out and meta.total_exceeds gives the limit (counting costs "
        "about a millisecond per thousand matches per request, an exact count of a "
        "million records a tenth of a second)",
    )
    egress_allowed_hosts: str = Field(
        default="",
        max_length=4000,
        description="comma-separated hosts PMS requests and webhook deliveries may go to "
        "(empty: any host)",
    )
    http_open_probes: bool = Field(
        default=True,
        description="/healthz, /readyz and /metrics answer without an API key "
        "(false: they need a key of any scope)",
    )
    dashboard_enabled: bool = Field(
        default=True,
        description="syncd serve also serves the dashboard at /dashboard (sign-in with an "
        "admin API key)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Order is priority: command line (init) over environment; the TOML
        # file is merged in by load_settings() below the environment.
        return (init_settings, env_settings)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.state_dir / 'syncd.db'}"

    @property
    def effective_key_file(self) -> Path:
        """The key file path, defaulting into the state directory."""
        return self.secret_key_file or self.state_dir / "secret.key"


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def describe_settings() -> list[tuple[str, str, str, str]]:
    """(toml key, environment variable, default, description) for ``--help``."""
    rows = []
    for name, info in Settings.model_fields.items():
        if info.default_factory is not None:
            default = "(computed)"
        else:
            default = "" if info.default is None else str(info.default)
        rows.append((name, _env_name(name), default, info.description or ""))
    return rows


def _read_toml(path: Path) -> dict[str, Any]:
    text = read_text(path, "configuration file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from exc
    # Accept both a flat file and one with a [syncd] table.
    section = data.get("syncd", data)
    if not isinstance(section, dict):
        raise ConfigError("[syncd] must be a table", file=str(path), field="syncd")
    return dict(section)


def load_settings(
    config_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build the settings from a TOML file, the environment and explicit overrides.

    ``config_file`` defaults to ``$SYNCD_CONFIG``. A bad value raises
    :class:`ConfigError` naming the file (or environment variable) and field.
    """
    if config_file is None and (env_cfg := os.environ.get(ENV_PREFIX + "CONFIG")):
        config_file = Path(env_cfg)
    file_values = _read_toml(config_file) if config_file else {}
    unknown = sorted(set(file_values) - set(Settings.model_fields))
    if unknown and config_file:
        raise ConfigError("unknown setting", file=str(config_file), field=unknown[0])
    env_present = {name for name in Settings.model_fields if _env_name(name) in os.environ}
    explicit = {k: v for k, v in (overrides or {}).items() if v is not None}
    # Values from the file apply only where neither env nor command line set them.
    init = {k: v for k, v in file_values.items() if k not in env_present and k not in explicit}
    init.update(explicit)
    try:
        return Settings(**init)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        if field in explicit:
            source = f"--{field.replace('_', '-')}"
            raise ConfigError(err["msg"], field=source) from exc
        if field in env_present:
            raise ConfigError(err["msg"], field=_env_name(field)) from exc
        if config_file and field in file_values:
            raise ConfigError(err["msg"], file=str(config_file), field=field) from exc
        raise ConfigError(err["msg"], field=field) from exc
