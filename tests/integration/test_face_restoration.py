"""Face restoration: restorers found by spandrel in models/GFPGAN, Codeformer, RestoreFormer;
facexlib's detector and parser from local files (random weights here); faces pasted back
with the rest of the image unchanged; restore_faces in txt2img; extras' GFPGAN visibility."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from modules.postprocessing import face_restoration
from tests import image_models
from tests.helpers import api_client
from tests.integration.test_model_upscalers import b64_png, decode

BASE = {"prompt": "a red circle on a white background", "steps": 2, "width": 64, "height": 64, "seed": 3}


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    """facexlib's parser and the restorers work at 512x512: worth both CI cores here."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random facexlib, RestoreFormer and GFPGAN weights, written once for this file."""
    folder = tmp_path_factory.mktemp("face-weights")
    image_models.facexlib_weights(folder / "facexlib")
    image_models.save_state_dict(image_models.restoreformer().state_dict(), folder / "RestoreFormer.safetensors")
    image_models.save_state_dict(image_models.gfpgan().state_dict(), folder / "GFPGANv1.4.safetensors", half=True)
    return folder


def link(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target)


@pytest.fixture
def installed(data_dir, weights):
    """A data dir with RestoreFormer and GFPGAN installed, facexlib's weights in models/facexlib."""
    models = data_dir / "models"
    for name in face_restoration.FACEXLIB_WEIGHTS:
        link(weights / "facexlib" / name, models / "facexlib" / name)
    link(weights / "RestoreFormer.safetensors", models / "RestoreFormer" / "RestoreFormer.safetensors")
    link(weights / "GFPGANv1.4.safetensors", models / "GFPGAN" / "GFPGANv1.4.safetensors")
    return data_dir


@pytest.fixture
def api(installed, tiny_checkpoints):
    with api_client(installed, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        yield client, state
        state.postprocessing.close()


class OneFace:
    """Stands in for RetinaFace's answer (the ONE faked part): a face of eye distance `eye`
    pixels centred at (cx, cy), in the coordinates of the image facexlib hands the detector."""

    def __init__(self, cx: float, cy: float, eye: float, original_size: int):
        self.face, self.original_size, self.calls = (cx, cy, eye), original_size, 0

    def __call__(self, image, conf_threshold=0.8):
        self.calls += 1
        s = min(image.shape[:2]) / self.original_size  # facexlib resizes to 640 before detecting
        cx, cy, eye = (v * s for v in self.face)
        points = [cx - eye / 2, cy - eye / 3, cx + eye / 2, cy - eye / 3, cx, cy,
                  cx - eye * 0.4, cy + eye / 2, cx + eye * 0.4, cy + eye / 2]
        return np.array([[cx - eye, cy - eye, cx + eye, cy + eye, 0.99, *points]], dtype=np.float32)


def fake_detector(monkeypatch, state, detect, parse: bool = True) -> None:
    """The real FaceRestoreHelper (alignment, parsing, paste) with its detector's answer faked;
    `parse=False` pastes through facexlib's square mask instead of its (slow, 512x512) parser."""
    helper = state.postprocessing.face_restorers.helpers.helper(torch.device("cpu"))
    monkeypatch.setattr(helper.face_det, "detect_faces", detect)
    monkeypatch.setattr(helper, "use_parse", parse)


def test_restorers_are_listed_with_their_folders(api, installed):
    client, _ = api
    assert client.get("/sdapi/v1/face-restorers").json() == [
        {"name": "GFPGAN", "cmd_dir": str(installed / "models" / "GFPGAN")},
        {"name": "RestoreFormer", "cmd_dir": str(installed / "models" / "RestoreFormer")}]


def test_restore_faces_changes_only_the_face_and_keeps_the_size(api, monkeypatch):
    _, state = api
    detect = OneFace(cx=192, cy=190, eye=48, original_size=384)
    fake_detector(monkeypatch, state, detect)
    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 255, (384, 384, 3), dtype=np.uint8))
    restored = state.postprocessing.face_restorers.restorers["RestoreFormer"].restore(source)
    assert detect.calls == 1 and restored.size == source.size
    before, after = np.asarray(source), np.asarray(restored)
    outside = np.ones((384, 384), dtype=bool)
    outside[60:330, 60:330] = False  # the aligned 512 crop maps to about 200 px around the face
    assert np.array_equal(before[outside], after[outside])
    assert (before[150:230, 150:230] != after[150:230, 150:230]).any()


def test_txt2img_restore_faces_runs_the_chosen_restorer_and_says_so(api, monkeypatch):
    client, state = api
    fake_detector(monkeypatch, state, OneFace(cx=32, cy=30, eye=16, original_size=64), parse=False)
    plain = client.post("/sdapi/v1/txt2img", json=BASE).json()
    body = {**BASE, "restore_faces": True, "override_settings": {"face_restoration_model": "RestoreFormer"}}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert "Face restoration: RestoreFormer" in info["infotexts"][0]
    assert info["restore_faces"] is True and info["face_restoration_model"] == "RestoreFormer"
    restored, original = decode(response.json()["images"][0]), decode(plain["images"][0])
    assert restored.size == original.size == (64, 64)
    assert np.asarray(restored.convert("RGB")).tolist() != np.asarray(original.convert("RGB")).tolist()


def test_extras_gfpgan_visibility_blends_and_writes_infotext(api, monkeypatch):
    client, state = api
    fake_detector(monkeypatch, state, OneFace(cx=64, cy=62, eye=24, original_size=128), parse=False)
    source = Image.new("RGB", (128, 128), (200, 150, 120))
    response = client.post("/sdapi/v1/extra-single-image", json={"image": b64_png(source), "gfpgan_visibility": 0.5})
    assert response.status_code == 200, response.text
    out = decode(response.json()["image"])
    assert out.size == (128, 128) and out.info["postprocessing"] == "GFPGAN visibility: 0.5"
    assert out.convert("RGB").getpixel((2, 2)) == (200, 150, 120)


def test_codeformer_visibility_without_codeformer_is_a_422(api):
    client, _ = api
    response = client.post("/sdapi/v1/extra-single-image", json={
        "image": b64_png(Image.new("RGB", (16, 16))), "codeformer_visibility": 1})
    assert response.status_code == 422
    assert "codeformer_visibility" in response.text and "CodeFormer" in response.text


@pytest.mark.parametrize("present, missing", [((), face_restoration.FACEXLIB_WEIGHTS),
                                              ((face_restoration.DETECTION_FILE,), (face_restoration.PARSING_FILE,))])
def test_missing_facexlib_weights_are_named_with_their_folder(data_dir, weights, tiny_checkpoints, present, missing):
    link(weights / "RestoreFormer.safetensors", data_dir / "models" / "RestoreFormer" / "RestoreFormer.safetensors")
    for name in present:
        link(weights / "facexlib" / name, data_dir / "models" / "facexlib" / name)
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        body = {**BASE, "restore_faces": True, "override_settings": {"face_restoration_model": "RestoreFormer"}}
        response = client.post("/sdapi/v1/txt2img", json=body)
        state.postprocessing.close()
    assert response.status_code == 422 and "restore_faces" in response.text
    detail = response.json()["detail"]
    assert all(name in detail for name in missing) and str(data_dir / "models" / "facexlib") in detail
    assert not any(name in detail for name in present)


def test_facexlib_weights_that_would_run_code_are_refused(data_dir, weights, tiny_checkpoints):
    link(weights / "RestoreFormer.safetensors", data_dir / "models" / "RestoreFormer" / "RestoreFormer.safetensors")
    image_models.evil_pth(data_dir / "models" / "facexlib" / face_restoration.DETECTION_FILE, data_dir / "pwned")
    link(weights / "facexlib" / face_restoration.PARSING_FILE,
         data_dir / "models" / "facexlib" / face_restoration.PARSING_FILE)
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        body = {**BASE, "restore_faces": True, "override_settings": {"face_restoration_model": "RestoreFormer"}}
        response = client.post("/sdapi/v1/txt2img", json=body)
        state.postprocessing.close()
    assert response.status_code == 422 and "refused to load" in response.text
    assert not (data_dir / "pwned").exists()


def test_no_restorer_installed_refuses_restore_faces(data_dir, tiny_checkpoints):
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, _):
        response = client.post("/sdapi/v1/txt2img", json={**BASE, "restore_faces": True})
        assert client.get("/sdapi/v1/face-restorers").json() == []
    assert response.status_code == 422 and "no face restoration model is installed" in response.text


def test_codeformer_gets_its_weight():
    calls = []

    def net(face, **kwargs):
        calls.append(kwargs)
        return (face,)

    face = torch.zeros(1, 3, 8, 8)
    face_restoration._call_net("CodeFormer", net, face, 0.25)
    face_restoration._call_net("CodeFormer", net, face, None)
    face_restoration._call_net("GFPGAN", net, face, 0.25)
    assert calls == [{"weight": 0.25}, {"weight": 0.5}, {"return_rgb": False}]


def test_a1111_restore_faces_payload_runs_the_restorer_chosen_in_settings(api, monkeypatch):
    """A1111's test_txt2img_with_restore_faces_performed, sent unchanged once a restorer is installed."""
    client, state = api
    fake_detector(monkeypatch, state, lambda image, conf_threshold=0.8: np.zeros((0, 15), dtype=np.float32))
    assert client.post("/sdapi/v1/options", json={"face_restoration_model": "GFPGAN"}).status_code == 200
    payload = {"batch_size": 1, "cfg_scale": 7, "height": 64, "width": 64, "n_iter": 1, "negative_prompt": "",
               "prompt": BASE["prompt"], "restore_faces": True, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
               "sampler_index": "Euler a", "seed": -1, "steps": 3, "styles": [], "subseed": -1,
               "subseed_strength": 0, "tiling": False}
    response = client.post("/sdapi/v1/txt2img", json=payload)
    assert response.status_code == 200, response.text
    assert "Face restoration: GFPGAN" in json.loads(response.json()["info"])["infotexts"][0]
