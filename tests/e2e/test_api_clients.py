"""An existing AUTOMATIC1111 API client, unchanged, against a real Easel server.

`webuiapi` (PyPI, pinned in requirements.txt) drives a server started by launch.py with
the bundled shapes-demo checkpoint; what it generates is read back with the demo model's
pixel classifier, so "works" means the pictures show what the prompts ask for.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import webuiapi
from PIL import Image

from modules.paths import DEMO_MODEL_DIR
from modules.sd_models.random_weights import write_checkpoint
from tests.helpers import TINY_ARCHITECTURES
from tests.server import running_server
from tools.shapes_dataset import ShapeScene, classify, render

USER, PASSWORD = "painter", "s3cret"
DEMO = DEMO_MODEL_DIR / "shapes-demo.safetensors"
COMMON = {"width": 64, "height": 64, "cfg_scale": 7}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A webuiapi client logged in to a server whose current checkpoint is the demo model;
    a tiny random checkpoint sits beside it in the models folder."""
    data_dir = tmp_path_factory.mktemp("webuiapi")
    write_checkpoint(data_dir / "models" / "Stable-diffusion" / "tiny.safetensors", TINY_ARCHITECTURES["sd1"],
                     tiny=True)
    with running_server(data_dir, "--api", "--nowebui", "--ckpt", str(DEMO),
                        "--api-auth", f"{USER}:{PASSWORD}") as server:
        server.wait_until_answering("/docs")
        assert server.wait_for_checkpoint(auth=(USER, PASSWORD)).startswith("shapes-demo.safetensors [")
        port = int(server.base.rsplit(":", 1)[1])
        yield webuiapi.WebUIApi(port=port, username=USER, password=PASSWORD, sampler="Euler a", steps=20)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_txt2img_draws_what_the_prompt_asks(api):
    for (fg, shape, bg), seed in [(("red", "circle", "white"), 1), (("blue", "square", "yellow"), 2),
                                  (("green", "triangle", "black"), 3)]:
        prompt = f"a {fg} {shape} on a {bg} background"
        result = api.txt2img(prompt=prompt, seed=seed, **COMMON)
        assert result.image.size == (64, 64)
        reading = classify(pixels(result.image))
        assert (reading.fg, reading.shape, reading.bg) == (fg, shape, bg), (prompt, reading)
        assert result.info["seed"] == seed and result.info["prompt"] == prompt  # info: A1111's JSON, parsed
        assert f"Seed: {seed}" in result.info["infotexts"][0] and result.parameters["prompt"] == prompt


def test_a1111_sampler_tweaks_easel_lacks_are_accepted_only_when_inert(api):
    # webuiapi always sends s_churn=0, s_noise=1, firstphase_width=0...: fine (see above); others are refused
    for tweak in ({"s_churn": 0.5}, {"s_noise": 0.9}, {"firstphase_width": 32}):
        with pytest.raises(RuntimeError, match=f"422.*{next(iter(tweak))}"):
            api.txt2img(prompt="a red circle", steps=2, **COMMON, **tweak)


def foreground_centre(image: np.ndarray) -> np.ndarray:
    """Centre of the pixels far from the white background, (x, y)."""
    ys, xs = np.nonzero(np.abs(image.astype(int) - 245).sum(-1) > 120)
    return np.array([xs.mean(), ys.mean()])


def test_img2img_repaints_the_picture_and_keeps_its_layout(api):
    # a small circle in the top right corner, where txt2img never puts one (it centres them)
    source = render(ShapeScene("red", "circle", "white", (40, 4, 20)))
    result = api.img2img(images=[Image.fromarray(source)], prompt="a blue circle on a white background", seed=4,
                         denoising_strength=0.5, include_init_images=True, **COMMON)
    image = pixels(result.image)
    reading = classify(image)
    assert (reading.fg, reading.shape, reading.bg) == ("blue", "circle", "white"), reading
    assert np.abs(foreground_centre(image) - foreground_centre(source)).max() < 6
    assert len(result.parameters["init_images"]) == 1  # echoed because include_init_images asked
    assert result.info["infotexts"][0].count("Denoising strength: 0.5") == 1


def test_png_info_and_extras_read_and_upscale_its_images(api):
    image = api.txt2img(prompt="a yellow circle on a purple background", seed=5, **COMMON).image
    info = api.png_info(image)
    assert "a yellow circle on a purple background" in info.info and "Seed: 5" in info.info
    assert info.parameters["Seed"] == "5" and info.parameters["Size-1"] == "64"
    single = api.extra_single_image(image, upscaler_1="Lanczos", upscaling_resize=2)
    assert single.image.size == (128, 128)
    batch = api.extra_batch_images([image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)],
                                   upscaler_1="Nearest", upscaling_resize=2)
    assert [im.size for im in batch.images] == [(128, 128), (128, 128)]
    assert classify(pixels(single.image.resize((64, 64)))).fg == "yellow"


def test_models_samplers_and_options(api):
    names = api.util_get_model_names()
    assert any(n.startswith("shapes-demo.safetensors [") for n in names) and any(n.startswith("tiny") for n in names)
    assert "Euler a" in api.util_get_sampler_names() and "DPM++ 2M" in api.util_get_sampler_names()
    assert "karras" in api.util_get_scheduler_names()
    assert all({"name", "aliases", "options"} <= set(s) for s in api.get_samplers())
    api.set_options({"sd_checkpoints_limit": 2, "eta_noise_seed_delta": 31337})
    options = api.get_options()
    assert options["sd_checkpoints_limit"] == 2 and options["eta_noise_seed_delta"] == 31337
    try:
        api.util_set_model("tiny")
        assert api.util_get_current_model().startswith("tiny.safetensors [")
        assert "Model: tiny" in api.txt2img(prompt="anything", seed=1, steps=2, **COMMON).info["infotexts"][0]
    finally:
        api.util_set_model("shapes-demo")
        api.set_options({"eta_noise_seed_delta": 0})
    assert api.util_get_current_model().startswith("shapes-demo.safetensors [")
    refused = api.set_options({"samples_format": "gif"})
    assert "samples_format" in refused["detail"]


def test_every_listing_webuiapi_offers_answers_in_a1111_shape(api):
    listings = {name: getattr(api, name)() for name in (
        "get_upscalers", "get_latent_upscale_modes", "get_sd_vae", "get_loras", "get_hypernetworks",
        "get_prompt_styles", "get_face_restorers", "get_realesrgan_models")}
    assert all(isinstance(items, list) for items in listings.values()), listings
    assert {"None", "Lanczos"} <= {u["name"] for u in listings["get_upscalers"]}
    scripts = api.get_scripts()  # webuiapi reads it at login for extensions: the built-in scripts
    assert "x/y/z plot" in scripts["txt2img"] and "sd upscale" in scripts["img2img"]
    assert set(api.get_embeddings()) == {"loaded", "skipped"} and set(api.get_memory()) == {"ram", "cuda"}
    flags = api.get_cmd_flags()
    assert flags["api"] is True and flags["api_auth"] == "<hidden>"


def test_interrupt_stops_a_running_generation_and_keeps_what_is_done(api):
    results = []
    asked = 40
    second_client = webuiapi.WebUIApi(baseurl=api.baseurl, username=USER, password=PASSWORD, sampler="Euler a")
    worker = threading.Thread(target=lambda: results.append(
        second_client.txt2img(prompt="a white square on a black background", seed=6, n_iter=asked, **COMMON)))
    worker.start()
    deadline = time.monotonic() + 60
    while (progress := api.get_progress())["state"]["job_no"] < 1:  # wait for one finished image
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)
    assert progress["state"]["job"] == "txt2img" and progress["state"]["job_count"] == asked
    assert 0 < progress["progress"] < 1
    api.interrupt()
    worker.join(60)
    assert not worker.is_alive()
    [result] = results
    assert 1 <= len(result.images) < asked
    assert api.get_progress()["state"]["job_count"] == 0  # idle again
