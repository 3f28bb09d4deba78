"""The generation engine on tiny random-weight models: determinism, seeds, inpainting, infotext."""


import numpy as np
import pytest
from PIL import Image

from modules import images, sampling
from modules.options import Options, OptionsRegistry
from modules.processing import Img2ImgParams, NullProgress, ParamsError, Txt2ImgParams, generate

SETTINGS = Options(OptionsRegistry.builtin(), None).as_dict()


@pytest.fixture(scope="module")
def models(tiny_models):
    return tiny_models


def txt2img(model, tmp_path, **kw):
    params = Txt2ImgParams(**{"prompt": "a red circle", "negative_prompt": "blue", "seed": 42, "steps": 4,
                              "width": 64, "height": 64, "sampler_name": "Euler a", **kw})
    return generate(params, model, SETTINGS, tmp_path)


def pixels(image):
    return np.asarray(image).astype(np.int16)


@pytest.mark.parametrize("name", ["sd1", "sd2-v", "sdxl", "sdxl-refiner", "sd1-inpaint", "sd1-ip2p"])
def test_same_seed_same_pixels_and_different_seeds_differ(models, tmp_path, name):
    model = models(name)
    first = txt2img(model, tmp_path, seed=7)
    again = txt2img(model, tmp_path, seed=7)
    other = txt2img(model, tmp_path, seed=8)
    assert first.images[0].size == (64, 64)
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    assert np.abs(pixels(first.images[0]) - pixels(other.images[0])).mean() > 1


def test_batch_seeds_count_up_and_match_single_runs(models, tmp_path):
    model = models("sd1")
    batch = txt2img(model, tmp_path, seed=100, batch_size=2, n_iter=2)
    assert batch.seeds == [100, 101, 102, 103] and len(batch.images) == 4
    single = txt2img(model, tmp_path, seed=103)
    # same noise and conditioning; only batched float arithmetic may differ in the last bits
    assert np.abs(pixels(batch.images[3]) - pixels(single.images[0])).max() <= 2
    assert batch.grid is not None and batch.grid_path.is_file()


def test_random_seed_is_resolved_and_reported(models, tmp_path):
    result = txt2img(models("sd1"), tmp_path, seed=-1)
    assert result.seeds[0] >= 0
    assert images.parse_infotext(result.infotexts[0])["Seed"] == str(result.seeds[0])


def test_variation_seed_blends_toward_the_subseed(models, tmp_path):
    model = models("sd1")
    base = pixels(txt2img(model, tmp_path, seed=1).images[0])
    none = pixels(txt2img(model, tmp_path, seed=1, subseed=9, subseed_strength=0.0).images[0])
    some = pixels(txt2img(model, tmp_path, seed=1, subseed=9, subseed_strength=0.3).images[0])
    full = pixels(txt2img(model, tmp_path, seed=1, subseed=9, subseed_strength=1.0).images[0])
    target = pixels(txt2img(model, tmp_path, seed=9).images[0])
    assert np.array_equal(base, none)
    assert np.abs(some - base).mean() > 0
    assert np.abs(full - target).mean() < np.abs(base - target).mean()


def test_seed_resize_keeps_noise_centre(models, tmp_path):
    model = models("sd1")
    small = txt2img(model, tmp_path, seed=5, width=64, height=64)
    resized = txt2img(model, tmp_path, seed=5, width=128, height=64, seed_resize_from_w=64, seed_resize_from_h=64)
    assert resized.images[0].size == (128, 64)
    fields = images.parse_infotext(resized.infotexts[0])
    assert (fields["Seed resize from-1"], fields["Seed resize from-2"]) == ("64", "64")  # A1111 splits WxH
    assert small.images[0].size == (64, 64)


@pytest.mark.parametrize("full_res", [False, True])
def test_inpainting_leaves_pixels_outside_the_mask_unchanged(models, tmp_path, full_res):
    model = models("sd1")
    source = Image.new("RGB", (64, 64), (200, 30, 30))
    source.paste((20, 20, 220), (0, 0, 32, 64))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))
    params = Img2ImgParams(prompt="x", init_images=[source], mask=mask, mask_blur=2, steps=4, width=64, height=64,
                           seed=3, denoising_strength=0.9, inpaint_full_res=full_res, inpaint_full_res_padding=4,
                           sampler_name="Euler")
    result = generate(params, model, SETTINGS, tmp_path)
    out, src = pixels(result.images[0]), pixels(source)
    far = np.ones((64, 64), bool)
    far[16:48, 16:48] = False  # the mask plus its blur margin
    assert np.array_equal(out[far], src[far])
    assert np.abs(out[24:40, 24:40] - src[24:40, 24:40]).mean() > 5


@pytest.mark.parametrize("fill", [0, 1, 2, 3])
def test_every_masked_content_mode_runs_and_differs_inside(models, tmp_path, fill):
    model = models("sd1")
    source = Image.new("RGB", (64, 64), (90, 160, 60))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    params = Img2ImgParams(prompt="x", init_images=[source], mask=mask, mask_blur=0, steps=4, width=64, height=64,
                           seed=3, denoising_strength=0.75, inpainting_fill=fill, inpaint_full_res=False)
    out = pixels(generate(params, model, SETTINGS, tmp_path).images[0])
    assert np.array_equal(out[:16], pixels(source)[:16])


def test_invert_mask_repaints_the_other_side(models, tmp_path):
    model = models("sd1")
    source = Image.new("RGB", (64, 64), (90, 160, 60))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    params = Img2ImgParams(prompt="x", init_images=[source], mask=mask, mask_blur=0, steps=4, width=64, height=64,
                           seed=3, denoising_strength=0.9, inpainting_mask_invert=1, inpaint_full_res=False)
    out = pixels(generate(params, model, SETTINGS, tmp_path).images[0])
    assert np.array_equal(out[:, :32], pixels(source)[:, :32])


@pytest.mark.parametrize("mode, size", [(0, (64, 64)), (1, (64, 64)), (2, (128, 64)), (3, (64, 64))])
def test_resize_modes_give_the_requested_size(models, tmp_path, mode, size):
    source = Image.new("RGB", (96, 64), (10, 200, 10))
    params = Img2ImgParams(prompt="x", init_images=[source], resize_mode=mode, steps=3, width=size[0],
                           height=size[1], seed=1, denoising_strength=0.5)
    result = generate(params, models("sd1"), SETTINGS, tmp_path)
    assert result.images[0].size == size
    assert images.parse_infotext(result.infotexts[0])["Denoising strength"] == "0.5"


@pytest.mark.parametrize("strength, steps_run", [(0.05, 1), (0.5, 6), (1.0, 10)])
def test_img2img_runs_a1111s_share_of_the_steps(models, tmp_path, strength, steps_run):
    progress = NullProgress()
    params = Img2ImgParams(prompt="x", init_images=[Image.new("RGB", (64, 64), "red")], steps=10, width=64,
                           height=64, seed=2, denoising_strength=strength, sampler_name="Euler")
    generate(params, models("sd1"), SETTINGS, tmp_path, progress)
    assert progress.steps == list(range(1, steps_run + 1))


def test_saved_png_carries_the_infotext_and_a1111_name(models, tmp_path):
    result = txt2img(models("sd1"), tmp_path, seed=77, prompt="a (red:1.3) circle, [square:triangle:2]",
                     cfg_scale=6.5, scheduler="Karras", sampler_name="DPM++ 2M")
    path = result.paths[0]
    assert path.parent.parent == tmp_path / "outputs" / "txt2img-images"
    assert path.name.startswith("00000-77")
    text, _ = images.read_infotext(Image.open(path))
    assert text == result.infotexts[0]
    fields = images.parse_infotext(text)
    assert fields["Prompt"] == "a (red:1.3) circle, [square:triangle:2]"
    assert fields["Negative prompt"] == "blue"
    assert (fields["Steps"], fields["Sampler"], fields["Schedule type"], fields["CFG scale"]) == \
           ("4", "DPM++ 2M", "Karras", "6.5")
    assert fields["Model hash"] == models("sd1").info.shorthash and fields["Size-1"] == "64"


def test_prompt_emphasis_and_schedules_change_the_image(models, tmp_path):
    model = models("sd1")

    def run(prompt):
        return pixels(txt2img(model, tmp_path, prompt=prompt, do_not_save_samples=True).images[0])

    plain = run("a red circle")
    assert np.abs(plain - run("a (red:1.6) circle")).mean() > 0.5
    # from step 1 on "blue": the first step still saw "red" (images are bit-exact, so any change counts)
    assert np.abs(plain - run("a [red:blue:1] circle")).mean() > 0
    assert not np.array_equal(run("a [red:blue:1] circle"), run("a blue circle"))
    # a switch at 10 % of 4 steps happens at step 0: the whole run sees "blue"
    assert np.array_equal(run("a [red:blue:0.1] circle"), run("a blue circle"))


def test_interrupt_stops_after_the_current_step_and_returns_an_image(models, tmp_path):
    class StopAfterTwo(NullProgress):
        def step(self, step):
            super().step(step)
            self.interrupted = step >= 2

    progress = StopAfterTwo()
    result = generate(Txt2ImgParams(prompt="x", steps=10, width=64, height=64, n_iter=3, seed=1),
                      models("sd1"), SETTINGS, tmp_path, progress)
    assert progress.steps == [1, 2] and result.interrupted and len(result.images) == 1


def test_skip_moves_on_to_the_next_batch(models, tmp_path):
    class SkipFirstBatch(NullProgress):
        def step(self, step):
            super().step(step)
            if self.jobs == 0 and step == 1:
                self.skipped = True

    progress = SkipFirstBatch()
    result = generate(Txt2ImgParams(prompt="x", steps=5, width=64, height=64, n_iter=2, seed=1),
                      models("sd1"), SETTINGS, tmp_path, progress)
    assert progress.steps == [1, 1, 2, 3, 4, 5] and len(result.images) == 2 and not result.interrupted


@pytest.mark.parametrize("sampler", sampling.sampler_names())
def test_every_sampler_runs_with_representative_schedules(models, tmp_path, sampler):
    model = models("sd1")
    for schedule in ("Automatic", "Karras", "Exponential", "SGM Uniform", "Beta"):
        result = txt2img(model, tmp_path, sampler_name=sampler, scheduler=schedule, steps=3, seed=4,
                         do_not_save_samples=True)
        assert np.isfinite(pixels(result.images[0])).all() and pixels(result.images[0]).std() > 0


@pytest.mark.parametrize("changes, field", [
    ({"width": 65}, "width"), ({"height": 32}, "height"), ({"steps": 0}, "steps"),
    ({"sampler_name": "Nope"}, "sampler_name"), ({"scheduler": "Wobbly"}, "scheduler"),
    ({"batch_size": 99}, "batch_size"), ({"cfg_scale": "high"}, "cfg_scale"),
])
def test_bad_parameters_name_the_field(changes, field):
    with pytest.raises(ParamsError) as error:
        Txt2ImgParams(**changes).validate()
    assert error.value.field == field and str(error.value).startswith(field)


def test_img2img_without_an_image_is_a_clear_error():
    with pytest.raises(ParamsError, match="init_images: img2img needs at least one input image"):
        Img2ImgParams(prompt="x").validate()


def test_inpaint_infotext_carries_the_mask_settings(models, tmp_path):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (8, 8, 24, 24))
    params = Img2ImgParams(prompt="x", init_images=[Image.new("RGB", (64, 64))], mask=mask, mask_blur=3, steps=2,
                           width=64, height=64, seed=1, inpainting_fill=2, inpainting_mask_invert=1,
                           inpaint_full_res=True, inpaint_full_res_padding=12, do_not_save_samples=True)
    fields = images.parse_infotext(generate(params, models("sd1"), SETTINGS, tmp_path).infotexts[0])
    assert (fields["Mask blur"], fields["Mask mode"], fields["Masked content"], fields["Inpaint area"],
            fields["Masked area padding"]) == ("3", "Inpaint not masked", "latent noise", "Only masked", "12")


def test_tiling_pads_circularly_during_the_run_only(models, tmp_path):
    import torch

    model = models("sd1")
    plain = pixels(txt2img(model, tmp_path, seed=9, do_not_save_samples=True).images[0])
    tiled = txt2img(model, tmp_path, seed=9, tiling=True, do_not_save_samples=True)
    assert np.abs(pixels(tiled.images[0]) - plain).mean() > 0
    assert images.parse_infotext(tiled.infotexts[0])["Tiling"] == "True"
    convs = [m for m in model.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(conv.padding_mode == "zeros" for conv in convs)


def test_face_restoration_is_refused_until_a_restorer_exists():
    with pytest.raises(ParamsError, match="restore_faces: no face restoration model"):
        Txt2ImgParams(restore_faces=True).validate()


@pytest.mark.parametrize("kind", ["Approx cheap", "Full"])
def test_live_previews_every_n_steps(models, tmp_path, kind):
    progress = NullProgress()
    settings = {**SETTINGS, "show_progress_every_n_steps": 2, "show_progress_type": kind}
    generate(Txt2ImgParams(prompt="x", steps=4, width=64, height=64, seed=1, do_not_save_samples=True),
             models("sd1"), settings, tmp_path, progress)
    sizes = [p.size for p in progress.previews]
    # the cheap map works on latents (8 px per cell), the full decode gives the image size
    assert sizes == ([(8, 8)] * 2 if kind == "Approx cheap" else [(64, 64)] * 2)
