"""Running samplers: reproducibility, callbacks, interrupt, noise samplers, input checks."""

from __future__ import annotations

import math

import pytest
import torch

from modules import sampling
from ._sampling_analytic import MU, S, consistency_denoiser, gaussian_denoiser, start_latent


STOCHASTIC = ["Euler a", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 3M SDE", "DPM2 a", "DPM fast", "Restart", "LCM"]


def run(name: str, seed: int | list[int], steps: int = 8, samples: int = 2, **options: object) -> torch.Tensor:
    spec = sampling.get_sampler(name)
    sigmas = sampling.build_sigmas(spec, steps)
    x = start_latent(float(sigmas[0]), seed=0, samples=samples, dims=32)
    denoiser = consistency_denoiser if spec.consistency_model else gaussian_denoiser
    return sampling.sample(spec, denoiser, x, sigmas, seed=seed, **options)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_same_seed_gives_identical_output_and_another_seed_differs(name: str) -> None:
    steps = 24 if name == "Restart" else 8  # Restart only restarts (adds noise) from 20 steps on
    first, again, other = run(name, 7, steps), run(name, 7, steps), run(name, 8, steps)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("name", ["Euler a", "DPM++ 2M SDE"])
def test_per_image_seeds_make_an_image_independent_of_its_batch(name: str) -> None:
    batch = run(name, [11, 22], samples=2)
    alone = run(name, [11], samples=1)
    torch.testing.assert_close(batch[:1], alone)


def test_callback_reports_every_step_with_the_schedule() -> None:
    sigmas = sampling.build_sigmas("Euler", 6)
    seen: list[sampling.StepInfo] = []
    out = sampling.sample("Euler", gaussian_denoiser, start_latent(float(sigmas[0]), dims=8), sigmas,
                          callback=seen.append)
    assert [info.i for info in seen] == list(range(6)) and {info.total for info in seen} == {6}
    assert [info.sigma for info in seen] == pytest.approx(sigmas[:-1].tolist())
    assert [info.sigma_next for info in seen] == pytest.approx(sigmas[1:].tolist())
    assert torch.equal(seen[-1].x, out)


@pytest.mark.parametrize("name,calls_per_step", [("Euler", 1), ("Heun", 2), ("DPM++ 2M", 1)])
def test_interrupt_stops_after_the_current_step(name: str, calls_per_step: int) -> None:
    sigmas = sampling.build_sigmas(name, 10)
    steps_done: list[int] = []
    calls = [0]

    def counting_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return gaussian_denoiser(x, sigma)

    def remember(info: sampling.StepInfo) -> None:
        steps_done.append(info.i)
        remember.last_denoised = info.denoised  # type: ignore[attr-defined]

    out = sampling.sample(name, counting_denoiser, start_latent(float(sigmas[0]), dims=8), sigmas,
                          callback=remember, should_stop=lambda: len(steps_done) >= 3)
    assert steps_done == [0, 1, 2]
    assert calls[0] == 3 * calls_per_step
    assert torch.equal(out, remember.last_denoised)  # type: ignore[attr-defined]  # latest x0 estimate


def test_dpm_adaptive_ignores_the_step_count() -> None:
    assert torch.equal(run("DPM adaptive", 3, steps=5), run("DPM adaptive", 3, steps=50))


def test_dpm_fast_spends_exactly_steps_denoiser_calls() -> None:
    for steps in (5, 9, 10):
        calls = [0]

        def counting(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            calls[0] += 1
            return gaussian_denoiser(x, sigma)

        sigmas = sampling.build_sigmas("DPM fast", steps)
        sampling.sample("DPM fast", counting, start_latent(float(sigmas[0]), dims=8), sigmas, seed=1)
        assert calls[0] == steps


def test_ddim_is_euler_in_sigma_space_and_euler_ancestral_with_eta() -> None:
    sigmas = sampling.build_sigmas("Euler", 7)
    x = start_latent(float(sigmas[0]), dims=16)
    torch.testing.assert_close(sampling.sample("DDIM", gaussian_denoiser, x, sigmas),
                               sampling.sample("Euler", gaussian_denoiser, x, sigmas))
    torch.testing.assert_close(sampling.sample("DDIM", gaussian_denoiser, x, sigmas, seed=3, eta=1.0),
                               sampling.sample("Euler a", gaussian_denoiser, x, sigmas, seed=3))


def test_ddim_cfgpp_renoises_with_the_unconditional_prediction() -> None:
    x = torch.ones(1, 4) * 2.0
    guided, uncond = torch.full((1, 4), 0.5), torch.full((1, 4), 1.0)
    sigmas = torch.tensor([2.0, 1.0])
    out = sampling.sample("DDIM CFG++", lambda x, s, return_uncond=False: (guided, uncond), x, sigmas)
    torch.testing.assert_close(out, guided + 1.0 * (x - uncond) / 2.0)
    with pytest.raises(ValueError, match="return_uncond=True"):
        sampling.sample("DDIM CFG++", lambda x, s, **kw: guided, x, sigmas)


def test_brownian_noise_is_a_function_of_the_interval() -> None:
    x = torch.zeros(2, 3000)
    tree = sampling.BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=5)
    a, b, c = 9.0, 2.5, 0.4
    forward = [tree(a, b), tree(b, c)]
    fresh = sampling.BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=5)
    backward = [fresh(b, c), fresh(a, b)]
    assert torch.equal(forward[0], backward[1]) and torch.equal(forward[1], backward[0])
    # Brownian increments add up: W(a) - W(c) = (W(a) - W(b)) + (W(b) - W(c))
    whole = tree(a, c) * math.sqrt(a - c)
    torch.testing.assert_close(whole, forward[0] * math.sqrt(a - b) + forward[1] * math.sqrt(b - c))
    # and are independent standard normals
    assert abs(forward[0].mean().item()) < 0.05 and abs(forward[0].std().item() - 1) < 0.05
    assert abs((forward[0] * forward[1]).mean().item()) < 0.05
    assert not torch.equal(tree(a, b), sampling.BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=6)(a, b))


def test_noise_samplers_check_their_seeds_and_range() -> None:
    x = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="2 items"):
        sampling.GeneratorNoiseSampler(x, seed=[1, 2, 3])
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        sampling.BrownianTreeNoiseSampler(x, 1.0, 1.0, seed=1)
    generator = sampling.GeneratorNoiseSampler(x.half(), seed=[1, 2])
    assert generator(1.0, 0.5).dtype == torch.float16


def test_bad_inputs_are_rejected_and_an_empty_schedule_is_a_no_op() -> None:
    x = torch.randn(1, 4)
    with pytest.raises(ValueError, match="non-increasing"):
        sampling.sample("Euler", gaussian_denoiser, x, torch.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="non-negative"):
        sampling.sample("Euler", gaussian_denoiser, x, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="floating-point"):
        sampling.sample("Euler", gaussian_denoiser, torch.ones(1, 4, dtype=torch.long), torch.tensor([1.0, 0.0]))

    def must_not_run(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        raise AssertionError("denoiser called for an empty schedule")

    assert torch.equal(sampling.sample("Euler", must_not_run, x, torch.zeros(1)), x)


def test_img2img_tail_keeps_the_data_distribution() -> None:
    sigmas = sampling.sigmas_for_denoise("DPM++ 2M", 30, 0.5)
    generator = torch.Generator().manual_seed(4)
    init = MU + S * torch.randn(8, 4096, generator=generator, dtype=torch.float64)
    x = init + torch.randn(init.shape, generator=generator, dtype=torch.float64) * sigmas[0]
    out = sampling.sample("DPM++ 2M", gaussian_denoiser, x, sigmas)
    assert abs(out.mean().item() - MU) < 0.02 and abs(out.std().item() / S - 1) < 0.02
    assert 0.3 < torch.corrcoef(torch.stack([out.flatten(), init.flatten()]))[0, 1].item() < 0.99


@pytest.mark.parametrize("name", sampling.sampler_names())
def test_every_sampler_handles_a_one_step_img2img_tail(name: str) -> None:
    sigmas = sampling.sigmas_for_denoise(name, 20, 0.02)
    assert len(sigmas) == 2
    spec = sampling.get_sampler(name)
    init = torch.full((1, 16), 0.5, dtype=torch.float64)
    denoiser = consistency_denoiser if spec.consistency_model else gaussian_denoiser
    out = sampling.sample(spec, denoiser, init + 0.01 * sigmas[0], sigmas, seed=1)
    assert torch.isfinite(out).all() and (out - init).abs().max() < 0.1
