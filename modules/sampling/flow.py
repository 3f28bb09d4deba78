"""Rectified-flow noise levels (SD3): x_t = (1 - sigma) * x0 + sigma * noise, sigma in (0, 1].

The model was trained on timesteps t/1000 shifted towards noise: sigma = s·t / (1 + (s - 1)·t)
(ComfyUI's ModelSamplingDiscreteFlow, diffusers' FlowMatchEulerDiscreteScheduler `shift`).
The model's timestep input is sigma * 1000. Sigma-space samplers then run unchanged, and the
"Uniform"/"Simple"/"SGM Uniform" schedule types follow these sigmas.
"""

from __future__ import annotations

import torch

from modules.sampling.discrete import DiscreteSigmas

FLOW_TRAIN_STEPS = 1000
SD3_DEFAULT_SHIFT = 3.0


def shifted_sigma(t: torch.Tensor, shift: float) -> torch.Tensor:
    return shift * t / (1 + (shift - 1) * t)


def flow_sigmas(shift: float = SD3_DEFAULT_SHIFT, steps: int = FLOW_TRAIN_STEPS) -> DiscreteSigmas:
    if not shift > 0:
        raise ValueError(f"shift must be > 0, got {shift!r}")
    t = torch.arange(1, steps + 1, dtype=torch.float64) / steps
    return DiscreteSigmas(shifted_sigma(t, shift))


def noised(x0: torch.Tensor, noise: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """The flow model's input at noise level sigma (img2img / hires start latents)."""
    return x0 * (1 - sigma) + noise * sigma


FLOW_SAMPLERS_HINT = "Euler, Heun, LMS, DPM2, DPM++ 2M, Restart or UniPC"


def runs_on_flow(sampler) -> bool:
    """Flow models run the deterministic sigma-space samplers; ancestral/SDE noise steps and the
    DDPM-timestep samplers (DDIM, PLMS, LCM) assume the variance-exploding form x0 + sigma * noise."""
    return sampler.eta_option is None and sampler.default_schedule != "ddim" and not sampler.consistency_model
