"""Credential encryption, the key file, and log redaction."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
import structlog
from cryptography.fernet import Fernet

from syncd.crypto import Cipher, load_or_create_key
from syncd.errors import CredentialError
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
