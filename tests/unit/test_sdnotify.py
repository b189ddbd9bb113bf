"""sd_notify client: exact datagrams on a socket bound where ``$NOTIFY_SOCKET`` points."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from syncd.sdnotify import SystemdNotifier, watchdog_interval

# sun_path is 108 bytes including the terminating NUL.
_SUN_PATH_MAX = 107


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(5)
    return sock


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket in tmp_path, announced as NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    assert len(path.encode()) <= _SUN_PATH_MAX, f"tmp_path too long for a socket: {path}"
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    with _receiver(path) as sock:
        yield sock


def _pending(sock: socket.socket) -> list[bytes]:
    """Every datagram already queued on sock, without waiting."""
    sock.setblocking(False)
    got = []
    try:
        while True:
            got.append(sock.recv(4096))
    except BlockingIOError:
        pass
    return got


def test_ready_sends_ready(listener: socket.socket) -> None:
    assert SystemdNotifier().ready() is True
    assert listener.recv(4096) == b"READY=1"


def test_ready_with_status(listener: socket.socket) -> None:
    SystemdNotifier().ready(status="serving on http://127.0.0.1:8080")
    assert listener.recv(4096) == b"READY=1\nSTATUS=serving on http://127.0.0.1:8080"


def test_stopping_watchdog_and_status(listener: socket.socket) -> None:
    notifier = SystemdNotifier()
    assert notifier.stopping()
    assert notifier.watchdog()
    assert notifier.status("3 jobs running")
    assert listener.recv(4096) == b"STOPPING=1"
    assert listener.recv(4096) == b"WATCHDOG=1"
    assert listener.recv(4096) == b"STATUS=3 jobs running"


def test_status_text_cannot_add_assignments(listener: socket.socket) -> None:
    notifier = SystemdNotifier()
    notifier.status("line one\nREADY=1")
    notifier.ready(status="a\r\nb")
    assert listener.recv(4096) == b"STATUS=line one READY=1"
    assert listener.recv(4096) == b"READY=1\nSTATUS=a b"


def test_status_is_utf8(listener: socket.socket) -> None:
    SystemdNotifier().status("café ✓")
    assert listener.recv(4096) == "STATUS=café ✓".encode()


def test_reloading_carries_the_monotonic_clock(listener: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert SystemdNotifier().reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = listener.recv(4096).decode().split("\n")
    assert len(lines) == 2
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert value.isdigit()
    assert before <= int(value) <= after


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"syncd-test-{uuid.uuid4().hex}"
    with _receiver("\0" + name) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = SystemdNotifier()
        assert notifier.enabled
        assert notifier.ready(status="up")
        assert notifier.watchdog()
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_explicit_environ_wins_over_process_environment(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = os.environ["NOTIFY_SOCKET"]
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert SystemdNotifier(environ={"NOTIFY_SOCKET": path}).watchdog()
    assert listener.recv(4096) == b"WATCHDOG=1"


def test_socket_is_read_when_the_notifier_is_created(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = SystemdNotifier()
    # A child process or library clearing the variable later changes nothing.
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert notifier.watchdog()
    assert listener.recv(4096) == b"WATCHDOG=1"


def test_no_op_without_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    path = str(tmp_path / "notify.sock")
    with _receiver(path) as sock, structlog.testing.capture_logs() as logs:
        notifier = SystemdNotifier()
        assert not notifier.enabled
        assert notifier.ready(status="x") is False
        assert notifier.stopping() is False
        assert notifier.watchdog() is False
        assert notifier.status("x") is False
        assert notifier.reloading() is False
        assert _pending(sock) == []
    assert logs == []


def test_empty_notify_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    with structlog.testing.capture_logs() as logs:
        assert SystemdNotifier().ready() is False
    assert logs == []


def test_missing_socket_does_not_raise_and_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "absent.sock"))
    with structlog.testing.capture_logs() as logs:
        notifier = SystemdNotifier()
        assert notifier.enabled
        assert notifier.ready() is False
        assert notifier.watchdog() is False
        assert notifier.stopping() is False
        assert notifier.reloading() is False
    assert [e["event"] for e in logs] == ["sdnotify.send_failed"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["socket"] == str(tmp_path / "absent.sock")
    assert logs[0]["state"] == "READY"


def test_warning_comes_back_after_a_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    notifier = SystemdNotifier()
    with structlog.testing.capture_logs() as logs:
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
        with _receiver(path) as sock:
            assert notifier.watchdog() is True
            assert sock.recv(4096) == b"WATCHDOG=1"
        os.unlink(path)
        assert notifier.watchdog() is False
    assert [e["event"] for e in logs] == ["sdnotify.send_failed"] * 2


def test_a_receiver_that_stops_reading_never_blocks(listener: socket.socket) -> None:
    notifier = SystemdNotifier()
    with structlog.testing.capture_logs() as logs:
        # Far more than an AF_UNIX datagram queue holds: the sends past the
        # limit fail at once (EAGAIN) instead of waiting for the reader.
        results = [notifier.watchdog() for _ in range(5000)]
    assert results[0] is True
    assert results[-1] is False
    assert [e["event"] for e in logs] == ["sdnotify.send_failed"]
    assert set(_pending(listener)) == {b"WATCHDOG=1"}


@pytest.mark.parametrize("value", ["relative/notify.sock", "vsock:2:1234"])
def test_unsupported_socket_is_disabled_with_a_warning(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    with structlog.testing.capture_logs() as logs:
        notifier = SystemdNotifier()
        assert not notifier.enabled
        assert notifier.ready() is False
    assert [(e["event"], e["socket"]) for e in logs] == [("sdnotify.unsupported_socket", value)]


def test_notify_sends_arbitrary_assignments(listener: socket.socket) -> None:
    notifier = SystemdNotifier()
    assert notifier.notify("EXTEND_TIMEOUT_USEC=5000000", "STATUS=migrating")
    assert notifier.notify() is False
    assert _pending(listener) == [b"EXTEND_TIMEOUT_USEC=5000000\nSTATUS=migrating"]


# -- watchdog_interval -----------------------------------------------------------


def test_watchdog_interval_is_half_the_timeout() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "1"}) == 0.0000005


def test_watchdog_interval_checks_the_pid() -> None:
    mine = str(os.getpid())
    other = str(os.getpid() + 1)
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": mine}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": other}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "abc"}) is None
    # An empty WATCHDOG_PID counts as unset.
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": ""}) == 15.0


@pytest.mark.parametrize("value", ["", "0", "-5", "30s", "1.5", "  "])
def test_watchdog_interval_without_a_valid_timeout(value: str) -> None:
    assert watchdog_interval({"WATCHDOG_USEC": value}) is None


def test_watchdog_interval_unset() -> None:
    assert watchdog_interval({}) is None


def test_watchdog_interval_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 2.0
    assert SystemdNotifier().watchdog_interval() == 2.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None


def test_notifier_watchdog_interval_uses_its_environ() -> None:
    notifier = SystemdNotifier(environ={"WATCHDOG_USEC": "10000000"})
    assert notifier.watchdog_interval() == 5.0
