"""Credentials at rest: Fernet encryption with a key from the environment or a file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken

from syncd.errors import CredentialError


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


def load_or_create_key(key: str | None, key_file: Path) -> bytes:
    """The Fernet key: ``key`` if given, else read ``key_file``, creating it (0600) if absent."""
    if key:
        return key.encode("ascii")
    try:
        return key_file.read_bytes().strip()
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    new_key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not each write a key.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(new_key + b"\n")
    return new_key
