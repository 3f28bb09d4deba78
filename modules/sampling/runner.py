"""The one entry point the engine calls to run a sampler."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from modules.sampling.interface import (Denoiser, NoiseSampler, SamplingInterrupted, StepCallback, StepReporter,
                                        StopRequested)
from modules.sampling.noise import BrownianTreeNoiseSampler, GeneratorNoiseSampler, Seeds
from modules.sampling.registry import SamplerSpec, get_sampler


def validate_sigmas(sigmas: Tensor) -> None:
    if not isinstance(sigmas, Tensor) or sigmas.ndim != 1 or len(sigmas) < 1:
        raise ValueError("sigmas must be a non-empty 1-D tensor")
    if not bool(torch.isfinite(sigmas).all()) or bool((sigmas < 0).any()):
        raise ValueError("sigmas must be finite and non-negative")
    if bool((sigmas[1:] > sigmas[:-1]).any()):
        raise ValueError("sigmas must be non-increasing")


def default_noise_sampler(spec: SamplerSpec, x: Tensor, sigmas: Tensor, seed: Seeds = None) -> NoiseSampler:
    """Brownian tree for ``brownian_noise`` samplers, seeded CPU generators otherwise.
    ``seed`` may be one int or one seed per batch item (A1111 passes the image seeds)."""
    positive = sigmas[sigmas > 0]
    if spec.brownian_noise and len(positive) > 0 and float(positive.min()) < float(positive.max()):
        return BrownianTreeNoiseSampler(x, float(positive.min()), float(positive.max()), seed)
    return GeneratorNoiseSampler(x, seed)


def sample(sampler: str | SamplerSpec, denoiser: Denoiser, x: Tensor, sigmas: Tensor, *,
           noise_sampler: NoiseSampler | None = None, seed: Seeds = None, callback: StepCallback | None = None,
           should_stop: StopRequested | None = None, **options: Any) -> Tensor:
    """Run ``sampler`` from ``x`` (already at noise level ``sigmas[0]``) down the schedule.

    ``callback`` gets a StepInfo after every step; when ``should_stop()`` turns true the loop
    stops after the current step and the latest x0 estimate is returned (A1111's interrupt).
    ``options`` are sampler options such as ``eta``, ``s_noise``, ``order``.
    """
    spec = get_sampler(sampler)
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 1:
        raise ValueError("x must be a floating-point tensor with a batch dimension")
    validate_sigmas(sigmas)
    resolved = spec.resolve_options(options)
    if len(sigmas) < 2:
        return x
    if noise_sampler is None:
        noise_sampler = default_noise_sampler(spec, x, sigmas, seed)
    reporter = StepReporter(callback, should_stop, total=len(sigmas) - 1)
    with torch.no_grad():
        try:
            return spec.function(denoiser, x, sigmas, noise_sampler=noise_sampler, reporter=reporter, **resolved)
        except SamplingInterrupted as stop:
            return stop.last_denoised if stop.last_denoised is not None else x
