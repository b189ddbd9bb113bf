"""Simulator faults: parsing and validation, and the queue rule with ``after``."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.sim.faults import Fault, FaultInjector, FaultKind, short_page

# -- parsing ---------------------------------------------------------------------


def test_defaults_and_json_round_trip() -> None:
    fault = Fault.from_mapping({"kind": "empty"})
    assert fault.to_json() == {
        "kind": "empty",
        "count": 1,
        "path": None,
        "delay": 0.0,
        "retry_after": None,
        "after": 0,
        "delta": 0,
        "create": 0,
        "delete": 0,
        "method": None,
    }
    for data in (
        {"kind": "empty", "after": 19, "path": "/v1/rentals/units"},
        {"kind": "repeat", "count": 1000},
        {"kind": "total", "delta": -3, "after": 2},
        {"kind": "short", "path": "/v1/leases"},
        {"kind": "drift", "create": 2, "delete": 5},
        {"kind": "drift", "delete": 1},
        {"kind": 429, "retry_after": 1.5},
        {"kind": "slow", "delay": 2},
    ):
        parsed = Fault.from_mapping(data)
        assert Fault.from_mapping(parsed.to_json()) == parsed
        for key, value in data.items():
            assert parsed.to_json()[key] == (str(value) if key == "kind" else value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "empty", "atfer": 3}, "unknown fault fields: atfer"),
        ({"kind": "teapot"}, "kind must be one of"),
        ({"kind": None}, "kind must be one of"),
        ({"kind": "empty", "count": "2"}, "count must be an integer"),
        ({"kind": "empty", "count": 0}, "count must be at least 1"),
        ({"kind": "empty", "after": 1.0}, "after must be an integer"),
        ({"kind": "empty", "after": True}, "after must be an integer"),
        ({"kind": "empty", "after": "19"}, "after must be an integer"),
        ({"kind": "empty", "after": -1}, "after must be an integer >= 0"),
        ({"kind": "total", "delta": 1.5}, "delta must be an integer"),
        ({"kind": "total", "delta": False}, "delta must be an integer"),
        ({"kind": "total"}, "delta must be a non-zero integer"),
        ({"kind": "total", "delta": 0}, "delta must be a non-zero integer"),
        ({"kind": "empty", "delta": 2}, "delta applies only to total faults"),
        ({"kind": "drift", "create": "3"}, "create must be an integer"),
        ({"kind": "drift", "delete": None}, "delete must be an integer"),
        ({"kind": "drift", "create": -1, "delete": 2}, "create must be an integer >= 0"),
        ({"kind": "drift", "delete": -2}, "delete must be an integer >= 0"),
        ({"kind": "drift"}, "create or delete must be above 0"),
        ({"kind": "drift", "create": 0, "delete": 0}, "create or delete must be above 0"),
        ({"kind": "repeat", "create": 1}, "create applies only to drift faults"),
        ({"kind": "short", "delete": 1}, "delete applies only to drift faults"),
        ({"kind": "slow", "delay": "1"}, "delay must be a number"),
        ({"kind": "429", "retry_after": -1}, "retry_after must be a finite number"),
        ({"kind": "empty", "path": 7}, "path must be a string"),
    ],
)
def test_bad_fields_are_named(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.from_mapping(data)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValueError, match="after"):
        Fault(FaultKind.EMPTY, after=-1)
    with pytest.raises(ValueError, match="delta"):
        Fault(FaultKind.TOTAL)
    with pytest.raises(ValueError, match="create or delete"):
        Fault(FaultKind.DRIFT)


def test_announced_total() -> None:
    assert Fault(FaultKind.TOTAL, delta=5).announced_total(230) == 235
    assert Fault(FaultKind.TOTAL, delta=-3).announced_total(230) == 227
    assert Fault(FaultKind.TOTAL, delta=-1000).announced_total(230) == 0
    assert Fault(FaultKind.EMPTY).announced_total(230) == 0
    for kind in (FaultKind.REPEAT, FaultKind.SHORT, FaultKind.MALFORMED, FaultKind.SLOW):
        assert Fault(kind).announced_total(230) == 230


def test_short_page_keeps_the_first_half_rounded_down() -> None:
    assert short_page([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == [1, 2, 3, 4, 5]
    assert short_page([1, 2, 3, 4, 5, 6, 7]) == [1, 2, 3]
    assert short_page([1]) == []
    assert short_page([]) == []


# -- the queue -------------------------------------------------------------------


def _kinds(injector: FaultInjector, paths: list[str]) -> list[str | None]:
    taken = (injector.take(path) for path in paths)
    return [None if fault is None else fault.kind.value for fault in taken]


def test_after_lets_matching_requests_pass_then_applies_count_times() -> None:
    injector = FaultInjector([Fault(FaultKind.EMPTY, after=3, count=2, path="/a")])
    assert _kinds(injector, ["/a", "/b", "/a", "/b", "/a"]) == [None] * 5
    assert injector.pending()[0]["after"] == 0
    assert _kinds(injector, ["/b", "/a", "/a", "/a"]) == [None, "empty", "empty", None]
    assert len(injector) == 0
    assert injector.served == {"empty": 2}


def test_a_waiting_fault_blocks_nothing_queued_after_it() -> None:
    injector = FaultInjector(
        [
            Fault(FaultKind.EMPTY, after=2, path="/a"),
            Fault(FaultKind.SERVER_ERROR, path="/b"),
            Fault(FaultKind.SERVER_ERROR, path="/a"),
        ]
    )
    # The first /a is hit by the later 500 and still counts towards the wait.
    assert _kinds(injector, ["/a", "/b", "/a", "/a"]) == ["500", "500", None, "empty"]
    assert len(injector) == 0


def test_after_counts_every_matching_request_whoever_serves_it() -> None:
    injector = FaultInjector(
        [Fault(FaultKind.SERVER_ERROR, count=2, path="/a"), Fault(FaultKind.SHORT, after=3)]
    )
    assert _kinds(injector, ["/a", "/a", "/z", "/a"]) == ["500", "500", None, "short"]


def test_armed_faults_apply_in_queue_order() -> None:
    injector = FaultInjector(
        [
            Fault(FaultKind.REPEAT, after=1, path="/a"),
            Fault(FaultKind.TOTAL, delta=1, after=1, path="/a"),
        ]
    )
    # Both arm together; the earlier one goes first and the other waits its turn.
    assert _kinds(injector, ["/a", "/a", "/a", "/a"]) == [None, "repeat", "total", None]


def test_take_hands_out_a_single_use_copy() -> None:
    queued = Fault(FaultKind.DRIFT, create=2, delete=1, count=3, after=1)
    injector = FaultInjector([queued])
    assert injector.take("/x") is None
    taken = injector.take("/x")
    assert taken == Fault(FaultKind.DRIFT, create=2, delete=1, count=1)
    assert queued.count == 3 and queued.after == 1  # the caller's object is untouched
    assert injector.pending()[0]["count"] == 2
