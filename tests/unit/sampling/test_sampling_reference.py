"""Our sigma-space code against diffusers' independent implementations of the same methods."""

from __future__ import annotations

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                       UniPCMultistepScheduler)

from modules import sampling
from ._sampling_analytic import gaussian_denoiser, start_latent


SD_CONFIG = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def test_discrete_sigmas_match_diffusers_sd_schedule() -> None:
    reference = DDPMScheduler(**SD_CONFIG).alphas_cumprod.double()
    model = sampling.DiscreteSigmas.stable_diffusion()
    torch.testing.assert_close(model.alphas_cumprod(), reference, rtol=1e-5, atol=1e-7)
    assert abs(model.sigma_min - 0.0292) < 1e-4 and abs(model.sigma_max - 14.6146) < 1e-3


def test_sigma_to_timestep_matches_diffusers_log_sigma_interpolation() -> None:
    sigmas = sampling.build_sigmas("Euler", 12, "Karras")
    scheduler = EulerDiscreteScheduler(**SD_CONFIG)
    scheduler.set_timesteps(sigmas=sigmas.tolist())
    ours = sampling.DiscreteSigmas.stable_diffusion().sigma_to_t(sigmas[:-1].double())
    torch.testing.assert_close(ours.float(), scheduler.timesteps.float(), rtol=0, atol=2e-3)


def test_euler_matches_diffusers_euler_discrete_scheduler() -> None:
    sigmas = sampling.build_sigmas("Euler", 15, "Karras")
    x_start = start_latent(float(sigmas[0]), samples=2, dims=64).float()
    ours = sampling.sample("Euler", gaussian_denoiser, x_start, sigmas)

    scheduler = EulerDiscreteScheduler(**SD_CONFIG)
    scheduler.set_timesteps(sigmas=sigmas.tolist())
    x = x_start.clone()
    for i, t in enumerate(scheduler.timesteps):
        sigma = scheduler.sigmas[i]
        eps = (x - gaussian_denoiser(x, sigma.reshape(1))) / sigma
        x = scheduler.step(eps, t, x).prev_sample
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


def test_dpmpp_2m_matches_diffusers_dpm_solver_multistep() -> None:
    scheduler = DPMSolverMultistepScheduler(**SD_CONFIG, prediction_type="sample", algorithm_type="dpmsolver++",
                                            solver_order=2, use_karras_sigmas=True, final_sigmas_type="zero")
    scheduler.set_timesteps(20)
    sigmas = scheduler.sigmas.float().clone()
    x_start = start_latent(float(sigmas[0]), samples=2, dims=64).float()
    ours = sampling.sample("DPM++ 2M", gaussian_denoiser, x_start, sigmas)

    # diffusers works on the variance-preserving latent x / sqrt(1 + sigma^2)
    sample = x_start / (1 + sigmas[0] ** 2).sqrt()
    for i, t in enumerate(scheduler.timesteps):
        sigma = sigmas[i]
        x0 = gaussian_denoiser(sample * (1 + sigma ** 2).sqrt(), sigma.reshape(1))
        sample = scheduler.step(x0, t, sample).prev_sample
    torch.testing.assert_close(ours, sample, rtol=1e-4, atol=1e-4)


def run_diffusers_vp(scheduler, sigmas: torch.Tensor, x_start: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Drive a variance-preserving diffusers scheduler with the analytic x0 ("sample") prediction;
    returns the final latent and the k-diffusion-space inputs the denoiser saw."""
    inputs = []
    sample = x_start / (1 + sigmas[0] ** 2).sqrt()
    for i, t in enumerate(scheduler.timesteps):
        x = sample * (1 + sigmas[i] ** 2).sqrt()
        inputs.append(x)
        sample = scheduler.step(gaussian_denoiser(x, sigmas[i].reshape(1)), t, sample).prev_sample
    return sample, inputs


def test_unipc_matches_diffusers_unipc_multistep() -> None:
    for variant in ("bh1", "bh2"):
        scheduler = UniPCMultistepScheduler(**SD_CONFIG, prediction_type="sample", predict_x0=True, solver_order=3,
                                            solver_type=variant, use_karras_sigmas=True, final_sigmas_type="zero")
        scheduler.set_timesteps(12)
        sigmas = scheduler.sigmas.float().clone()
        x_start = start_latent(float(sigmas[0]), samples=2, dims=64).float()
        seen: list[torch.Tensor] = []

        def recording(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            seen.append(x.clone())
            return gaussian_denoiser(x, sigma)

        ours = sampling.sample("UniPC", recording, x_start, sigmas, variant=variant)
        reference, reference_inputs = run_diffusers_vp(scheduler, sigmas, x_start)
        for mine, theirs in zip(seen, reference_inputs, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)
        if variant == "bh2":  # diffusers' bh1 divides by B(h) = -h = -inf on the final jump to sigma 0
            torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


def test_ddim_on_the_ddim_schedule_matches_diffusers_ddim() -> None:
    scheduler = DDIMScheduler(**SD_CONFIG, prediction_type="sample", steps_offset=1, set_alpha_to_one=True,
                              clip_sample=False, timestep_spacing="leading")
    scheduler.set_timesteps(20)
    sigmas = sampling.build_sigmas("DDIM", 20)
    model = sampling.DiscreteSigmas.stable_diffusion()
    torch.testing.assert_close(model.sigma_to_t(sigmas[:-1].double()).round().long(), scheduler.timesteps)
    x_start = start_latent(float(sigmas[0]), samples=2, dims=64).float()
    ours = sampling.sample("DDIM", gaussian_denoiser, x_start, sigmas)
    reference, _ = run_diffusers_vp(scheduler, sigmas, x_start)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
