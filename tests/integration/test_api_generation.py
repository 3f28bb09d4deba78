"""A1111 generation routes and Easel's async jobs, through the real queue and engine."""

import base64
import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from modules import images
from tests.helpers import api_client


@pytest.fixture
def api(data_dir, tiny_checkpoints):
    checkpoints = {"one.safetensors": tiny_checkpoints["sd1"], "two.safetensors": tiny_checkpoints["sd2"]}
    with api_client(data_dir, checkpoints) as (client, state):
        yield client, state


def b64_png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode(data):
    return Image.open(io.BytesIO(base64.b64decode(data)))


BASE = {"prompt": "a red circle", "negative_prompt": "blue", "seed": 5, "steps": 3, "width": 64, "height": 64,
        "sampler_name": "Euler a"}


def test_txt2img_returns_a1111_shape_and_pngs_with_infotext(api):
    client, _ = api
    response = client.post("/sdapi/v1/txt2img", json={**BASE, "batch_size": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"images", "parameters", "info"} and len(body["images"]) == 2
    info = json.loads(body["info"])
    assert info["all_seeds"] == [5, 6] and info["prompt"] == "a red circle" and len(info["infotexts"]) == 2
    image = decode(body["images"][0])
    assert image.size == (64, 64)
    text, _ = images.read_infotext(image)
    assert text == info["infotexts"][0] and "Seed: 5" in text
    assert body["parameters"]["prompt"] == "a red circle"


def test_same_request_same_pixels(api):
    client, _ = api
    first = decode(client.post("/sdapi/v1/txt2img", json=BASE).json()["images"][0])
    second = decode(client.post("/sdapi/v1/txt2img", json=BASE).json()["images"][0])
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_sampler_index_alias_and_save_images(api, data_dir):
    client, _ = api
    body = {k: v for k, v in BASE.items() if k != "sampler_name"}
    response = client.post("/sdapi/v1/txt2img", json={**body, "sampler_index": "Euler", "save_images": True})
    assert json.loads(response.json()["info"])["sampler_name"] == "Euler"
    saved = list((data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    assert len(saved) == 1
    not_saved = client.post("/sdapi/v1/txt2img", json=BASE)
    assert not_saved.status_code == 200
    assert len(list((data_dir / "outputs" / "txt2img-images").rglob("*.png"))) == 1


@pytest.mark.parametrize("body, field", [
    ({"width": 65}, "width"), ({"no_such_field": 1}, "no_such_field"), ({"steps": "many"}, "steps"),
    ({"script_args": [1]}, "script_args"),
])
def test_bad_requests_are_422_naming_the_field(api, body, field):
    client, state = api
    response = client.post("/sdapi/v1/txt2img", json={**BASE, **body})
    assert response.status_code == 422
    assert field in response.text
    assert state.jobs.list() == []


@pytest.mark.parametrize("body, field", [
    ({"sampler_name": "Nope"}, "sampler_name"), ({"scheduler": "Nope"}, "scheduler"), ({"styles": ["nope"]}, "styles"),
    ({"override_settings": {"sd_model_checkpoint": "nope"}}, "override_settings"),
    ({"override_settings": {"sd_vae": "nope.pt"}}, "override_settings"),
    ({"refiner_checkpoint": "nope", "refiner_switch_at": 0.5}, "refiner_checkpoint"),
    ({"script_name": "nope"}, "script_name"), ({"alwayson_scripts": {"nope": {"args": []}}}, "alwayson_scripts"),
])
def test_unknown_names_are_404_naming_the_field(api, body, field):
    """A1111 answers an unknown sampler with 404; Easel does so for every name that refers to nothing."""
    client, state = api
    response = client.post("/sdapi/v1/txt2img", json={**BASE, **body})
    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith(f"{field}: ") and "nope" in response.text.lower()
    assert state.jobs.list() == []


def test_img2img_with_mask_keeps_the_outside(api):
    client, _ = api
    source = Image.new("RGB", (64, 64), (30, 200, 40))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    response = client.post("/sdapi/v1/img2img", json={
        **BASE, "init_images": [b64_png(source)], "mask": b64_png(mask), "mask_blur": 0,
        "denoising_strength": 0.9, "inpaint_full_res": False})
    assert response.status_code == 200, response.text
    out = np.asarray(decode(response.json()["images"][0]).convert("RGB")).astype(int)
    assert np.array_equal(out[:16], np.asarray(source)[:16])


def test_bad_image_data_is_a_clear_error(api):
    client, _ = api
    response = client.post("/sdapi/v1/img2img", json={**BASE, "init_images": ["not-an-image"]})
    assert response.status_code == 422 and "init_images: not a valid base64-encoded image" in response.text


def test_per_request_checkpoint_override_is_restored(api):
    client, state = api
    response = client.post("/sdapi/v1/txt2img", json={**BASE, "override_settings": {"sd_model_checkpoint": "two"}})
    assert json.loads(response.json()["info"])["sd_model_name"] == "two"
    assert state.models.current().info.name == "one.safetensors"


def test_async_jobs_round_trip(api):
    client, state = api
    job_id = client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": BASE}).json()["id"]
    job = state.jobs.wait(job_id, timeout=120)
    view = client.get(f"/easel/v1/jobs/{job_id}").json()
    assert view["status"] == "done" and view["result_urls"] == [f"/easel/v1/jobs/{job_id}/images/0"]
    png = client.get(view["result_urls"][0])
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (64, 64)
    assert [j["id"] for j in client.get("/easel/v1/jobs").json()] == [job_id]
    assert client.get("/easel/v1/jobs/nope").status_code == 404
    assert client.get(f"/easel/v1/jobs/{job_id}/images/5").status_code == 404
    assert job.status.value == "done"


def test_deleting_jobs_cancels_the_queued_and_interrupts_the_running(api):
    client, state = api
    long = {**BASE, "steps": 150, "n_iter": 20}
    running, queued = (client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": long}).json()["id"]
                       for _ in range(2))
    deadline = time.monotonic() + 60
    while state.jobs.get(running).progress.sampling_step < 1:  # wait until it really runs
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.delete(f"/easel/v1/jobs/{queued}").json()["status"] == "cancelled"
    assert client.delete(f"/easel/v1/jobs/{running}").status_code == 200
    finished = state.jobs.wait(running, timeout=60)
    assert finished.status.value == "interrupted" and finished.progress.job_no < 20
    assert state.jobs.get(queued).status.value == "cancelled" and state.jobs.get(queued).started_at is None
    assert client.delete("/easel/v1/jobs/nope").status_code == 404
    other_user = {"Authorization": "Basic " + base64.b64encode(b"mallory:x").decode()}
    assert client.delete(f"/easel/v1/jobs/{running}", headers=other_user).status_code == 404  # not theirs


def test_progress_idle_shape_and_lists(api):
    client, _ = api
    progress = client.get("/sdapi/v1/progress").json()
    assert {"progress", "eta_relative", "state", "current_image", "textinfo"} <= set(progress)
    assert {"skipped", "interrupted", "job", "job_count", "job_timestamp", "job_no", "sampling_step",
            "sampling_steps"} <= set(progress["state"])
    names = [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
    assert len(names) == 20 and "DPM++ 2M" in names
    labels = [s["label"] for s in client.get("/sdapi/v1/schedulers").json()]
    assert len(labels) == 12 and "Karras" in labels
    assert client.post("/sdapi/v1/interrupt").status_code == 200
    assert client.post("/sdapi/v1/skip").status_code == 200


def test_png_info_reads_parameters(api):
    client, _ = api
    generated = client.post("/sdapi/v1/txt2img", json=BASE).json()["images"][0]
    info = client.post("/sdapi/v1/png-info", json={"image": generated}).json()
    assert info["info"].startswith("a red circle\nNegative prompt: blue\nSteps: 3")
    assert info["parameters"]["Seed"] == "5"


def test_hires_names_are_checked_before_queueing(api):
    client, state = api
    response = client.post("/sdapi/v1/txt2img", json={**BASE, "enable_hr": True, "hr_upscaler": "Bogus"})
    assert response.status_code == 404 and "hr_upscaler" in response.text
    assert state.jobs.list() == []


def test_refiner_checkpoint_is_loaded_for_the_job(data_dir, tiny_checkpoints):
    checkpoints = {"base.safetensors": tiny_checkpoints["sdxl"], "refiner.safetensors": tiny_checkpoints["sdxl-refiner"]}
    with api_client(data_dir, checkpoints) as (client, state):
        response = client.post("/sdapi/v1/txt2img", json={**BASE, "refiner_checkpoint": "refiner",
                                                          "refiner_switch_at": 0.5})
        assert response.status_code == 200, response.text
        assert "Refiner: refiner" in json.loads(response.json()["info"])["infotexts"][0]
        assert [m.info.name for m in state.models.loaded] == ["base.safetensors"]


def test_extras_upscale_single_and_batch(api):
    client, state = api
    source = Image.new("RGB", (20, 10), (250, 0, 0))
    source.paste((0, 0, 250), (10, 0, 20, 10))
    response = client.post("/sdapi/v1/extra-single-image", json={
        "image": b64_png(source), "upscaling_resize": 3, "upscaler_1": "Nearest"})
    assert response.status_code == 200, response.text
    out = decode(response.json()["image"]).convert("RGB")
    assert out.size == (60, 30)
    assert out.getpixel((5, 5)) == (250, 0, 0) and out.getpixel((55, 25)) == (0, 0, 250)
    batch = client.post("/sdapi/v1/extra-batch-images", json={
        "imageList": [{"data": b64_png(source), "name": "a"}] * 2, "resize_mode": 1,
        "upscaling_resize_w": 40, "upscaling_resize_h": 40, "upscaler_1": "Lanczos"})
    assert [decode(i).size for i in batch.json()["images"]] == [(40, 40), (40, 40)]
    assert [j.kind for j in state.jobs.list()] == ["extras", "extras"]


@pytest.mark.parametrize("body, field", [({"upscaler_1": "Magic"}, "upscaler_1"),
                                         ({"gfpgan_visibility": 0.5}, "gfpgan_visibility"),
                                         ({"upscaling_resize": 50}, "upscaling_resize")])
def test_extras_bad_input_names_the_field(api, body, field):
    client, _ = api
    source = b64_png(Image.new("RGB", (8, 8)))
    response = client.post("/sdapi/v1/extra-single-image", json={"image": source, **body})
    assert response.status_code == 422 and field in response.text
