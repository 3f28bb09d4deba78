"""The img2img built-in scripts on the demo model: Loopback runs its loops, SD upscale (A1111's
exact API request) doubles the size keeping what the image shows, both outpainting scripts
extend the canvas and keep the original in place."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from modules.paths import DEMO_MODEL_DIR
from tests.helpers import api_client
from tools.shapes_dataset import PALETTE, classify

COMMON = {"prompt": "a red circle on a white background", "steps": 10, "width": 64, "height": 64,
          "sampler_name": "Euler a", "cfg_scale": 7, "seed": 5, "denoising_strength": 0.5}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("builtin-img2img-scripts")
    with api_client(data_dir, {"shapes-demo.safetensors": DEMO_MODEL_DIR / "shapes-demo.safetensors"}) as (client, state):
        yield client, state


def red_circle() -> Image.Image:
    image = Image.new("RGB", (64, 64), PALETTE["white"])
    from PIL import ImageDraw

    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=PALETTE["red"])
    return image


def encode(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def run(client, **body):
    response = client.post("/sdapi/v1/img2img", json={**COMMON, "init_images": [encode(red_circle())], **body})
    assert response.status_code == 200, response.text
    data = response.json()
    images = [Image.open(io.BytesIO(base64.b64decode(i))).convert("RGB") for i in data["images"]]
    return images, json.loads(data["info"])


def test_loopback_runs_each_loop_on_the_last_result(api):
    client, _ = api
    images, info = run(client, script_name="loopback", script_args=[3, 0.2, "Linear", "None"])
    grid, loops = images[0], images[1:]
    assert len(loops) == 3 and grid.size == (3 * 64, 64)
    assert all(classify(np.asarray(image)).fg == "red" for image in loops)
    assert "Final denoising strength: 0.2" in info["infotexts"][0] and "Denoising curve: Linear" in info["infotexts"][0]
    assert info["seed"] == 5


def test_loopback_denoising_curves():
    from scripts.loopback import denoising_strength

    assert [round(denoising_strength(i, 3, 0.8, 0.2, "Linear"), 3) for i in range(3)] == [0.8, 0.5, 0.2]
    assert denoising_strength(1, 3, 0.8, 0.2, "Aggressive") < 0.5 < denoising_strength(1, 3, 0.8, 0.2, "Lazy")


def test_loopback_refuses_interrogation_it_cannot_do(api):
    client, _ = api
    response = client.post("/sdapi/v1/img2img", json={**COMMON, "init_images": [encode(red_circle())],
                                                      "script_name": "loopback", "script_args": [2, 0.5, "Linear", "CLIP"]})
    assert response.status_code == 422 and "script_args[3]" in response.json()["detail"]


def test_sd_upscale_a1111_request_doubles_and_keeps_content(api):
    client, _ = api
    images, info = run(client, script_name="sd upscale", script_args=["", 8, "Lanczos", 2.0], denoising_strength=0.2)
    [image] = images
    assert image.size == (128, 128)
    found = classify(np.asarray(image))
    assert (found.fg, found.shape) == ("red", "circle")
    assert "SD upscale overlap: 8" in info["infotexts"][0] and "SD upscale upscaler: Lanczos" in info["infotexts"][0]


def test_sd_upscale_bad_upscaler_is_refused(api):
    client, _ = api
    response = client.post("/sdapi/v1/img2img", json={**COMMON, "init_images": [encode(red_circle())],
                                                      "script_name": "sd upscale", "script_args": ["", 8, "Nope", 2.0]})
    assert response.status_code == 422 and "upscaler 'Nope' not found" in response.json()["detail"]


@pytest.mark.parametrize("script, args", [
    ("poor man's outpainting", [32, 4, "original", ["left", "right"]]),
    ("outpainting mk2", ["", 32, 4, ["left", "right"], 1.0, 0.05]),
])
def test_outpainting_extends_and_keeps_the_original(api, script, args):
    client, _ = api
    images, _ = run(client, script_name=script, script_args=args, denoising_strength=0.8)
    image = images[-1]
    assert image.size == (128, 64)  # 64 + 32 + 32
    middle = np.asarray(image)[:, 32 + 12:32 + 52].astype(int)
    original = np.asarray(red_circle())[:, 12:52].astype(int)
    assert np.abs(middle - original).mean() < 12  # the original region, give or take the VAE round trip
