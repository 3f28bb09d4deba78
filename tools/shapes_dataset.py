"""Procedural "coloured shape on a plain background" pictures, their captions, and a pixel
classifier that reads colour and shape back from an image.

Shared by tools/train_demo_model.py (training data) and tools/eval_demo_model.py (scoring),
so the palette, the caption wording and the classifier can never drift apart.

Every picture is 64x64 RGB: one axis-aligned shape (circle, square or upright triangle) of
one palette colour, at a random size and position, on a plain background of another palette
colour. Shapes are drawn at 4x and box-downsampled, so edges are anti-aliased like a photo
rather than aliased, which keeps the VAE's job (and the denoiser's) simple.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

IMAGE_SIZE = 64
SUPERSAMPLE = 4

# Far apart in RGB so that nearest-colour classification of generated pixels is robust.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 30),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "orange": (245, 140, 20),
    "purple": (140, 50, 180),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

# Size of the shape's bounding box in pixels (inclusive range at 64x64).
MIN_SHAPE_SIZE = 20
MAX_SHAPE_SIZE = 44
MARGIN = 4


@dataclass(frozen=True)
class ShapeScene:
    """What one picture shows; ``box`` is (left, top, size) in 64x64 pixels."""

    fg: str
    shape: str
    bg: str
    box: tuple[int, int, int]

    def __post_init__(self) -> None:
        if self.fg not in PALETTE:
            raise ValueError(f"fg: unknown colour {self.fg!r}; expected one of {COLOURS}")
        if self.bg not in PALETTE:
            raise ValueError(f"bg: unknown colour {self.bg!r}; expected one of {COLOURS}")
        if self.fg == self.bg:
            raise ValueError(f"fg and bg must differ, both are {self.fg!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape: unknown shape {self.shape!r}; expected one of {SHAPES}")
        left, top, size = self.box
        if size <= 0 or left < 0 or top < 0 or left + size > IMAGE_SIZE or top + size > IMAGE_SIZE:
            raise ValueError(f"box: {self.box!r} does not fit in a {IMAGE_SIZE}x{IMAGE_SIZE} image")


@dataclass(frozen=True)
class Triple:
    """A (foreground colour, shape, background colour) combination, the unit of hold-out."""

    fg: str
    shape: str
    bg: str


def full_caption(triple: Triple) -> str:
    return f"a {triple.fg} {triple.shape} on a {triple.bg} background"


# Caption kinds and their sampling weights during training. The full caption dominates
# because it is what the evaluation asks for; partial captions teach each word on its own;
# the empty caption (caption dropout) is the unconditional branch for classifier-free guidance.
CAPTION_KINDS: tuple[tuple[str, float], ...] = (
    ("full", 0.62),
    ("fg_shape", 0.10),
    ("shape", 0.05),
    ("shape_bg", 0.05),
    ("bg", 0.05),
    ("fg", 0.03),
    ("empty", 0.10),
)


def caption_for(triple: Triple, kind: str) -> str:
    """The caption of ``kind`` (see CAPTION_KINDS) describing ``triple``."""
    templates = {
        "full": full_caption(triple),
        "fg_shape": f"a {triple.fg} {triple.shape}",
        "shape": f"a {triple.shape}",
        "shape_bg": f"a {triple.shape} on a {triple.bg} background",
        "bg": f"on a {triple.bg} background",
        "fg": f"a {triple.fg} shape",
        "empty": "",
    }
    if kind not in templates:
        raise ValueError(f"kind: unknown caption kind {kind!r}; expected one of {tuple(templates)}")
    return templates[kind]


def all_triples() -> list[Triple]:
    return [Triple(fg, shape, bg) for fg in COLOURS for shape in SHAPES for bg in COLOURS if fg != bg]


def split_triples(seed: int = 0, held_out: int = 24) -> tuple[list[Triple], list[Triple]]:
    """(train, held_out) triples. Held-out triples never appear in training, so their full
    captions are unseen prompts. Each held-out colour pair keeps its other shapes in training,
    and the hold-out is spread over all shapes, so the model can compose them."""
    triples = all_triples()
    if not 0 < held_out < len(triples):
        raise ValueError(f"held_out: {held_out} must be between 1 and {len(triples) - 1}")
    rng = random.Random(seed)
    held: list[Triple] = []
    used_pairs: set[tuple[str, str]] = set()
    candidates = triples[:]
    rng.shuffle(candidates)
    per_shape = {shape: 0 for shape in SHAPES}
    quota = -(-held_out // len(SHAPES))
    for triple in candidates:
        pair = (triple.fg, triple.bg)
        if pair in used_pairs or per_shape[triple.shape] >= quota:
            continue
        held.append(triple)
        used_pairs.add(pair)
        per_shape[triple.shape] += 1
        if len(held) == held_out:
            break
    held_set = set(held)
    train = [t for t in triples if t not in held_set]
    return train, held


def random_scene(triple: Triple, rng: random.Random) -> ShapeScene:
    size = rng.randint(MIN_SHAPE_SIZE, MAX_SHAPE_SIZE)
    left = rng.randint(MARGIN, IMAGE_SIZE - MARGIN - size)
    top = rng.randint(MARGIN, IMAGE_SIZE - MARGIN - size)
    return ShapeScene(triple.fg, triple.shape, triple.bg, (left, top, size))


def render(scene: ShapeScene) -> np.ndarray:
    """The scene as a uint8 array of shape (64, 64, 3)."""
    big = IMAGE_SIZE * SUPERSAMPLE
    image = Image.new("RGB", (big, big), PALETTE[scene.bg])
    draw = ImageDraw.Draw(image)
    left, top, size = (v * SUPERSAMPLE for v in scene.box)
    right, bottom = left + size - 1, top + size - 1
    colour = PALETTE[scene.fg]
    if scene.shape == "circle":
        draw.ellipse((left, top, right, bottom), fill=colour)
    elif scene.shape == "square":
        draw.rectangle((left, top, right, bottom), fill=colour)
    else:  # upright isosceles triangle filling its box
        draw.polygon([((left + right) / 2, top), (right, bottom), (left, bottom)], fill=colour)
    small = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)


def render_dataset(triples: Sequence[Triple], count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pictures with triples drawn uniformly from ``triples`` (balanced classes).

    Returns (images uint8 [count, 64, 64, 3], triple indices int64 [count])."""
    if count <= 0:
        raise ValueError(f"count: must be positive, got {count}")
    if not triples:
        raise ValueError("triples: empty")
    rng = random.Random(seed)
    # A shuffled repeat of every triple keeps the class balance exact rather than merely expected.
    order = [i % len(triples) for i in range(count)]
    rng.shuffle(order)
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for n, index in enumerate(order):
        images[n] = render(random_scene(triples[index], rng))
    return images, np.asarray(order, dtype=np.int64)


# ---------------------------------------------------------------- pixel classifier

_PALETTE_ARRAY = np.asarray([PALETTE[c] for c in COLOURS], dtype=np.float32)


@dataclass(frozen=True)
class Reading:
    """What the classifier sees in an image; ``fg``/``shape`` are None when no shape is found."""

    bg: str
    fg: str | None
    shape: str | None
    fill_ratio: float
    top_bottom_ratio: float
    fg_pixels: int


def nearest_colour(rgb: np.ndarray) -> str:
    """The palette colour name nearest (Euclidean RGB) to one RGB triple."""
    distances = ((_PALETTE_ARRAY - np.asarray(rgb, dtype=np.float32)) ** 2).sum(axis=1)
    return COLOURS[int(distances.argmin())]


def _nearest_colour_map(image: np.ndarray) -> np.ndarray:
    pixels = image.reshape(-1, 1, 3).astype(np.float32)
    distances = ((pixels - _PALETTE_ARRAY[None]) ** 2).sum(axis=2)
    return distances.argmin(axis=1).reshape(image.shape[:2])


def classify_shape(mask: np.ndarray) -> tuple[str, float, float]:
    """(shape, fill ratio, top/bottom width ratio) of a boolean foreground mask.

    Square fills its bounding box (~1.0), a circle ~0.79, a triangle ~0.5; an upright
    triangle is also much narrower in its top half than in its bottom half."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    height = rows[-1] - rows[0] + 1
    width = cols[-1] - cols[0] + 1
    box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    fill = float(box.sum()) / float(height * width)
    half = height // 2
    top = float(box[:half].sum()) if half else 0.0
    bottom = float(box[height - half :].sum()) if half else 1.0
    top_bottom = top / bottom if bottom else 0.0
    if top_bottom < 0.6 or fill < 0.62:
        shape = "triangle"
    elif fill > 0.89:
        shape = "square"
    else:
        shape = "circle"
    return shape, fill, top_bottom


def classify(image: np.ndarray, min_pixels: int = 24) -> Reading:
    """Read background colour (border pixels), foreground colour (most common other palette
    colour inside the border) and shape (largest connected region of that colour)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected an (H, W, 3) array, got shape {image.shape}")
    labels = _nearest_colour_map(image)
    border = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    bg_index = int(np.bincount(border, minlength=len(COLOURS)).argmax())
    counts = np.bincount(labels.ravel(), minlength=len(COLOURS))
    counts[bg_index] = 0
    fg_index = int(counts.argmax())
    bg = COLOURS[bg_index]
    if counts[fg_index] < min_pixels:
        return Reading(bg, None, None, 0.0, 0.0, int(counts[fg_index]))
    regions, region_count = ndimage.label(labels == fg_index)
    sizes = np.bincount(regions.ravel())[1:]
    mask = regions == (int(sizes.argmax()) + 1)
    # Fill holes so anti-aliasing speckles inside the shape do not lower the fill ratio.
    mask = ndimage.binary_fill_holes(mask)
    shape, fill, top_bottom = classify_shape(mask)
    return Reading(bg, COLOURS[fg_index], shape, fill, top_bottom, int(mask.sum()))
