"""Latent noise from seeds, as A1111 draws it: on the CPU, so a seed gives the same image
on any device. Variation seeds blend by slerp; "resize seed from" keeps the composition of
a seed at another size by drawing at that size and pasting the centre.
"""

from __future__ import annotations

import random

import torch

MAX_SEED = 2**32 - 1


def resolve_seed(seed: int) -> int:
    """-1 (or any negative) means a random seed, as in A1111."""
    return random.randrange(MAX_SEED) if seed is None or seed < 0 else int(seed)


def slerp(t: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (keeps them Gaussian-looking)."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * (1 - t) + high * t
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - t) * omega) / so).unsqueeze(1) * low + (torch.sin(t * omega) / so).unsqueeze(1) * high


def _randn(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class ImageRNG:
    """Noise for a batch: one CPU generator per image, continued for the sampler's later
    noise (A1111's ImageRNG), or reseeded with seed + ENSD when that option is set."""

    def __init__(self, shape: tuple[int, ...], seeds: list[int], subseeds: list[int] | None = None,
                 subseed_strength: float = 0.0, seed_resize_from: tuple[int, int] | None = None,
                 eta_noise_seed_delta: int = 0, downscale: int = 8):
        self.shape = shape  # (channels, latent height, latent width)
        self.seeds = seeds
        self.subseeds = subseeds
        self.subseed_strength = subseed_strength
        self.seed_resize_from = seed_resize_from  # (height, width) in pixels
        self.ensd = eta_noise_seed_delta
        self.downscale = downscale
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]

    def first(self) -> torch.Tensor:
        shape = self.shape
        if self.seed_resize_from and min(self.seed_resize_from) > 0:
            h, w = self.seed_resize_from
            source_shape = (shape[0], h // self.downscale, w // self.downscale)
        else:
            source_shape = shape
        images = []
        for i, (seed, generator) in enumerate(zip(self.seeds, self.generators)):
            noise = (torch.randn(shape, generator=generator) if source_shape == shape
                     else _randn(seed, source_shape))
            if self.subseeds is not None and self.subseed_strength > 0:
                subseed = self.subseeds[i] if i < len(self.subseeds) else 0
                noise = slerp(self.subseed_strength, noise, _randn(subseed, source_shape))
            if source_shape != shape:
                noise = _paste_centre(torch.randn(shape, generator=generator), noise)
            images.append(noise)
        if self.ensd:
            self.generators = [torch.Generator().manual_seed(s + self.ensd) for s in self.seeds]
        return torch.stack(images)

    def next(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.generators])


def _paste_centre(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Centre `source` on `target`, cropping whichever is larger (A1111's seed resize)."""
    dy = (target.shape[1] - source.shape[1]) // 2
    dx = (target.shape[2] - source.shape[2]) // 2
    h = source.shape[1] if dy >= 0 else source.shape[1] + 2 * dy
    w = source.shape[2] if dx >= 0 else source.shape[2] + 2 * dx
    ty, tx, sy, sx = max(dy, 0), max(dx, 0), max(-dy, 0), max(-dx, 0)
    target[:, ty:ty + h, tx:tx + w] = source[:, sy:sy + h, sx:sx + w]
    return target
