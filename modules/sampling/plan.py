"""Turning (sampler, steps, schedule type, denoising strength) into a sigma schedule, with
A1111's step semantics:

* txt2img: ``steps`` intervals, ``steps + 1`` sigmas ending in 0.  Samplers flagged
  ``discard_next_to_last_sigma`` (DPM2, DPM2 a, DPM++ 3M SDE) build ``steps + 1`` and drop
  the penultimate sigma, so the step count stays ``steps``.
* img2img / hires fix: the full schedule is built for ``steps`` and only its last
  ``int(strength * steps) + 1`` steps are run (``fix_steps`` = A1111's "img2img_fix_steps":
  run exactly ``steps`` steps by stretching the schedule to ``steps / strength``).  The engine
  starts from ``init_latent + noise * sigmas[0]`` of the returned schedule.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modules.sampling.discrete import DiscreteSigmas
from modules.sampling.registry import SamplerSpec, ScheduleSpec, get_sampler, get_schedule
from modules.sampling.schedules import ScheduleOptions


def effective_schedule(sampler: str | SamplerSpec, schedule: str | ScheduleSpec | None = None) -> ScheduleSpec:
    """The schedule type actually used: "Automatic" becomes the sampler's default."""
    spec = get_schedule(schedule)
    if spec.function is None:
        spec = get_schedule(get_sampler(sampler).default_schedule)
    if spec.function is None:
        raise ValueError(f"sampler {get_sampler(sampler).name!r} has no concrete default schedule type")
    return spec


def build_sigmas(sampler: str | SamplerSpec, steps: int, schedule: str | ScheduleSpec | None = None, *,
                 model_sigmas: DiscreteSigmas | None = None, sigma_min: float | None = None,
                 sigma_max: float | None = None, options: ScheduleOptions | None = None,
                 discard_next_to_last_sigma: bool = False) -> Tensor:
    """The txt2img schedule: ``steps + 1`` decreasing sigmas ending in 0 (float32, CPU).

    ``sigma_min`` / ``sigma_max`` default to the model's; ``model_sigmas`` to Stable
    Diffusion's discrete sigmas.  ``discard_next_to_last_sigma`` forces A1111's "Always
    discard next-to-last sigma" for samplers that do not do it already.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    sampler_spec = get_sampler(sampler)
    schedule_spec = effective_schedule(sampler_spec, schedule)
    model_sigmas = model_sigmas if model_sigmas is not None else DiscreteSigmas.stable_diffusion()
    low = sigma_min if sigma_min else model_sigmas.sigma_min
    high = sigma_max if sigma_max else model_sigmas.sigma_max
    if not 0 < low < high:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={low}, sigma_max={high}")
    discard = sampler_spec.discard_next_to_last_sigma or discard_next_to_last_sigma
    n = steps + 1 if discard else steps
    make_sigmas = schedule_spec.function  # never None: effective_schedule resolved Automatic
    sigmas = make_sigmas(n, low, high, model_sigmas, options or ScheduleOptions())  # type: ignore[misc]
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas


def img2img_steps(steps: int, denoising_strength: float, fix_steps: bool = False) -> tuple[int, int]:
    """(steps of the full schedule, t_enc) as in A1111's setup_img2img_steps; t_enc + 1 steps run."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0.0 < denoising_strength <= 1.0:
        raise ValueError(f"denoising_strength must be in (0, 1], got {denoising_strength!r}")
    strength = min(denoising_strength, 0.999)
    if fix_steps:
        return int(steps / strength), steps - 1
    return steps, int(strength * steps)


def sigmas_for_denoise(sampler: str | SamplerSpec, steps: int, denoising_strength: float,
                       schedule: str | ScheduleSpec | None = None, *, fix_steps: bool = False,
                       model_sigmas: DiscreteSigmas | None = None, sigma_min: float | None = None,
                       sigma_max: float | None = None, options: ScheduleOptions | None = None,
                       discard_next_to_last_sigma: bool = False) -> Tensor:
    """The img2img / hires-fix schedule: the tail of the full schedule.

    Strength 0 returns ``tensor([0.])``: no step is run and the latent stays the input.
    """
    if denoising_strength == 0:
        return torch.zeros(1)
    total, t_enc = img2img_steps(steps, denoising_strength, fix_steps)
    sigmas = build_sigmas(sampler, total, schedule, model_sigmas=model_sigmas, sigma_min=sigma_min,
                          sigma_max=sigma_max, options=options,
                          discard_next_to_last_sigma=discard_next_to_last_sigma)
    # counted from the end: identical to A1111's sigmas[steps - t_enc - 1:] for n + 1 sigmas,
    # and still t_enc + 1 steps for the (longer) DDIM grid
    return sigmas[-(t_enc + 2):]
