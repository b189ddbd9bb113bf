"""syncd's exception tree, drawn in one place.

Errors from the outside world (HTTP, database drivers, files) are translated
into these where they enter, so callers decide on retry or reporting by class,
never by inspecting a third-party exception.

    SyncdError
    ├── ConfigError                 bad settings / YAML file (names file + field)
    │   ├── InvalidFields           a request with bad fields, each named
    │   ├── SchemaError             bad transform or job schema
    │   ├── UnknownModel            a model the integration's vendor has no job for
    │   └── KeyNameTaken            an API key of that name exists already
    ├── NotFound                    no such write job or cached record
    ├── IntegrationNotFound
    ├── CredentialError             missing/undecryptable credentials, bad key
    ├── ConnectorError              anything talking to a PMS
    │   ├── TransientError          worth retrying: connection, timeout, 429, 5xx, truncated
    │   │   ├── PMSConnectionError
    │   │   ├── PMSTimeout
    │   │   ├── RateLimited
    │   │   ├── PMSServerError
    │   │   └── PMSBadResponse
    │   ├── IncompleteListing       pages that do not add up to the whole listing
    │   └── PermanentError          never retried
    │       ├── AuthenticationError (401)
    │       ├── PermissionDenied    (403)
    │       ├── PMSNotFound         (404)
    │       ├── RequestRejected     (400, 415, 422)
    │       │   └── WriteRejected   a write the PMS refused, in its own words
    │       └── EgressRefused       the host is not on SYNCD_EGRESS_ALLOWED_HOSTS
    ├── TransformError              one record could not be normalized
    └── StoreError
        ├── KeyNotFound             no API key has the given id
        ├── DatabaseUnavailable
        └── RunConflict             the (integration, model) already has an active run
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """A settings file, environment variable or YAML file is invalid."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        where = ""
        if file:
            where = file
            if field:
                where += f": {field}"
        elif field:
            where = field
        super().__init__(f"{where}: {message}" if where else message)


class InvalidFields(ConfigError):
    """A request with one or more bad fields; ``issues`` are (field, message, code)."""

    def __init__(self, issues: Sequence[tuple[str, str, str]]) -> None:
        self.issues = tuple(issues)
        first = self.issues[0] if self.issues else ("body", "invalid", "invalid")
        summary = "; ".join(f"{f}: {m}" for f, m, _ in self.issues[:5])
        super().__init__(summary or "invalid request", field=first[0])


class SchemaError(ConfigError):
    """A transform schema or job definition file is invalid."""


class UnknownModel(ConfigError):
    """A model was asked for that the integration's vendor has no job for."""


class KeyNameTaken(ConfigError):
    """Another API key already has the name asked for."""


class NotFound(SyncdError):
    """The thing asked for does not exist (a write job, a cached record)."""


class IntegrationNotFound(SyncdError):
    """No integration has the given id or name."""


class CredentialError(SyncdError):
    """Credentials are missing, malformed or cannot be decrypted."""


class ConnectorError(SyncdError):
    """A failure while talking to a PMS."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        self.status = status
        self.url = url
        #: The PMS's answer body (parsed JSON) when it answered with an error status.
        self.body: Any = None
        super().__init__(message)


class TransientError(ConnectorError):
    """A fault that may go away on retry."""


class PMSConnectionError(TransientError):
    """The PMS could not be reached."""


class PMSTimeout(TransientError):
    """The PMS did not answer in time."""


class RateLimited(TransientError):
    """The PMS answered 429."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        url: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, url=url)


class PMSServerError(TransientError):
    """The PMS answered 5xx."""


class PMSBadResponse(TransientError):
    """The PMS answered 2xx with a body that cannot be read (e.g. truncated)."""


class IncompleteListing(ConnectorError):
    """A listing's pages do not prove it complete (an empty or repeated page, a short count).

    Not retried by the HTTP layer: the model run fails, nothing is swept,
    no watermark moves, and the next run tries again.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        listed: int | None = None,
        announced: int | None = None,
        url: str | None = None,
    ) -> None:
        self.offset = offset
        self.listed = listed
        self.announced = announced
        super().__init__(message, url=url)


class PermanentError(ConnectorError):
    """A fault that retrying cannot fix."""


class AuthenticationError(PermanentError):
    """The PMS refused the credentials (401)."""


class PermissionDenied(PermanentError):
    """The credentials lack access to the resource (403)."""


class PMSNotFound(PermanentError):
    """The PMS has no such resource (404)."""


class RequestRejected(PermanentError):
    """The PMS refused the request as invalid (400/415/422)."""


class WriteRejected(RequestRejected):
    """The PMS refused a write; ``messages`` are its own words, one per problem."""

    def __init__(
        self,
        messages: Sequence[str],
        *,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        self.messages = tuple(messages) or ("the PMS refused the write",)
        super().__init__("; ".join(self.messages), status=status, url=url)


class EgressRefused(PermanentError):
    """The host is not on the operator's allow-list (SYNCD_EGRESS_ALLOWED_HOSTS)."""


class TransformError(SyncdError):
    """One record could not be transformed; it goes to quarantine."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


class StoreError(SyncdError):
    """A failure in the cache database."""


class SubscriptionNotFound(StoreError):
    """No webhook subscription has the given id."""


class KeyNotFound(StoreError):
    """No API key has the given id."""


class DatabaseUnavailable(StoreError):
    """The cache database cannot be reached."""


class RunConflict(StoreError):
    """Another run of the same (integration, model) is active."""


class SweepError(SyncdError):
    """A deletion sweep cannot be approved or dismissed (unknown run, or not held)."""
