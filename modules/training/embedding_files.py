"""Create and write textual-inversion embeddings in A1111's `.pt` layout (which A1111 reads too).

    {"string_to_token": {"*": 265}, "string_to_param": {"*": [vectors, width]}, "name", "step",
     "sd_checkpoint", "sd_checkpoint_name"}

SDXL embeddings keep `clip_l`/`clip_g` at the top level instead of `string_to_param`, as both
readers expect. The optimizer state goes beside it as `<file>.optim` (A1111's
save_optimizer_state), tagged with A1111's checksum of the vectors so a stale one is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from modules.fileio import write_atomically
from modules.networks.embedding_formats import EMBEDDING_SUFFIXES, SDXL_PARTS, SINGLE_PART
from modules.networks.embeddings import PARTS_PER_ENCODER
from modules.sd_models.safe_load import load_pickle_tree
from modules.processing.params import ParamsError
from modules.sd_models.safe_load import CheckpointLoadError
from modules.training.params import MAX_VECTORS_PER_TOKEN

log = logging.getLogger(__name__)
NAME_EXTRA_CHARACTERS = "._- "  # besides letters and digits (A1111's filter for embedding names)
MAX_NAME_LENGTH = 100
PLACEHOLDER_TOKEN_ID = 265  # what A1111 writes in string_to_token; readers ignore it


def validate_embedding_name(name: Any, field_name: str = "name") -> str:
    """The name as a file name: letters, digits and ._- and space, no leading dot or space."""
    if not isinstance(name, str) or not name.strip():
        raise ParamsError(field_name, "is empty; give the embedding a name")
    bad = sorted({c for c in name if not (c.isalnum() or c in NAME_EXTRA_CHARACTERS)})
    if bad:
        raise ParamsError(field_name, f"{name!r} contains {''.join(bad)!r}; "
                                      "use letters, digits, '.', '_', '-' and spaces")
    if name != name.strip() or name.startswith(".") or name.endswith("."):
        raise ParamsError(field_name, f"{name!r} must not start or end with a space or a dot")
    if len(name) > MAX_NAME_LENGTH:
        raise ParamsError(field_name, f"is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
    return name


def initial_vectors(tokenizer: Any, text_encoder: torch.nn.Module, init_text: str, count: int) -> torch.Tensor:
    """[count, width] float32: the init text's token embeddings, spread over `count` vectors
    (A1111: vector i takes token i * tokens // count, after truncating to `count` tokens).
    An empty init text gives zeros."""
    table = text_encoder.get_input_embeddings().weight
    vectors = torch.zeros(count, table.shape[1], dtype=torch.float32)
    ids = tokenizer(init_text, add_special_tokens=False, truncation=False)["input_ids"][:count] if init_text else []
    if init_text and init_text.strip() and not ids:
        raise ParamsError("init_text", f"{init_text!r} has no tokens")
    with torch.no_grad():
        for i in range(count if ids else 0):
            vectors[i] = table[ids[i * len(ids) // count]].detach().float().cpu()
    return vectors


def embedding_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.pt"


def create_embedding(name: str, num_vectors_per_token: int, init_text: str, model: Any, folder: Path,
                     overwrite: bool = False) -> Path:
    """Write a new embedding for `model`'s text encoders to `<folder>/<name>.pt` (step 0)."""
    name = validate_embedding_name(name)
    if isinstance(num_vectors_per_token, bool) or not isinstance(num_vectors_per_token, int) \
            or not 1 <= num_vectors_per_token <= MAX_VECTORS_PER_TOKEN:
        raise ParamsError("num_vectors_per_token", f"must be a whole number from 1 to {MAX_VECTORS_PER_TOKEN}, "
                                                   f"got {num_vectors_per_token!r}")
    if not isinstance(init_text, str):
        raise ParamsError("init_text", f"must be text, got {type(init_text).__name__}")
    target = embedding_path(folder, name)
    _check_free(Path(folder), name, target, overwrite)
    parts = PARTS_PER_ENCODER.get(model.arch.family)
    if parts not in ((SINGLE_PART,), SDXL_PARTS) or model.arch.is_sd3:  # the refiner reads the base's clip_g
        raise ParamsError("model", f"cannot create embeddings for {model.arch.label}; load an SD1, SD2 or "
                                   "SDXL base model")
    vectors = {part: initial_vectors(tokenizer, encoder, init_text, num_vectors_per_token)
               for part, tokenizer, encoder in zip(parts, model.tokenizers, model.text_encoders)}
    save_embedding(target, vectors, name, step=0)
    log.info("Created embedding %s (%d vectors) at %s", name, num_vectors_per_token, target)
    return target


def _check_free(folder: Path, name: str, target: Path, overwrite: bool) -> None:
    others = [folder / f"{name}{suffix}" for suffix in EMBEDDING_SUFFIXES if suffix != ".pt"]
    clash = next((p for p in others if p.exists()), None)
    if clash is not None:
        raise ParamsError("name", f"{clash.name} already holds an embedding named {name!r}; choose another name")
    if target.exists() and not overwrite:
        raise ParamsError("name", f"{target.name} already exists; choose another name or set overwrite_old")


def embedding_tree(vectors: dict[str, torch.Tensor], name: str, step: int | None,
                   sd_checkpoint: str | None = None, sd_checkpoint_name: str | None = None) -> dict[str, Any]:
    """The dict A1111 pickles: `vectors` maps SINGLE_PART (or clip_l/clip_g) to [n, width]."""
    plain = {part: v.detach().to("cpu", torch.float32).contiguous().clone() for part, v in vectors.items()}
    if set(plain) == {SINGLE_PART}:
        body: dict[str, Any] = {"string_to_token": {"*": PLACEHOLDER_TOKEN_ID},
                                "string_to_param": {"*": plain[SINGLE_PART]}}
    elif set(plain) == set(SDXL_PARTS):
        body = dict(plain)
    else:
        raise ValueError(f"embedding parts must be one set of vectors or clip_l + clip_g, got {sorted(plain)}")
    return {**body, "name": name, "step": step, "sd_checkpoint": sd_checkpoint,
            "sd_checkpoint_name": sd_checkpoint_name}


def save_embedding(path: Path, vectors: dict[str, torch.Tensor], name: str, step: int | None,
                   sd_checkpoint: str | None = None, sd_checkpoint_name: str | None = None) -> Path:
    tree = embedding_tree(vectors, name, step, sd_checkpoint, sd_checkpoint_name)
    return write_atomically(path, lambda handle: torch.save(tree, handle))


def vectors_checksum(vectors: Sequence[torch.Tensor]) -> str:
    """A1111's Embedding.checksum(): 4 hex digits of a rolling hash over the vectors * 100 (for
    SDXL over both encoders' vectors, in order)."""
    flat = torch.cat([part.detach().float().cpu().reshape(-1) for part in vectors])
    value = 0
    for v in (flat * 100).tolist():
        value = (value * 281 ^ int(v) * 997) & 0xFFFFFFFF
    return f"{value & 0xFFFF:04x}"


def optimizer_state_path(embedding_file: Path) -> Path:
    return embedding_file.with_name(embedding_file.name + ".optim")


def save_optimizer_state(embedding_file: Path, vectors: Sequence[torch.Tensor], state: dict[str, Any]) -> Path:
    data = {"hash": vectors_checksum(vectors), "optimizer_state_dict": state}
    return write_atomically(optimizer_state_path(embedding_file), lambda handle: torch.save(data, handle))


def load_optimizer_state(embedding_file: Path, vectors: Sequence[torch.Tensor]) -> dict[str, Any] | None:
    """The saved optimizer state when it belongs to these vectors; None otherwise (or unreadable)."""
    path = optimizer_state_path(embedding_file)
    if not path.is_file():
        return None
    try:
        data = load_pickle_tree(path)
    except CheckpointLoadError as e:
        log.warning("Ignoring optimizer state %s: %s", path.name, e)
        return None
    if not isinstance(data, dict) or data.get("hash") != vectors_checksum(vectors):
        log.info("Optimizer state %s belongs to other vectors; starting a fresh optimizer", path.name)
        return None
    state = data.get("optimizer_state_dict")
    return state if isinstance(state, dict) else None
