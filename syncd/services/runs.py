"""Runs named by an operator: a whole run id or a unique prefix of one (as tables show)."""

from __future__ import annotations

import re

from syncd.domain import RunRecord
from syncd.errors import ConfigError
from syncd.store.base import Store

#: Run ids are UUIDs: a prefix holds hex digits and dashes only (so LIKE needs no escaping).
_PREFIX = re.compile(r"^[0-9a-f-]{1,36}$")
#: Matches shown when a prefix is ambiguous.
_SHOWN = 5


async def resolve_run(store: Store, ref: str) -> RunRecord:
    """The run whose id is ``ref`` or, failing that, the one run whose id starts with it.

    Raises :class:`~syncd.errors.ConfigError` naming the problem when no run
    or more than one matches.
    """
    run = await store.get_run(ref)
    if run is not None:
        return run
    prefix = ref.strip().lower()
    if not _PREFIX.match(prefix):
        raise ConfigError(f"no run {ref!r}")
    ids = await store.run_ids_with_prefix(prefix, limit=_SHOWN + 1)
    if not ids:
        raise ConfigError(f"no run {ref!r}")
    if len(ids) > 1:
        shown = ", ".join(ids[:_SHOWN]) + (" and others" if len(ids) > _SHOWN else "")
        more = "more than " if len(ids) > _SHOWN else ""
        raise ConfigError(
            f"run id prefix {ref!r} is ambiguous: {more}{min(len(ids), _SHOWN)} run ids "
            f"start with it ({shown}); give more of the id"
        )
    found = await store.get_run(ids[0])
    if found is None:  # removed in between
        raise ConfigError(f"no run {ref!r}")
    return found
