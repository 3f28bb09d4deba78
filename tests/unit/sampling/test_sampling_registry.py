"""Sampler / schedule-type registries: A1111 names, aliases, old names, extension entries."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch

from modules import sampling
from modules.sampling.common import denoise
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter

A1111_SAMPLERS = ["DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
                  "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart",
                  "DDIM", "DDIM CFG++", "PLMS", "UniPC", "LCM"]
A1111_SCHEDULES = [("automatic", "Automatic"), ("uniform", "Uniform"), ("karras", "Karras"),
                   ("exponential", "Exponential"), ("polyexponential", "Polyexponential"),
                   ("sgm_uniform", "SGM Uniform"), ("kl_optimal", "KL Optimal"),
                   ("align_your_steps", "Align Your Steps"), ("simple", "Simple"), ("normal", "Normal"),
                   ("ddim", "DDIM"), ("beta", "Beta")]


def test_all_a1111_samplers_and_schedule_types_are_registered_in_ui_order() -> None:
    assert sampling.sampler_names() == A1111_SAMPLERS
    assert sampling.schedule_labels() == [label for _, label in A1111_SCHEDULES]
    assert sampling.schedule_names() == [name for name, _ in A1111_SCHEDULES]


@pytest.mark.parametrize("alias,name", [
    ("k_euler_a", "Euler a"), ("k_euler_ancestral", "Euler a"), ("euler_ancestral", "Euler a"),
    ("k_dpmpp_2m", "DPM++ 2M"), ("dpmpp_2m", "DPM++ 2M"), ("k_dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun"),
    ("k_dpm_ad", "DPM adaptive"), ("k_lcm", "LCM"), ("ddim_cfgpp", "DDIM CFG++"), ("unipc", "UniPC"),
    ("EULER A", "Euler a"), ("  dpm++ 2m  ", "DPM++ 2M"),
])
def test_sampler_aliases_are_case_insensitive(alias: str, name: str) -> None:
    assert sampling.get_sampler(alias).name == name


@pytest.mark.parametrize("key,label", [("karras", "Karras"), ("SGMUniform", "SGM Uniform"),
                                       ("sgm_uniform", "SGM Uniform"), ("align your steps", "Align Your Steps"),
                                       ("", "Automatic"), (None, "Automatic")])
def test_schedule_lookup_by_label_name_or_alias(key: str | None, label: str) -> None:
    assert sampling.get_schedule(key).label == label


@pytest.mark.parametrize("old,sampler,schedule", [
    ("DPM++ 2M Karras", "DPM++ 2M", "Karras"), ("DPM++ SDE Karras", "DPM++ SDE", "Karras"),
    ("DPM++ 2M SDE Heun Exponential", "DPM++ 2M SDE Heun", "Exponential"), ("LMS Karras", "LMS", "Karras"),
    ("DPM2 a Karras", "DPM2 a", "Karras"), ("Euler a SGMUniform", "Euler a", "SGM Uniform"),
    ("k_dpmpp_2m_ka", "DPM++ 2M", "Karras"), ("k_dpmpp_3m_sde_exp", "DPM++ 3M SDE", "Exponential"),
    ("Euler", "Euler", "Automatic"),
])
def test_old_combined_names_imply_the_schedule(old: str, sampler: str, schedule: str) -> None:
    spec, schedule_spec = sampling.resolve_sampler_and_schedule(old, "Automatic")
    assert (spec.name, schedule_spec.label) == (sampler, schedule)


def test_explicit_schedule_is_kept_for_plain_names() -> None:
    spec, schedule = sampling.resolve_sampler_and_schedule("DPM++ 2M", "Exponential")
    assert (spec.name, schedule.label) == ("DPM++ 2M", "Exponential")


def test_unknown_names_give_a_clear_error_listing_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown sampler 'Eulr'.*Valid samplers: DPM\+\+ 2M, .*Euler a"):
        sampling.get_sampler("Eulr")
    with pytest.raises(ValueError, match=r"Unknown sampler 'Foo Karras'"):
        sampling.resolve_sampler_and_schedule("Foo Karras")
    with pytest.raises(ValueError, match=r"Unknown schedule type 'Karas'.*Karras, Exponential"):
        sampling.get_schedule("Karas")


def test_a1111_sampler_flags() -> None:
    get = sampling.get_sampler
    assert get("DPM++ SDE").brownian_noise and get("DPM++ SDE").second_order
    assert get("DPM++ 2M SDE Heun").default_options["solver_type"] == "heun"
    assert get("DPM++ 3M SDE").discard_next_to_last_sigma and get("DPM2").discard_next_to_last_sigma
    assert get("Euler a").uses_ensd and get("Euler a").eta_option == "eta_ancestral"
    assert get("DDIM").eta_option == "eta_ddim" and not get("DDIM").needs_uncond
    assert get("DDIM CFG++").needs_uncond and get("DDIM CFG++").cfg_scale_multiplier == pytest.approx(0.08)
    assert get("DPM adaptive").ignores_steps and get("LCM").consistency_model
    assert get("Euler").option_names() == ["s_churn", "s_tmin", "s_tmax", "s_noise"]
    assert [get(n).default_schedule for n in ("DPM++ 2M", "DPM++ 2M SDE", "Euler", "Restart", "UniPC")] == \
        ["karras", "exponential", "uniform", "karras", "sgm_uniform"]


def halving_sampler(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, *, noise_sampler: NoiseSampler,
                    reporter: StepReporter, strength: float = 0.5) -> torch.Tensor:
    """A toy extension sampler: move x part of the way to the denoised estimate each step."""
    for i in range(len(sigmas) - 1):
        denoised = denoise(denoiser, x, float(sigmas[i]))
        x = x + strength * (denoised - x)
        reporter.step(i, x, float(sigmas[i]), float(sigmas[i + 1]), denoised)
    return x


def halving_schedule(n: int, sigma_min: float, sigma_max: float, model_sigmas: sampling.DiscreteSigmas,
                     options: sampling.ScheduleOptions) -> torch.Tensor:
    return torch.tensor([sigma_max / 2 ** k for k in range(n)] + [0.0])


@pytest.fixture
def extension_entries() -> Iterator[None]:
    sampling.register_sampler(sampling.SamplerSpec("Halving", halving_sampler, ("ext_halving",),
                                                   default_schedule="halving", default_options={"strength": 1.0}))
    sampling.register_schedule(sampling.ScheduleSpec("halving", "Halving", halving_schedule))
    yield
    sampling.unregister_sampler("Halving")
    sampling.unregister_schedule("halving")


def test_extensions_can_register_samplers_and_schedules(extension_entries: None) -> None:
    assert sampling.sampler_names()[-1] == "Halving" and "Halving" in sampling.schedule_labels()
    sigmas = sampling.build_sigmas("ext_halving", 4)
    torch.testing.assert_close(sigmas, torch.tensor([14.6146, 7.3073, 3.6537, 1.8268, 0.0]), rtol=1e-4, atol=0)
    assert sampling.resolve_sampler_and_schedule("Halving Karras")[1].label == "Karras"
    out = sampling.sample("Halving", lambda x, s: torch.full_like(x, 3.0), torch.zeros(1, 4), sigmas)
    torch.testing.assert_close(out, torch.full((1, 4), 3.0))  # strength 1.0 from default_options
    with pytest.raises(ValueError, match="already"):
        sampling.register_sampler(sampling.SamplerSpec("Halving", halving_sampler))
    with pytest.raises(ValueError, match="already name another"):
        sampling.register_sampler(sampling.SamplerSpec("Other", halving_sampler, ("k_euler",)))
    sampling.register_sampler(sampling.SamplerSpec("Halving", halving_sampler, ("ext_halving",)), replace=True)
    assert sampling.get_sampler("ext_halving").default_options == {}


def test_unregister_frees_the_name_and_aliases() -> None:
    sampling.register_sampler(sampling.SamplerSpec("Temporary", halving_sampler, ("ext_tmp",)))
    sampling.unregister_sampler("EXT_TMP")
    assert "Temporary" not in sampling.sampler_names()
    with pytest.raises(ValueError, match="Unknown sampler"):
        sampling.get_sampler("ext_tmp")
    with pytest.raises(ValueError, match="Unknown sampler"):
        sampling.unregister_sampler("Temporary")
    sampling.register_sampler(sampling.SamplerSpec("Other temporary", halving_sampler, ("ext_tmp",)))
    assert sampling.get_sampler("ext_tmp").name == "Other temporary"
    sampling.unregister_sampler("Other temporary")


def test_bad_specs_and_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="default_options.*bogus"):
        sampling.SamplerSpec("Bad", halving_sampler, default_options={"bogus": 1})
    with pytest.raises(ValueError, match="eta_option"):
        sampling.SamplerSpec("Bad", halving_sampler, eta_option="eta")
    with pytest.raises(ValueError, match="needs a function"):
        sampling.register_schedule(sampling.ScheduleSpec("nothing", "Nothing", None))
    with pytest.raises(ValueError, match=r"no option\(s\) \['etaa'\]; valid options: \['eta', 's_noise'\]"):
        sampling.sample("Euler a", lambda x, s: x, torch.zeros(1, 2), torch.tensor([1.0, 0.0]), etaa=0.5)
