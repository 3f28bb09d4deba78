"""Schedule types, discrete model sigmas and A1111 step semantics (txt2img / img2img)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from modules import sampling
from modules.sampling import schedules

MODEL = sampling.DiscreteSigmas.stable_diffusion()
CONCRETE = [label for label in sampling.schedule_labels() if label != "Automatic"]


@pytest.mark.parametrize("label", CONCRETE)
@pytest.mark.parametrize("steps", [1, 7, 20, 25])
def test_schedule_is_decreasing_ending_in_zero_and_starts_near_sigma_max(label: str, steps: int) -> None:
    sigmas = sampling.build_sigmas("Euler", steps, label)
    assert sigmas.dtype == torch.float32 and sigmas.ndim == 1
    assert sigmas[-1] == 0 and bool((sigmas[:-1] > 0).all())
    assert bool((sigmas[1:] < sigmas[:-1]).all()), sigmas
    if label == "DDIM" and steps == 7:
        return  # A1111's grid: 8 steps from timestep 995, checked in the DDIM tests below
    assert len(sigmas) == steps + 1
    # DDIM's grid starts at timestep 1 + (n - 1) * (1000 // n), one stride below the top
    start_tolerance = 0.25 if label == "DDIM" else 0.01
    assert abs(float(sigmas[0]) / MODEL.sigma_max - 1) < start_tolerance, float(sigmas[0])


def test_karras_is_uniform_in_sigma_to_the_one_over_rho() -> None:
    sigmas = sampling.build_sigmas("Euler", 10, "Karras")[:-1].double()
    steps = np.diff((sigmas ** (1 / 7)).numpy())
    assert np.allclose(steps, steps[0], rtol=1e-4)
    assert math.isclose(float(sigmas[-1]), MODEL.sigma_min, rel_tol=1e-5)
    custom = sampling.build_sigmas("Euler", 10, "Karras", options=sampling.ScheduleOptions(rho=3.0))[:-1].double()
    custom_steps = np.diff((custom ** (1 / 3)).numpy())
    assert np.allclose(custom_steps, custom_steps[0], rtol=1e-4)


def test_exponential_and_polyexponential_rho_1_are_uniform_in_log_sigma() -> None:
    exponential = sampling.build_sigmas("Euler", 12, "Exponential")[:-1].double()
    poly = sampling.build_sigmas("Euler", 12, "Polyexponential")[:-1].double()
    torch.testing.assert_close(exponential, poly, rtol=1e-5, atol=0)
    assert np.allclose(np.diff(exponential.log().numpy()), float(exponential[1].log() - exponential[0].log()))


def test_kl_optimal_is_uniform_in_arctan_sigma() -> None:
    sigmas = sampling.build_sigmas("Euler", 9, "KL Optimal")[:-1].double()
    assert np.allclose(np.diff(np.arctan(sigmas.numpy())), math.atan(sigmas[1]) - math.atan(sigmas[0]), rtol=1e-4)


def test_align_your_steps_uses_the_tables_and_log_linear_resampling() -> None:
    sd1 = sampling.build_sigmas("Euler", 11, "Align Your Steps")
    torch.testing.assert_close(sd1[:-1], torch.tensor(schedules.AYS_SIGMAS["sd1"]))
    sdxl_options = sampling.ScheduleOptions(model_family="sdxl")
    sdxl = sampling.build_sigmas("Euler", 21, "Align Your Steps", options=sdxl_options)[:-1].double()
    table = torch.tensor(schedules.AYS_SIGMAS["sdxl"], dtype=torch.float64)
    torch.testing.assert_close(sdxl[::2], table, rtol=1e-6, atol=0)  # the table points are kept
    torch.testing.assert_close(sdxl[1::2], (table[:-1] * table[1:]).sqrt(), rtol=1e-6, atol=0)  # log midpoints


def test_timestep_based_schedules_follow_the_model_sigmas() -> None:
    simple = sampling.build_sigmas("Euler", 10, "Simple")
    torch.testing.assert_close(simple[:-1].double(), MODEL.sigmas.flip(0)[::100], rtol=1e-6, atol=0)
    ddim = sampling.build_sigmas("Euler", 10, "DDIM")
    torch.testing.assert_close(ddim[:-1].double(), MODEL.sigmas[1::100].flip(0), rtol=1e-6, atol=0)
    uniform = sampling.build_sigmas("Euler", 4, "Uniform")
    torch.testing.assert_close(uniform[:-1].double(), MODEL.t_to_sigma(torch.tensor([999.0, 666.0, 333.0, 0.0])),
                               rtol=1e-6, atol=0)
    normal = sampling.build_sigmas("Euler", 4, "Normal")
    torch.testing.assert_close(normal, uniform)  # same timesteps when sigma_min/max are the model's


def test_ddim_grid_keeps_a1111_length_when_steps_do_not_divide_1000() -> None:
    sigmas = sampling.build_sigmas("DDIM", 30)
    assert len(sigmas) == 32  # timesteps 1, 34, ..., 991 as in A1111
    torch.testing.assert_close(sigmas[:-1].double(), MODEL.sigmas[1::33].flip(0), rtol=1e-6, atol=0)
    seven = sampling.build_sigmas("DDIM", 7)
    torch.testing.assert_close(seven[:-1].double(), MODEL.sigmas[1::142].flip(0), rtol=1e-6, atol=0)
    assert len(sampling.sigmas_for_denoise("DDIM", 30, 0.5)) == int(0.5 * 30) + 2


def test_beta_schedule_is_symmetric_for_equal_alpha_and_beta() -> None:
    sigmas = sampling.build_sigmas("Euler", 11, "Beta")[:-1].double()
    lo, hi = MODEL.sigma_min, MODEL.sigma_max
    mirrored = (sigmas - lo) + (sigmas.flip(0) - lo)
    torch.testing.assert_close(mirrored, torch.full_like(sigmas, hi - lo), rtol=1e-5, atol=1e-5)


def test_sigma_min_and_max_overrides() -> None:
    sigmas = sampling.build_sigmas("Euler", 8, "Karras", sigma_min=0.1, sigma_max=10.0)
    assert math.isclose(float(sigmas[0]), 10.0, rel_tol=1e-6) and math.isclose(float(sigmas[-2]), 0.1, rel_tol=1e-5)
    with pytest.raises(ValueError, match="sigma_min"):
        sampling.build_sigmas("Euler", 8, "Karras", sigma_min=5.0, sigma_max=1.0)


def test_automatic_resolves_to_the_sampler_default() -> None:
    assert sampling.effective_schedule("DPM++ 2M", "Automatic").label == "Karras"
    assert sampling.effective_schedule("DPM++ 2M SDE", None).label == "Exponential"
    assert sampling.effective_schedule("Euler a", "automatic").label == "Uniform"
    assert sampling.effective_schedule("DDIM", "Automatic").label == "DDIM"
    assert sampling.effective_schedule("DPM++ 2M", "SGM Uniform").label == "SGM Uniform"
    torch.testing.assert_close(sampling.build_sigmas("DPM++ 2M", 20), sampling.build_sigmas("DPM++ 2M", 20, "Karras"))


def test_discard_next_to_last_sigma_keeps_the_step_count() -> None:
    dpm2 = sampling.build_sigmas("DPM2", 20)
    full = sampling.build_sigmas("Euler", 21, "Karras")
    assert len(dpm2) == 21
    torch.testing.assert_close(dpm2, torch.cat([full[:-2], full[-1:]]))
    forced = sampling.build_sigmas("Euler", 20, "Karras", discard_next_to_last_sigma=True)
    torch.testing.assert_close(forced, dpm2)


def test_img2img_runs_the_tail_of_the_schedule_like_a1111() -> None:
    full = sampling.build_sigmas("Euler", 20)
    tail = sampling.sigmas_for_denoise("Euler", 20, 0.75)
    assert len(tail) == int(0.75 * 20) + 2  # t_enc + 1 steps
    torch.testing.assert_close(tail, full[20 - 15 - 1:])
    assert sampling.img2img_steps(20, 0.5, fix_steps=True) == (40, 19)
    fixed = sampling.sigmas_for_denoise("Euler", 20, 0.5, fix_steps=True)
    assert len(fixed) == 21
    torch.testing.assert_close(fixed, sampling.build_sigmas("Euler", 40)[-21:])
    assert sampling.img2img_steps(20, 1.0) == (20, 19)  # strength is capped at 0.999 like A1111
    torch.testing.assert_close(sampling.sigmas_for_denoise("Euler", 20, 0.0), torch.zeros(1))


@pytest.mark.parametrize("steps,strength", [(0, 0.5), (20, -0.1), (20, 1.5)])
def test_bad_steps_and_strength_are_rejected(steps: int, strength: float) -> None:
    with pytest.raises(ValueError, match="steps|denoising_strength"):
        sampling.sigmas_for_denoise("Euler", steps, strength)


def test_schedule_options_are_validated() -> None:
    with pytest.raises(ValueError, match="model_family"):
        sampling.ScheduleOptions(model_family="sd3")
    with pytest.raises(ValueError, match="rho"):
        sampling.ScheduleOptions(rho=0)
    with pytest.raises(ValueError, match="beta_alpha"):
        sampling.ScheduleOptions(beta_alpha=-1)


def test_discrete_sigmas_round_trip_and_integer_timesteps() -> None:
    t = torch.tensor([0.0, 1.0, 10.5, 500.25, 999.0], dtype=torch.float64)
    torch.testing.assert_close(MODEL.sigma_to_t(MODEL.t_to_sigma(t)), t)
    on_grid = MODEL.sigma_to_t(MODEL.sigmas[[3, 400, 998]])
    torch.testing.assert_close(on_grid, torch.tensor([3.0, 400.0, 998.0], dtype=torch.float64))
    assert float(MODEL.sigma_to_t(100.0)) == 999.0 and float(MODEL.sigma_to_t(1e-4)) == 0.0  # clamped
    with pytest.raises(ValueError, match="increasing"):
        sampling.DiscreteSigmas(torch.tensor([2.0, 1.0]))
