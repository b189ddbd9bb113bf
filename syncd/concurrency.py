"""Structured-concurrency helpers shared by the runner and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc


@asynccontextmanager
async def unwrapped_task_group() -> AsyncIterator[anyio.abc.TaskGroup]:
    """A task group that re-raises a lone failure itself, not an ExceptionGroup.

    Its tasks fail one at a time (the first failure cancels the rest), and
    callers handle syncd's errors by class (ConnectorError, ConfigError …).
    """
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        raise leaf from None
