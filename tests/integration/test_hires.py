"""Hires fix and the SDXL refiner switch on tiny random-weight models."""

import numpy as np
import pytest
import torch
from PIL import Image

from modules import images, sampling
from modules.options import Options, OptionsRegistry
from modules.processing import NullProgress, ParamsError, Txt2ImgParams, generate, upscalers
from modules.processing.hires import HiresTarget, hires_target
from modules.processing.refiner import switch_index

SETTINGS = Options(OptionsRegistry.builtin(), None).as_dict()


@pytest.fixture(scope="module")
def models(tiny_models):
    return tiny_models


def hires(model, tmp_path, progress=None, settings=None, refiner=None, **kw):
    params = Txt2ImgParams(**{"prompt": "a red circle", "negative_prompt": "blue", "seed": 42, "steps": 3,
                              "width": 64, "height": 64, "sampler_name": "Euler a", "enable_hr": True,
                              "denoising_strength": 0.5, "do_not_save_samples": True, **kw})
    return generate(params, model, settings or SETTINGS, tmp_path, progress, refiner=refiner)


def pixels(image):
    return np.asarray(image).astype(np.int16)


class CountingForward:
    """Wraps a UNet's forward to count calls (one per sampler step: CFG batches cond and uncond)."""

    def __init__(self, unet, monkeypatch):
        self.calls = 0
        original = unet.forward

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(unet, "forward", counted)


@pytest.mark.parametrize("size, scale, resize, expected", [
    ((64, 64), 2.0, (0, 0), HiresTarget(128, 128)),
    ((96, 64), 1.5, (0, 0), HiresTarget(144, 96)),
    ((96, 64), 2.0, (192, 0), HiresTarget(192, 128)),  # one side 0 keeps the aspect
    ((96, 64), 2.0, (0, 128), HiresTarget(192, 128)),
    ((96, 64), 2.0, (128, 128), HiresTarget(192, 128, truncate_x=8)),  # cover, then crop 64 px of width
    ((64, 96), 2.0, (128, 96), HiresTarget(128, 192, truncate_y=12)),
])
def test_hires_target_follows_a1111(size, scale, resize, expected):
    assert hires_target(*size, scale, *resize) == expected


@pytest.mark.parametrize("changes, size", [
    ({"hr_scale": 2.0}, (128, 128)),
    ({"width": 96, "hr_scale": 1.5}, (144, 96)),
    ({"width": 96, "hr_resize_x": 192}, (192, 128)),
    ({"width": 96, "hr_resize_y": 128}, (192, 128)),
    ({"width": 96, "hr_resize_x": 128, "hr_resize_y": 128}, (128, 128)),
])
def test_output_has_the_hires_size(models, tmp_path, changes, size):
    result = hires(models("sd1"), tmp_path, steps=2, **changes)
    assert result.images[0].size == size


@pytest.mark.parametrize("second_pass_steps, expected", [(6, [1, 2, 3, 4, 5, 6, 7]), (0, [1, 2, 3, 4, 5])])
def test_progress_counts_both_passes(models, tmp_path, second_pass_steps, expected):
    class WithinTotal(NullProgress):
        def step(self, step):
            assert step <= self.total[1], "a step beyond the announced total"
            super().step(step)

    progress = WithinTotal()
    # first pass 3 steps; second pass: A1111's img2img share int(0.5 * n) + 1 of n = 6 (or steps = 3)
    hires(models("sd1"), tmp_path, progress, hr_second_pass_steps=second_pass_steps)
    assert progress.total == (1, len(expected))
    assert progress.steps == expected


@pytest.mark.parametrize("upscaler", upscalers.upscaler_names())
def test_every_upscaler_runs(models, tmp_path, upscaler):
    image = hires(models("sd1"), tmp_path, steps=2, hr_upscaler=upscaler).images[0]
    assert image.size == (128, 128) and pixels(image).std() > 0


def test_upscalers_are_really_different(models, tmp_path):
    model = models("sd1")
    out = {name: pixels(hires(model, tmp_path, steps=2, hr_upscaler=name, denoising_strength=0.3).images[0])
           for name in ("Latent", "Latent (nearest)", "Lanczos", "Nearest")}
    assert not np.array_equal(out["Latent"], out["Latent (nearest)"])
    assert not np.array_equal(out["Lanczos"], out["Nearest"])
    assert not np.array_equal(out["Latent"], out["Lanczos"])


def test_latent_modes_interpolate_as_named():
    latent = torch.arange(4.0).reshape(1, 1, 2, 2)
    nearest = upscalers.upscale_latent(latent, "Latent (nearest)", 4, 4)
    assert torch.equal(nearest[0, 0], torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]))
    bilinear = upscalers.upscale_latent(latent, "Latent", 4, 4)
    assert bilinear[0, 0, 0, 1] == pytest.approx(0.25)  # between 0 and 1, nearer 0


def test_registered_pixel_upscaler_is_used_by_hires_fix(models, tmp_path):
    calls = []

    def doubling(image, width, height):
        calls.append((image.size, width, height))
        return image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)

    upscalers.register_upscaler("Test 2x", doubling)
    try:
        result = hires(models("sd1"), tmp_path, steps=2, hr_upscaler="Test 2x", hr_scale=1.5)
    finally:
        upscalers.unregister_upscaler("Test 2x")
    assert calls == [((64, 64), 96, 96)]
    assert result.images[0].size == (96, 96)  # the model's 128 px were resized to the target
    with pytest.raises(ValueError, match="latent upscale mode"):
        upscalers.register_upscaler("Latent", doubling)


def test_same_seed_same_pixels_with_hires(models, tmp_path):
    model = models("sd1")
    first = hires(model, tmp_path, seed=11, hr_upscaler="Lanczos", hr_sampler_name="DPM++ 2M")
    again = hires(model, tmp_path, seed=11, hr_upscaler="Lanczos", hr_sampler_name="DPM++ 2M")
    other = hires(model, tmp_path, seed=12, hr_upscaler="Lanczos", hr_sampler_name="DPM++ 2M")
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    assert np.abs(pixels(first.images[0]) - pixels(other.images[0])).mean() > 1


def test_infotext_has_the_hires_fields_and_parses_back(models, tmp_path):
    result = hires(models("sd1"), tmp_path, hr_scale=1.5, hr_second_pass_steps=4, hr_upscaler="Latent (bicubic)",
                   hr_sampler_name="Euler", hr_scheduler="Karras", hr_prompt="a green square",
                   denoising_strength=0.55, do_not_save_samples=False)
    text, _ = images.read_infotext(Image.open(result.paths[0]))
    assert text == result.infotexts[0]
    fields = images.parse_infotext(text)
    assert (fields["Size-1"], fields["Size-2"]) == ("64", "64")  # A1111: the first pass's size
    assert fields["Denoising strength"] == "0.55"
    assert fields["Hires upscale"] == "1.5" and fields["Hires steps"] == "4"
    assert fields["Hires upscaler"] == "Latent (bicubic)"
    assert fields["Hires sampler"] == "Euler" and fields["Hires schedule type"] == "Karras"
    assert fields["Hires prompt"] == "a green square"
    assert fields["Hires negative prompt"] == ""  # unchanged: not written, parse gives A1111's default


def test_infotext_of_an_explicit_resize(models, tmp_path):
    result = hires(models("sd1"), tmp_path, steps=2, hr_resize_x=96)
    fields = images.parse_infotext(result.infotexts[0])
    assert (fields["Hires resize-1"], fields["Hires resize-2"]) == ("96", "0")
    assert "Hires upscale" not in fields and "Hires sampler" not in result.infotexts[0]
    assert result.images[0].size == (96, 96)


def test_hires_prompt_changes_the_image(models, tmp_path):
    model = models("sd1")
    same = pixels(hires(model, tmp_path).images[0])
    other = pixels(hires(model, tmp_path, hr_prompt="a blue square").images[0])
    assert np.abs(same - other).mean() > 0


@pytest.mark.parametrize("changes, field", [
    ({"hr_upscaler": "ESRGAN_9x"}, "hr_upscaler"),
    ({"hr_sampler_name": "Nope"}, "hr_sampler_name"),
    ({"hr_scheduler": "Wobbly"}, "hr_scheduler"),
    ({"hr_resize_x": 16}, "hr_resize_x"),
])
def test_bad_hires_parameters_name_the_field(models, tmp_path, changes, field):
    with pytest.raises(ParamsError) as error:
        hires(models("sd1"), tmp_path, **changes)
    assert error.value.field == field
    if field == "hr_upscaler":
        assert "Latent (nearest-exact)" in str(error.value) and "Lanczos" in str(error.value)


@pytest.mark.parametrize("stop_at, size, steps", [(2, (64, 64), [1, 2]), (5, (128, 128), [1, 2, 3, 4, 5])])
def test_interrupt_works_in_both_passes(models, tmp_path, stop_at, size, steps):
    class StopAt(NullProgress):
        def step(self, step):
            super().step(step)
            self.interrupted = step >= stop_at

    progress = StopAt()
    result = hires(models("sd1"), tmp_path, progress, steps=4, n_iter=2, hr_second_pass_steps=4)
    assert progress.steps == steps and result.interrupted
    assert len(result.images) == 1 and result.images[0].size == size


def test_skip_in_the_second_pass_moves_on_to_the_next_batch(models, tmp_path):
    class SkipFirstBatch(NullProgress):
        def step(self, step):
            super().step(step)
            if self.jobs == 0 and step == 4:
                self.skipped = True

    progress = SkipFirstBatch()
    result = hires(models("sd1"), tmp_path, progress, steps=3, n_iter=2)
    assert progress.steps == [1, 2, 3, 4, 1, 2, 3, 4, 5]
    assert [im.size for im in result.images] == [(128, 128), (128, 128)] and not result.interrupted


def test_switch_index_by_noise_level_and_by_steps():
    model_sigmas = sampling.DiscreteSigmas.stable_diffusion()
    at = model_sigmas.sigmas.float()
    sigmas = torch.tensor([at[999], at[500], at[200], at[150], 0.0])
    # done = (999 - t) / 1000: 0, 0.499, 0.799, 0.849 -> the refiner starts at t = 150
    assert switch_index(sigmas, model_sigmas, 0.8) == 3
    assert switch_index(sigmas, model_sigmas, 1.0) == 4  # never
    assert switch_index(sigmas, model_sigmas, None) == 0  # A1111: no switch point means at once
    ten = torch.linspace(10, 0, 11)
    assert switch_index(ten, model_sigmas, 0.7, by_steps=True) == 7  # 7 / 10 >= 0.7 despite 0.7 * 10 > 7


def test_refiner_takes_over_at_the_switch(models, tmp_path, monkeypatch):
    base, refiner = models("sdxl"), models("sdxl-refiner")
    base_calls, refiner_calls = CountingForward(base.unet, monkeypatch), CountingForward(refiner.unet, monkeypatch)
    progress = NullProgress()
    settings = {**SETTINGS, "refiner_switch_by_sample_steps": True}
    result = hires(base, tmp_path, progress, settings, refiner, enable_hr=False, steps=5, sampler_name="Euler",
                   refiner_checkpoint=refiner.info.title, refiner_switch_at=0.6)
    assert (base_calls.calls, refiner_calls.calls) == (3, 2)
    assert progress.steps == [1, 2, 3, 4, 5]
    fields = images.parse_infotext(result.infotexts[0])
    assert fields["Refiner"] == f"sdxl-refiner [{refiner.info.shorthash}]"
    assert fields["Refiner switch at"] == "0.6"


def test_refiner_switch_at_one_equals_no_refiner(models, tmp_path, monkeypatch):
    base, refiner = models("sdxl"), models("sdxl-refiner")
    plain = hires(base, tmp_path, enable_hr=False, steps=4)
    refiner_calls = CountingForward(refiner.unet, monkeypatch)
    never = hires(base, tmp_path, refiner=refiner, enable_hr=False, steps=4, refiner_checkpoint=refiner.info.title,
                  refiner_switch_at=1.0)
    early = hires(base, tmp_path, refiner=refiner, enable_hr=False, steps=4, refiner_checkpoint=refiner.info.title,
                  refiner_switch_at=0.3)
    assert np.array_equal(pixels(plain.images[0]), pixels(never.images[0]))
    assert "Refiner" not in never.infotexts[0]
    assert refiner_calls.calls > 0 and np.abs(pixels(plain.images[0]) - pixels(early.images[0])).mean() > 0


def test_refiner_with_hires_refines_the_second_pass_by_default(models, tmp_path, monkeypatch):
    base, refiner = models("sdxl"), models("sdxl-refiner")
    refiner_calls = CountingForward(refiner.unet, monkeypatch)
    settings = {**SETTINGS, "refiner_switch_by_sample_steps": True}
    # first pass 4 steps, untouched; second pass int(0.5 * 4) + 1 = 3 steps, the last one refined
    result = hires(base, tmp_path, None, settings, refiner, steps=4, sampler_name="Euler",
                   refiner_checkpoint=refiner.info.title, refiner_switch_at=0.5)
    assert refiner_calls.calls == 1
    assert result.images[0].size == (128, 128)
    assert "Hires refiner" not in result.infotexts[0] and "Refiner: sdxl-refiner" in result.infotexts[0]


def test_requested_refiner_that_was_not_loaded_is_an_error(models, tmp_path):
    with pytest.raises(ParamsError) as error:
        hires(models("sdxl"), tmp_path, enable_hr=False, refiner_checkpoint="sd_xl_refiner_1.0", refiner_switch_at=0.8)
    assert error.value.field == "refiner_checkpoint"
