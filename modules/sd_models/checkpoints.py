"""Find checkpoint files and name them as A1111 does (`name.safetensors [shorthash]`)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from modules.fileio import atomic_write_json, read_json_object

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
DEMO_MODEL_NAME = "shapes-demo"


def sha256_of_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def legacy_model_hash(path: Path) -> str:
    """A1111's old 8-hex "model hash": sha256 of 64 KiB at offset 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(0x100000)
        digest.update(f.read(0x10000))
    return digest.hexdigest()[:8]


class HashCache:
    """sha256 per file, reused while path and mtime are unchanged (cache.json, A1111-like)."""

    def __init__(self, path: Path | None):
        self._path = path
        self._lock = threading.Lock()
        self._data = read_json_object(path) if path else {}
        self._hashes: dict = self._data.setdefault("hashes", {})

    def cached(self, file: Path) -> str | None:
        entry = self._hashes.get(str(file))
        if entry and entry.get("mtime") == file.stat().st_mtime:
            return entry.get("sha256")
        return None

    def sha256(self, file: Path) -> str:
        if found := self.cached(file):
            return found
        digest = sha256_of_file(file)
        with self._lock:
            self._hashes[str(file)] = {"mtime": file.stat().st_mtime, "sha256": digest}
            if self._path:
                atomic_write_json(self._path, self._data)
        return digest


@dataclass
class CheckpointInfo:
    path: Path
    name: str  # path relative to its models dir, with extension, '/'-separated
    sha256: str | None = None
    is_demo: bool = False
    legacy_hash: str | None = field(default=None, repr=False)

    @property
    def model_name(self) -> str:
        return self.name.rsplit(".", 1)[0].replace("/", "_")

    @property
    def shorthash(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        return f"{self.name} [{self.shorthash}]" if self.shorthash else self.name

    @property
    def config_path(self) -> Path | None:
        """A1111 convention: `model.yaml` beside `model.safetensors` overrides detection."""
        yaml = self.path.with_suffix(".yaml")
        return yaml if yaml.is_file() else None

    def matches(self, query: str) -> bool:
        query = query.strip()
        candidates = {self.title, self.name, self.model_name, self.name.rsplit(".", 1)[0], self.path.name,
                      self.path.stem, str(self.path)}
        if self.sha256:
            candidates |= {self.sha256, self.shorthash or ""}
        if self.legacy_hash:
            candidates.add(self.legacy_hash)
        return query in candidates


def scan_checkpoints(dirs: Iterable[Path], demo_dir: Path | None) -> list[CheckpointInfo]:
    """User checkpoints sorted by name, then the bundled demo model (if shown)."""
    found: dict[Path, CheckpointInfo] = {}
    for root in dirs:
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if path.suffix.lower() in CHECKPOINT_SUFFIXES and path.is_file():
                found.setdefault(path.resolve(), CheckpointInfo(path.resolve(), path.relative_to(root).as_posix()))
    infos = sorted(found.values(), key=lambda c: c.name.lower())
    demo = demo_dir / f"{DEMO_MODEL_NAME}.safetensors" if demo_dir else None
    if demo is not None and demo.is_file() and demo.resolve() not in found:
        infos.append(CheckpointInfo(demo.resolve(), demo.name, is_demo=True))
    return infos
