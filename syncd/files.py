"""Reading the files an operator names, with one-line errors that name the file.

Every file syncd reads on an operator's say-so (the configuration file, a
settings file, the secret key file) goes through here, so an unreadable path
is a :class:`~syncd.errors.ConfigError` naming the file and the problem, never
a traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

from syncd.errors import ConfigError


def os_error_reason(exc: OSError) -> str:
    """The operating system's short reason (``Not a directory``), without the errno noise."""
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if exc.errno == errno.ENOENT:
        return "no such file"
    return exc.strerror or type(exc).__name__


def read_bytes(path: Path, what: str) -> bytes:
    """The content of ``path``; ``what`` names it in errors (``"configuration file"``)."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found", file=str(path)) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read the {what}: {os_error_reason(exc)}", file=str(path)
        ) from exc


def read_text(path: Path, what: str) -> str:
    """The content of ``path`` as UTF-8 text; errors name the file and the problem."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})",
            file=str(path),
        ) from None
