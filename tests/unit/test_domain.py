"""Record ids: stable UUIDv5, equal to the standard library's computation."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from syncd.domain import ID_NAMESPACE, RunCounts, record_id, record_key


@given(st.text(min_size=1), st.sampled_from(["units", "leases"]), st.text(min_size=1))
def test_record_id_is_uuid5(integration_id: str, model: str, x_id: str) -> None:
    expected = uuid.uuid5(ID_NAMESPACE, f"{integration_id}\x1f{model}\x1f{x_id}")
    got = record_id(integration_id, model, x_id)
    assert got == expected and got.version == 5
    assert record_key(integration_id, model, x_id) == expected.hex


def test_record_id_separates_fields() -> None:
    assert record_id("a", "units", "1") != record_id("a", "leases", "1")
    assert record_id("a", "units", "1") != record_id("b", "units", "1")


def test_run_counts_add_and_processed() -> None:
    total = RunCounts(fetched=3, created=1)
    total.add(RunCounts(fetched=2, unchanged=2, retries=1))
    assert (total.fetched, total.created, total.unchanged, total.retries) == (5, 1, 2, 1)
    assert total.processed == 5
