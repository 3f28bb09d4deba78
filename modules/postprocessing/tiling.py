"""Tiled inference for image-to-image models, blended so tile borders leave no seam.

A large image goes through the model in overlapping tiles (A1111's ESRGAN_tile and
ESRGAN_tile_overlap). Where two tiles overlap, their outputs are cross-faded with a linear
ramp over the middle half of the overlap: each tile's outer quarter, where zero padding
at the tile border changes a conv net's answer, gets weight 0. So for a network whose
receptive field reaches at most overlap/4 pixels, the tiled result equals the untiled one;
for larger ones (transformers, deep GANs) the cross-fade hides the differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

ImageFn = Callable[[torch.Tensor], torch.Tensor]  # [1, C, h, w] in [0, 1] -> [1, C, h*s, w*s]


def tile_spans(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """(start, end) of tiles covering [0, length): evenly spread, overlapping by >= `overlap`,
    starts on multiples of `multiple` (pixel-unshuffle models need aligned tiles)."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    stride = (length - tile) / (count - 1)
    starts = sorted({min(round(i * stride) // multiple * multiple, length - tile) for i in range(count)})
    spans = [(start, start + tile) for start in starts]
    spans[-1] = (spans[-1][0], length)  # the last tile reaches the edge (one alignment step longer at most)
    return spans


def _ramp(size: int, lead: float, trail: float, scale: int) -> torch.Tensor:
    """Weights along one tile axis (output pixels): ramps up over the middle half of the
    overlap with the previous tile (`lead` input pixels), down over the next (`trail`)."""
    x = torch.arange(size * scale, dtype=torch.float32) + 0.5
    weight = torch.ones(size * scale)
    if lead > 0:
        weight *= ((x - lead * scale / 4) / (lead * scale / 2)).clamp(0, 1)
    if trail > 0:
        start = (size - trail) * scale
        weight *= 1 - ((x - start - trail * scale / 4) / (trail * scale / 2)).clamp(0, 1)
    return weight


def _axis_weights(spans: list[tuple[int, int]], scale: int) -> list[torch.Tensor]:
    weights = []
    for i, (start, end) in enumerate(spans):
        lead = spans[i - 1][1] - start if i > 0 else 0
        trail = end - spans[i + 1][0] if i + 1 < len(spans) else 0
        weights.append(_ramp(end - start, lead, trail, scale))
    return weights


def upscale_tiled(model: ImageFn, image: torch.Tensor, scale: int, tile: int, overlap: int,
                  multiple: int = 1, should_stop: Callable[[], bool] = lambda: False) -> torch.Tensor:
    """Run `model` on `image` [1, C, H, W] in tiles of `tile` pixels (0: whole image at once).

    The result is accumulated on the image's device in float32: [1, C, H*scale, W*scale]."""
    _, channels, height, width = image.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return model(image).float()
    tile = max(tile, multiple)
    overlap = max(0, min(overlap, tile // 2))  # wider overlaps break the ramps' partition of unity
    rows, cols = tile_spans(height, tile, overlap, multiple), tile_spans(width, tile, overlap, multiple)
    row_weights, col_weights = _axis_weights(rows, scale), _axis_weights(cols, scale)
    out = torch.zeros(1, channels, height * scale, width * scale, device=image.device)
    total = torch.zeros(1, 1, height * scale, width * scale, device=image.device)
    for (top, bottom), row_weight in zip(rows, row_weights):
        for (left, right), col_weight in zip(cols, col_weights):
            if should_stop():
                return out / total.clamp_min(1e-8)
            piece = model(image[:, :, top:bottom, left:right]).float()
            weight = (row_weight[:, None] * col_weight[None, :]).to(image.device)[None, None]
            region = (slice(None), slice(None), slice(top * scale, bottom * scale), slice(left * scale, right * scale))
            out[region] += piece * weight
            total[region] += weight
    return out / total.clamp_min(1e-8)
