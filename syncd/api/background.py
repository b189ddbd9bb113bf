"""Work the HTTP server owns beyond one request (e.g. a data-access check).

A handler that must answer at once while work goes on hands that work to
:class:`BackgroundWork`: a task group that lives as long as the server,
started and stopped explicitly with it (``syncd serve`` runs :meth:`run` in
its task group beside the HTTP server). Every task is named, and stopping
the server cancels them; none is fire-and-forget. A task's failure is logged
and does not take the server down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import structlog

log = structlog.get_logger(__name__)


class BackgroundUnavailable(RuntimeError):
    """Work was handed over while the runner is not running."""


class BackgroundWork:
    """The server's background task group; :meth:`run` holds it open until cancelled."""

    def __init__(self) -> None:
        self._group: anyio.abc.TaskGroup | None = None
        self._stopping = False
        self.started = anyio.Event()

    @property
    def running(self) -> bool:
        """Whether work can be handed over now."""
        return self._group is not None and not self._stopping

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Own the task group until cancelled or :meth:`stop`; then cancel what still runs."""
        async with anyio.create_task_group() as tg:
            self._group = tg
            self._stopping = False
            self.started.set()
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._stopping = True
                self._group = None
                tg.cancel_scope.cancel()

    def stop(self) -> None:
        """Cancel every task and let :meth:`run` return."""
        group = self._group
        if group is not None:
            self._stopping = True
            group.cancel_scope.cancel()

    def spawn(self, name: str, work: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``work(*args)`` as the task ``name``; BackgroundUnavailable if not running."""
        group = self._group
        if group is None or self._stopping:
            raise BackgroundUnavailable("the server's background work is not running")
        group.start_soon(self._guarded, name, work, args, name=name)

    @staticmethod
    async def _guarded(
        name: str, work: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
    ) -> None:
        try:
            await work(*args)
        except Exception as exc:
            # One task's bug must not cancel its siblings or the server.
            log.exception("api.background.failed", task=name, error=repr(exc))
