"""Small math shared by the sigma-space samplers."""

from __future__ import annotations

import math

from torch import Tensor

from modules.sampling.interface import Denoiser, sigma_batch


def denoise(denoiser: Denoiser, x: Tensor, sigma: float) -> Tensor:
    return denoiser(x, sigma_batch(x, sigma))


def derivative(x: Tensor, sigma: float, denoised: Tensor) -> Tensor:
    """dx/dsigma of the probability-flow ODE (Karras et al. 2022)."""
    return (x - denoised) / sigma


def ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """Split a step sigma -> sigma_next into a deterministic step down to ``sigma_down``
    and fresh noise of size ``sigma_up`` (sigma_down^2 + sigma_up^2 = sigma_next^2)."""
    if eta == 0 or sigma_next == 0:
        return sigma_next, 0.0
    sigma_up = min(sigma_next, eta * math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
    sigma_down = math.sqrt(max(sigma_next ** 2 - sigma_up ** 2, 0.0))
    return sigma_down, sigma_up


def float_sigmas(sigmas: Tensor) -> list[float]:
    """Sigmas as Python floats: step coefficients are computed in double precision."""
    return [float(s) for s in sigmas.detach().cpu().tolist()]


def churn_sigma(sigma: float, n_steps: int, s_churn: float, s_tmin: float, s_tmax: float) -> float:
    """Karras et al. 'churn': temporarily raise the noise level inside [s_tmin, s_tmax]."""
    gamma = min(s_churn / n_steps, math.sqrt(2.0) - 1.0) if s_tmin <= sigma <= s_tmax else 0.0
    return sigma * (gamma + 1.0)
