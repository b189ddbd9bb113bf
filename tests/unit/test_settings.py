"""Settings: defaults < TOML file < environment < explicit options; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import ConfigError
from syncd.settings import describe_settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SYNCD_") or key == "STATE_DIRECTORY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def test_defaults_use_sqlite_in_state_dir(tmp_path: Path) -> None:
    s = load_settings()
    assert s.state_dir == tmp_path / "xdg" / "syncd"
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/xdg/syncd/syncd.db"
    assert s.effective_key_file == tmp_path / "xdg" / "syncd" / "secret.key"


def test_systemd_state_directory_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/syncd")
    assert load_settings().state_dir == Path("/var/lib/syncd")


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('log_level = "debug"\nlog_format = "json"\nhttp_port = 9000\n')
    s = load_settings(cfg)
    assert (s.log_level, s.log_format, s.http_port) == ("debug", "json", 9000)
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "error")
    s = load_settings(cfg)
    assert s.log_level == "error" and s.log_format == "json"
    s = load_settings(cfg, {"log_level": "warning", "log_format": None})
    assert s.log_level == "warning" and s.log_format == "json"


def test_config_from_env_var_and_syncd_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[syncd]\nhttp_host = "0.0.0.0"\n')
    monkeypatch.setenv("SYNCD_CONFIG", str(cfg))
    assert load_settings().http_host == "0.0.0.0"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('log_level = "loud"\n', "log_level"),
        ("http_port = 70000\n", "http_port"),
        ("unknown_key = 1\n", "unknown_key"),
    ],
)
def test_bad_file_names_file_and_field(tmp_path: Path, content: str, field: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert err.value.file == str(cfg) and err.value.field == field
    assert str(cfg) in str(err.value)


def test_bad_env_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_HTTP_PORT", "lots")
    with pytest.raises(ConfigError, match="SYNCD_HTTP_PORT"):
        load_settings()


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text("log_level = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")


def test_every_setting_has_an_env_var_and_description() -> None:
    rows = describe_settings()
    assert {r[1] for r in rows} >= {"SYNCD_DATABASE_URL", "SYNCD_SECRET_KEY", "SYNCD_STATE_DIR"}
    assert all(r[1].startswith("SYNCD_") and r[3] for r in rows)
