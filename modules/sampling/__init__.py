"""Samplers and schedule types of the generation engine (model independent).

Usage by the engine::

    from modules import sampling
    spec, schedule = sampling.resolve_sampler_and_schedule("DPM++ 2M Karras", "Automatic")
    sigmas = sampling.build_sigmas(spec, steps=20, schedule=schedule, model_sigmas=model_sigmas)
    # img2img / hires: sigmas = sampling.sigmas_for_denoise(spec, steps, strength, schedule, ...)
    x = noise * sigmas[0]                      # img2img: init_latent + noise * sigmas[0]
    latent = sampling.sample(spec, denoiser, x, sigmas, seed=seeds, callback=cb, should_stop=stop)

``denoiser(x, sigma) -> x0`` wraps the UNet, eps/v-prediction and CFG (interface.py has the
full contract, including ``return_uncond=True`` for DDIM CFG++ and the engine duties that
SamplerSpec flags announce: eta setting, ENSD, CFG scale multiplier, LCM wrapping).

Implementation choice per sampler (the issue: "use diffusers' schedulers where they implement
the method; write the rest as small sigma-space functions"): **all 20 are small sigma-space
functions; none uses a diffusers scheduler class at run time.**  diffusers' schedulers own
their timestep grid (``set_timesteps``): of the classes implementing these methods only
EulerDiscreteScheduler accepts an arbitrary sigma list (UniPC only flow-matching sigmas;
DDIM/PNDM/DPMSolver/LCM none), they expect raw model outputs rather than a CFG'd x0
denoiser, and keep per-run state (step index, model-output history) that conflicts with
A1111's 12 schedule types, img2img truncation, eta / noise seeding and interrupts.

* Euler, Euler a, Heun, DPM2, DPM2 a, LMS - k_samplers.py (Karras et al. 2022).
* DPM++ 2M / SDE / 2M SDE / 2M SDE Heun / 2S a / 3M SDE - dpmpp_samplers.py (DPM-Solver++).
* DPM fast, DPM adaptive - dpm_solver.py (DPM-Solver, t = -log sigma; adaptive ignores steps).
* Restart - restart.py.   UniPC - unipc.py (bh1/bh2, order 3, data prediction).
* DDIM, DDIM CFG++, PLMS, LCM - timestep_samplers.py, rewritten in sigma space; DDIM/PLMS
  default to the "DDIM" schedule type, i.e. A1111's timestep grid.

Where diffusers has the same method, tests/unit/sampling/test_sampling_reference.py runs
both on the same sigmas and requires equal results: Euler (EulerDiscreteScheduler),
DPM++ 2M (DPMSolverMultistepScheduler), UniPC bh1/bh2 (UniPCMultistepScheduler) and DDIM on
the DDIM grid (DDIMScheduler).  The k-diffusion family was also compared with k-diffusion
0.1.1.post1 (the version A1111 pins) during development: equal to ~1e-15 in float64.
* Noise: seeded CPU generators, or a torch-only Brownian tree (noise.py) for "brownian_noise"
  samplers.  discrete.py: model sigmas from alphas_cumprod, sigma <-> timestep.
"""

from modules.sampling.builtin import BUILTIN_SAMPLERS, BUILTIN_SCHEDULES, register_builtins
from modules.sampling.discrete import DiscreteSigmas, scaled_linear_alphas_cumprod
from modules.sampling.interface import (Denoiser, NoiseSampler, SamplerFunction, SamplingInterrupted, StepInfo,
                                        StepReporter, sigma_batch)
from modules.sampling.noise import BrownianTreeNoiseSampler, GeneratorNoiseSampler
from modules.sampling.plan import build_sigmas, effective_schedule, img2img_steps, sigmas_for_denoise
from modules.sampling.registry import (SamplerSpec, ScheduleSpec, get_sampler, get_schedule, register_sampler,
                                       register_schedule, resolve_sampler_and_schedule, sampler_names,
                                       schedule_labels, schedule_names, unregister_sampler, unregister_schedule)
from modules.sampling.runner import default_noise_sampler, sample
from modules.sampling.schedules import ScheduleOptions

register_builtins()

__all__ = [
    "BUILTIN_SAMPLERS", "BUILTIN_SCHEDULES", "BrownianTreeNoiseSampler", "Denoiser", "DiscreteSigmas",
    "GeneratorNoiseSampler", "NoiseSampler", "SamplerFunction", "SamplerSpec", "SamplingInterrupted",
    "ScheduleOptions", "ScheduleSpec", "StepInfo", "StepReporter", "build_sigmas", "default_noise_sampler",
    "effective_schedule", "get_sampler", "get_schedule", "img2img_steps", "register_builtins",
    "register_sampler", "register_schedule", "resolve_sampler_and_schedule", "sample", "sampler_names",
    "schedule_labels", "schedule_names", "scaled_linear_alphas_cumprod", "sigma_batch", "sigmas_for_denoise",
    "unregister_sampler", "unregister_schedule",
]
