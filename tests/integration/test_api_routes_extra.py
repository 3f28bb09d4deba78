"""A1111's remaining list routes and server-restart's guard, through FastAPI's test client."""

import pytest

from tests.helpers import api_client


@pytest.fixture
def api(data_dir, tiny_checkpoints):
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        yield client, state


def test_lists_of_what_easel_has_none_of_yet(api):
    client, state = api
    assert client.get("/sdapi/v1/face-restorers").json() == []
    assert client.get("/sdapi/v1/realesrgan-models").json() == []
    # scripts: the built-in ones in scripts/ (tests/integration/test_scripts_api.py covers them)
    assert client.get("/sdapi/v1/scripts").json() == state.scripts.script_list()


def test_face_restoration_and_scripts_are_refused_as_the_lists_say(api):
    client, _ = api
    base = {"prompt": "x", "steps": 1, "width": 64, "height": 64}
    restore = client.post("/sdapi/v1/txt2img", json={**base, "restore_faces": True})
    assert restore.status_code == 422 and "restore_faces" in restore.text
    script = client.post("/sdapi/v1/txt2img", json={**base, "script_name": "no such script"})
    assert script.status_code == 404 and "script_name" in script.text


def test_openapi_documents_a1111_response_shapes(api):
    client, _ = api
    spec = client.get("/openapi.json").json()

    def response_schema(path):
        return spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    schemas = spec["components"]["schemas"]
    assert response_schema("/sdapi/v1/face-restorers")["items"]["$ref"].endswith("/FaceRestorerItem")
    assert set(schemas["FaceRestorerItem"]["properties"]) == {"name", "cmd_dir"}
    assert set(schemas["RealesrganItem"]["properties"]) == {"name", "path", "scale"}
    assert set(schemas["ScriptsList"]["properties"]) == {"txt2img", "img2img"}
    assert response_schema("/sdapi/v1/script-info")["items"]["$ref"].endswith("/ScriptInfo")
    assert set(schemas["ScriptInfo"]["properties"]) == {"name", "is_alwayson", "is_img2img", "args"}
    assert set(schemas["ScriptArg"]["properties"]) == {"label", "value", "minimum", "maximum", "step", "choices"}


def test_server_control_routes_need_the_flag(api):
    client, _ = api
    for route in ("server-restart", "server-stop", "server-kill"):
        assert client.post(f"/sdapi/v1/{route}").status_code == 404


def test_server_restart_needs_launch_py(data_dir):
    # With the flag but no launcher (a test client, or `python webui.py`), nothing could start the
    # app again: 501, as A1111 answers when it is not restartable, and the server keeps serving.
    with api_client(data_dir, {}, "--api-server-stop") as (client, _):
        for route in ("server-restart", "server-stop"):
            response = client.post(f"/sdapi/v1/{route}")
            assert response.status_code == 501 and "launch.py" in response.json()["detail"]
        assert client.get("/sdapi/v1/scripts").status_code == 200


# Server errors the fuzz run (tools/fuzz_api.py) found, now 4xx answers that name the field.

@pytest.mark.parametrize("route, body, field", [
    ("extra-single-image", {"image": ""}, "image"),
    ("extra-batch-images", {"imageList": [{"data": "bm90IGFuIGltYWdl", "name": "x.png"}]}, "imageList"),
])
def test_extras_refuse_undecodable_images_before_queueing(api, route, body, field):
    client, state = api
    response = client.post(f"/sdapi/v1/{route}", json=body)
    assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}: not a valid")
    assert state.jobs.list() == []


@pytest.mark.parametrize("params, field", [
    ({"override_settings": [1]}, "override_settings"), ({"styles": 5}, "styles"), ({"sampler_name": None}, "sampler_name"),
])
def test_async_job_params_get_the_sync_routes_type_checks(api, params, field):
    client, state = api
    response = client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": params})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "params", field]
    assert state.jobs.list() == []


def test_generation_without_a_checkpoint_is_a_conflict_not_a_server_error(api):
    client, state = api
    client.post("/sdapi/v1/unload-checkpoint")
    body = {"prompt": "x", "steps": 1, "width": 64, "height": 64}
    for response in (client.post("/sdapi/v1/txt2img", json=body),
                     client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": body})):
        assert response.status_code == 409 and "no checkpoint is loaded" in response.json()["detail"]
    assert state.jobs.list() == []
    named = {**body, "override_settings": {"sd_model_checkpoint": "one"}}  # a request may name its own
    assert client.post("/sdapi/v1/txt2img", json=named).status_code == 200
