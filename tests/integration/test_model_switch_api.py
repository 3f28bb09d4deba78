"""A switch the manager refuses (a .ckpt holding code) keeps the previous model serving,
through the API as through the UI's top bar."""

from modules.ui.quicksettings import model_status, quick_value
from tests.helpers import api_client
from tests.unit.foundation.test_safe_load import write_malicious_ckpt

TINY_JOB = {"prompt": "a red circle", "steps": 2, "width": 64, "height": 64}


def test_a_refused_switch_keeps_the_previous_model(data_dir, tiny_checkpoints, tmp_path):
    marker = tmp_path / "code-ran"
    write_malicious_ckpt(data_dir / "models" / "Stable-diffusion" / "z-evil.ckpt", marker)
    with api_client(data_dir, {"good.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        before = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
        assert before.startswith("good.safetensors")
        response = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "z-evil.ckpt"})
        assert response.status_code == 400 and "z-evil.ckpt: refused" in response.json()["detail"]
        assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == before
        assert quick_value(state, "sd_model_checkpoint") == before
        status = model_status(state)
        assert status.startswith(f"Loaded **{before}**") and "Could not switch: z-evil.ckpt: refused" in status
        response = client.post("/sdapi/v1/txt2img", json=TINY_JOB)
        assert response.status_code == 200, response.text

        job = dict(TINY_JOB, override_settings={"sd_model_checkpoint": "z-evil.ckpt"})
        response = client.post("/sdapi/v1/txt2img", json=job)
        assert response.status_code == 422 and "override_settings" in response.text and "z-evil" in response.text
        assert state.models.current().info.title == before
    assert not marker.exists()
