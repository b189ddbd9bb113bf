"""The connector interface: everything syncd asks of a PMS.

A connector owns one PMS's wire format (auth, paging, date filters, rate
limits, retries, error translation) and knows nothing of the database. It
hands out raw records page by page; the transform layer normalizes them.

Every listing must prove itself complete (see :mod:`syncd.connectors.paging`):
a :class:`PageStream` that ends without a :class:`~syncd.domain.ListingProof`
counts as incomplete, so nothing is swept and no watermark moves.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

from syncd.domain import Capability, FetchWindow, ListingProof, Page


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

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        options: ConnectorOptions | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.options = options or ConnectorOptions()
        self.stats = ConnectorStats()

    @classmethod
    @abc.abstractmethod
    def default_base_url(cls, environment: str) -> str:
        """The PMS's base URL for ``production`` or ``sandbox``."""

    @classmethod
    @abc.abstractmethod
    def capabilities(cls) -> Mapping[str, frozenset[Capability]]:
        """Unified models this PMS supports and what can be done with each."""

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
    ) -> AbstractAsyncContextManager[PageStream]:
        """Pages of ``model`` within ``window``, in order, resuming after ``cursor``.

        Returns an async context manager so prefetching tasks live in a task
        group that is closed when the caller leaves the block::

            async with connector.pages("units", window) as pages:
                async for page in pages:
                    ...
            proof = pages.proof  # None: the listing is not proven complete

        A fault that makes the listing incomplete raises
        :class:`~syncd.errors.IncompleteListing` from the iteration.
        """
