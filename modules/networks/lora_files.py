"""LoRA-family files: found by name under the Lora folders, read safely, grouped per module.

A parsed file keeps, per module name as the file spells it, either a network module (lora_types)
or the reason it cannot be used; binding to a model happens when it is applied (lora_patching).
"""

from __future__ import annotations

import hashlib
import logging
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from modules.networks.file_reading import SHORT_HASH_LENGTH
from modules.networks.lora_keys import split_key
from modules.networks.lora_types import NetworkModule, UnsupportedNetworkType, parse_module
from modules.networks.user_metadata import UserMetadata, read_user_metadata
from modules.sd_models.safe_load import CheckpointLoadError, load_pickle_tree, load_state_dict, read_safetensors_header

log = logging.getLogger(__name__)
MIN_HASH_PREFIX = 8  # infotexts carry 8 to 12 hex digits of a LoRA's hash; fewer could match by chance

LORA_SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")


@dataclass
class LoraFile:
    name: str
    path: Path
    modules: dict[str, NetworkModule]  # module name as in the file → its update
    unsupported: dict[str, str] = field(default_factory=dict)  # module name → why it is not applied
    unknown_keys: list[str] = field(default_factory=list)  # keys with no known parameter suffix
    metadata: dict[str, str] = field(default_factory=dict)


def parse_lora_state(state: dict[str, torch.Tensor], name: str, path: Path,
                     metadata: dict[str, str] | None = None) -> LoraFile:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in state.items():
        split = split_key(key)
        if split is None or not isinstance(tensor, torch.Tensor):
            unknown.append(key)
            continue
        module, param = split
        groups.setdefault(module, {})[param] = tensor
    modules, unsupported = {}, {}
    for module, params in groups.items():
        try:
            modules[module] = parse_module(params)
        except UnsupportedNetworkType as e:
            unsupported[module] = str(e)
    return LoraFile(name, path, modules, unsupported, unknown, dict(metadata or {}))


def read_lora_file(path: Path, allow_unsafe: bool = False) -> LoraFile:
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        state, metadata = load_state_dict(path)
    else:
        tree = load_pickle_tree(path, allow_unsafe)
        if not isinstance(tree, dict):
            raise CheckpointLoadError(f"{path.name}: expected a dict of tensors, found {type(tree).__name__}")
        state, metadata = {k: v for k, v in tree.items() if isinstance(v, torch.Tensor)}, {}
    return parse_lora_state(state, path.stem, path, metadata)


def addnet_hash(path: Path) -> str:
    """A1111's LoRA hash for .safetensors: sha256 of the tensor data after the JSON header
    (unchanged by metadata edits); the whole file's sha256 for other types."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if path.suffix.lower() == ".safetensors":
            header = int.from_bytes(f.read(8), "little")
            f.seek(8 + header)
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class LoraDescription:
    """What the UI and GET /sdapi/v1/loras show of a file, read without parsing its tensors."""

    name: str
    path: Path
    metadata: dict[str, str]  # the safetensors header's
    user_metadata: UserMetadata

    def api_dict(self) -> dict[str, Any]:
        """A1111's /sdapi/v1/loras item (name, alias, path, metadata) plus the user metadata,
        which A1111 only shows in its UI."""
        return {"name": self.name, "alias": self.name, "path": str(self.path), "metadata": self.metadata,
                "user_metadata": self.user_metadata.values}


@dataclass
class _Cached:
    stamp: tuple[int, int]
    file: LoraFile


class LoraLibrary:
    """The LoRA files under some folders (recursive), by name; parsed files cached until they change.

    Also owns the per-model weight patchers (lora_patching.apply_networks), so that the same set of
    networks on the next job is found already applied."""

    def __init__(self, folders: Sequence[Path], allow_unsafe: bool = False):
        import weakref

        self.folders = [Path(f) for f in folders]
        self.allow_unsafe = allow_unsafe
        self._paths: dict[str, Path] = {}
        self._cache: dict[Path, _Cached] = {}
        self._hashes: dict[Path, tuple[tuple[int, int], str]] = {}  # path → (stamp, addnet hash)
        self.patchers: "weakref.WeakKeyDictionary[torch.nn.Module, object]" = weakref.WeakKeyDictionary()
        self.refresh()

    def refresh(self) -> None:
        """Rescan the folders (POST /sdapi/v1/refresh-loras)."""
        paths: dict[str, Path] = {}
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for root, dirs, names in os.walk(folder, followlinks=True):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for n in sorted(names):
                    if not n.startswith(".") and Path(n).suffix.lower() in LORA_SUFFIXES:
                        paths.setdefault(Path(n).stem, Path(root) / n)
        self._paths = paths

    def names(self) -> dict[str, Path]:
        return dict(self._paths)

    def find(self, name: str) -> Path | None:
        path = self._paths.get(name)
        if path is None or not path.is_file():
            self.refresh()  # a file added, renamed or removed since the last scan
            path = self._paths.get(name)
        return path

    def load(self, path: Path) -> LoraFile:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is None or cached.stamp != stamp:
            cached = _Cached(stamp, read_lora_file(path, self.allow_unsafe))
            self._cache[path] = cached
        return cached.file

    def stamp(self, path: Path) -> tuple[int, int]:
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size

    def shorthash(self, path: Path) -> str:
        return self._hash(path)[:SHORT_HASH_LENGTH]

    def _hash(self, path: Path) -> str:
        stamp = self.stamp(path)
        cached = self._hashes.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, addnet_hash(path))
            self._hashes[path] = cached
        return cached[1]

    def find_by_hash(self, shorthash: str) -> str | None:
        """The name of the file whose hash starts with `shorthash` (a renamed file's new name).
        Files hashed before are checked first; the others are hashed (once per file version)."""
        wanted = shorthash.strip().lower()
        if len(wanted) < MIN_HASH_PREFIX or not set(wanted) <= set(string.hexdigits.lower()):
            return None
        self.refresh()
        known = [(n, p) for n, p in self._paths.items() if p in self._hashes]
        unknown = [(n, p) for n, p in self._paths.items() if p not in self._hashes]
        for name, path in known + unknown:
            try:
                if self._hash(path).startswith(wanted):
                    return name
            except OSError as e:
                log.warning("%s: not hashed (%s)", path.name, e)
        return None

    def describe(self, name: str) -> LoraDescription | None:
        """Name, path, header metadata and user metadata of a file; problems are logged."""
        path = self.find(name)
        if path is None:
            return None
        metadata: dict[str, str] = {}
        if path.suffix.lower() == ".safetensors":
            try:
                metadata = read_safetensors_header(path)[1]
            except CheckpointLoadError as e:
                log.warning("%s", e)
        user = read_user_metadata(path)
        for warning in user.warnings:
            log.warning("%s", warning)
        return LoraDescription(name, path, metadata, user)
