"""Split an image into overlapping tiles and blend them back (A1111's images.split_grid /
combine_grid, which SD upscale and Poor man's outpainting use).

`Grid.tiles` is A1111's mutable layout: rows of [y, tile_h, [[x, tile_w, tile_image], ...]],
so a script replaces `tiledata[2]` with the processed tile before `combine_grid`."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image


class Grid(NamedTuple):
    tiles: list
    tile_w: int
    tile_h: int
    image_w: int
    image_h: int
    overlap: int


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets along one side: evenly spread, the last one flush with the edge."""
    if size <= tile:
        return [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    step = (size - tile) / (count - 1) if count > 1 else 0
    return [min(int(i * step), size - tile) for i in range(count)]


def split_grid(image: Image.Image, tile_w: int = 512, tile_h: int = 512, overlap: int = 64) -> Grid:
    if tile_w <= 0 or tile_h <= 0:
        raise ValueError(f"tile size must be positive, got {tile_w}x{tile_h}")
    if not 0 <= overlap < min(tile_w, tile_h):
        raise ValueError(f"overlap must be from 0 to less than the tile size ({min(tile_w, tile_h)}), got {overlap}")
    width, height = image.size
    grid = Grid([], tile_w, tile_h, width, height, overlap)
    for y in _starts(height, tile_h, overlap):
        row = [[x, tile_w, image.crop((x, y, x + tile_w, y + tile_h))] for x in _starts(width, tile_w, overlap)]
        grid.tiles.append([y, tile_h, row])
    return grid


def _ramp(length: int, across: int, horizontal: bool) -> Image.Image:
    """A 0→255 mask over the overlap, so a tile fades in over its neighbour."""
    ramp = (np.arange(length, dtype=np.float32) * 255 / length).astype(np.uint8)
    array = np.repeat(ramp[None, :], across, axis=0) if horizontal else np.repeat(ramp[:, None], across, axis=1)
    return Image.fromarray(array, "L")


def combine_grid(grid: Grid) -> Image.Image:
    """The tiles pasted back into one image of the original size, overlaps blended linearly."""
    overlap = grid.overlap
    combined = Image.new("RGB", (grid.image_w, grid.image_h))
    for y, tile_h, row in grid.tiles:
        band = Image.new("RGB", (grid.image_w, tile_h))
        for x, tile_w, tile in row:
            tile = tile.convert("RGB")
            if x == 0 or overlap == 0:
                band.paste(tile, (x, 0))
                continue
            band.paste(tile.crop((0, 0, overlap, tile_h)), (x, 0), mask=_ramp(overlap, tile_h, horizontal=True))
            band.paste(tile.crop((overlap, 0, tile_w, tile_h)), (x + overlap, 0))
        if y == 0 or overlap == 0:
            combined.paste(band, (0, y))
            continue
        combined.paste(band.crop((0, 0, grid.image_w, overlap)), (0, y),
                       mask=_ramp(overlap, grid.image_w, horizontal=False))
        combined.paste(band.crop((0, overlap, grid.image_w, tile_h)), (0, y + overlap))
    return combined
