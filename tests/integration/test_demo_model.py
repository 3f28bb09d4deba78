"""The bundled shapes-demo checkpoint, judged by what its images show (issue: demo model).

Loaded once through the ordinary manager as the default checkpoint of an empty data dir,
exactly as a new user gets it; images are read with the same pixel classifier the
evaluation tool uses (background from the border, foreground colour, shape from the mask).
"""

import numpy as np
from PIL import Image

from modules.paths import DEMO_MODEL_DIR
from modules.processing import Img2ImgParams, Txt2ImgParams, generate
from tools.shapes_dataset import classify

COMMON = {"steps": 20, "width": 64, "height": 64, "sampler_name": "Euler a", "cfg_scale": 7,
          "do_not_save_samples": True, "do_not_save_grid": True}


def txt2img(demo, prompt, seed, **kw):
    model, settings, data_dir = demo
    params = Txt2ImgParams(prompt=prompt, seed=seed, **{**COMMON, **kw})
    return np.asarray(generate(params, model, settings, data_dir).images[0])


CASES = [("red", "circle", "blue"), ("yellow", "square", "black"), ("green", "triangle", "white")]


def test_colours_and_shapes_follow_the_prompt(demo):
    readings = [(case, classify(txt2img(demo, f"a {case[0]} {case[1]} on a {case[2]} background", seed)))
                for case in CASES for seed in range(4)]
    fg = sum(r.fg == case[0] for case, r in readings) / len(readings)
    bg = sum(r.bg == case[2] for case, r in readings) / len(readings)
    shape = sum(r.shape == case[1] for case, r in readings) / len(readings)
    assert fg >= 0.75 and bg >= 0.75 and shape >= 0.5, (fg, bg, shape)


def test_same_seed_same_image_and_seeds_change_the_composition(demo):
    prompt = "a red circle on a blue background"
    first, again = txt2img(demo, prompt, 7), txt2img(demo, prompt, 7)
    assert np.array_equal(first, again)
    masks = [classify_mask(txt2img(demo, prompt, seed)) for seed in (1, 2, 3)]
    assert any((a != b).mean() > 0.05 for a, b in zip(masks, masks[1:]))


def classify_mask(image):
    """Foreground pixels: those far from the border's mean colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(float).mean(0)
    return np.abs(image.astype(float) - border).sum(-1) > 120


def test_cfg_scale_matters(demo):
    prompt = "a yellow square on a black background"
    low, high = txt2img(demo, prompt, 5, cfg_scale=1), txt2img(demo, prompt, 5, cfg_scale=7)
    assert np.abs(low.astype(int) - high.astype(int)).mean() > 5


def test_inpainting_paints_the_region_and_keeps_the_rest(demo):
    model, settings, data_dir = demo
    source = Image.new("RGB", (64, 64), (30, 60, 220))  # plain blue
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    params = Img2ImgParams(prompt="a green square on a blue background", init_images=[source], mask=mask,
                           mask_blur=2, denoising_strength=1.0, inpaint_full_res=False, seed=3, **COMMON)
    out = np.asarray(generate(params, model, settings, data_dir).images[0]).astype(int)
    inside = out[20:44, 20:44]
    assert (inside[..., 1] > inside[..., 2]).mean() > 0.5  # green now dominates blue inside
    far = np.ones((64, 64), bool)
    far[10:54, 10:54] = False
    assert np.array_equal(out[far], np.asarray(source).astype(int)[far])


def test_img2img_keeps_the_scene_at_low_strength(demo):
    model, settings, data_dir = demo
    source = Image.fromarray(txt2img(demo, "a red circle on a white background", 11))
    params = Img2ImgParams(prompt="a red circle on a white background", init_images=[source],
                           denoising_strength=0.3, seed=4, **COMMON)
    out = np.asarray(generate(params, model, settings, data_dir).images[0])
    before, after = classify(np.asarray(source)), classify(out)
    assert (after.bg, after.fg) == (before.bg, before.fg)


def test_every_sampler_draws_the_prompt_on_the_demo_model(demo):
    from modules import sampling

    failures = []
    for name in sampling.sampler_names():
        for schedule in ("Automatic", "Karras"):
            reading = classify(txt2img(demo, "a red square on a white background", 2, sampler_name=name,
                                       scheduler=schedule))
            if reading.bg != "white":
                failures.append((name, schedule, reading.bg, reading.fg))
    assert len(failures) <= 4, failures  # LCM/DPM fast-style samplers may miss at 20 steps on a non-LCM model


def test_the_demo_lora_teaches_a_colour_the_base_never_saw(demo):
    from modules.networks import LoraLibrary
    from modules.processing.extra_networks import ExtraNetworks
    from tools.train_demo_lora import extended_palette, read_colours

    model, settings, data_dir = demo
    networks = ExtraNetworks(loras=LoraLibrary([DEMO_MODEL_DIR / "Lora"]))
    palette = extended_palette("cyan", (30, 120, 140))

    def cyan_share(prompt):
        hits = 0
        for seed in range(1000, 1008):
            params = Txt2ImgParams(prompt=prompt, seed=seed, **COMMON)
            image = np.asarray(generate(params, model, settings, data_dir, extra_networks=networks).images[0])
            hits += read_colours(image, palette).fg == "cyan"
        return hits / 8

    assert cyan_share("a cyan circle on a white background <lora:shapes-cyan:1>") >= 0.8
    assert cyan_share("a cyan circle on a white background") <= 0.2
