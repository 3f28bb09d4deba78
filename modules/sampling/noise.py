"""Noise samplers: ``noise_sampler(sigma, sigma_next) -> standard normal tensor shaped like x``.

* :class:`GeneratorNoiseSampler` draws fresh CPU noise from seeded ``torch.Generator`` s
  (one per batch item when given a list of seeds, so an image does not depend on its batch).
* :class:`BrownianTreeNoiseSampler` returns the normalised increment of a Brownian motion
  W(sigma) over [sigma_next, sigma].  W is a deterministic function of the seed and sigma, so
  the noise a step sees depends on its sigma interval rather than on how many steps came
  before: SDE samplers then change smoothly with the step count (what A1111 uses for its
  "brownian_noise" samplers).  It is built without torchsde: W at a query point is found by
  bisecting [sigma_min, sigma_max] (at geometric means, so resolution is relative) and
  sampling each midpoint from the Brownian bridge with a per-node seed.  Values therefore
  differ from A1111's torchsde-based trees, but have the same distribution and properties.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
from torch import Tensor

Seeds = int | Sequence[int] | None

_MASK64 = (1 << 64) - 1


def _per_item_seeds(x: Tensor, seed: Seeds) -> list[int] | None:
    """None for one stream over the whole batch, else one seed per batch item."""
    if seed is None or isinstance(seed, int):
        return None
    seeds = [int(s) for s in seed]
    if len(seeds) != x.shape[0]:
        raise ValueError(f"seed list has {len(seeds)} entries but the batch has {x.shape[0]} items")
    return seeds


class GeneratorNoiseSampler:
    """Fresh noise per call from seeded CPU generators (reproducible on any device)."""

    def __init__(self, x: Tensor, seed: Seeds = None):
        self.shape = tuple(x.shape)
        self.dtype, self.device = x.dtype, x.device
        seeds = _per_item_seeds(x, seed)
        self.per_item = seeds is not None
        if seeds is not None:
            self.generators: list[torch.Generator] | None = [torch.Generator().manual_seed(s) for s in seeds]
        elif seed is not None:
            self.generators = [torch.Generator().manual_seed(int(seed))]
        else:
            self.generators = None  # follow the global torch RNG

    def __call__(self, sigma: float, sigma_next: float) -> Tensor:
        if self.generators is None:
            noise = torch.randn(self.shape)
        elif self.per_item:
            noise = torch.stack([torch.randn(self.shape[1:], generator=g) for g in self.generators])
        else:
            noise = torch.randn(self.shape, generator=self.generators[0])
        return noise.to(device=self.device, dtype=self.dtype)


def _node_seed(seed: int, node: int) -> int:
    """SplitMix64 of (seed, node): independent-looking seeds for every tree node."""
    z = (seed * 0x9E3779B97F4A7C15 + node * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & ((1 << 63) - 1)


class _BrownianTree:
    """W(t) on [t0, t1] with W(t0) = 0, for one seed and one sample shape."""

    def __init__(self, seed: int, shape: tuple[int, ...], t0: float, t1: float, depth: int):
        self.seed, self.shape, self.t0, self.t1, self.depth = seed, shape, t0, t1, depth
        self.w_end = self._normal(0) * math.sqrt(t1 - t0)
        self.cache: OrderedDict[float, Tensor] = OrderedDict()

    def _normal(self, node: int) -> Tensor:
        return torch.randn(self.shape, generator=torch.Generator().manual_seed(_node_seed(self.seed, node)))

    def __call__(self, t: float) -> Tensor:
        if t in self.cache:
            return self.cache[t]
        a, b = self.t0, self.t1
        w_a, w_b = torch.zeros(self.shape), self.w_end
        node = 1
        value: Tensor | None = None
        for _ in range(self.depth):
            if t == a or t == b:
                value = w_a if t == a else w_b
                break
            m = math.sqrt(a * b)  # geometric midpoint: equal resolution in log-sigma
            w_m = (w_a + (m - a) / (b - a) * (w_b - w_a)
                   + math.sqrt((m - a) * (b - m) / (b - a)) * self._normal(node))
            if t < m:
                b, w_b, node = m, w_m, 2 * node
            else:
                a, w_a, node = m, w_m, 2 * node + 1
        if value is None:  # below the tree's resolution: interpolate inside the leaf
            value = w_a + (t - a) / (b - a) * (w_b - w_a)
        self.cache[t] = value
        if len(self.cache) > 4:
            self.cache.popitem(last=False)
        return value


class BrownianTreeNoiseSampler:
    """Brownian-motion increments over sigma intervals inside [sigma_min, sigma_max]."""

    def __init__(self, x: Tensor, sigma_min: float, sigma_max: float, seed: Seeds = None, depth: int = 16):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.dtype, self.device = x.dtype, x.device
        self.t0, self.t1 = float(sigma_min), float(sigma_max)
        seeds = _per_item_seeds(x, seed)
        if seeds is None:
            single = int(seed) if seed is not None else int(torch.randint(0, 2 ** 62, ()).item())
            self.trees = [_BrownianTree(single, tuple(x.shape), self.t0, self.t1, depth)]
            self.batched = False
        else:
            self.trees = [_BrownianTree(s, tuple(x.shape[1:]), self.t0, self.t1, depth) for s in seeds]
            self.batched = True

    def __call__(self, sigma: float, sigma_next: float) -> Tensor:
        lo = min(max(min(float(sigma), float(sigma_next)), self.t0), self.t1)
        hi = min(max(max(float(sigma), float(sigma_next)), self.t0), self.t1)
        if hi <= lo:
            raise ValueError(f"noise interval [{sigma_next}, {sigma}] is empty inside [{self.t0}, {self.t1}]")
        increments = [(tree(hi) - tree(lo)) / math.sqrt(hi - lo) for tree in self.trees]
        noise = torch.stack(increments) if self.batched else increments[0]
        return noise.to(device=self.device, dtype=self.dtype)
