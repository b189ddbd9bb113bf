"""Credential encryption, the key file, and log redaction."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from cryptography.fernet import Fernet

from syncd.crypto import Cipher, load_or_create_key
from syncd.errors import ConfigError, CredentialError
from syncd.logs import configure_logging


def test_roundtrip_and_wrong_key() -> None:
    c = Cipher(Fernet.generate_key())
    token = c.encrypt({"client_secret": "s3cr3t"})
    assert "s3cr3t" not in token
    assert c.decrypt(token) == {"client_secret": "s3cr3t"}
    with pytest.raises(CredentialError):
        Cipher(Fernet.generate_key()).decrypt(token)
    with pytest.raises(CredentialError, match="not a valid Fernet key"):
        Cipher(b"short")


def test_key_file_created_once_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "secret.key"
    key = load_or_create_key(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(None, path) == key
    assert load_or_create_key("explicit", path) == b"explicit"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d, "is a directory"),
        (lambda d: d / "plain.txt" / "secret.key", "Not a directory"),
        (lambda d: d / "plain.txt" / "state" / "secret.key", "Not a directory"),
    ],
)
def test_unusable_key_file_is_one_error_naming_it(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    (tmp_path / "plain.txt").write_text("x")
    path = make(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_or_create_key(None, path)
    assert str(path) in str(err.value) and str(err.value).endswith(reason)
    assert "\n" not in str(err.value)


def test_key_file_without_a_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(b"\xff\xfe not a key\n")
    with pytest.raises(CredentialError, match=f"the secret key file {path} does not hold"):
        load_or_create_key(None, path)
    with pytest.raises(CredentialError, match="SYNCD_SECRET_KEY does not hold"):
        load_or_create_key("clé", path)


def test_json_logs_redact_secrets() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.get_logger("t").info(
        "integration.added", integration_id="x", client_secret="hunter2", api_token="t0k"
    )
    structlog.get_logger("t").debug("hidden.event")
    line = json.loads(out.getvalue().strip())
    assert line["event"] == "integration.added" and line["level"] == "info"
    assert line["client_secret"] == "***" and line["api_token"] == "***"
    assert "hunter2" not in out.getvalue() and "hidden.event" not in out.getvalue()
