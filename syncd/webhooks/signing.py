"""Standard Webhooks signatures and ``whsec_`` secrets.

A message is signed with HMAC-SHA256 over ``{id}.{timestamp}.{body}``, keyed
with the base64-decoded part of the ``whsec_`` secret; the signature header
is ``v1,<base64 digest>``. Receivers verify with any Standard Webhooks
library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from syncd.errors import ConfigError

SECRET_PREFIX = "whsec_"
#: Key length of generated secrets, and the shortest and longest accepted.
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def generate_secret(nbytes: int = SECRET_BYTES) -> str:
    """A new random secret: ``whsec_`` and the base64 of ``nbytes`` random bytes."""
    if nbytes < MIN_SECRET_BYTES:
        raise ValueError(f"a secret needs at least {MIN_SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; a malformed secret is a :class:`ConfigError`.

    The message never contains the secret itself.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigError(f"a webhook secret starts with {SECRET_PREFIX!r}", field="--secret")
    try:
        encoded = secret[len(SECRET_PREFIX) :]
        # Some providers print their secrets without base64 padding.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            f"the part after {SECRET_PREFIX!r} must be base64", field="--secret"
        ) from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ConfigError(
            f"the secret must encode {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes "
            f"(it encodes {len(key)})",
            field="--secret",
        )
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of one message."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def signed_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
    }
