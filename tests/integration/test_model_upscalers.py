"""Model upscalers from files in models/ESRGAN, RealESRGAN, SwinIR...: detection, listing,
lazy loading, extras and hires fix through the API (random-weight spandrel models)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests import image_models
from tests.helpers import api_client


def b64_png(image: Image.Image, info: dict[str, str] | None = None) -> str:
    from PIL import PngImagePlugin

    chunks = PngImagePlugin.PngInfo()
    for key, value in (info or {}).items():
        chunks.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=chunks)
    return base64.b64encode(buffer.getvalue()).decode()


def decode(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def gradient(width: int = 24, height: int = 16) -> Image.Image:
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    pixels = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                             np.full((height, width, 1), 90.0)], axis=2)
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.fixture
def model_dir(data_dir):
    models = data_dir / "models"
    image_models.save_state_dict(image_models.rrdbnet(4).state_dict(), models / "ESRGAN" / "4x-Tiny.pth")
    image_models.save_state_dict(image_models.rrdbnet(2, seed=1).state_dict(),
                                 models / "RealESRGAN" / "RealESRGAN_x2plus.safetensors")
    image_models.save_state_dict(image_models.swinir(2).state_dict(), models / "SwinIR" / "SwinIR-2x-tiny.pth")
    # not upscalers: a face restorer, a dict of foreign tensors, a pickle that would run code
    image_models.save_state_dict(image_models.restoreformer().state_dict(), models / "ESRGAN" / "faces.safetensors")
    image_models.save_state_dict({"foo": torch.zeros(3)}, models / "ESRGAN" / "notes.pth")
    image_models.evil_pth(models / "ESRGAN" / "evil.pth", data_dir / "pwned")
    return data_dir


@pytest.fixture
def api(model_dir, tiny_checkpoints):
    with api_client(model_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        yield client, state
        state.postprocessing.close()


def test_model_files_are_detected_and_listed_under_a1111_names(api, data_dir):
    client, state = api
    listed = {u["name"]: u for u in client.get("/sdapi/v1/upscalers").json()}
    assert list(listed) == ["None", "Lanczos", "Nearest", "4x-Tiny", "R-ESRGAN 2x+", "SwinIR-2x-tiny"]
    assert listed["4x-Tiny"] == {"name": "4x-Tiny", "model_name": "ESRGAN", "scale": 4, "model_url": None,
                                 "model_path": str(data_dir / "models" / "ESRGAN" / "4x-Tiny.pth")}
    assert listed["SwinIR-2x-tiny"]["model_name"] == "SwinIR"
    assert client.get("/sdapi/v1/realesrgan-models").json() == [
        {"name": "R-ESRGAN 2x+", "path": str(data_dir / "models" / "RealESRGAN" / "RealESRGAN_x2plus.safetensors"),
         "scale": 2}]
    assert not (data_dir / "pwned").exists()  # the pickle's code never ran
    assert state.postprocessing.upscalers._loaded is None  # listing loads no model


def test_a_file_added_later_shows_up_on_the_next_list(api, data_dir):
    client, _ = api
    image_models.save_state_dict(image_models.compact(2).state_dict(), data_dir / "models" / "DAT" / "2x-Late.pth")
    names = [u["name"] for u in client.get("/sdapi/v1/upscalers").json()]
    assert "2x-Late" in names
    response = client.post("/sdapi/v1/extra-single-image", json={"image": b64_png(gradient()), "upscaler_1": "2x-Late"})
    assert response.status_code == 200, response.text
    # hires fix finds a new file by name too, with no list call in between
    image_models.save_state_dict(image_models.compact(2, seed=2).state_dict(), data_dir / "models" / "HAT" / "2x-New.pth")
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                                      "enable_hr": True, "hr_upscaler": "2x-New",
                                                      "hr_second_pass_steps": 1})
    assert response.status_code == 200, response.text


def test_extras_upscale_with_a_model_matches_the_model_and_writes_infotext(api):
    client, state = api
    source = gradient(24, 16)
    response = client.post("/sdapi/v1/extra-single-image", json={
        "image": b64_png(source, {"parameters": "a red circle\nSteps: 4, Seed: 1"}),
        "upscaler_1": "4x-Tiny", "upscaling_resize": 4})
    assert response.status_code == 200, response.text
    out = decode(response.json()["image"])
    assert out.size == (96, 64)
    tensor = torch.from_numpy(np.asarray(source, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = image_models.rrdbnet(4)(tensor).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(np.asarray(out.convert("RGB"), dtype=np.float32) - expected).max() <= 1.0
    assert out.info["parameters"] == "a red circle\nSteps: 4, Seed: 1"  # the source's infotext is kept
    assert out.info["postprocessing"] == "Postprocess upscale by: 4, Postprocess upscaler: 4x-Tiny"
    assert "Postprocess upscaler: 4x-Tiny" in response.json()["html_info"]
    assert state.postprocessing.upscalers.entries["4x-Tiny"].scale == 4


def test_a_2x_request_of_a_4x_model_is_resized_and_a_second_upscaler_blends(api):
    client, state = api
    response = client.post("/sdapi/v1/extra-batch-images", json={
        "imageList": [{"data": b64_png(gradient(20, 12)), "name": "a"}], "upscaler_1": "4x-Tiny",
        "upscaler_2": "R-ESRGAN 2x+", "extras_upscaler_2_visibility": 0.5, "upscaling_resize": 2})
    assert response.status_code == 200, response.text
    [image] = response.json()["images"]
    assert decode(image).size == (40, 24)
    assert decode(image).info["postprocessing"] == ("Postprocess upscale by: 2, Postprocess upscaler: 4x-Tiny, "
                                                    "Postprocess upscaler 2: R-ESRGAN 2x+")
    # one model is kept loaded at a time: the second one replaced the first
    assert state.postprocessing.upscalers._loaded[0].name == "RealESRGAN_x2plus.safetensors"


def test_scale_to_size_crops_to_fit_or_keeps_the_aspect(api):
    client, _ = api
    body = {"image": b64_png(gradient(24, 16)), "upscaler_1": "R-ESRGAN 2x+", "resize_mode": 1,
            "upscaling_resize_w": 40, "upscaling_resize_h": 40}
    cropped = client.post("/sdapi/v1/extra-single-image", json=body).json()
    image = decode(cropped["image"])
    assert image.size == (40, 40)
    assert image.info["postprocessing"] == ("Postprocess upscale to: 40x40, Postprocess crop to: 40x40, "
                                            "Postprocess upscaler: R-ESRGAN 2x+")
    kept = decode(client.post("/sdapi/v1/extra-single-image", json={**body, "upscaling_crop": False}).json()["image"])
    assert kept.size == (60, 40)  # A1111: scaled by the larger ratio, no crop


def test_no_upscaler_leaves_the_size_alone(api):
    client, _ = api
    out = client.post("/sdapi/v1/extra-single-image", json={"image": b64_png(gradient()), "upscaler_1": "None"})
    assert decode(out.json()["image"]).size == (24, 16)


def test_unknown_upscaler_is_a_422_naming_the_field_and_the_choices(api):
    client, _ = api
    response = client.post("/sdapi/v1/extra-single-image", json={"image": b64_png(gradient()), "upscaler_2": "4x-Nope"})
    assert response.status_code == 422
    assert "upscaler_2" in response.text and "4x-Tiny" in response.text


def test_hires_fix_upscales_with_a_model_upscaler(api):
    client, state = api
    body = {"prompt": "x", "steps": 1, "width": 64, "height": 64, "enable_hr": True, "hr_upscaler": "4x-Tiny",
            "hr_scale": 2, "denoising_strength": 0.5, "hr_second_pass_steps": 1}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    assert decode(response.json()["images"][0]).size == (128, 128)
    assert "Hires upscaler: 4x-Tiny" in json.loads(response.json()["info"])["infotexts"][0]
    assert state.postprocessing.upscalers._loaded[0].name == "4x-Tiny.pth"
