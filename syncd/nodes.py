"""Who runs a run: node ids, and whether the process behind one is gone."""

from __future__ import annotations

import os
import socket
import uuid


def default_node_id() -> str:
    """A node id unique per process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def process_gone(node_id: str) -> bool:
    """True if ``node_id`` is a default node id of a process on this host that has exited.

    Only ids made by :func:`default_node_id` (host, pid, suffix) on this
    very host can be checked; any other id (``SYNCD_NODE_ID``, another
    host) is assumed alive, and its runs wait out their heartbeats.
    """
    host, pid, suffix = ([*node_id.rsplit("-", 2), "", ""])[:3]
    if host != socket.gethostname() or not pid.isdigit() or len(suffix) != 6:
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process)
    return False
