"""DPM-Solver (Lu et al. 2022, arXiv:2206.00927): "DPM fast" and "DPM adaptive".

Both work in t = -log(sigma) with the noise prediction eps = (x - denoised) / sigma and
only use the schedule's end points: DPM fast spends exactly ``len(sigmas) - 1`` denoiser
calls on a uniform grid in t; DPM adaptive picks its own step sizes with an error
controller and ignores the step count.  Like A1111, they stop at the smallest positive
sigma (no final jump to 0); a schedule with a single positive sigma leaves x unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from modules.sampling.common import ancestral_step, denoise, float_sigmas
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter


def _sigma(t: float) -> float:
    return math.exp(-t)


def _t(sigma: float) -> float:
    return -math.log(sigma)


class _EpsCache:
    """Noise predictions of one step; the first one is shared by the low/high order pair."""

    def __init__(self, denoiser: Denoiser):
        self.denoiser = denoiser
        self.cache: dict[str, Tensor] = {}

    def eps(self, key: str, x: Tensor, t: float) -> Tensor:
        if key not in self.cache:
            sigma = _sigma(t)
            self.cache[key] = (x - denoise(self.denoiser, x, sigma)) / sigma
        return self.cache[key]


def _step_1(c: _EpsCache, x: Tensor, t: float, t_next: float) -> Tensor:
    h = t_next - t
    return x - _sigma(t_next) * math.expm1(h) * c.eps("eps", x, t)


def _step_2(c: _EpsCache, x: Tensor, t: float, t_next: float, r1: float = 0.5) -> Tensor:
    h = t_next - t
    eps = c.eps("eps", x, t)
    s1 = t + r1 * h
    u1 = x - _sigma(s1) * math.expm1(r1 * h) * eps
    eps_r1 = c.eps("eps_r1", u1, s1)
    return x - _sigma(t_next) * math.expm1(h) * eps - _sigma(t_next) / (2 * r1) * math.expm1(h) * (eps_r1 - eps)


def _step_3(c: _EpsCache, x: Tensor, t: float, t_next: float, r1: float = 1 / 3, r2: float = 2 / 3) -> Tensor:
    h = t_next - t
    eps = c.eps("eps", x, t)
    s1, s2 = t + r1 * h, t + r2 * h
    u1 = x - _sigma(s1) * math.expm1(r1 * h) * eps
    eps_r1 = c.eps("eps_r1", u1, s1)
    u2 = (x - _sigma(s2) * math.expm1(r2 * h) * eps
          - _sigma(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * (eps_r1 - eps))
    eps_r2 = c.eps("eps_r2", u2, s2)
    return x - _sigma(t_next) * math.expm1(h) * eps - _sigma(t_next) / r2 * (math.expm1(h) / h - 1) * (eps_r2 - eps)


def _ancestral_target(t: float, t_next: float, t_end: float, eta: float) -> tuple[float, float]:
    """Deterministic target time and the noise that brings it back to sigma(t_next)."""
    if not eta:
        return t_next, 0.0
    sigma_down, _ = ancestral_step(_sigma(t), _sigma(t_next), eta)
    target = min(t_end, _t(sigma_down)) if sigma_down > 0 else t_end
    noise = math.sqrt(max(_sigma(t_next) ** 2 - _sigma(target) ** 2, 0.0))
    return target, noise


def _sigma_range(sigmas: Tensor) -> tuple[float, float]:
    positive = [s for s in float_sigmas(sigmas) if s > 0]
    if not positive:
        raise ValueError("DPM-Solver needs at least one positive sigma in the schedule")
    return min(positive), max(positive)


def fast_orders(nfe: int) -> list[int]:
    """Solver orders per step so that they add up to exactly ``nfe`` denoiser calls."""
    m = nfe // 3 + 1
    if nfe % 3 == 0:
        return [3] * (m - 2) + [2, 1]
    return [3] * (m - 1) + [nfe % 3]


def sample_dpm_fast(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                    reporter: StepReporter, eta: float = 1.0, s_noise: float = 1.0) -> Tensor:
    """DPM-Solver-Fast: orders 3,3,...,(2,1) on a uniform grid in t, NFE = len(sigmas) - 1."""
    nfe = len(sigmas) - 1
    if nfe < 1:
        raise ValueError("DPM fast needs at least one step")
    sigma_min, sigma_max = _sigma_range(sigmas)
    if sigma_min == sigma_max:  # already at the final noise level (e.g. a one-step img2img tail)
        return x
    t_start, t_end = _t(sigma_max), _t(sigma_min)
    orders = fast_orders(nfe)
    ts = torch.linspace(t_start, t_end, len(orders) + 1, dtype=torch.float64).tolist()
    reporter.total = len(orders)
    steps = {1: _step_1, 2: _step_2, 3: _step_3}
    for i, order in enumerate(orders):
        t, t_next = ts[i], ts[i + 1]
        target, noise = _ancestral_target(t, t_next, t_end, eta)
        cache = _EpsCache(denoiser)
        denoised = x - _sigma(t) * cache.eps("eps", x, t)
        x = steps[order](cache, x, t, target)
        if noise > 0:
            x = x + noise * s_noise * noise_sampler(_sigma(t), _sigma(t_next))
        reporter.step(i, x, _sigma(t), _sigma(t_next), denoised)
    return x


@dataclass
class PIDStepSizeController:
    """PID controller for the adaptive step size (defaults: a pure integral controller)."""

    h: float
    pcoeff: float
    icoeff: float
    dcoeff: float
    order: float
    accept_safety: float
    eps: float = 1e-8
    errs: list[float] = field(default_factory=list)

    def propose_step(self, error: float) -> bool:
        b1 = (self.pcoeff + self.icoeff + self.dcoeff) / self.order
        b2 = -(self.pcoeff + 2 * self.dcoeff) / self.order
        b3 = self.dcoeff / self.order
        inv_error = 1.0 / (error + self.eps)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** b1 * self.errs[1] ** b2 * self.errs[2] ** b3
        factor = 1.0 + math.atan(factor - 1.0)  # soft limiter
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2], self.errs[1] = self.errs[1], self.errs[0]
        self.h *= factor
        return accept


def sample_dpm_adaptive(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                        reporter: StepReporter, order: int = 3, rtol: float = 0.05, atol: float = 0.0078,
                        h_init: float = 0.05, pcoeff: float = 0.0, icoeff: float = 1.0, dcoeff: float = 0.0,
                        accept_safety: float = 0.81, eta: float = 1.0, s_noise: float = 1.0,
                        max_steps: int = 1000) -> Tensor:
    """DPM-Solver-12/23 with adaptive step size between the schedule's largest and smallest
    positive sigma; the number of steps in the schedule is ignored."""
    if order not in (2, 3):
        raise ValueError(f"DPM adaptive order must be 2 or 3, got {order}")
    sigma_min, sigma_max = _sigma_range(sigmas)
    if sigma_min == sigma_max:
        return x
    s, t_end = _t(sigma_max), _t(sigma_min)
    pid = PIDStepSizeController(abs(h_init), pcoeff, icoeff, dcoeff, 1.5 if eta else order, accept_safety)
    reporter.total = None
    x_prev = x
    accepted = attempts = 0
    while s < t_end - 1e-5:
        if attempts >= max_steps:
            raise RuntimeError(f"DPM adaptive did not reach sigma_min within max_steps={max_steps} solver steps")
        attempts += 1
        t = min(t_end, s + pid.h)
        target, noise = _ancestral_target(s, t, t_end, eta)
        cache = _EpsCache(denoiser)
        denoised = x - _sigma(s) * cache.eps("eps", x, s)
        if order == 2:
            x_low = _step_1(cache, x, s, target)
            x_high = _step_2(cache, x, s, target)
        else:
            x_low = _step_2(cache, x, s, target, r1=1 / 3)
            x_high = _step_3(cache, x, s, target)
        delta = torch.clamp(rtol * torch.maximum(x_low.abs(), x_prev.abs()), min=atol)
        error = float(torch.linalg.vector_norm((x_low - x_high) / delta)) / math.sqrt(x.numel())
        if not math.isfinite(error):
            raise ValueError("DPM adaptive: the denoiser returned non-finite values")
        if pid.propose_step(error):
            x_prev = x_low
            x = x_high
            if noise > 0:
                x = x + noise * s_noise * noise_sampler(_sigma(s), _sigma(t))
            reporter.step(accepted, x, _sigma(s), _sigma(t), denoised)
            accepted += 1
            s = t
    return x
