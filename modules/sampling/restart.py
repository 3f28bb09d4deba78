"""Restart sampling (Xu et al. 2023, "Restart Sampling for Improving Generative Processes").

Heun steps down the schedule; at a low noise level the sampler jumps back up with fresh
noise and re-solves a short Karras segment ``restart_times`` times.  With 20+ steps and no
explicit ``restart_list`` it follows A1111: part of the step budget goes to the restart
segment and the main schedule is rebuilt as Karras over the remaining steps.
"""

from __future__ import annotations

import math

from torch import Tensor

from modules.sampling.common import denoise, derivative, float_sigmas
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter
from modules.sampling.schedules import karras_sigmas

# {sigma where the restart happens: (restart segment steps, restart times, sigma to jump back up to)}
RestartList = dict[float, tuple[int, int, float]]


def _karras(n: int, sigma_min: float, sigma_max: float) -> list[float]:
    return float_sigmas(karras_sigmas(n, sigma_min, sigma_max))


def _nearest_index(sig: list[float], value: float) -> int:
    return min(range(len(sig)), key=lambda k: abs(sig[k] - value))


def _default_plan(sig: list[float]) -> tuple[list[float], RestartList]:
    steps = len(sig) - 1
    if steps < 20:
        return sig, {}
    restart_steps, restart_times = (steps // 4, 2) if steps >= 36 else (9, 1)
    main = _karras(steps - restart_steps * restart_times, sig[-2], sig[0])
    return main, {0.1: (restart_steps + 1, restart_times, 2.0)}


def restart_step_list(sig: list[float], restart_list: RestartList | None) -> list[tuple[float, float]]:
    """The (sigma_from, sigma_to) pairs the sampler walks, restart segments included."""
    if restart_list is None:
        sig, restart_list = _default_plan(sig)
    at_index = {_nearest_index(sig, key): value for key, value in restart_list.items()}
    pairs: list[tuple[float, float]] = []
    for i in range(len(sig) - 1):
        pairs.append((sig[i], sig[i + 1]))
        if i + 1 in at_index:
            restart_steps, restart_times, restart_max = at_index[i + 1]
            max_idx = _nearest_index(sig, restart_max)
            if max_idx < i + 1:
                segment = _karras(restart_steps, sig[i + 1], sig[max_idx])[:-1]
                for _ in range(restart_times):
                    pairs.extend(zip(segment[:-1], segment[1:]))
    return pairs


def sample_restart(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                   reporter: StepReporter, s_noise: float = 1.0, restart_list: RestartList | None = None) -> Tensor:
    pairs = restart_step_list(float_sigmas(sigmas), restart_list)
    reporter.total = len(pairs)
    last_sigma: float | None = None
    for i, (sigma, sigma_next) in enumerate(pairs):
        if last_sigma is not None and last_sigma < sigma:
            # jump back up: add exactly the noise between the two levels
            x = x + noise_sampler(last_sigma, sigma) * s_noise * math.sqrt(sigma ** 2 - last_sigma ** 2)
        denoised = denoise(denoiser, x, sigma)
        d = derivative(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = derivative(x_2, sigma_next, denoise(denoiser, x_2, sigma_next))
            x = x + (d + d_2) / 2 * dt
        last_sigma = sigma_next
        reporter.step(i, x, sigma, sigma_next, denoised)
    return x
