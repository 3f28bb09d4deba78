"""Cards of the extra networks panel: LoRAs, embeddings and checkpoints with their preview
images (an image beside the file, A1111's naming), and what clicking a card does to the
prompt. Gradio-free; the lists are the engine's own (its LoRA library, embedding database
and model manager), so the panel shows what the API lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.networks import EmbeddingDatabase, LoraLibrary, read_user_metadata
from modules.sd_models.checkpoints import CheckpointInfo

PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
DEFAULT_LORA_WEIGHT = 1


@dataclass(frozen=True)
class NetworkCard:
    kind: str  # "lora", "embedding" or "checkpoint"
    name: str
    path: Path
    preview: Path | None
    prompt_text: str  # inserted into the prompt; "" for checkpoints (a click loads them)


def find_preview(path: Path) -> Path | None:
    """`name.preview.png` or `name.png` (any image suffix) beside the file."""
    stem = path.parent / path.name.rsplit(".", 1)[0]
    for middle in (".preview", ""):
        for suffix in PREVIEW_SUFFIXES:
            candidate = Path(f"{stem}{middle}{suffix}")
            if candidate != path and candidate.is_file():
                return candidate
    return None


def _is_preview(path: Path) -> bool:
    return ".preview." in path.name.lower()


def lora_cards(library: LoraLibrary) -> list[NetworkCard]:
    """The library's LoRAs as of its last scan (LoraLibrary.refresh rescans the folders). The
    tag's weight is the "preferred weight" of the user metadata beside the file, as in A1111."""
    return [NetworkCard("lora", name, path, find_preview(path), lora_tag(name, path))
            for name, path in sorted(library.names().items(), key=lambda item: item[0].lower())]


def lora_tag(name: str, path: Path) -> str:
    weight = read_user_metadata(path).preferred_weight  # a broken file: no preference (the API logs why)
    return f"<lora:{name}:{weight if weight is not None else DEFAULT_LORA_WEIGHT:g}>"


def embedding_cards(database: EmbeddingDatabase, model: Any | None) -> list[NetworkCard]:
    """The embeddings that load for `model` (the "loaded" list of GET /sdapi/v1/embeddings),
    by the name a prompt uses; while no model is loaded, every embedding file by its name."""
    if model is None:
        return _embedding_file_cards(database.files())
    try:
        loaded = database.load(model).loaded
    except ValueError:  # a model family without embeddings
        return []
    return [NetworkCard("embedding", name, e.path, find_preview(e.path), name)
            for name, e in sorted(loaded.items(), key=lambda item: item[0].lower())]


def _embedding_file_cards(files: list[Path]) -> list[NetworkCard]:
    files = [p for p in files if not _is_preview(p)]
    # a .png is itself an embedding only when nothing else has its name (then it is a preview)
    stems = {p.stem for p in files if p.suffix.lower() != ".png"}
    files = [p for p in files if p.suffix.lower() != ".png" or p.stem not in stems]
    return [NetworkCard("embedding", p.stem, p, find_preview(p), p.stem)
            for p in sorted(files, key=lambda p: p.stem.lower())]


def checkpoint_cards(checkpoints: Iterable[CheckpointInfo]) -> list[NetworkCard]:
    return [NetworkCard("checkpoint", c.title, c.path, find_preview(c.path), "") for c in checkpoints]


def filter_cards(cards: list[NetworkCard], query: str) -> list[NetworkCard]:
    query = (query or "").strip().lower()
    return [card for card in cards if not query or query in card.name.lower()]


def toggle_in_prompt(prompt: str, text: str) -> str:
    """Add `text` at the end of the prompt, or take it out if it is there (A1111's card click).
    A LoRA already in the prompt with another weight counts as there."""
    prompt = prompt or ""
    lora = re.fullmatch(r"<lora:(.+):[^:>]+>", text)
    if lora:
        pattern = rf"<lora:{re.escape(lora.group(1))}(?::[^>]*)?>"
    else:  # an embedding word: whole words only ("cat" is not in "catalog")
        pattern = rf"(?<![\w-]){re.escape(text)}(?![\w-])"
    found = re.search(rf"(,\s*)?{pattern}", prompt) if text else None
    if found:
        return (prompt[:found.start()] + prompt[found.end():]).strip()
    separator = "" if not prompt.strip() else ", " if not prompt.rstrip().endswith(",") else " "
    return prompt.rstrip() + separator + text
