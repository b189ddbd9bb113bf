"""How commands print: JSON on standard output, rich tables sized for terminals and pipes."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    """A rich console; wide when not a terminal so piped tables stay readable."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=200)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on standard output (datetimes and the like as text)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
