"""Classic k-diffusion samplers: Euler, Euler a, Heun, DPM2, DPM2 a, LMS.

Each is a small loop over the sigma schedule in k-diffusion space
(x = x0 + sigma * noise); see interface.py for the contract.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from modules.sampling.common import ancestral_step, churn_sigma, denoise, derivative, float_sigmas
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter

_INF = float("inf")


def _churn(x: Tensor, sigma: float, sigma_hat: float, noise_sampler: NoiseSampler, s_noise: float) -> Tensor:
    if sigma_hat <= sigma:
        return x
    return x + noise_sampler(sigma, sigma_hat) * s_noise * math.sqrt(sigma_hat ** 2 - sigma ** 2)


def sample_euler(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                 reporter: StepReporter, s_churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = _INF,
                 s_noise: float = 1.0) -> Tensor:
    """Euler steps on the probability-flow ODE (Karras et al. 2022, Algorithm 2)."""
    sig = float_sigmas(sigmas)
    n = len(sig) - 1
    for i in range(n):
        sigma_hat = churn_sigma(sig[i], n, s_churn, s_tmin, s_tmax)
        x = _churn(x, sig[i], sigma_hat, noise_sampler, s_noise)
        denoised = denoise(denoiser, x, sigma_hat)
        x = x + derivative(x, sigma_hat, denoised) * (sig[i + 1] - sigma_hat)
        reporter.step(i, x, sigma_hat, sig[i + 1], denoised)
    return x


def sample_euler_ancestral(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                           reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0) -> Tensor:
    """Euler step down to sigma_down, then fresh noise up to sigma_next."""
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        denoised = denoise(denoiser, x, sig[i])
        sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
        x = x + derivative(x, sig[i], denoised) * (sigma_down - sig[i])
        if sigma_up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * s_noise * sigma_up
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x


def sample_heun(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                reporter: StepReporter, s_churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = _INF,
                s_noise: float = 1.0) -> Tensor:
    """Heun's second-order method (Euler on the last step to sigma=0)."""
    sig = float_sigmas(sigmas)
    n = len(sig) - 1
    for i in range(n):
        sigma_hat = churn_sigma(sig[i], n, s_churn, s_tmin, s_tmax)
        x = _churn(x, sig[i], sigma_hat, noise_sampler, s_noise)
        denoised = denoise(denoiser, x, sigma_hat)
        d = derivative(x, sigma_hat, denoised)
        dt = sig[i + 1] - sigma_hat
        if sig[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = derivative(x_2, sig[i + 1], denoise(denoiser, x_2, sig[i + 1]))
            x = x + (d + d_2) / 2 * dt
        reporter.step(i, x, sigma_hat, sig[i + 1], denoised)
    return x


def _midpoint_step(denoiser: Denoiser, x: Tensor, d: Tensor, sigma: float, sigma_to: float) -> Tensor:
    """DPM-Solver-2 style step: derivative taken at the geometric-mean sigma."""
    if sigma_to == 0:
        return x + d * (sigma_to - sigma)
    sigma_mid = math.sqrt(sigma * sigma_to)
    x_2 = x + d * (sigma_mid - sigma)
    d_2 = derivative(x_2, sigma_mid, denoise(denoiser, x_2, sigma_mid))
    return x + d_2 * (sigma_to - sigma)


def sample_dpm_2(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                 reporter: StepReporter, s_churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = _INF,
                 s_noise: float = 1.0) -> Tensor:
    """Second-order midpoint sampler inspired by DPM-Solver-2."""
    sig = float_sigmas(sigmas)
    n = len(sig) - 1
    for i in range(n):
        sigma_hat = churn_sigma(sig[i], n, s_churn, s_tmin, s_tmax)
        x = _churn(x, sig[i], sigma_hat, noise_sampler, s_noise)
        denoised = denoise(denoiser, x, sigma_hat)
        x = _midpoint_step(denoiser, x, derivative(x, sigma_hat, denoised), sigma_hat, sig[i + 1])
        reporter.step(i, x, sigma_hat, sig[i + 1], denoised)
    return x


def sample_dpm_2_ancestral(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                           reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0) -> Tensor:
    """DPM2 midpoint step down to sigma_down, then fresh noise up to sigma_next."""
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        denoised = denoise(denoiser, x, sig[i])
        sigma_down, sigma_up = ancestral_step(sig[i], sig[i + 1], eta)
        x = _midpoint_step(denoiser, x, derivative(x, sig[i], denoised), sig[i], sigma_down)
        if sigma_up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * s_noise * sigma_up
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x


def lms_coefficient(order: int, sig: list[float], i: int, j: int) -> float:
    """Integral over [sig[i], sig[i+1]] of the Lagrange basis polynomial through the last
    ``order`` sigmas that is 1 at sig[i-j] (exact polynomial integration)."""
    basis = np.polynomial.Polynomial([1.0])
    for k in range(order):
        if k != j:
            basis = basis * np.polynomial.Polynomial([-sig[i - k], 1.0]) / (sig[i - j] - sig[i - k])
    antiderivative = basis.integ()
    return float(antiderivative(sig[i + 1]) - antiderivative(sig[i]))


def sample_lms(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
               reporter: StepReporter, order: int = 4) -> Tensor:
    """Linear multistep on the ODE derivative, up to ``order`` past derivatives."""
    if order < 1:
        raise ValueError(f"LMS order must be >= 1, got {order}")
    sig = float_sigmas(sigmas)
    derivatives: list[Tensor] = []
    for i in range(len(sig) - 1):
        denoised = denoise(denoiser, x, sig[i])
        derivatives = (derivatives + [derivative(x, sig[i], denoised)])[-order:]
        cur_order = len(derivatives)
        coeffs = [lms_coefficient(cur_order, sig, i, j) for j in range(cur_order)]
        x = x + sum(c * d for c, d in zip(coeffs, reversed(derivatives)))
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x
