"""Settings: defaults < TOML file < environment < explicit options; clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from syncd.app import make_cipher
from syncd.errors import ConfigError
from syncd.settings import Settings, describe_settings, load_settings


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


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d, "it is a directory"),
        (lambda d: d / "plain.txt" / "syncd.toml", "Not a directory"),
        (lambda d: d / "latin1.toml", "not UTF-8 text (byte 0xe9 on line 2)"),
    ],
)
def test_unreadable_config_file_names_file_and_problem(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "latin1.toml").write_bytes(b'log_level = "info"\n# caf\xe9\n')
    path = make(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.file == str(path)
    assert str(err.value) == f"{path}: " + (
        f"the configuration file is {reason}"
        if reason.startswith("not UTF-8")
        else f"cannot read the configuration file: {reason}"
    )


FLOAT_SETTINGS = sorted(
    name for name, info in Settings.model_fields.items() if info.annotation is float
)


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_float_settings_must_be_finite(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env = f"SYNCD_{name.upper()}"
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == f"{env}: Input should be a finite number"


def test_float_settings_exist() -> None:
    assert {"scheduler_poll_seconds", "event_retention_days"} <= set(FLOAT_SETTINGS)


def test_a_named_key_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "secret.key"
    monkeypatch.setenv("SYNCD_SECRET_KEY_FILE", str(key))
    # Settings alone load (a command that needs no key, like `syncd sim`, runs).
    settings = load_settings()
    with pytest.raises(ConfigError) as err:
        make_cipher(settings)
    message = str(err.value)
    assert message.startswith(f"SYNCD_SECRET_KEY_FILE: the secret key file {key} does not exist")
    assert "Fernet.generate_key()" in message and f"> {key}" in message
    assert "chmod 600" in message and "unset" in message
    assert not key.parent.exists()  # nothing was created
    # A key given directly makes the file irrelevant.
    monkeypatch.setenv("SYNCD_SECRET_KEY", Fernet.generate_key().decode())
    make_cipher(load_settings())


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d, "is a directory"),
        (lambda d: d / "plain.txt" / "secret.key", "Not a directory"),
    ],
)
def test_a_named_key_file_must_be_reachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    (tmp_path / "plain.txt").write_text("x")
    path = make(tmp_path)
    monkeypatch.setenv("SYNCD_SECRET_KEY_FILE", str(path))
    with pytest.raises(ConfigError, match=f"SYNCD_SECRET_KEY_FILE: .*{path}.*{reason}"):
        make_cipher(load_settings())


def test_a_key_file_named_in_the_config_file_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(f'secret_key_file = "{tmp_path / "absent.key"}"\n')
    with pytest.raises(ConfigError, match=r"absent\.key does not exist"):
        make_cipher(load_settings(cfg))


def test_the_default_key_file_need_not_exist(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.secret_key_file is None and not settings.effective_key_file.exists()
