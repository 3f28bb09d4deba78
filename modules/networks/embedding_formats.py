"""Textual-inversion embedding files → vectors, whatever tool wrote them.

Formats (as A1111 reads them):
- A1111 / original TI `.pt`/`.bin`: {"string_to_param": {"*": [n, dim]}, "string_to_token", "name",
  "step", "sd_checkpoint", "sd_checkpoint_name"}; SDXL ones keep "clip_l"/"clip_g" at the top.
- diffusers concepts `.bin`: {"<token>": [dim] or [n, dim]}.
- `.safetensors`: {"emb_params": [n, dim]} (any single tensor), or {"clip_l", "clip_g"} for SDXL.
- `.png`: the `.pt` dict as base64 JSON in the "sd-ti-embedding" text chunk (tensors as
  {"TORCHTENSOR": nested lists}).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.sd_models.safe_load import load_pickle_tree
from modules.sd_models.safe_load import PICKLE_SUFFIXES, load_state_dict

EMBEDDING_SUFFIXES = (".safetensors", ".pt", ".bin", ".png")
PNG_TEXT_KEY = "sd-ti-embedding"
SINGLE_PART = ""  # the part name of a one-encoder embedding (SD1, SD2)
SDXL_PARTS = ("clip_l", "clip_g")


class EmbeddingFormatError(ValueError):
    """A file in the embeddings folder that holds no usable embedding; the message names it."""


@dataclass
class EmbeddingData:
    """Vectors of one embedding file, before they are checked against a model."""

    name: str
    parts: dict[str, torch.Tensor]  # SINGLE_PART, or "clip_l"/"clip_g": [vectors, width] float32
    step: int | None = None
    sd_checkpoint: str | None = None
    sd_checkpoint_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def vector_count(self) -> int:
        return int(next(iter(self.parts.values())).shape[0])

    @property
    def width(self) -> int:
        """A1111's `shape`: the vector width, summed over both encoders for SDXL."""
        return sum(int(v.shape[1]) for v in self.parts.values())


def read_embedding_file(path: Path, allow_unsafe: bool = False) -> EmbeddingData | None:
    """The embedding in `path`, or None for a file that is not one (a preview image).

    Raises EmbeddingFormatError for content that cannot be an embedding, and
    sd_models.safe_load errors for unsafe or corrupt weight files."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        tree = _png_embedding_tree(path)
        if tree is None:
            return None
        name = tree.get("name") if isinstance(tree.get("name"), str) and tree.get("name") else path.stem
        return embedding_from_tree(tree, name, path.name)
    if suffix == ".safetensors":
        tree, _ = load_state_dict(path)
    elif suffix in PICKLE_SUFFIXES:
        tree = load_pickle_tree(path, allow_unsafe)
    else:
        raise EmbeddingFormatError(f"{path.name}: not an embedding file type; use one of {EMBEDDING_SUFFIXES}")
    return embedding_from_tree(tree, path.stem, path.name)


def embedding_from_tree(tree: Any, name: str, file_name: str) -> EmbeddingData:
    """Pick the vectors out of a loaded file, following A1111's create_embedding_from_data."""
    if not isinstance(tree, dict):
        raise EmbeddingFormatError(f"{file_name}: expected a dict, found {type(tree).__name__}")
    if "string_to_param" in tree:
        params = tree["string_to_param"]
        params = getattr(params, "_parameters", params)  # an nn.ParameterDict, with --disable-safe-unpickle
        if not isinstance(params, dict) or len(params) != 1:
            raise EmbeddingFormatError(f"{file_name}: string_to_param must hold exactly one term")
        parts = {SINGLE_PART: _vectors(next(iter(params.values())), file_name, "string_to_param")}
    elif all(isinstance(tree.get(part), torch.Tensor) for part in SDXL_PARTS):
        parts = {part: _vectors(tree[part], file_name, part) for part in SDXL_PARTS}
        counts = {part: int(v.shape[0]) for part, v in parts.items()}
        if len(set(counts.values())) != 1:
            raise EmbeddingFormatError(f"{file_name}: clip_l and clip_g have different vector counts {counts}")
    else:
        tensors = {k: v for k, v in tree.items() if isinstance(v, torch.Tensor)}
        if len(tensors) != 1:
            raise EmbeddingFormatError(
                f"{file_name}: not an embedding: expected string_to_param, clip_l/clip_g or one tensor, "
                f"found {len(tensors)} tensors ({', '.join(list(tensors)[:5])})")
        key, tensor = next(iter(tensors.items()))
        parts = {SINGLE_PART: _vectors(tensor, file_name, key)}
    return EmbeddingData(
        name=name,
        parts=parts,
        step=_optional(tree.get("step"), int),
        sd_checkpoint=_optional(tree.get("sd_checkpoint"), str),
        sd_checkpoint_name=_optional(tree.get("sd_checkpoint_name"), str),
    )


def _vectors(tensor: Any, file_name: str, key: str) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise EmbeddingFormatError(f"{file_name}: {key} is a {type(tensor).__name__}, not a tensor")
    if tensor.ndim == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 2 or tensor.shape[0] < 1 or tensor.shape[1] < 1:
        raise EmbeddingFormatError(f"{file_name}: {key} must be [vectors, width], got {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise EmbeddingFormatError(f"{file_name}: {key} holds {tensor.dtype} values, not floats")
    vectors = tensor.detach().to("cpu", torch.float32)
    if not torch.isfinite(vectors).all():
        raise EmbeddingFormatError(f"{file_name}: {key} contains NaN or infinite values")
    return vectors.contiguous()


def _optional(value: Any, kind: type) -> Any:
    if value is None or isinstance(value, bool):
        return None
    if kind is int and isinstance(value, (int, float)):
        return int(value)
    if kind is str:
        return str(value)
    return None


def _png_embedding_tree(path: Path) -> dict | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}).get(PNG_TEXT_KEY)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise EmbeddingFormatError(f"{path.name}: unreadable PNG ({e})") from e
    if text is None:
        return None
    try:
        return json.loads(base64.b64decode(text, validate=False), object_hook=_decode_tensor)
    except (binascii.Error, ValueError, TypeError) as e:
        raise EmbeddingFormatError(f"{path.name}: the {PNG_TEXT_KEY} text chunk is not valid embedding data ({e})") from e


def _decode_tensor(obj: dict) -> Any:
    if "TORCHTENSOR" in obj:
        return torch.tensor(obj["TORCHTENSOR"], dtype=torch.float32)
    return obj


def encode_png_embedding(data: dict[str, Any]) -> str:
    """The "sd-ti-embedding" text for a `.pt`-style dict (A1111's embedding_to_b64)."""

    def encode(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return {"TORCHTENSOR": obj.detach().cpu().tolist()}
        raise TypeError(f"cannot encode {type(obj).__name__} in an embedding PNG")

    return base64.b64encode(json.dumps(data, default=encode).encode()).decode()
