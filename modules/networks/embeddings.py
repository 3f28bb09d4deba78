"""The embeddings folder as a model sees it: which embeddings load, which are skipped and why.

`EmbeddingDatabase.load(model)` rescans the folder (files are re-read only when they change),
checks each embedding's vectors against the model's text encoders and returns an
`EmbeddingSet`: the loaded and skipped entries (A1111's /sdapi/v1/embeddings shape), one
token lookup per text encoder for the prompt encoder, and the `TI hashes` infotext value.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from modules import prompting
from modules.networks.embedding_formats import (
    EMBEDDING_SUFFIXES,
    SDXL_PARTS,
    SINGLE_PART,
    EmbeddingData,
    read_embedding_file,
)
from modules.networks.embedding_lookup import TokenPrefixLookup, name_token_ids
from modules.networks.file_reading import SHORT_HASH_LENGTH, sha256_of_file
from modules.sd_models.safe_load import CheckpointLoadError

log = logging.getLogger(__name__)

# Which embedding part feeds each text encoder, per model family.
PARTS_PER_ENCODER = {
    "sd1": (SINGLE_PART,),
    "sd2": (SINGLE_PART,),
    "sdxl": SDXL_PARTS,
    "sdxl_refiner": ("clip_g",),
    "sd3": SDXL_PARTS,  # CLIP-L and CLIP-G; T5-XXL takes no embeddings
}


@dataclass(frozen=True, eq=False)
class Embedding:
    name: str
    path: Path
    data: EmbeddingData
    vectors: tuple[torch.Tensor, ...]  # one [count, width] per text encoder of the model
    sha256: str

    @property
    def shorthash(self) -> str:
        return self.sha256[:SHORT_HASH_LENGTH]

    def api_dict(self) -> dict[str, Any]:
        return _api_fields(self.data)


@dataclass(frozen=True, eq=False)
class SkippedEmbedding:
    name: str
    path: Path
    reason: str
    data: EmbeddingData | None = None  # None when the file could not be read

    def api_dict(self) -> dict[str, Any]:
        return _api_fields(self.data)


def _api_fields(data: EmbeddingData | None) -> dict[str, Any]:
    return {
        "step": data.step if data else None,
        "sd_checkpoint": data.sd_checkpoint if data else None,
        "sd_checkpoint_name": data.sd_checkpoint_name if data else None,
        "shape": data.width if data else None,
        "vectors": data.vector_count if data else None,
    }


@dataclass(frozen=True, eq=False)
class EmbeddingSet:
    loaded: dict[str, Embedding]
    skipped: dict[str, SkippedEmbedding]
    lookups: tuple[TokenPrefixLookup, ...]  # one per text encoder, in the model's order
    tokenizers: tuple[Any, ...] = field(default=())

    def api_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """GET /sdapi/v1/embeddings."""
        return {"loaded": {name: e.api_dict() for name, e in self.loaded.items()},
                "skipped": {name: s.api_dict() for name, s in self.skipped.items()}}

    def used_in(self, texts: Iterable[str]) -> list[Embedding]:
        """Embeddings the prompt encoder will place for these texts (extra-network tags removed),
        in order of first use."""
        if not self.lookups:
            return []
        used: dict[str, Embedding] = {}
        for text in dict.fromkeys(texts):
            for chunk in prompting.tokenize_prompt(text, self.tokenizers[0], embeddings=self.lookups[0]).chunks:
                for fix in chunk.fixes:
                    used.setdefault(fix.embedding.name, self.loaded[fix.embedding.name])
        return list(used.values())

    def ti_hashes(self, texts: Iterable[str]) -> str | None:
        """The infotext `TI hashes` value ("name: hash, …"), None when no embedding is used."""
        used = self.used_in(texts)
        return ", ".join(f"{e.name}: {e.shorthash}" for e in used) if used else None


@dataclass
class _CachedFile:
    stamp: tuple[int, int]  # (mtime_ns, size)
    data: EmbeddingData | None
    error: str | None
    sha256: str


class EmbeddingDatabase:
    """Embedding files under one or more folders (recursive), read once per change."""

    def __init__(self, folders: Sequence[Path], allow_unsafe: bool = False):
        self.folders = [Path(f) for f in folders]
        self.allow_unsafe = allow_unsafe
        self._files: dict[Path, _CachedFile] = {}

    def files(self) -> list[Path]:
        found = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for root, dirs, names in os.walk(folder, followlinks=True):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [Path(root) / n for n in sorted(names)
                          if not n.startswith(".") and Path(n).suffix.lower() in EMBEDDING_SUFFIXES]
        return found

    def load(self, model: Any) -> EmbeddingSet:
        """Read new or changed files and check every embedding against `model` (a LoadedModel)."""
        parts = PARTS_PER_ENCODER.get(model.arch.family)
        if parts is None:
            raise ValueError(f"embeddings: unknown model family {model.arch.family!r}")
        encoders = model.text_encoders[:len(parts)] if model.arch.is_sd3 else model.text_encoders
        widths = tuple(int(te.get_input_embeddings().weight.shape[1]) for te in encoders)
        if len(widths) != len(parts):
            raise ValueError(f"embeddings: {model.arch.family} model has {len(widths)} text encoders, expected {len(parts)}")
        loaded: dict[str, Embedding] = {}
        skipped: dict[str, SkippedEmbedding] = {}
        paths = self.files()
        present = set(paths)
        self._files = {p: c for p, c in self._files.items() if p in present}
        for path in paths:
            cached = self._read(path)
            if cached is None or (cached.data is None and cached.error is None):
                continue  # empty file or an image without embedding data
            name = cached.data.name if cached.data else path.stem
            if cached.error is not None:
                skipped[name] = SkippedEmbedding(name, path, cached.error)
            elif name in loaded:
                skipped[name] = SkippedEmbedding(name, path, f"same name as {loaded[name].path}", cached.data)
            elif (reason := _mismatch(cached.data, parts, widths, model.arch.family)) is not None:
                skipped[name] = SkippedEmbedding(name, path, reason, cached.data)
            else:
                vectors = _vectors_for(cached.data, parts)
                loaded[name] = Embedding(name, path, cached.data, vectors, cached.sha256)
        for name, entry in skipped.items():
            log.info("Embedding %s skipped: %s", name, entry.reason)
        lookups = tuple(
            TokenPrefixLookup((name_token_ids(tokenizer, e.name), e.name, e.vectors[i]) for e in loaded.values())
            for i, tokenizer in enumerate(model.tokenizers[:len(parts)]))
        return EmbeddingSet(loaded, skipped, lookups, tuple(model.tokenizers[:len(parts)]))

    def _read(self, path: Path) -> _CachedFile | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stat.st_size == 0:
            return None
        cached = self._files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        data, error = None, None
        try:
            data = read_embedding_file(path, self.allow_unsafe)
        except (ValueError, CheckpointLoadError) as e:  # EmbeddingFormatError is a ValueError
            error = str(e)
        cached = _CachedFile(stamp, data, error, sha256_of_file(path) if data is not None else "")
        self._files[path] = cached
        return cached


def _mismatch(data: EmbeddingData, parts: tuple[str, ...], widths: tuple[int, ...], family: str) -> str | None:
    """Why `data` cannot be used with encoders of these widths, or None when it can."""
    have = tuple(data.parts)
    if have == (SINGLE_PART,) and parts != (SINGLE_PART,) and len(parts) == 1:
        parts = (SINGLE_PART,)  # a one-encoder embedding on the SDXL refiner: width decides
    if any(part not in data.parts for part in parts):
        got = "one set of vectors" if have == (SINGLE_PART,) else " + ".join(have)
        need = "one set of vectors" if parts == (SINGLE_PART,) else " + ".join(parts)
        return f"has {got} (width {data.width}); {family} needs {need} of width {'+'.join(map(str, widths))}"
    for part, width in zip(parts, widths):
        got = int(data.parts[part].shape[1])
        if got != width:
            label = "vectors" if part == SINGLE_PART else part
            return f"{label} have width {got}; the {family} text encoder needs {width}"
    return None


def _vectors_for(data: EmbeddingData, parts: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
    if tuple(data.parts) == (SINGLE_PART,):
        return (data.parts[SINGLE_PART],) * len(parts)
    return tuple(data.parts[part] for part in parts)
