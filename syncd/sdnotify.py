"""A small client of systemd's ``sd_notify`` protocol.

The protocol is one datagram of newline-separated ``KEY=VALUE`` assignments
sent to the AF_UNIX socket named by ``$NOTIFY_SOCKET``. It is simple enough to
speak directly, which keeps libsystemd (and a C extension) out of the
dependencies. Outside systemd the variable is unset and every call is a no-op,
so ``syncd serve`` behaves the same in a terminal, a container or a unit.

Nothing here raises into the caller: a supervisor that stopped listening must
never take the daemon down with it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

__all__ = ["SystemdNotifier", "watchdog_interval"]

log = structlog.get_logger(__name__)

_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _socket_address(value: str) -> str | None:
    """The ``sendto`` address of a ``$NOTIFY_SOCKET`` value, or None if unsupported."""
    if value.startswith("@"):
        # systemd writes abstract-namespace sockets with a leading "@"; on the
        # wire the name starts with a NUL byte instead.
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # Anything else (a relative path, or the "vsock:" form of newer systemd)
    # is not something this client can reach.
    return None


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1``, in seconds, or None if no watchdog is armed.

    Reads ``$WATCHDOG_USEC`` (set by systemd from ``WatchdogSec=``) and returns
    half of it, the margin ``sd_watchdog_enabled(3)`` recommends. When
    ``$WATCHDOG_PID`` is set it must name this process: the variables are
    inherited by children, which must not believe they are being watched.
    ``environ`` defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC")
    if not raw_usec:
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        return None
    if usec <= 0:
        return None
    raw_pid = env.get("WATCHDOG_PID")
    if raw_pid:
        try:
            pid = int(raw_pid)
        except ValueError:
            return None
        if pid != os.getpid():
            return None
    return usec / 2 / 1_000_000


def _single_line(text: str) -> str:
    # A newline inside a value would start a new assignment, so a status text
    # could otherwise smuggle in e.g. "READY=1".
    return " ".join(text.splitlines())


class SystemdNotifier:
    """Sends service state to systemd over ``$NOTIFY_SOCKET``.

    The socket is looked up once, when the notifier is created. Without it
    (not started by systemd, or ``Type=`` other than ``notify``) every method
    does nothing and returns False. Each method returns True when the datagram
    was handed to the kernel.

    A failed send is logged as ``sdnotify.send_failed`` once and otherwise
    ignored; after a successful send, the next failure is logged again.
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        """Read ``$NOTIFY_SOCKET`` and the watchdog variables from ``environ``.

        ``environ`` defaults to ``os.environ``.
        """
        env = os.environ if environ is None else environ
        # Keep only what is needed rather than a copy of every variable
        # (the environment may hold secrets).
        self._environ: dict[str, str] = {k: env[k] for k in _ENV_KEYS if k in env}
        raw = self._environ.get("NOTIFY_SOCKET", "")
        self._socket_name = raw
        self._address = _socket_address(raw) if raw else None
        self._warned = False
        if raw and self._address is None:
            log.warning("sdnotify.unsupported_socket", socket=raw)

    @property
    def enabled(self) -> bool:
        """Whether a usable notification socket was found."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up (or a reload) is complete: ``READY=1``, optionally a status."""
        lines = ["READY=1"]
        if status is not None:
            lines.append(f"STATUS={_single_line(status)}")
        return self.notify(*lines)

    def stopping(self) -> bool:
        """Tell systemd the daemon is shutting down: ``STOPPING=1``."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """Keep the ``WatchdogSec=`` timer from firing: ``WATCHDOG=1``."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Set the one-line status ``systemctl status`` shows: ``STATUS=<text>``."""
        return self.notify(f"STATUS={_single_line(text)}")

    def reloading(self) -> bool:
        """Tell systemd a configuration reload started: ``RELOADING=1``.

        ``MONOTONIC_USEC`` goes with it because systemd 253 and later require
        it for ``Type=notify-reload`` (to tell this reload from an older one);
        older versions ignore it. Send :meth:`ready` when the reload is done.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """:func:`watchdog_interval` of the environment this notifier was created with."""
        return watchdog_interval(self._environ)

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one datagram; False if not sent."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        try:
            # A fresh socket per message, like libsystemd's sd_notify(): there
            # is nothing to close at shutdown or to reopen after a fork.
            # Non-blocking because a supervisor that stops reading must never
            # stall the event loop; a full queue is just a failed send.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(payload, self._address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "sdnotify.send_failed",
                    socket=self._socket_name,
                    state=assignments[0].partition("=")[0],
                    error=str(exc),
                )
            return False
        self._warned = False
        return True
