"""The training set: images (+ captions) → latents, prompt texts from template lines, batches.

As A1111's PersonalizedBase: a caption comes from `<image>.txt`, else from the file name
without leading numbers; each use picks a random template line and fills `[name]` with the
embedding's name and `[filewords]` with the caption's comma-separated tags (optionally
shuffled and dropped). Latents are encoded once; "once" samples the VAE posterior at load,
"deterministic" takes its mean, "random" samples it anew at every use.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from modules.processing import latents as latent_ops
from modules.processing.params import ParamsError
from modules.training.params import SIDE_MULTIPLE

log = logging.getLogger(__name__)
BUNDLED_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LEADING_NUMBERS = re.compile(r"^[-\d]+\s*")  # "00012-a cat.png" → "a cat"


# --- prompt templates ---------------------------------------------------------------------

def list_templates(folders: Sequence[Path]) -> dict[str, Path]:
    """Template files by name (path relative to its folder, '/'-separated); earlier folders win."""
    found: dict[str, Path] = {}
    for folder in folders:
        if Path(folder).is_dir():
            for path in sorted(Path(folder).rglob("*.txt")):
                found.setdefault(path.relative_to(folder).as_posix(), path)
    return found


def read_template(path: Path) -> list[str]:
    try:
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError("template_filename", f"{Path(path).name}: unreadable ({e})") from None
    lines = [line for line in lines if line]
    if not lines:
        raise ParamsError("template_filename", f"{Path(path).name} has no prompt lines")
    return lines


def prompt_text(line: str, name: str, caption: str, rng: random.Random, shuffle_tags: bool = False,
                tag_drop_out: float = 0.0) -> str:
    """One training prompt: the template line with [name] and [filewords] filled in."""
    tags = caption.split(",")
    if tag_drop_out:
        tags = [tag for tag in tags if rng.random() > tag_drop_out]
    if shuffle_tags:
        rng.shuffle(tags)
    return line.replace("[filewords]", ",".join(tags)).replace("[name]", name)


# --- images and captions ------------------------------------------------------------------

def caption_for(image_path: Path) -> str:
    text_file = image_path.with_suffix(".txt")
    if text_file.is_file():
        try:
            return text_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ParamsError("data_root", f"{text_file.name}: unreadable caption ({e})") from None
    return LEADING_NUMBERS.sub("", image_path.stem)


@dataclass
class TrainingImage:
    """One image as the trainer uses it: latent posterior, caption and optional loss weights."""

    path: Path
    caption: str
    mean: torch.Tensor  # [4, h, w], already scaled by the VAE's scaling factor
    std: torch.Tensor | None  # kept only for "random" latent sampling
    weight: torch.Tensor | None  # [h, w] loss weights (alpha channel, mean 1) when use_weight

    @property
    def latent_size(self) -> tuple[int, int]:
        return int(self.mean.shape[1]), int(self.mean.shape[2])

    def latent(self, generator: torch.Generator) -> torch.Tensor:
        if self.std is None:
            return self.mean
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype)
        return self.mean + self.std * noise


def load_images(paths: Sequence[Path], model: Any, width: int, height: int, varsize: bool, method: str,
                use_weight: bool, generator: torch.Generator) -> list[TrainingImage]:
    """Read, size and VAE-encode every image (CPU tensors). Unreadable files are named."""
    loaded = []
    for path in paths:
        image = _open_image(path)
        size = training_size(image.size, width, height, varsize, path)
        alpha = image.getchannel("A") if use_weight and "A" in image.getbands() else None
        rgb = image.convert("RGB").resize(size, Image.BICUBIC)
        mean, std = _posterior(model.vae, latent_ops.images_to_tensor([rgb]))
        if method == "once":
            mean, std = mean + std * torch.randn(mean.shape, generator=generator), None
        elif method == "deterministic":
            std = None
        weight = _alpha_weight(alpha, mean.shape[1:]) if use_weight else None
        loaded.append(TrainingImage(path, caption_for(path), mean, std, weight))
    return loaded


def _open_image(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ParamsError("data_root", f"{path.name}: not a readable image ({e})") from None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ParamsError("data_root", f"{path.name}: not a readable image ({e})") from None


def training_size(image_size: tuple[int, int], width: int, height: int, varsize: bool,
                  path: Path) -> tuple[int, int]:
    """The (width, height) an image is trained at: the requested size, or with varsize its own
    size cut down to a multiple of 8 (what every SD VAE encodes)."""
    if not varsize:
        return width, height
    own_width, own_height = image_size
    size = (own_width // SIDE_MULTIPLE * SIDE_MULTIPLE, own_height // SIDE_MULTIPLE * SIDE_MULTIPLE)
    if min(size) == 0:
        raise ParamsError("data_root", f"{path.name} is {own_width}x{own_height}; with varsize images must be "
                                       f"at least {SIDE_MULTIPLE} pixels on each side")
    return size


def _posterior(vae: torch.nn.Module, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the VAE's latent distribution for one image, scaled, float32 on the CPU
    (redone in fp32 when half precision overflows)."""
    scale = vae.config.scaling_factor

    def run(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            dist = vae.encode(pixels.to(vae.device, dtype)).latent_dist
        return (dist.mean[0].float() * scale).cpu(), (dist.std[0].float() * scale).cpu()

    mean, std = run(vae.dtype)
    if vae.dtype != torch.float32 and not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
        original = vae.dtype
        vae.to(torch.float32)
        try:
            mean, std = run(torch.float32)
        finally:
            vae.to(original)
    return mean, std


def _alpha_weight(alpha: Image.Image | None, latent_hw: torch.Size) -> torch.Tensor:
    """Per-latent-cell loss weights from the alpha channel, shifted to 0 and scaled to mean 1
    (A1111's use_weight); all ones for an image without alpha."""
    height, width = int(latent_hw[0]), int(latent_hw[1])
    if alpha is None:
        return torch.ones(height, width)
    weight = torch.from_numpy(np.asarray(alpha.resize((width, height), Image.BICUBIC), dtype=np.float32))
    weight = weight - weight.min()
    mean = weight.mean()
    return weight / mean if mean > 0 else torch.ones(height, width)


# --- batches --------------------------------------------------------------------------------

def epoch_batches(images: Sequence[TrainingImage], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch: shuffled batches of same-sized images; incomplete batches are dropped."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(image.latent_size, []).append(index)
    batches = []
    for indexes in groups.values():
        indexes = list(indexes)
        rng.shuffle(indexes)
        batches += [indexes[i:i + batch_size] for i in range(0, len(indexes) - batch_size + 1, batch_size)]
    rng.shuffle(batches)
    return batches


def batches_per_epoch(images: Sequence[TrainingImage], batch_size: int) -> int:
    return count_batches((image.latent_size for image in images), batch_size)


def count_batches(sizes: Iterable[tuple[int, int]], batch_size: int) -> int:
    """Whole batches in an epoch of images of these sizes (a batch holds one size only)."""
    return sum(count // batch_size for count in Counter(sizes).values())


def batch_stream(images: Sequence[TrainingImage], batch_size: int, batches_used_per_epoch: int,
                 rng: random.Random) -> Iterator[list[int]]:
    """Endless batches, epoch after epoch; each epoch gives `batches_used_per_epoch` of them
    (a whole number of optimizer steps, as A1111 drops the rest of an epoch)."""
    while True:
        yield from epoch_batches(images, batch_size, rng)[:batches_used_per_epoch]
