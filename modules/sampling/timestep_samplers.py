"""A1111's "timestep" samplers (DDIM, DDIM CFG++, PLMS, LCM) rewritten in sigma space.

In k-diffusion space x = x_vp / sqrt(alphas_cumprod) and sigma = sqrt((1 - a) / a), the
DDIM update sqrt(a_prev) * x0 + sqrt(1 - a_prev - s^2) * eps + s * z becomes
x0 + sigma_down * eps + sigma_up * z with DDIM's eta noise s equal to the ancestral
sigma_up.  Running these on the "DDIM" schedule type (sigmas at timesteps 1, 1 + 1000//n,
...) reproduces A1111's timestep grid; the denoiser converts sigma back to a timestep.
"""

from __future__ import annotations

from torch import Tensor

from modules.sampling.common import ancestral_step, denoise, float_sigmas
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter, sigma_batch


def _ddim_update(x0: Tensor, eps: Tensor, sigma: float, sigma_next: float, eta: float,
                 noise_sampler: NoiseSampler) -> Tensor:
    sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
    x = x0 + sigma_down * eps
    if sigma_up > 0:
        x = x + sigma_up * noise_sampler(sigma, sigma_next)
    return x


def sample_ddim(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                reporter: StepReporter, eta: float = 0.0) -> Tensor:
    """DDIM (Song et al. 2020); eta = 0 is deterministic, eta = 1 is DDPM-like."""
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        denoised = denoise(denoiser, x, sig[i])
        x = _ddim_update(denoised, (x - denoised) / sig[i], sig[i], sig[i + 1], eta, noise_sampler)
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x


def _guided_and_uncond(denoiser: Denoiser, x: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    out = denoiser(x, sigma_batch(x, sigma), return_uncond=True)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError("DDIM CFG++ needs denoiser(x, sigma, return_uncond=True) to return "
                         f"(guided_x0, unconditional_x0); got {type(out).__name__}")
    return out


def sample_ddim_cfgpp(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                      reporter: StepReporter, eta: float = 0.0) -> Tensor:
    """DDIM CFG++ (Chung et al. 2024): the guided x0 estimate, but the *unconditional* noise
    to re-noise.  The engine scales its CFG scale by the spec's cfg_scale_multiplier (1/12.5)."""
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        denoised, uncond = _guided_and_uncond(denoiser, x, sig[i])
        x = _ddim_update(denoised, (x - uncond) / sig[i], sig[i], sig[i + 1], eta, noise_sampler)
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x


def _plms_eps(eps: Tensor, old: list[Tensor]) -> Tensor:
    """Adams-Bashforth combination of the current and up to three previous noise predictions."""
    if len(old) == 1:
        return (3 * eps - old[-1]) / 2
    if len(old) == 2:
        return (23 * eps - 16 * old[-1] + 5 * old[-2]) / 12
    return (55 * eps - 59 * old[-1] + 37 * old[-2] - 9 * old[-3]) / 24


def sample_plms(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                reporter: StepReporter) -> Tensor:
    """Pseudo linear multistep (Liu et al. 2022): a Heun-like first step, then Adams-Bashforth
    on eps up to fourth order."""
    sig = float_sigmas(sigmas)
    old_eps: list[Tensor] = []
    for i in range(len(sig) - 1):
        sigma, sigma_next = sig[i], sig[i + 1]
        eps = (x - denoise(denoiser, x, sigma)) / sigma
        if old_eps:
            eps_prime = _plms_eps(eps, old_eps)
        elif sigma_next > 0:
            x_next = x + (sigma_next - sigma) * eps
            eps_next = (x_next - denoise(denoiser, x_next, sigma_next)) / sigma_next
            eps_prime = (eps + eps_next) / 2
        else:
            eps_prime = eps
        x0 = x - sigma * eps_prime
        x = x0 + sigma_next * eps_prime
        old_eps = (old_eps + [eps])[-3:]
        reporter.step(i, x, sigma, sigma_next, x0)
    return x


def sample_lcm(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
               reporter: StepReporter) -> Tensor:
    """Latent Consistency Model sampling: jump to the model's x0, re-noise to the next sigma.
    Meant for consistency (LCM) models, whose denoiser maps straight onto the data."""
    sig = float_sigmas(sigmas)
    for i in range(len(sig) - 1):
        denoised = denoise(denoiser, x, sig[i])
        x = denoised
        if sig[i + 1] > 0:
            x = x + sig[i + 1] * noise_sampler(sig[i], sig[i + 1])
        reporter.step(i, x, sig[i], sig[i + 1], denoised)
    return x
