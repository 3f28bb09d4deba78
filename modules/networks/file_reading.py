"""Reading network files (embeddings, LoRAs) as untrusted input, and hashing them.

`.safetensors` goes through `sd_models.safe_load.load_state_dict`. Textual-inversion `.pt`
files keep their vectors in nested dicts (`string_to_param`) next to ints and strings, which
`load_state_dict` drops (it keeps top-level tensors only), so pickles are read here with the
same policy: torch's weights-only unpickler, the same error types, the same opt-out.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from modules.sd_models.safe_load import CheckpointLoadError, UnsafeCheckpointError

SHORT_HASH_LENGTH = 12  # A1111's shorthash for embeddings and LoRAs


def read_pickle_tree(path: Path, allow_unsafe: bool = False) -> Any:
    """The whole unpickled object (dicts, lists, tensors, numbers, strings); never runs code
    unless `allow_unsafe` (the user's --disable-safe-unpickle)."""
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


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
