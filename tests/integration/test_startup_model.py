"""Start-up as a new user sees it: the checkpoint being loaded is reported, jobs sent while
it loads wait for it, and a default that cannot load gives way to the next checkpoint."""

import threading

from fastapi.testclient import TestClient

from modules.sd_models import manager as manager_module
from modules.ui.quicksettings import model_status, quick_value
from tests.helpers import install_checkpoint, make_args
from tests.unit.foundation.test_safe_load import write_malicious_ckpt

TINY_JOB = {"prompt": "a red circle", "steps": 2, "width": 64, "height": 64}


def start(data_dir):
    from webui import create_app

    return create_app(make_args(data_dir, "--api", "--nowebui"), load_checkpoint=True)


def test_options_name_the_loading_checkpoint_and_txt2img_waits_for_it(data_dir, tiny_checkpoints, monkeypatch):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "first.safetensors")
    release, started = threading.Event(), threading.Event()
    real_load = manager_module.load_model

    def slow_load(*args, **kwargs):
        started.set()
        assert release.wait(60)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(manager_module, "load_model", slow_load)
    app, state = start(data_dir)
    try:
        with TestClient(app) as client:
            assert started.wait(60)
            assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("first.safetensors")
            assert model_status(state).startswith("Loading **first.safetensors")
            assert quick_value(state, "sd_model_checkpoint").startswith("first.safetensors")
            answer = {}
            sender = threading.Thread(target=lambda: answer.update(r=client.post("/sdapi/v1/txt2img", json=TINY_JOB)))
            sender.start()
            sender.join(1.0)
            assert sender.is_alive(), "txt2img answered before the model had loaded"
            release.set()
            sender.join(120)
            assert answer["r"].status_code == 200, answer["r"].text
            assert len(answer["r"].json()["images"]) == 1
            assert model_status(state).startswith("Loaded **first.safetensors")
    finally:
        release.set()
        state.jobs.stop()


def test_a_refused_default_gives_way_to_the_next_checkpoint(data_dir, tiny_checkpoints, tmp_path):
    marker = tmp_path / "code-ran"
    write_malicious_ckpt(data_dir / "models" / "Stable-diffusion" / "a-evil.ckpt", marker)
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "b-good.safetensors")
    app, state = start(data_dir)
    assert state.models.startup_candidates()[0].name == "a-evil.ckpt"  # the default a new user gets
    try:
        with TestClient(app) as client:
            assert state.models.wait_idle(60)
            assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("b-good.safetensors")
            response = client.post("/sdapi/v1/txt2img", json=TINY_JOB)
            assert response.status_code == 200, response.text
            assert "a-evil.ckpt: refused" in state.models.last_error
            assert "loaded b-good.safetensors" in state.models.last_error
            assert "Could not switch: a-evil.ckpt" in model_status(state)
    finally:
        state.jobs.stop()
    assert not marker.exists()


def test_only_a_refused_checkpoint_is_a_clear_409(data_dir, tmp_path):
    write_malicious_ckpt(data_dir / "models" / "Stable-diffusion" / "evil.ckpt", tmp_path / "code-ran")
    app, state = start(data_dir)
    try:
        with TestClient(app) as client:
            assert state.models.wait_idle(60)
            response = client.post("/sdapi/v1/txt2img", json=TINY_JOB)
            assert response.status_code == 409 and "evil.ckpt: refused" in response.json()["detail"]
            assert model_status(state).startswith("No checkpoint loaded: evil.ckpt: refused")
    finally:
        state.jobs.stop()
