"""The connector interface: everything syncd asks of a PMS.

A connector owns one PMS's wire format (auth, paging, date filters, rate
limits, retries, error translation) and knows nothing of the database. It
hands out raw records page by page; the transform layer normalizes them.

The whole contract is here: what a connector declares about its PMS
(:class:`Connector` class attributes: vendor, credential keys, documented
rate limit, per-model capabilities and date filters, vendor options), how
it is built for an integration (:meth:`Connector.base_url_for`,
:meth:`Connector.validate_credentials`), and what it does: authenticate
(:meth:`Connector.check_auth`), list a model's pages within a date window
and a property scope (:meth:`Connector.pages`), fetch one record
(:meth:`Connector.fetch_one`) and write (:meth:`Connector.write`, used by
write jobs). Shared parts live beside it: :mod:`~syncd.connectors.http`
(requests, retries, error translation), :mod:`~syncd.connectors.auth`
(header, Basic and token auth), :mod:`~syncd.connectors.paging` (the
ordered prefetching pagers and the completeness audit) and
:mod:`~syncd.connectors.ratelimit` (per-credential token buckets).

Every listing must prove itself complete (see :mod:`syncd.connectors.paging`):
a :class:`PageStream` that ends without a :class:`~syncd.domain.ListingProof`
counts as incomplete, so nothing is swept and no watermark moves.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from syncd.domain import (
    ALL_PROPERTIES,
    Capability,
    FetchWindow,
    ListingProof,
    Page,
    PropertyScope,
    RawRecord,
)
from syncd.errors import ConfigError, CredentialError, PermanentError


@dataclass(slots=True)
class ConnectorStats:
    """Request counters a connector keeps for the runner and metrics."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers received


@dataclass(frozen=True, slots=True)
class ConnectorOptions:
    """Tunables of one connector instance (from job definitions and integration options).

    ``rate_limit`` is requests per second (0 or less: unlimited);
    ``concurrency`` is how many pages may be in flight at once.
    """

    page_size: int = 1000
    concurrency: int = 4
    rate_limit: float = 10.0
    max_attempts: int = 6
    backoff_base: float = 0.2
    backoff_max: float = 30.0
    timeout: float = 60.0
    #: How long a storm of 429 answers is waited out before a request fails (seconds).
    rate_limit_wait: float = 300.0
    #: Drift a listing may show and still count as complete: at least this many
    #: records, or this share of the announced total (see syncd.connectors.paging).
    drift_records: int = 10
    drift_share: float = 0.001
    #: Hosts requests may go to (empty: any); see :mod:`syncd.egress`.
    allowed_hosts: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


class PageStream(abc.ABC):
    """The pages of one listing, in order; once exhausted, its proof of completeness."""

    def __aiter__(self) -> PageStream:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> Page:
        """The next page; raises :class:`~syncd.errors.IncompleteListing` on a fault."""

    @property
    @abc.abstractmethod
    def proof(self) -> ListingProof | None:
        """Set when the pages ended and proved the listing complete; None before."""


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """A PMS's documented request limit: ``requests`` per ``per_seconds`` per credential."""

    requests: int
    per_seconds: float
    #: Where the figure comes from (the vendor's documentation, or why it is assumed).
    source: str = ""

    @property
    def per_second(self) -> float:
        """The limit as requests per second."""
        return self.requests / self.per_seconds

    def describe(self) -> str:
        """``"10 requests/s"`` or ``"500 requests/min"``."""
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(float(self.per_seconds))
        if unit is None:
            return f"{self.requests} requests per {self.per_seconds:g} s"
        return f"{self.requests} requests/{unit}"


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One write to carry to the PMS: create or update a record of ``model``.

    ``payload`` holds unified field names, already validated against
    :meth:`Connector.writable_fields` and holding only fields the caller
    set; a reference (``property_id``, ``unit_id``, ``lead_source_id`` ...)
    holds the referenced record's **PMS id**, translated from the syncd id
    by the caller (a connector knows no cache). ``x_id`` is the PMS id of
    the record an update changes; ``property_x_id`` the PMS id of the
    property it belongs to, where known (per-property PMSs need it).
    ``write_id`` identifies the write job, for a PMS that can carry an
    idempotency key.
    """

    model: str
    operation: Capability
    payload: Mapping[str, Any]
    x_id: str | None = None
    property_x_id: str | None = None
    write_id: str = ""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the PMS answered to a write: the id of the record created or changed.

    ``warnings`` are the PMS's own messages about parts it did not take
    while taking the rest (the write is then a PARTIAL_SUCCESS).
    """

    x_id: str | None
    raw: Any = None
    warnings: tuple[str, ...] = ()


class Connector(abc.ABC):
    """One PMS account, opened for the duration of a sync.

    Use as an async context manager; :meth:`pages` yields the pages of one
    model in order. Implementations translate every HTTP or transport failure
    into :mod:`syncd.errors` exceptions and retry only transient ones.
    """

    #: The vendor code, e.g. ``"BUILDIUM"``.
    vendor: ClassVar[str]

    #: Credential keys the connector requires (``syncd integrations add --credential``).
    credential_keys: ClassVar[tuple[str, ...]]

    #: Credential keys it also accepts (e.g. one of two alternatives).
    optional_credential_keys: ClassVar[tuple[str, ...]] = ()

    #: How a form asks for each credential: key → (label, help), in the PMS's own words.
    credential_labels: ClassVar[Mapping[str, tuple[str, str]]] = {}

    #: The PMS's name as people write it, e.g. ``"Rent Manager"``.
    display_name: ClassVar[str] = ""

    #: The PMS's documented request limit (None: none documented).
    rate_limit: ClassVar[RateLimitSpec | None] = None

    #: Vendor options an integration may set (``connector.<name>``): name → help.
    option_keys: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        options: ConnectorOptions | None = None,
    ) -> None:
        missing = [key for key in self.credential_keys if not credentials.get(key)]
        if missing:
            name = self.display_name or self.vendor
            raise CredentialError(f"{name} credentials lack {', '.join(missing)}")
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.options = options or ConnectorOptions()
        self.stats = ConnectorStats()

    @classmethod
    @abc.abstractmethod
    def default_base_url(cls, environment: str) -> str:
        """The PMS's base URL for ``production`` or ``sandbox``."""

    @classmethod
    def base_url_for(cls, environment: str, credentials: Mapping[str, str]) -> str:
        """The base URL of one account: the environment's, unless the PMS has one per customer."""
        return cls.default_base_url(environment)

    @classmethod
    def validate_credentials(
        cls, credentials: Mapping[str, str], *, base_url: str | None = None
    ) -> None:
        """Refuse a missing, empty or unknown credential key: a ConfigError naming it.

        Values are never shown. ``base_url`` is the integration's own base
        URL, for a PMS whose credentials may name the account's host instead.
        """
        known_keys = (*cls.credential_keys, *cls.optional_credential_keys)
        name = cls.vendor
        known = ", ".join(known_keys)
        for key in credentials:
            if key not in known_keys:
                raise ConfigError(
                    f"{name} takes no credential {key!r} (its credentials: {known})",
                    field=f"credentials.{key}",
                )
        for key in cls.credential_keys:
            if key not in credentials:
                raise ConfigError(
                    f"{name} needs {key} (its credentials: {known})", field="credentials"
                )
        for key, value in credentials.items():
            if not str(value).strip():
                raise ConfigError("empty value", field=f"credentials.{key}")

    @classmethod
    @abc.abstractmethod
    def capabilities(cls) -> Mapping[str, frozenset[Capability]]:
        """Unified models this PMS supports and what can be done with each."""

    @classmethod
    def writable_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """Unified fields the PMS accepts when ``operation`` creates or updates ``model``."""
        return frozenset()

    @classmethod
    def required_write_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """Unified fields the PMS requires for ``operation`` on ``model`` (of the writable ones)."""
        return frozenset()

    @classmethod
    def write_limits(cls, model: str, operation: Capability) -> Mapping[str, str]:
        """What the PMS's write of ``model`` cannot do, field → note (published in docs/pms.md)."""
        return {}

    @classmethod
    def date_fields(cls, model: str) -> frozenset[str]:
        """The dates the PMS can filter ``model`` by: ``updated``, ``created`` (none: empty)."""
        return frozenset()

    @classmethod
    def supports_window(cls, model: str, field: str = "updated") -> bool:
        """Whether the PMS can filter ``model`` by its ``field`` date."""
        return field in cls.date_fields(model)

    @abc.abstractmethod
    async def open(self) -> None:
        """Open network resources (HTTP session)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release network resources."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def check_auth(self) -> None:
        """Make one cheap request; raise :class:`~syncd.errors.AuthenticationError` if refused."""

    @abc.abstractmethod
    def pages(
        self,
        model: str,
        window: FetchWindow,
        *,
        cursor: str | None = None,
        scope: PropertyScope = ALL_PROPERTIES,
    ) -> AbstractAsyncContextManager[PageStream]:
        """Pages of ``model`` within ``window`` and ``scope``, in order, resuming after ``cursor``.

        ``scope`` names the properties whose data is not wanted: a PMS that
        lists per property never asks for theirs; one that cannot filter
        may return them (the runner drops them).

        Returns an async context manager so prefetching tasks live in a task
        group that is closed when the caller leaves the block::

            async with connector.pages("units", window) as pages:
                async for page in pages:
                    ...
            proof = pages.proof  # None: the listing is not proven complete

        A fault that makes the listing incomplete raises
        :class:`~syncd.errors.IncompleteListing` from the iteration.
        """

    async def fetch_one(self, model: str, x_id: str) -> RawRecord | None:
        """The PMS's record ``x_id`` of ``model`` as it is now; None if the PMS has none."""
        raise PermanentError(f"{self.display_name or self.vendor} cannot fetch one {model} record")

    async def write(self, request: WriteRequest) -> WriteResult:
        """Carry one create or update to the PMS; PermanentError where it is not supported.

        A refusal by the PMS (a 4xx: a missing lead source, an unknown unit)
        raises :class:`~syncd.errors.PermanentError` (or a subclass) with the
        PMS's own message; transient faults raise as anywhere else and are
        retried by the write worker, after :meth:`find_written`.
        """
        raise PermanentError(
            f"{self.display_name or self.vendor} cannot {request.operation.value} {request.model}"
        )

    async def find_written(self, request: WriteRequest, since: datetime) -> str | None:
        """The PMS id of a record ``request`` (a create) already made, if the PMS holds one.

        Asked before a create is sent again after an attempt whose answer
        was lost: a record of ``request.model`` created or changed since
        ``since`` that matches the request's natural key (names, email,
        property). None: no such record, so sending again cannot duplicate.
        Raises PermanentError when the PMS gives no way to look (the write
        is then not re-sent but failed, for a person to check).
        """
        raise PermanentError(
            f"{self.display_name or self.vendor} cannot look for a {request.model} record "
            "a lost write may have created"
        )
