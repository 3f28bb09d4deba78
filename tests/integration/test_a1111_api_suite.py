"""AUTOMATIC1111's own API tests (its test/test_txt2img.py, test_img2img.py, test_extras.py,
test_utils.py), sent unchanged to Easel on the demo model. A1111 checks only the status code;
here each answer is also read: the image's size and what the demo model drew."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from modules.paths import DEMO_MODEL_DIR
from tests.helpers import api_client
from tools.shapes_dataset import classify

PROMPT = "a red circle on a white background"  # A1111 sends "example prompt"; the demo model reads this


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def basic_image() -> Image.Image:
    """Stands in for A1111's img2img_basic.png: a blue square on white, 64x64."""
    image = Image.new("RGB", (64, 64), "white")
    image.paste((0, 0, 255), (16, 16, 48, 48))
    return image


def basic_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # the left half
    return mask


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("a1111-suite")
    with api_client(data_dir, {"shapes-demo.safetensors": DEMO_MODEL_DIR / "shapes-demo.safetensors"}) as (c, _):
        yield c


@pytest.fixture
def txt2img_request():
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
            "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1, "negative_prompt": "",
            "prompt": PROMPT, "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


@pytest.fixture
def img2img_request():
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0.75, "eta": 0, "height": 64,
            "include_init_images": False, "init_images": [png_b64(basic_image())], "inpaint_full_res": False,
            "inpaint_full_res_padding": 0, "inpainting_fill": 0, "inpainting_mask_invert": False, "mask": None,
            "mask_blur": 4, "n_iter": 1, "negative_prompt": "", "override_settings": {}, "prompt": PROMPT,
            "resize_mode": 0, "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


def images_of(client, route: str, body: dict) -> list[np.ndarray]:
    response = client.post(f"/sdapi/v1/{route}", json=body)
    assert response.status_code == 200, response.text
    return [decode(image) for image in response.json()["images"]]


@pytest.mark.parametrize("change", [
    {}, {"negative_prompt": "example negative prompt"},
    {"prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"},
    {"tiling": True}, {"sampler_index": "PLMS"}, {"sampler_index": "DDIM"}, {"sampler_index": "UniPC"},
])
def test_txt2img_variants(client, txt2img_request, change):
    [image] = images_of(client, "txt2img", {**txt2img_request, **change})
    assert image.shape == (64, 64, 3) and image.std() > 0


def test_txt2img_draws_what_the_prompt_says(client, txt2img_request):
    [image] = images_of(client, "txt2img", {**txt2img_request, "steps": 12, "seed": 3})
    reading = classify(image)
    assert (reading.fg, reading.shape) == ("red", "circle")


def test_txt2img_not_square_batches_and_hires_fix(client, txt2img_request):
    [tall] = images_of(client, "txt2img", {**txt2img_request, "height": 128})
    assert tall.shape == (128, 64, 3)
    assert len(images_of(client, "txt2img", {**txt2img_request, "n_iter": 2})) == 2
    assert len(images_of(client, "txt2img", {**txt2img_request, "batch_size": 2})) == 2
    [hires] = images_of(client, "txt2img", {**txt2img_request, "enable_hr": True})
    assert hires.shape == (128, 128, 3)  # A1111's defaults: hr_scale 2, Latent


def test_img2img_and_inpainting(client, img2img_request):
    [plain] = images_of(client, "img2img", img2img_request)
    assert plain.shape == (64, 64, 3)
    mask = png_b64(basic_mask())
    [masked] = images_of(client, "img2img", {**img2img_request, "mask": mask, "mask_blur": 0})
    [inverted] = images_of(client, "img2img", {**img2img_request, "mask": mask, "mask_blur": 0,
                                                "inpainting_mask_invert": True})
    original = np.asarray(basic_image()).astype(int)
    # the side the mask leaves alone keeps its pixels (give or take the VAE round trip)
    assert np.abs(masked[:, 40:].astype(int) - original[:, 40:]).mean() < 12
    assert np.abs(inverted[:, :24].astype(int) - original[:, :24]).mean() < 12


def test_img2img_sd_upscale(client, img2img_request):
    body = {**img2img_request, "script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2.0]}
    [image] = images_of(client, "img2img", body)
    assert image.shape == (128, 128, 3)


def test_extras_upscaling_and_png_info_payloads(client):
    image = png_b64(basic_image())
    payload = {"resize_mode": 0, "show_extras_results": True, "gfpgan_visibility": 0, "codeformer_visibility": 0,
               "codeformer_weight": 0, "upscaling_resize": 2, "upscaling_resize_w": 128, "upscaling_resize_h": 128,
               "upscaling_crop": True, "upscaler_1": "Lanczos", "upscaler_2": "None",
               "extras_upscaler_2_visibility": 0, "image": image}
    response = client.post("/sdapi/v1/extra-single-image", json=payload)
    assert response.status_code == 200, response.text
    upscaled = decode(response.json()["image"])
    assert upscaled.shape == (128, 128, 3) and tuple(upscaled[64, 64]) == (0, 0, 255)
    response = client.post("/sdapi/v1/extra-single-image", json={"image": image})  # A1111's "png info" payload
    assert response.status_code == 200, response.text
    # A1111's "interrogate" payload sends `model` to extras, which has no such field: A1111 drops it
    # silently, Easel names it (unknown fields are refused everywhere, so typos are not lost)
    response = client.post("/sdapi/v1/extra-single-image", json={"image": image, "model": "clip"})
    assert response.status_code == 422 and "model" in response.text


def test_options_write(client):
    before = client.get("/sdapi/v1/options").json()["send_seed"]
    assert client.post("/sdapi/v1/options", json={"send_seed": not before}).status_code == 200
    assert client.get("/sdapi/v1/options").json()["send_seed"] is (not before)
    client.post("/sdapi/v1/options", json={"send_seed": before})


@pytest.mark.parametrize("url", ["cmd-flags", "samplers", "upscalers", "sd-models", "hypernetworks",
                                 "face-restorers", "realesrgan-models", "prompt-styles", "embeddings"])
def test_get_api_url(client, url):
    assert client.get(f"/sdapi/v1/{url}").status_code == 200
