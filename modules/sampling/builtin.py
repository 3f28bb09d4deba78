"""The 20 samplers and 12 schedule types A1111 ships, in A1111's UI order.

Names, aliases, default schedules ("Automatic") and flags follow A1111's
sd_samplers_kdiffusion.py / sd_samplers_timesteps.py / sd_samplers_lcm.py /
sd_schedulers.py; ComfyUI-style names (``euler_ancestral``, ``dpmpp_2m``...) are extra aliases.
"""

from __future__ import annotations

from modules.sampling import dpm_solver, dpmpp_samplers, k_samplers, restart, schedules, timestep_samplers, unipc
from modules.sampling.registry import SamplerSpec, ScheduleSpec, register_sampler, register_schedule

BUILTIN_SCHEDULES = (
    ScheduleSpec("automatic", "Automatic", None),
    ScheduleSpec("uniform", "Uniform", schedules.uniform, needs_model_sigmas=True),
    ScheduleSpec("karras", "Karras", schedules.karras, default_rho=7.0),
    ScheduleSpec("exponential", "Exponential", schedules.exponential),
    ScheduleSpec("polyexponential", "Polyexponential", schedules.polyexponential, default_rho=1.0),
    ScheduleSpec("sgm_uniform", "SGM Uniform", schedules.sgm_uniform, aliases=("SGMUniform",), needs_model_sigmas=True),
    ScheduleSpec("kl_optimal", "KL Optimal", schedules.kl_optimal),
    ScheduleSpec("align_your_steps", "Align Your Steps", schedules.align_your_steps),
    ScheduleSpec("simple", "Simple", schedules.simple, needs_model_sigmas=True),
    ScheduleSpec("normal", "Normal", schedules.normal, needs_model_sigmas=True),
    ScheduleSpec("ddim", "DDIM", schedules.ddim, needs_model_sigmas=True),
    ScheduleSpec("beta", "Beta", schedules.beta),
)

_ANCESTRAL = dict(eta_option="eta_ancestral")

BUILTIN_SAMPLERS = (
    SamplerSpec("DPM++ 2M", dpmpp_samplers.sample_dpmpp_2m, ("k_dpmpp_2m", "dpmpp_2m"), default_schedule="karras"),
    SamplerSpec("DPM++ SDE", dpmpp_samplers.sample_dpmpp_sde, ("k_dpmpp_sde", "dpmpp_sde"),
                default_schedule="karras", second_order=True, brownian_noise=True, **_ANCESTRAL),
    SamplerSpec("DPM++ 2M SDE", dpmpp_samplers.sample_dpmpp_2m_sde, ("k_dpmpp_2m_sde", "dpmpp_2m_sde"),
                default_schedule="exponential", brownian_noise=True, **_ANCESTRAL),
    SamplerSpec("DPM++ 2M SDE Heun", dpmpp_samplers.sample_dpmpp_2m_sde, ("k_dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun"),
                default_schedule="exponential", default_options={"solver_type": "heun"}, brownian_noise=True,
                **_ANCESTRAL),
    SamplerSpec("DPM++ 2S a", dpmpp_samplers.sample_dpmpp_2s_ancestral, ("k_dpmpp_2s_a", "dpmpp_2s_ancestral"),
                default_schedule="karras", uses_ensd=True, second_order=True, **_ANCESTRAL),
    SamplerSpec("DPM++ 3M SDE", dpmpp_samplers.sample_dpmpp_3m_sde, ("k_dpmpp_3m_sde", "dpmpp_3m_sde"),
                default_schedule="exponential", discard_next_to_last_sigma=True, brownian_noise=True, **_ANCESTRAL),
    SamplerSpec("Euler a", k_samplers.sample_euler_ancestral, ("k_euler_a", "k_euler_ancestral", "euler_ancestral"),
                uses_ensd=True, **_ANCESTRAL),
    SamplerSpec("Euler", k_samplers.sample_euler, ("k_euler", "euler")),
    SamplerSpec("LMS", k_samplers.sample_lms, ("k_lms", "lms")),
    SamplerSpec("Heun", k_samplers.sample_heun, ("k_heun", "heun"), second_order=True),
    SamplerSpec("DPM2", k_samplers.sample_dpm_2, ("k_dpm_2", "dpm_2"), default_schedule="karras",
                discard_next_to_last_sigma=True, second_order=True),
    SamplerSpec("DPM2 a", k_samplers.sample_dpm_2_ancestral, ("k_dpm_2_a", "dpm_2_ancestral"),
                default_schedule="karras", discard_next_to_last_sigma=True, uses_ensd=True, second_order=True,
                **_ANCESTRAL),
    SamplerSpec("DPM fast", dpm_solver.sample_dpm_fast, ("k_dpm_fast", "dpm_fast"), uses_ensd=True, **_ANCESTRAL),
    SamplerSpec("DPM adaptive", dpm_solver.sample_dpm_adaptive, ("k_dpm_ad", "dpm_adaptive"), uses_ensd=True,
                ignores_steps=True, **_ANCESTRAL),
    SamplerSpec("Restart", restart.sample_restart, ("restart",), default_schedule="karras", second_order=True),
    SamplerSpec("DDIM", timestep_samplers.sample_ddim, ("ddim",), default_schedule="ddim", eta_option="eta_ddim"),
    SamplerSpec("DDIM CFG++", timestep_samplers.sample_ddim_cfgpp, ("ddim_cfgpp",), default_schedule="ddim",
                eta_option="eta_ddim", needs_uncond=True, cfg_scale_multiplier=1 / 12.5),
    SamplerSpec("PLMS", timestep_samplers.sample_plms, ("plms",), default_schedule="ddim"),
    SamplerSpec("UniPC", unipc.sample_unipc, ("unipc", "uni_pc"), default_schedule="sgm_uniform"),
    SamplerSpec("LCM", timestep_samplers.sample_lcm, ("k_lcm", "lcm"), consistency_model=True),
)


def register_builtins() -> None:
    """Idempotent: registering the same built-ins again replaces them with themselves."""
    for schedule in BUILTIN_SCHEDULES:
        register_schedule(schedule, replace=True)
    for sampler in BUILTIN_SAMPLERS:
        register_sampler(sampler, replace=True)
