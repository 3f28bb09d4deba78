"""The contract between the engine and every sampler (k-diffusion style).

The engine hands a sampler:

* ``denoiser(x, sigma) -> x0``: ``x`` is the noisy latent in "k-diffusion space"
  (``x = x0 + sigma * noise``, *not* scaled by ``sqrt(alphas_cumprod)``), ``sigma`` a
  tensor of shape ``[batch]``.  It returns the guided (CFG) estimate of the clean latent.
  The engine wraps UNet input scaling, eps/v-prediction and classifier-free guidance
  into it.  Samplers whose spec says ``needs_uncond`` (DDIM CFG++) call
  ``denoiser(x, sigma, return_uncond=True)`` and expect a tuple
  ``(guided_x0, unconditional_x0)``.
* ``x``: the starting latent, already multiplied by ``sigmas[0]`` (txt2img) or
  ``init_latent + noise * sigmas[0]`` (img2img).
* ``sigmas``: a 1-D decreasing schedule, usually ending in 0.
* ``noise_sampler(sigma, sigma_next) -> tensor`` of standard normal noise shaped like
  ``x``, used by ancestral and SDE samplers.
* a :class:`StepReporter` that forwards progress to the engine's callback and stops the
  loop between steps when the engine asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch
from torch import Tensor


class Denoiser(Protocol):
    def __call__(self, x: Tensor, sigma: Tensor, **kwargs: Any) -> Tensor | tuple[Tensor, Tensor]: ...


NoiseSampler = Callable[[float, float], Tensor]


@dataclass(frozen=True)
class StepInfo:
    """What the engine's callback sees after each finished step.

    ``denoised`` is the x0 estimate made at ``sigma`` (used for live previews);
    ``x`` is the latent after the step, at noise level ``sigma_next``.
    ``total`` is the number of steps the sampler will report, or None when unknown
    in advance (DPM adaptive).
    """

    i: int
    total: int | None
    x: Tensor
    sigma: float
    sigma_next: float
    denoised: Tensor


StepCallback = Callable[[StepInfo], None]
StopRequested = Callable[[], bool]


class SamplingInterrupted(Exception):
    """Raised inside a sampler loop when the engine asked to stop; carries the latest
    x0 estimate so the caller can still decode a (partial) image, as A1111 does."""

    def __init__(self, last_denoised: Tensor | None):
        super().__init__("sampling interrupted")
        self.last_denoised = last_denoised


class StepReporter:
    """Forwards finished steps to the callback and turns a stop request into
    :class:`SamplingInterrupted` so samplers stop *between* steps."""

    def __init__(self, callback: StepCallback | None = None, should_stop: StopRequested | None = None,
                 total: int | None = None):
        self.callback = callback
        self.should_stop = should_stop
        self.total = total
        self.last_denoised: Tensor | None = None

    def step(self, i: int, x: Tensor, sigma: float, sigma_next: float, denoised: Tensor) -> None:
        self.last_denoised = denoised
        if self.callback is not None:
            self.callback(StepInfo(i, self.total, x, float(sigma), float(sigma_next), denoised))
        if self.should_stop is not None and self.should_stop():
            raise SamplingInterrupted(denoised)


def sigma_batch(x: Tensor, sigma: float) -> Tensor:
    """The ``[batch]`` sigma tensor the denoiser expects."""
    # half-precision sigmas lose the digits that sigma->timestep conversion needs
    dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    return torch.full((x.shape[0],), float(sigma), dtype=dtype, device=x.device)


# A sampler function: fn(denoiser, x, sigmas, *, noise_sampler, reporter, **options) -> x
SamplerFunction = Callable[..., Tensor]
