"""What the two outpainting scripts share: how far to extend each side (A1111's rounding to
a multiple of 64), and Outpainting mk2's "matched noise" fill (from g-diffuser, as A1111:
noise shaped in the frequency domain like the known image, then histogram-matched to its
colours)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DIRECTIONS = ("left", "right", "up", "down")


@dataclass(frozen=True)
class Expansion:
    left: int
    right: int
    up: int
    down: int

    @property
    def total(self) -> int:
        return self.left + self.right + self.up + self.down


def plan_expansion(width: int, height: int, pixels: int, directions: list[str]) -> Expansion:
    """Pixels added on each chosen side so the new size is a multiple of 64 (A1111)."""
    left, right, up, down = (pixels if side in directions else 0 for side in DIRECTIONS)
    target_w = math.ceil((width + left + right) / 64) * 64
    target_h = math.ceil((height + up + down) / 64) * 64
    if left > 0:
        left = left * (target_w - width) // (left + right)
    if right > 0:
        right = target_w - width - left
    if up > 0:
        up = up * (target_h - height) // (up + down)
    if down > 0:
        down = target_h - height - up
    return Expansion(left, right, up, down)


def check_directions(directions) -> list[str]:
    if isinstance(directions, str):
        directions = [directions]
    if not isinstance(directions, (list, tuple)) or not directions:
        raise ValueError(f"choose at least one outpainting direction of {list(DIRECTIONS)}")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        raise ValueError(f"unknown outpainting direction {unknown[0]!r}; choose from {list(DIRECTIONS)}")
    return list(directions)


def _fft2(data: np.ndarray) -> np.ndarray:
    return np.fft.ifftshift(np.fft.fft2(np.fft.fftshift(data, axes=(0, 1)), norm="ortho", axes=(0, 1)), axes=(0, 1))


def _ifft2(data: np.ndarray) -> np.ndarray:
    return np.fft.ifftshift(np.fft.ifft2(np.fft.fftshift(data, axes=(0, 1)), norm="ortho", axes=(0, 1)), axes=(0, 1))


def _window(height: int, width: int) -> np.ndarray:
    """A1111's "gaussian" window (mode 1): 1 / ((x² + 1)(y² + 1)) over [-1, 1) scaled to the aspect."""
    shortest = min(width, height)
    ys = (np.arange(height) / height * 2.0 - 1.0) * (height / shortest)
    xs = (np.arange(width) / width * 2.0 - 1.0) * (width / shortest)
    return 1.0 / ((ys[:, None] ** 2 + 1.0) * (xs[None, :] ** 2 + 1.0))


def match_histograms(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each channel of `values` (N, C) remapped so its distribution is `reference`'s (M, C)
    (what skimage.exposure.match_histograms does for A1111)."""
    out = np.empty_like(values)
    for c in range(values.shape[1]):
        src, ref = values[:, c], reference[:, c]
        src_values, src_index, src_counts = np.unique(src, return_inverse=True, return_counts=True)
        ref_values, ref_counts = np.unique(ref, return_counts=True)
        src_quantiles = np.cumsum(src_counts) / src.size
        ref_quantiles = np.cumsum(ref_counts) / ref.size
        out[:, c] = np.interp(src_quantiles, ref_quantiles, ref_values)[src_index.reshape(-1)]
    return out


def matched_noise(image: np.ndarray, mask: np.ndarray, noise_q: float = 1.0, color_variation: float = 0.05,
                  seed: int = 0) -> np.ndarray:
    """`image` (H, W, 3) in 0..1 with the masked part (mask (H, W, 3), 1 = to fill) replaced
    by noise that has the known part's spectrum and colours. Deterministic (seed 0, as A1111)."""
    grey_mask = mask.mean(axis=2)
    to_fill, known = grey_mask > 1e-6, grey_mask < 1e-3
    windowed = image * (1.0 - mask)
    windowed /= max(float(windowed.max()), 1e-8)
    windowed += image.mean() * mask  # the average colour, not black, in the hole: a better spectrum
    src_fft = _fft2(windowed)
    src_dist = np.abs(src_fft)
    src_phase = src_fft / np.maximum(src_dist, 1e-12)

    rng = np.random.default_rng(seed)
    noise = rng.random(image.shape)
    noise = noise * color_variation + (1.0 - color_variation) * noise.mean(axis=2, keepdims=True)
    noise = np.real(_ifft2(_fft2(noise) * _window(*image.shape[:2])[:, :, None]))
    shaped = np.real(_ifft2(np.abs(_fft2(noise)) ** 2 * src_dist ** noise_q * src_phase))
    shaped -= shaped.min()
    shaped /= max(float(shaped.max()), 1e-8)
    if to_fill.any() and known.any():
        shaped[to_fill] = match_histograms(shaped[to_fill], image[known])
    return np.clip(image * (1.0 - mask) + shaped * mask, 0.0, 1.0)
