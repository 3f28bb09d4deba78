"""DPM-Solver++ family (Lu et al. 2022) in k-diffusion space.

With t = -log(sigma) and h = t_next - t, the first-order data-prediction step is
x_next = (sigma_next / sigma) * x + (1 - sigma_next / sigma) * denoised; the samplers
below add second/third-order corrections and (for SDE variants) fresh noise.
"""

from __future__ import annotations

import math

from torch import Tensor

from modules.sampling.common import ancestral_step, denoise, float_sigmas
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter


def _first_order(x: Tensor, sigma: float, sigma_to: float, denoised: Tensor) -> Tensor:
    ratio = sigma_to / sigma  # = exp(-h); exact at sigma_to = 0, where the step returns denoised
    return ratio * x + (1.0 - ratio) * denoised


def sample_dpmpp_2s_ancestral(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                              reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0) -> Tensor:
    """Ancestral sampling with DPM-Solver++(2S) single-step second-order steps."""
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        denoised = denoise(denoiser, x, sig[i])
        sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
        if sigma_down == 0:
            x = denoised
        else:
            sigma_mid = math.sqrt(sig[i] * sigma_down)  # r = 1/2 in log-sigma
            x_2 = _first_order(x, sig[i], sigma_mid, denoised)
            denoised_2 = denoise(denoiser, x_2, sigma_mid)
            x = _first_order(x, sig[i], sigma_down, denoised_2)
        if sig[i + 1] > 0 and sigma_up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * s_noise * sigma_up
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x


def sample_dpmpp_sde(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                     reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5) -> Tensor:
    """DPM-Solver++ stochastic, two denoiser calls per step (intermediate point at ratio r in log-sigma)."""
    if not 0 < r < 1:
        raise ValueError(f"DPM++ SDE r must be in (0, 1), got {r}")
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        sigma, sigma_next = sig[i], sig[i + 1]
        denoised = denoise(denoiser, x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma / sigma_next)
            sigma_s = sigma * math.exp(-r * h)
            fac = 1.0 / (2.0 * r)
            down, up = ancestral_step(sigma, sigma_s, eta)
            x_2 = _first_order(x, sigma, down, denoised)
            x_2 = x_2 + noise_sampler(sigma, sigma_s) * s_noise * up
            denoised_2 = denoise(denoiser, x_2, sigma_s)
            down, up = ancestral_step(sigma, sigma_next, eta)
            x = _first_order(x, sigma, down, (1.0 - fac) * denoised + fac * denoised_2)
            x = x + noise_sampler(sigma, sigma_next) * s_noise * up
        reporter.step(i, x, sigma, sigma_next, denoised)
    return x


def sample_dpmpp_2m(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                    reporter: StepReporter) -> Tensor:
    """DPM-Solver++(2M): second-order multistep, one denoiser call per step."""
    sig = float_sigmas(sigmas)
    old_denoised: Tensor | None = None
    for i in range(len(sig) - 1):
        sigma, sigma_next = sig[i], sig[i + 1]
        denoised = denoise(denoiser, x, sigma)
        if old_denoised is None or sigma_next == 0:
            x = _first_order(x, sigma, sigma_next, denoised)
        else:
            h = math.log(sigma / sigma_next)
            h_last = math.log(sig[i - 1] / sigma)
            k = 1.0 / (2.0 * (h_last / h))
            x = _first_order(x, sigma, sigma_next, (1.0 + k) * denoised - k * old_denoised)
        old_denoised = denoised
        reporter.step(i, x, sigma, sigma_next, denoised)
    return x


def sample_dpmpp_2m_sde(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                        reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0,
                        solver_type: str = "midpoint") -> Tensor:
    """DPM-Solver++(2M) SDE; ``solver_type`` 'midpoint' or 'heun' (A1111 "DPM++ 2M SDE Heun")."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', got {solver_type!r}")
    sig = float_sigmas(sigmas)
    old_denoised: Tensor | None = None
    h_last = 0.0
    for i in range(len(sig) - 1):
        sigma, sigma_next = sig[i], sig[i + 1]
        denoised = denoise(denoiser, x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma / sigma_next)
            eta_h = eta * h
            x = (sigma_next / sigma) * math.exp(-eta_h) * x - math.expm1(-h - eta_h) * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    coeff = -math.expm1(-h - eta_h) / (-h - eta_h) + 1.0
                else:
                    coeff = -0.5 * math.expm1(-h - eta_h)
                x = x + coeff * (1.0 / r) * (denoised - old_denoised)
            if eta:
                x = x + noise_sampler(sigma, sigma_next) * sigma_next * math.sqrt(-math.expm1(-2.0 * eta_h)) * s_noise
            h_last = h
        old_denoised = denoised
        reporter.step(i, x, sigma, sigma_next, denoised)
    return x


def sample_dpmpp_3m_sde(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                        reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0) -> Tensor:
    """DPM-Solver++(3M) SDE: third-order multistep with fresh noise."""
    sig = float_sigmas(sigmas)
    denoised_1: Tensor | None = None
    denoised_2: Tensor | None = None
    h_1: float | None = None
    h_2: float | None = None
    for i in range(len(sig) - 1):
        sigma, sigma_next = sig[i], sig[i + 1]
        denoised = denoise(denoiser, x, sigma)
        h: float | None = None
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma / sigma_next)
            h_eta = h * (eta + 1.0)
            x = math.exp(-h_eta) * x - math.expm1(-h_eta) * denoised
            phi_2 = math.expm1(-h_eta) / h_eta + 1.0
            if h_2 is not None and denoised_2 is not None and denoised_1 is not None and h_1 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None and denoised_1 is not None:
                x = x + phi_2 * (denoised - denoised_1) / (h_1 / h)
            if eta:
                x = x + noise_sampler(sigma, sigma_next) * sigma_next * math.sqrt(-math.expm1(-2.0 * h * eta)) * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
        reporter.step(i, x, sigma, sigma_next, denoised)
    return x
