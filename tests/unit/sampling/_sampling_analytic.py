"""Gaussian data with an exact denoiser, for testing samplers without a model.

Data x0 ~ N(MU, S^2) independently per dimension.  Then
* the MMSE denoiser is D(x, sigma) = MU + S^2 / (S^2 + sigma^2) * (x - MU), and
* the probability-flow ODE maps x at sigma to MU + S / sqrt(S^2 + sigma^2) * (x - MU) at 0,
  which is what a consistency (LCM) model predicts.
S = 1 matches the unit variance of scaled SD latents.
"""

from __future__ import annotations

import torch
from torch import Tensor

MU = 0.25
S = 1.0
DIMS = 4096
SAMPLES = 8


def _column(sigma: Tensor, x: Tensor) -> Tensor:
    return sigma.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def gaussian_denoiser(x: Tensor, sigma: Tensor, return_uncond: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    s = _column(sigma, x)
    denoised = MU + S ** 2 / (S ** 2 + s ** 2) * (x - MU)
    return (denoised, denoised) if return_uncond else denoised


def consistency_denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    s = _column(sigma, x)
    return MU + S / torch.sqrt(S ** 2 + s ** 2) * (x - MU)


def exact_flow(x: Tensor, sigma: float, sigma_to: float = 0.0) -> Tensor:
    """The exact probability-flow ODE solution at ``sigma_to`` for x at noise level sigma."""
    return MU + ((S ** 2 + sigma_to ** 2) / (S ** 2 + sigma ** 2)) ** 0.5 * (x - MU)


def start_latent(sigma_max: float, seed: int = 0, samples: int = SAMPLES, dims: int = DIMS) -> Tensor:
    """x = N(0, sigma_max^2), as the engine starts txt2img."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(samples, dims, generator=generator, dtype=torch.float64) * sigma_max


def moment_errors(out: Tensor) -> tuple[float, float]:
    """(|mean - MU|, |std / S - 1|) of the produced samples."""
    return abs(out.mean().item() - MU), abs(out.std().item() / S - 1.0)
