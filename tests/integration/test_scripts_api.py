"""The Script API in generation jobs, on the demo model: AlwaysVisible hooks, a selected
script's run(), API script_name/script_args/alwayson_scripts, /scripts and /script-info."""

import base64
import json
import io
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from modules import scripts
from modules.paths import DEMO_MODEL_DIR
from tests.helpers import api_client
from tools.shapes_dataset import classify

SCRIPT = '''
import gradio as gr

import modules.scripts as scripts
from modules.processing import Processed, process_images

BASE = scripts.basedir()


class Recolour(scripts.Script):
    def title(self):
        return "Recolour"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        with gr.Accordion("Recolour"):
            enabled = gr.Checkbox(False, label="Enabled")
            colour = gr.Textbox("blue", label="Colour")
        return [enabled, colour]

    def process(self, p, enabled, colour):
        if enabled:
            p.all_prompts = [text.replace("red", colour) for text in p.all_prompts]
            p.extra_generation_params["Recolour"] = colour


class Twice(scripts.Script):
    def title(self):
        return "Twice"

    def ui(self, is_img2img):
        return [gr.Dropdown(["green", "yellow"], value="green", label="Second colour"),
                gr.Slider(minimum=1, maximum=50, step=1, value=3, label="Seed step")]

    def run(self, p, second, seed_step):
        first = process_images(p)
        p.prompt = p.prompt.replace("red", second)
        p.seed = first.seed + int(seed_step)
        again = process_images(p)
        return Processed(p, first.images + again.images, first.seed, first.info,
                         infotexts=first.infotexts + again.infotexts)


class Colours(scripts.Script):
    def title(self):
        return "Colours"

    def show(self, is_img2img):
        return not is_img2img

    def run(self, p):
        p.prompt = [f"a {colour} circle on a white background" for colour in ("red", "blue", "green")]
        p.seed, p.batch_size, p.n_iter = [1, 2, 3], 2, 2
        return process_images(p)


class Broken(scripts.Script):
    def title(self):
        return "Broken"

    def show(self, is_img2img):
        return not is_img2img

    def run(self, p):
        raise ValueError("the script's own failure")
'''

COMMON = {"prompt": "a red circle on a white background", "steps": 12, "width": 64, "height": 64,
          "sampler_name": "Euler a", "cfg_scale": 7, "seed": 5}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("scripts-data")
    folder = tmp_path_factory.mktemp("ext")
    (folder / "scripts").mkdir()
    (folder / "scripts" / "test_scripts.py").write_text(textwrap.dedent(SCRIPT))
    with api_client(data_dir, {"shapes-demo.safetensors": DEMO_MODEL_DIR / "shapes-demo.safetensors"}) as (client, state):
        registry = scripts.ScriptRegistry()
        registry.load([(folder, folder / "scripts" / "test_scripts.py")])
        assert registry.failures == []
        state.scripts = scripts.ScriptHost(state, registry)
        yield client, state, registry, folder


def decode(image: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image))).convert("RGB"))


def test_alwayson_script_changes_the_prompt_red_to_blue(api):
    client, *_ = api
    plain = client.post("/sdapi/v1/txt2img", json=COMMON)
    assert plain.status_code == 200, plain.text
    assert classify(decode(plain.json()["images"][0])).fg == "red"
    changed = client.post("/sdapi/v1/txt2img", json={**COMMON, "alwayson_scripts": {"recolour": {"args": [True]}}})
    assert changed.status_code == 200, changed.text
    info = changed.json()["info"]
    assert classify(decode(changed.json()["images"][0])).fg == "blue"
    assert "Recolour: blue" in info and "a blue circle" in info


def test_selected_script_runs_process_images_twice(api):
    client, *_ = api
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "script_name": "twice", "script_args": ["yellow"]})
    assert response.status_code == 200, response.text
    first, second = (classify(decode(image)) for image in response.json()["images"])
    assert (first.fg, second.fg) == ("red", "yellow")
    assert "Seed: 8" in response.text  # the second image's seed: 5 + the default seed step 3


def test_script_lists_and_info(api):
    client, *_ = api
    listed = client.get("/sdapi/v1/scripts").json()
    assert listed == {"txt2img": ["twice", "colours", "broken"], "img2img": ["twice"]}
    info = {(s["name"], s["is_img2img"]): s for s in client.get("/sdapi/v1/script-info").json()}
    assert info[("recolour", False)]["is_alwayson"] is True
    assert [a["label"] for a in info[("recolour", False)]["args"]] == ["Enabled", "Colour"]
    slider = info[("twice", True)]["args"][1]
    assert (slider["label"], slider["value"], slider["minimum"], slider["maximum"], slider["step"]) == \
        ("Seed step", 3, 1, 50, 1)
    assert info[("twice", False)]["args"][0]["choices"] == ["green", "yellow"]


@pytest.mark.parametrize("body, status, field", [
    ({"script_name": "no such script"}, 404, "script_name"),
    ({"alwayson_scripts": {"nothing here": {"args": []}}}, 404, "alwayson_scripts"),
    ({"alwayson_scripts": {"twice": {"args": []}}}, 422, "alwayson_scripts"),
    ({"script_name": "twice", "script_args": ["green", 2, 3]}, 422, "script_args"),
    ({"script_name": "twice", "script_args": ["green", "many"]}, 422, "script_args[1]"),
    ({"script_args": [1]}, 422, "script_args"),
])
def test_bad_script_requests_are_refused_before_queueing(api, body, status, field):
    client, state, *_ = api
    before = len(state.jobs.list())
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, **body})
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(field)
    assert len(state.jobs.list()) == before


def test_a_script_that_raises_fails_the_job_naming_it(api):
    client, *_ = api
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "script_name": "Broken"})
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert "'Broken'" in detail and "test_scripts.py" in detail and "the script's own failure" in detail


def finished_job(client, params: dict) -> dict:
    """Submit a txt2img job through /easel/v1/jobs and return its view once it is done."""
    job = client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": params})
    assert job.status_code == 200, job.text
    for _ in range(600):
        view = client.get(f"/easel/v1/jobs/{job.json()['id']}").json()
        if view["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert view["status"] == "done", view
    return view


def test_script_fields_travel_with_async_jobs(api):
    client, *_ = api
    view = finished_job(client, {**COMMON, "alwayson_scripts": {"Recolour": {"args": [True, "green"]}}})
    image = client.get(view["result_urls"][0]).content
    assert classify(np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))).fg == "green"


def test_basedir_is_the_loading_scripts_folder(api):
    *_, registry, folder = api
    assert registry.classes[0].module.BASE == str(folder)


class RecordingCallbacks:
    """A1111-signature script_callbacks, recording what they are given."""

    def __init__(self):
        self.steps, self.denoised, self.after_cfg, self.saved = [], [], [], []

    def cfg_denoiser(self, params):
        self.steps.append((params.sampling_step, params.total_sampling_steps))

    def cfg_denoised(self, params):
        self.denoised.append(params.sampling_step)

    def cfg_after_cfg(self, params):
        self.after_cfg.append(params.sampling_step)

    def before_image_saved(self, params):
        params.pnginfo["parameters"] += ", Seen by: callback"

    def image_saved(self, params):
        self.saved.append(params.filename)


@pytest.fixture
def recording_callbacks():
    from modules import script_callbacks

    recorder = RecordingCallbacks()
    registered = [(getattr(script_callbacks, f"on_{name}"), getattr(recorder, name))
                  for name in ("cfg_denoiser", "cfg_denoised", "cfg_after_cfg", "before_image_saved", "image_saved")]
    for register, callback in registered:
        register(callback)
    yield recorder
    for _, callback in registered:
        script_callbacks.remove_callbacks_for_function(callback)


def test_script_callbacks_see_every_step_and_saved_file(api, recording_callbacks):
    from pathlib import Path

    from modules.images import read_infotext

    client, *_ = api
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "save_images": True})
    assert response.status_code == 200, response.text
    recorder = recording_callbacks
    assert recorder.steps == [(i, 12) for i in range(12)] and recorder.denoised == list(range(12))
    assert recorder.after_cfg == list(range(12))
    [saved] = recorder.saved
    assert Path(saved).is_file() and read_infotext(Image.open(saved))[0].endswith("Seen by: callback")


def test_job_progress_counts_every_image_a_script_makes(api):
    client, *_ = api
    view = finished_job(client, {**COMMON, "script_name": "twice"})
    assert (view["progress"]["job_no"], view["progress"]["job_count"]) == (2, 2)
    assert len(view["result_urls"]) == 2


def test_a_prompt_and_seed_per_image_in_batches(api):
    client, *_ = api
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "script_name": "colours"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [classify(decode(image)).fg for image in body["images"]] == ["red", "blue", "green"]
    info = json.loads(body["info"])
    assert info["all_seeds"] == [1, 2, 3] and "a green circle" in info["infotexts"][2]
