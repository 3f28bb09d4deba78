"""Small file helpers. Every write is atomic: a file appears complete or not at all."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)
TEMP_SUFFIX = ".tmp"


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name beside `target` (same file system, so os.replace is atomic).
    Short whatever the target's length; the leading "." hides it from A1111-style counters."""
    return target.parent / f".easel-{secrets.token_hex(8)}{TEMP_SUFFIX}"


def write_atomically(target: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Run `write` on a temp file beside `target`, fsync, then rename it over `target`.

    On any failure (KeyboardInterrupt included) the temp file is removed and the error
    re-raised: `target` is either untouched or complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(target)
    # os.open with 0o666 keeps the user's umask for the final file (mkstemp would force 0600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return write_atomically(path, lambda handle: handle.write(data))


def write_text_atomically(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def write_text_stream_atomically(path: str | os.PathLike[str], write: Callable[[io.TextIOBase], None],
                                 encoding: str = "utf-8", newline: str | None = None) -> Path:
    """`write_atomically` for writers that want a text stream (e.g. csv)."""

    def binary(handle: BinaryIO) -> None:
        text = io.TextIOWrapper(handle, encoding=encoding, newline=newline)
        write(text)
        text.flush()
        text.detach()  # leave the binary handle open for write_atomically's fsync

    return write_atomically(path, binary)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text_atomically(path, json.dumps(obj, indent=4, ensure_ascii=False) + "\n")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} if missing. A corrupt file is moved aside with a warning."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level is not a JSON object")
        return data
    except (ValueError, UnicodeDecodeError) as e:
        backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, backup)
        log.warning("%s is not valid JSON (%s); moved it to %s and started from defaults", path, e, backup.name)
        return {}
