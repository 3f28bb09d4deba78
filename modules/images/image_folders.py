"""Folders of images as the batch tabs and the training dataset read them."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def find_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` by name, case-insensitively; hidden files skipped."""
    return sorted((p for p in Path(folder).iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
                  key=lambda p: p.name.lower())


def find_by_stem(folder: Path, stem: str) -> Path | None:
    """The image called `stem` with any image suffix (e.g. an input's mask), or None."""
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def load_image(path: Path) -> Image.Image:
    """The image read fully into memory (the file is closed again)."""
    with Image.open(path) as image:
        image.load()
        return image.copy()
