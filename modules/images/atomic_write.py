"""Write a file so that it either appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name next to ``target`` (same file system, so os.replace is atomic).

    Kept short so it fits the file system's name limit whatever the target's length; the
    ".tmp" suffix lets folder watchers ignore it, and the leading "." hides it from
    A1111-style counters.
    """
    return target.parent / f".easel-{secrets.token_hex(8)}{TEMP_SUFFIX}"


def write_atomically(target: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Run ``write`` on a temp file beside ``target``, flush it to disk, then rename it over ``target``.

    On any failure, KeyboardInterrupt included, the temp file is removed and the error
    re-raised: ``target`` is either untouched or complete, never partly written.
    """
    target = Path(target)
    temp = temp_path_for(target)
    # os.open with 0o666 keeps the user's umask for the final file (mkstemp would force 0600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the rename makes it visible
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def write_text_atomically(target: str | os.PathLike[str], text: str) -> Path:
    """``write_atomically`` for UTF-8 text."""
    data = text.encode("utf-8")
    return write_atomically(target, lambda handle: handle.write(data))
