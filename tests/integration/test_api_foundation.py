"""The first /sdapi/v1 routes, through FastAPI's test client, in A1111's shapes."""

import base64
import re

import pytest
from fastapi.testclient import TestClient

from tests.helpers import api_client, make_args
from tests.unit.foundation.test_safe_load import write_malicious_ckpt
from webui import create_app


@pytest.fixture
def api(data_dir, tiny_checkpoints):
    checkpoints = {"one.safetensors": tiny_checkpoints["sd1"], "two.safetensors": tiny_checkpoints["sd2"]}
    with api_client(data_dir, checkpoints) as (client, state):
        yield client, state


def test_sd_models_lists_checkpoints_in_a1111_shape(api):
    client, state = api
    models = client.get("/sdapi/v1/sd-models").json()
    assert [m["model_name"] for m in models] == ["one", "two"]
    loaded = models[0]
    assert set(loaded) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    assert loaded["title"] == f"one.safetensors [{loaded['hash']}]" and loaded["sha256"].startswith(loaded["hash"])
    assert models[1]["hash"] is None  # not hashed until first loaded, as in A1111


def test_options_round_trip_and_checkpoint_switch(api):
    client, state = api
    options = client.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"].startswith("one.safetensors [")
    assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "two", "samples_format": "jpg"}).status_code == 200
    options = client.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"].startswith("two.safetensors [") and options["samples_format"] == "jpg"
    assert state.models.current().info.name == "two.safetensors"


@pytest.mark.parametrize("body, message", [
    ({"bogus": 1}, "unknown setting(s): 'bogus'"),
    ({"samples_save": "maybe"}, "'samples_save' must be true or false"),
    ({"sd_model_checkpoint": "nope"}, "checkpoint 'nope' not found"),
])
def test_bad_options_are_400_with_the_field_named(api, body, message):
    client, _ = api
    response = client.post("/sdapi/v1/options", json=body)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_malicious_checkpoint_through_the_api(api, data_dir, tmp_path):
    client, state = api
    marker = tmp_path / "code-ran"
    write_malicious_ckpt(data_dir / "models" / "Stable-diffusion" / "evil.ckpt", marker)
    assert client.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    assert "evil.ckpt" in [m["title"] for m in client.get("/sdapi/v1/sd-models").json()]
    response = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "evil.ckpt"})
    assert response.status_code == 400 and "evil.ckpt: refused to load" in response.json()["detail"]
    assert not marker.exists()
    assert state.models.current().info.name == "one.safetensors"
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("one.safetensors")


def test_vae_list_flags_and_memory(api, data_dir):
    client, _ = api
    (data_dir / "models" / "VAE" / "x.safetensors").write_bytes(b"")
    client.post("/sdapi/v1/refresh-vae")
    assert client.get("/sdapi/v1/sd-vae").json() == [
        {"model_name": "x.safetensors", "filename": str(data_dir / "models" / "VAE" / "x.safetensors")}]
    flags = client.get("/sdapi/v1/cmd-flags").json()
    assert flags["api"] is True and flags["data_dir"] == str(data_dir)
    memory = client.get("/sdapi/v1/memory").json()
    assert memory["ram"]["total"] > memory["ram"]["used"] > 0
    assert "error" in memory["cuda"] or "system" in memory["cuda"]


def test_unload_and_reload(api):
    client, state = api
    assert client.post("/sdapi/v1/unload-checkpoint").status_code == 200
    assert state.models.loaded == []
    assert client.post("/sdapi/v1/reload-checkpoint").status_code == 400
    client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "one"})
    assert client.post("/sdapi/v1/reload-checkpoint").status_code == 200


def api_operations(app) -> list[tuple[str, str]]:
    """(method, path) of every API operation the OpenAPI document lists, path parameters filled in."""
    return [(method.upper(), re.sub(r"\{[^}]+\}", "x", path)) for path, item in app.openapi()["paths"].items()
            if path.startswith(("/sdapi/", "/easel/")) for method in item]


def test_api_auth_protects_every_route(data_dir, tiny_checkpoints):
    app, state = create_app(make_args(data_dir, "--api", "--nowebui", "--api-auth", "alice:s3cret",
                                      "--api-server-stop"))
    client = TestClient(app)
    operations = api_operations(app)
    assert len(operations) >= 44 and ("POST", "/sdapi/v1/server-kill") in operations
    assert {path for _, path in operations} >= {"/easel/v1/jobs", "/easel/v1/jobs/x", "/sdapi/v1/train/embedding"}
    for method, path in operations:  # never with the right password: server-kill must not run
        assert client.request(method, path, json={}).status_code == 401, (method, path)
    assert state.jobs.list() == []
    wrong = base64.b64encode(b"alice:nope").decode()
    assert client.get("/sdapi/v1/options", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"alice:s3cret").decode()
    response = client.get("/sdapi/v1/cmd-flags", headers={"Authorization": f"Basic {right}"})
    assert response.status_code == 200 and response.json()["api_auth"] == "<hidden>"
    state.jobs.stop()


def test_gradio_auth_guards_the_ui_and_the_api_keeps_its_own(data_dir):
    app, state = create_app(make_args(data_dir, "--api", "--gradio-auth", "bob:pw"))
    try:
        client = TestClient(app)
        for path in ("/config", "/gradio_api/info"):  # what the page needs to build itself and run events
            assert client.get(path).status_code == 401, path
        assert client.post("/gradio_api/queue/join", json={}).status_code == 401
        assert client.post("/login", data={"username": "bob", "password": "nope"}).status_code == 400
        assert client.post("/login", data={"username": "bob", "password": "pw"}).json() == {"success": True}
        assert client.get("/config").status_code == 200
        assert TestClient(app).get("/sdapi/v1/sd-models").status_code == 200  # no --api-auth: the API is open
    finally:
        state.jobs.stop()


def test_cors_is_closed_unless_allowed(data_dir):
    closed, _ = create_app(make_args(data_dir, "--api", "--nowebui"))
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in TestClient(closed).options("/sdapi/v1/sd-models", headers=headers).headers
    opened, _ = create_app(make_args(data_dir, "--api", "--nowebui", "--cors-allow-origins", "http://ok.example"))
    ok = TestClient(opened).options("/sdapi/v1/sd-models",
                                    headers={**headers, "Origin": "http://ok.example"})
    assert ok.headers["access-control-allow-origin"] == "http://ok.example"


def test_listing_routes(api, data_dir):
    client, state = api
    (data_dir / "styles.csv").write_text('name,prompt,negative_prompt\nfancy,"{prompt}, ornate",blurry\n')
    assert client.get("/sdapi/v1/prompt-styles").json() == [
        {"name": "fancy", "prompt": "{prompt}, ornate", "negative_prompt": "blurry"}]
    assert [u["name"] for u in client.get("/sdapi/v1/upscalers").json()] == ["None", "Lanczos", "Nearest"]
    assert "Latent (bicubic antialiased)" in [m["name"] for m in client.get("/sdapi/v1/latent-upscale-modes").json()]
    assert client.get("/sdapi/v1/hypernetworks").json() == []
    (data_dir / "extensions" / "my-ext").mkdir()
    assert [e["name"] for e in client.get("/sdapi/v1/extensions").json()] == ["my-ext"]
    response = client.post("/sdapi/v1/interrogate", json={"image": ""})
    assert response.status_code == 422 and response.json()["detail"].startswith("image:")
    assert client.post("/sdapi/v1/server-kill").status_code in (404, 405)  # only with --api-server-stop
