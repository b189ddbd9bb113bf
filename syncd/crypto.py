"""Credentials at rest: Fernet encryption with a key from the environment or a file."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken

from syncd.errors import ConfigError, CredentialError
from syncd.files import os_error_reason, read_bytes


class Cipher:
    """Encrypts and decrypts credential mappings."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise CredentialError(
                "secret key is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc

    def encrypt(self, credentials: Mapping[str, str]) -> str:
        """Encrypt a credential mapping into an ASCII token."""
        return self._fernet.encrypt(orjson.dumps(dict(credentials))).decode("ascii")

    def decrypt(self, token: str) -> dict[str, str]:
        """Decrypt a token made by :meth:`encrypt`."""
        try:
            data = orjson.loads(self._fernet.decrypt(token.encode("ascii")))
        except InvalidToken as exc:
            raise CredentialError(
                "credentials cannot be decrypted: the secret key differs from the one "
                "they were stored with"
            ) from exc
        return {str(k): str(v) for k, v in data.items()}


def load_or_create_key(key: str | None, key_file: Path, *, named: bool = False) -> bytes:
    """The Fernet key: ``key`` if given, else read ``key_file``, creating it (0600) if absent.

    A file the operator ``named`` (``SYNCD_SECRET_KEY_FILE``) must exist:
    creating it would give a fresh key that cannot read the credentials
    stored with the real one. A file that cannot be reached, read or
    created, or does not hold a Fernet key, is a
    :class:`~syncd.errors.ConfigError` / :class:`CredentialError` naming it.
    """
    if key:
        try:
            return key.encode("ascii")
        except UnicodeEncodeError:
            raise CredentialError(_NOT_A_KEY.format(where="SYNCD_SECRET_KEY")) from None
    try:
        mode: int | None = key_file.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the secret key file {key_file}: {os_error_reason(exc)}"
        ) from exc
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise ConfigError(f"the secret key file {key_file} is a directory")
        return _read_key(key_file)
    if named:
        raise ConfigError(
            f"the secret key file {key_file} does not exist; make one with "
            "python3 -c 'from cryptography.fernet import Fernet; "
            f"print(Fernet.generate_key().decode())' > {key_file} && chmod 600 {key_file}, "
            "or leave it unset to use STATE_DIR/secret.key (created on first use)"
        )
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # mkdir answers "File exists" when a regular file sits on the path.
        file_in_way = isinstance(exc, FileExistsError)
        reason = "part of it is a file" if file_in_way else os_error_reason(exc)
        raise ConfigError(
            f"cannot create the directory {key_file.parent} of the secret key file: {reason}",
            file=str(key_file),
        ) from exc
    new_key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not each write a key.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(key_file)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the secret key file: {os_error_reason(exc)}", file=str(key_file)
        ) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(new_key + b"\n")
    return new_key


_NOT_A_KEY = "{where} does not hold a valid Fernet key (32 url-safe base64-encoded bytes)"


def _read_key(key_file: Path) -> bytes:
    key = read_bytes(key_file, "secret key file").strip()
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise CredentialError(_NOT_A_KEY.format(where=f"the secret key file {key_file}")) from None
    return key
