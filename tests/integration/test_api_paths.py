"""Names and paths sent to the API never reach files outside the data dir.

Every route that takes a name (checkpoint, VAE, style, setting, LoRA, embedding, training
template, job id) is tried with `../`, absolute paths, URL-encoded traversal and symlinks,
next to an `outside/` folder holding a sentinel text file, a valid checkpoint and a valid
LoRA: each attempt must be refused with a 4xx JSON message naming the field (or, for LoRA
tags, load nothing, as A1111 does), and `outside/` must stay byte-for-byte the same.

Deliberately not confined (A1111 semantics, the operator's own paths): the output-folder
settings (outdir_*) and training's data_root / log_directory, which A1111 documents as
folders anywhere on the machine.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from tests.helpers import api_client

SENTINEL = "SENTINEL-must-never-be-served"
BASE = {"prompt": "a circle", "seed": 3, "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, tiny_checkpoints):
    """(client, state, data_dir, outside): one app on root/data, with root/outside beside it."""
    root = tmp_path_factory.mktemp("paths")
    data_dir, outside = root / "data", root / "outside"
    outside.mkdir()
    (outside / "sentinel.txt").write_text(SENTINEL)
    shutil.copyfile(tiny_checkpoints["sd2"], outside / "stolen.safetensors")
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        lora = lora_for(state.models.current())
        safetensors.torch.save_file(lora, str(outside / "sharp.safetensors"))
        safetensors.torch.save_file(lora, str(state.paths.lora_dir / "inside.safetensors"))
        write_training_images(data_dir / "train-images")
        yield client, state, data_dir, outside


@pytest.fixture
def api(sandbox):
    """The sandbox, checking after each test that nothing outside changed or leaked."""
    client, state, data_dir, outside = sandbox
    before = snapshot(outside)
    responses = []

    def record(response):
        response.read()
        responses.append(response)

    client.event_hooks["response"].append(record)
    try:
        yield client, state, data_dir, outside
    finally:
        client.event_hooks["response"].remove(record)
    assert responses, "no request was recorded"
    assert snapshot(outside) == before, "a file outside the data dir was written"
    leaked = [r.request.url for r in responses if SENTINEL in r.text]
    assert not leaked, f"the sentinel's content was served by {leaked}"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def lora_for(model) -> dict[str, torch.Tensor]:
    """A kohya LoRA on one attention projection of `model`, strong enough to change pixels."""
    target = model.unet.get_submodule("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k")
    g = torch.Generator().manual_seed(0)
    prefix = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    return {f"{prefix}.lora_down.weight": torch.randn(4, target.weight.shape[1], generator=g),
            f"{prefix}.lora_up.weight": torch.randn(target.weight.shape[0], 4, generator=g),
            f"{prefix}.alpha": torch.tensor(4.0)}


def write_training_images(folder: Path) -> None:
    folder.mkdir(parents=True)
    for index in range(2):
        Image.new("RGB", (64, 64), (40 * index, 90, 200)).save(folder / f"{index}.png")


def assert_refused(response, field: str, status: tuple[int, ...] = (400, 404, 422)) -> str:
    """A 4xx JSON answer whose message names `field`; returns the message."""
    assert response.status_code in status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and field in detail, detail
    return detail


def outside_names(outside: Path, name: str) -> list[str]:
    """Ways to spell `outside/name` from the data dir or the server's working directory."""
    return [str(outside / name), f"../outside/{name}", f"../../../../../..{outside}/{name}",
            f"%2e%2e%2foutside%2f{name}", f"..\\outside\\{name}", f"file://{outside}/{name}"]


# --- checkpoints and VAEs -------------------------------------------------------------------


def test_checkpoint_names_never_open_files_outside_the_model_folders(api):
    client, state, _, outside = api
    current = state.models.current().info.title
    jobs_before = len(state.jobs.list())
    for name in [*outside_names(outside, "stolen.safetensors"), *outside_names(outside, "sentinel.txt")]:
        message = assert_refused(client.post("/sdapi/v1/options", json={"sd_model_checkpoint": name}),
                                 "not found", status=(400,))
        assert "available: one.safetensors" in message or "did you mean" in message  # same answer, file or not
        for field, body, status in [
                ("override_settings", {"override_settings": {"sd_model_checkpoint": name}}, 404),
                ("refiner_checkpoint", {"refiner_checkpoint": name, "refiner_switch_at": 0.5}, 404),
                ("hr_checkpoint_name", {"enable_hr": True, "hr_checkpoint_name": name}, 422)]:  # none supported
            assert_refused(client.post("/sdapi/v1/txt2img", json={**BASE, **body}), field, status=(status,))
    assert state.models.current().info.title == current
    assert [m.info.name for m in state.models.loaded] == ["one.safetensors"]
    assert len(state.jobs.list()) == jobs_before  # refused before queueing


def test_vae_names_are_only_the_listed_ones(api):
    client, state, _, outside = api
    for name in outside_names(outside, "stolen.safetensors"):
        assert_refused(client.post("/sdapi/v1/options", json={"sd_vae": name}), "unknown VAE", status=(400,))
        response = client.post("/sdapi/v1/txt2img", json={**BASE, "override_settings": {"sd_vae": name}})
        assert "unknown VAE" in assert_refused(response, "override_settings", status=(404,))
    assert state.options.sd_vae == "Automatic"


# --- styles, settings, prompt tags -----------------------------------------------------------


@pytest.mark.parametrize("body, field, status", [
    ({"styles": ["../outside/sentinel.txt"]}, "styles", 404),
    ({"styles": ["/etc/passwd"]}, "styles", 404),
    ({"override_settings": {"../outside/sentinel.txt": 1}}, "override_settings", 422),
    ({"override_settings": {"samples_format": "../../outside/x"}}, "override_settings", 422),
    ({"override_settings": {"CLIP_stop_at_last_layers": "../x"}}, "override_settings", 422),
])
def test_style_and_setting_names_are_checked_before_queueing(api, body, field, status):
    client, state, _, _ = api
    jobs_before = len(state.jobs.list())
    assert_refused(client.post("/sdapi/v1/txt2img", json={**BASE, **body}), field, status=(status,))
    assert len(state.jobs.list()) == jobs_before


def image_and_infotext(client, prompt: str) -> tuple[np.ndarray, str]:
    response = client.post("/sdapi/v1/txt2img", json={**BASE, "prompt": prompt})
    assert response.status_code == 200, response.text
    body = response.json()
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][0])))).astype(int)
    return image, json.loads(body["info"])["infotexts"][0]


def test_lora_tags_with_paths_load_nothing(api):
    client, _, _, outside = api
    plain, _ = image_and_infotext(client, "a circle")
    with_lora, infotext = image_and_infotext(client, "a circle <lora:inside:1>")
    assert np.abs(with_lora - plain).mean() > 0 and "Lora hashes" in infotext  # the same file, inside, works
    for name in [str(outside / "sharp"), "../../outside/sharp", "..%2F..%2Foutside%2Fsharp"]:
        image, infotext = image_and_infotext(client, f"a circle <lora:{name}:1>")
        assert np.array_equal(image, plain) and "Lora hashes" not in infotext, name  # A1111: a warning, no load
    assert [lora["name"] for lora in client.get("/sdapi/v1/loras").json()] == ["inside"]


# --- embeddings and training -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil", "../../outside/evil", "{outside}/evil", "..", ".", "%2e%2e%2fevil",
                                  "..\\evil", "evil/../../x", "evil\x00.pt", ""])
def test_embedding_names_cannot_leave_the_embeddings_folder(api, name):
    client, state, data_dir, outside = api
    before = sorted(p.name for p in state.paths.embeddings_dir.iterdir())
    response = client.post("/sdapi/v1/create/embedding", json={"name": name.format(outside=outside)})
    assert_refused(response, "name", status=(422,))
    assert sorted(p.name for p in state.paths.embeddings_dir.iterdir()) == before
    assert not list(data_dir.parent.glob("evil*"))  # outside/ itself is checked by the api fixture


def test_an_embedding_symlinked_out_is_replaced_never_written_through(api):
    client, state, _, outside = api
    link = state.paths.embeddings_dir / "linked.pt"
    link.symlink_to(outside / "sentinel.txt")
    try:
        assert_refused(client.post("/sdapi/v1/create/embedding", json={"name": "linked"}), "already exists")
        response = client.post("/sdapi/v1/create/embedding", json={"name": "linked", "overwrite_old": True})
        assert response.status_code == 200, response.text
        assert not link.is_symlink() and link.stat().st_size > 0  # the api fixture checks outside/ is unchanged
    finally:
        link.unlink()


def train_body(**changes) -> dict:
    base = {"embedding_name": "trainee", "data_root": "train-images", "training_width": 64, "training_height": 64,
            "steps": 1, "batch_size": 1, "create_image_every": 0, "save_embedding_every": 0,
            "template_filename": "style.txt"}
    return {**base, **changes}


@pytest.mark.parametrize("changes, field", [
    *[({"template_filename": name}, "template_filename") for name in
      ["../../outside/sentinel.txt", "%2e%2e/%2e%2e/outside/sentinel.txt", "{outside}/sentinel.txt",
       "/etc/hostname", "../style.txt"]],
    *[({"embedding_name": name}, "embedding_name") for name in
      ["../outside/sentinel", "{outside}/sentinel", "..%2Ftrainee", "../embeddings/trainee"]],
])
def test_training_names_are_looked_up_not_opened(api, changes, field):
    client, state, _, outside = api
    client.post("/sdapi/v1/create/embedding", json={"name": "trainee"})
    changes = {key: value.format(outside=outside) for key, value in changes.items()}
    jobs_before = len(state.jobs.list())
    assert_refused(client.post("/sdapi/v1/train/embedding", json=train_body(**changes)), field, status=(404,))
    assert len(state.jobs.list()) == jobs_before


# --- job results and saved files --------------------------------------------------------------


def test_job_image_urls_serve_only_the_jobs_own_files(api):
    client, state, _, _ = api
    job_id = client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": BASE}).json()["id"]
    assert state.jobs.wait(job_id, timeout=120).status.value == "done"
    image = client.get(f"/easel/v1/jobs/{job_id}/images/0")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    attempts = [f"/easel/v1/jobs/{job_id}/images/1", f"/easel/v1/jobs/{job_id}/images/-1",
                f"/easel/v1/jobs/{job_id}/images/..%2F..%2F..%2Foutside%2Fsentinel.txt",
                f"/easel/v1/jobs/{job_id}/images/0%2F..%2F..%2Fsentinel.txt",
                "/easel/v1/jobs/%2E%2E/images/0", "/easel/v1/jobs/..%2F..%2Foutside/images/0",
                "/easel/v1/jobs/%2Fetc%2Fpasswd/images/0", f"/easel/v1/jobs/{job_id}%2F..%2F..%2Fjobs.sqlite3"]
    for url in attempts:
        response = client.get(url)
        assert response.status_code in (404, 422), (url, response.status_code)
        assert response.headers["content-type"] == "application/json" and response.json()["detail"], url


def test_saved_file_names_from_prompts_and_batch_names_stay_in_the_output_folder(api):
    client, state, data_dir, outside = api
    patterns = {"directories_filename_pattern": "[prompt]", "samples_filename_pattern": "[prompt]"}
    defaults = {key: state.options.get(key) for key in patterns}
    assert client.post("/sdapi/v1/options", json=patterns).status_code == 200
    try:
        escape = f"../../../outside/escape {outside}/escape"
        response = client.post("/sdapi/v1/txt2img", json={**BASE, "prompt": escape, "save_images": True})
        assert response.status_code == 200, response.text
    finally:
        client.post("/sdapi/v1/options", json=defaults)
    picture = response.json()["images"][0]
    extras = client.post("/sdapi/v1/extra-batch-images", json={
        "imageList": [{"data": picture, "name": f"../../outside/{n}.png"} for n in ("a", str(outside / "b"))],
        "upscaler_1": "Lanczos", "upscaling_resize": 2})
    assert extras.status_code == 200, extras.text
    saved = [p for p in data_dir.rglob("*.png") if "train-images" not in p.parts]
    assert any("txt2img-images" in p.parts for p in saved), saved  # the prompt-named copy was written...
    assert all(p.resolve().is_relative_to(state.paths.outputs_dir) for p in saved), saved  # ...inside outputs/
