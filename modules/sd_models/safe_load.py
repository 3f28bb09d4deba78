"""Read weight files as untrusted input.

`.safetensors` needs no code execution. `.ckpt`/`.pt`/`.bin` are pickles: they are read
with torch's weights-only unpickler (tensors and plain containers); a file that needs
anything else is refused, unless the user passed --disable-safe-unpickle.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)


class CheckpointLoadError(Exception):
    """A weight file that cannot be used; the message names the file and says why."""


class UnsafeCheckpointError(CheckpointLoadError):
    """A pickle that asks for code to run."""


def read_safetensors_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and metadata from the JSON header alone (no tensor data read)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size_bytes = f.read(8)
            if len(size_bytes) != 8:
                raise ValueError("file is shorter than a safetensors header")
            (size,) = struct.unpack("<Q", size_bytes)
            if size > 100_000_000:
                raise ValueError("header size is implausible")
            header = json.loads(f.read(size))
        file_size = path.stat().st_size
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CheckpointLoadError(f"{path.name}: not a valid .safetensors file ({e})") from e
    metadata = header.pop("__metadata__", None) or {}
    data_end = max((info["data_offsets"][1] for info in header.values()), default=0)
    if 8 + size + data_end > file_size:
        raise CheckpointLoadError(f"{path.name}: file is truncated ({file_size} bytes, needs {8 + size + data_end})")
    return {k: tuple(info["shape"]) for k, info in header.items()}, metadata


def load_state_dict(path: Path, allow_unsafe: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict on the CPU, safetensors metadata) from a weight file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointLoadError(f"{path.name}: file not found ({path})")
    if path.suffix.lower() == ".safetensors":
        return _load_safetensors(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return _load_pickle(path, allow_unsafe), {}
    raise CheckpointLoadError(f"{path.name}: unsupported file type {path.suffix!r}; use one of {WEIGHT_SUFFIXES}")


def _load_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    import safetensors.torch

    _, metadata = read_safetensors_header(path)  # clear errors for truncation before reading
    try:
        # Tensors come back backed by a private mapping of the file: loading costs no copy and
        # pages are read on first use. Tools replace model files by writing a new file and
        # renaming it, which leaves this mapping intact.
        return safetensors.torch.load_file(str(path), device="cpu"), metadata
    except Exception as e:  # safetensors raises its own error types for corrupt data
        raise CheckpointLoadError(f"{path.name}: corrupt .safetensors file ({e})") from e


def load_pickle_tree(path: Path, allow_unsafe: bool = False) -> Any:
    """The whole unpickled object (dicts, lists, tensors, numbers, strings), e.g. an A1111
    embedding; never runs code unless `allow_unsafe` (the user's --disable-safe-unpickle)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_unsafe, mmap=False)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"{path.name}: refused to load: the file contains code or objects other than tensors "
            f"({_first_line(e)}). Convert it to .safetensors, or start with --disable-safe-unpickle "
            "if you trust its source."
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointLoadError(f"{path.name}: corrupt or truncated file ({_first_line(e)})") from e


def _load_pickle(path: Path, allow_unsafe: bool) -> dict[str, torch.Tensor]:
    return _unwrap_state_dict(load_pickle_tree(path, allow_unsafe), path)


def _unwrap_state_dict(data: object, path: Path) -> dict[str, torch.Tensor]:
    """Training checkpoints nest the weights under 'state_dict'; keep tensors only."""
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise CheckpointLoadError(f"{path.name}: expected a dict of tensors, found {type(data).__name__}")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
