"""The discrete noise levels of a DDPM-trained model and sigma <-> timestep conversion.

sigma_t = sqrt((1 - alphas_cumprod[t]) / alphas_cumprod[t]); conversions interpolate
linearly in log-sigma between neighbouring integer timesteps (as k-diffusion does), so
sigmas between the trained ones map to fractional timesteps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SD_TRAIN_STEPS = 1000
SD_BETA_START = 0.00085
SD_BETA_END = 0.012


def scaled_linear_alphas_cumprod(steps: int = SD_TRAIN_STEPS, beta_start: float = SD_BETA_START,
                                 beta_end: float = SD_BETA_END) -> Tensor:
    """alphas_cumprod of the Stable Diffusion "scaled_linear" beta schedule (float64)."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


@dataclass(frozen=True, eq=False)
class DiscreteSigmas:
    """Ascending model sigmas: ``sigmas[t]`` is the noise level of timestep t."""

    sigmas: Tensor

    def __post_init__(self) -> None:
        s = self.sigmas
        if s.ndim != 1 or len(s) < 2:
            raise ValueError(f"sigmas must be a 1-D tensor with at least 2 values, got shape {tuple(s.shape)}")
        if not bool(torch.all(s > 0)) or not bool(torch.all(s[1:] > s[:-1])):
            raise ValueError("sigmas must be positive and strictly increasing with the timestep")

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: Tensor) -> "DiscreteSigmas":
        ac = alphas_cumprod.detach().to(torch.float64).cpu()
        return cls(((1.0 - ac) / ac).sqrt())

    @classmethod
    def stable_diffusion(cls) -> "DiscreteSigmas":
        """The schedule shared by SD 1.x, 2.x and SDXL (scaled_linear 0.00085 -> 0.012, 1000 steps)."""
        return cls.from_alphas_cumprod(scaled_linear_alphas_cumprod())

    def __len__(self) -> int:
        return len(self.sigmas)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    @property
    def log_sigmas(self) -> Tensor:
        return self.sigmas.log()

    def sigma_to_t(self, sigma: Tensor | float) -> Tensor:
        """Fractional timestep(s) for sigma(s), clamped to [0, len - 1]."""
        log_sigma = torch.as_tensor(sigma, dtype=torch.float64).log()
        log_sigmas = self.log_sigmas
        low = (torch.searchsorted(log_sigmas, log_sigma.reshape(-1), right=True) - 1).clamp(0, len(self) - 2)
        low_value, high_value = log_sigmas[low], log_sigmas[low + 1]
        weight = ((log_sigma.reshape(-1) - low_value) / (high_value - low_value)).clamp(0.0, 1.0)
        return (low.to(torch.float64) + weight).reshape(log_sigma.shape)

    def t_to_sigma(self, t: Tensor | float) -> Tensor:
        """Sigma(s) for fractional timestep(s) by log-sigma interpolation."""
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, len(self) - 1)
        low = t.floor().long().clamp(max=len(self) - 2)
        weight = t - low.to(torch.float64)
        log_sigmas = self.log_sigmas
        return ((1.0 - weight) * log_sigmas[low] + weight * log_sigmas[low + 1]).exp()

    def alphas_cumprod(self) -> Tensor:
        return 1.0 / (1.0 + self.sigmas ** 2)
