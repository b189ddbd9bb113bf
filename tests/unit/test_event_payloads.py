"""Event payloads, built in syncd.events without a database."""

from __future__ import annotations

from syncd.domain import Environment, EventType, Integration, RunStatus, SweepResult, SyncMode
from syncd.events import (
    RECORD_EVENT_KEYS,
    job_failure_event,
    record_event,
    sync_complete_events,
)

INTEG = Integration(
    id="acme",
    name="Acme",
    vendor="BUILDIUM",
    environment=Environment.PRODUCTION,
    enabled=True,
    base_url=None,
    credentials={},
)
KEY = "0123456789abcdef0123456789abcdef"
FIELDS = ("name", "custom_data")


def test_a_record_new_to_the_cache_is_announced_whole() -> None:
    event = record_event(INTEG, "units", KEY, {"name": "A1"}, FIELDS, "r1", x_id="7", stored=None)
    assert event is not None
    kind, change, payload = event
    assert kind is EventType.DATA_NEW and change is None
    assert tuple(payload)[: len(RECORD_EVENT_KEYS)] == RECORD_EVENT_KEYS
    assert payload["record_id"] == "01234567-89ab-cdef-0123-456789abcdef"
    # A missing custom_data is stored as {}, and announced so.
    assert payload["record"] == {"name": "A1", "custom_data": {}}
    assert "undeleted" not in payload


def test_a_deleted_record_seen_again_is_new_and_undeleted() -> None:
    stored = {"name": "A1", "custom_data": {}}
    event = record_event(
        INTEG, "units", KEY, stored, FIELDS, "r2", x_id="7", stored=stored, was_deleted=True
    )
    assert event is not None and event[0] is EventType.DATA_NEW
    assert event[2]["undeleted"] is True


def test_an_update_carries_its_diff_and_no_change_is_no_event() -> None:
    stored = {"name": "A1", "custom_data": {}}
    same = record_event(INTEG, "units", KEY, stored, FIELDS, "r2", x_id="7", stored=stored)
    assert same is None
    event = record_event(INTEG, "units", KEY, {"name": "B2"}, FIELDS, "r2", x_id="7", stored=stored)
    assert event is not None
    kind, change, payload = event
    assert kind is EventType.DATA_UPDATE and change == payload["diff"]
    assert "name" in str(change) and "record" not in payload


def test_the_first_sync_complete_is_sent_only_when_the_sync_synced() -> None:
    statuses = [RunStatus.SUCCESS, RunStatus.NEEDS_ATTENTION, RunStatus.SKIPPED]
    events = sync_complete_events(
        INTEG, "root", SyncMode.FULL, "schedule", RunStatus.SUCCESS, statuses, first=True
    )
    assert [e.event_type for e in events] == [
        EventType.SYNC_COMPLETE,
        EventType.FIRST_SYNC_COMPLETE,
    ]
    counts = events[0].payload
    assert (
        counts["successful_job_count"],
        counts["failed_job_count"],
        counts["needs_attention_job_count"],
        counts["skipped_job_count"],
    ) == (1, 1, 1, 1)
    failed = sync_complete_events(
        INTEG, "root", SyncMode.FULL, "schedule", RunStatus.FAILED, statuses, first=True
    )
    assert [e.event_type for e in failed] == [EventType.SYNC_COMPLETE]


def test_a_held_sweep_says_how_to_approve_it() -> None:
    sweep = SweepResult(scope=10, candidates=5, held=True, max_share=0.2)
    event = job_failure_event(
        INTEG,
        "r1",
        "root",
        "units",
        SyncMode.FULL,
        "schedule",
        RunStatus.NEEDS_ATTENTION,
        "held",
        sweep,
    )
    assert event.event_type is EventType.JOB_FAILURE
    assert event.payload["sweep"]["approve"] == "syncd sweeps approve r1"
    assert event.payload["sweep"]["share"] == 0.5
