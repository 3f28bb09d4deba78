"""A small A1111-style extension, written as A1111 users write them, runs unchanged on the demo
model: a tab (on_ui_tabs), a setting (on_ui_settings + shared.opts.add_option), an
AlwaysVisible script changing the prompt's colour from that setting, on_image_saved,
on_model_loaded, on_app_started adding a route, a preload.py flag, javascript and style.css."""

from __future__ import annotations

import base64
import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.paths import DEMO_MODEL_DIR
from tests.helpers import install_checkpoint, make_args
from tools.shapes_dataset import classify

EXTENSION_SCRIPT = '''
import os

import gradio as gr

from modules import script_callbacks, scripts, shared
from modules.shared import OptionInfo, opts

BASE = scripts.basedir()


def record(name, text):
    with open(os.path.join(BASE, name), "a", encoding="utf-8") as f:
        f.write(f"{text}\\n")


class Recolour(scripts.Script):
    def title(self):
        return "My ext recolour"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(True, label="My ext enabled")]

    def process(self, p, enabled):
        if enabled:
            colour = opts.my_ext_colour
            p.all_prompts = [text.replace("red", colour) for text in p.all_prompts]
            p.extra_generation_params["My ext"] = colour
            record("flag.txt", shared.cmd_opts.my_ext_flag)


def on_ui_tabs():
    with gr.Blocks(analytics_enabled=False) as tab:
        box = gr.Textbox(label="My ext input", elem_id="my_ext_box")
        out = gr.Textbox(label="My ext output", elem_id="my_ext_out")
        gr.Button("Shout", elem_id="my_ext_button").click(lambda text: text.upper(), inputs=box, outputs=out)
    return [(tab, "My ext", "my_ext")]


def on_ui_settings():
    section = ("my_ext", "My ext")
    shared.opts.add_option("my_ext_colour", shared.OptionInfo(
        "blue", "Colour that replaces red", gr.Radio, {"choices": ["blue", "green", "yellow"]}, section=section))
    opts.add_option("my_ext_strength", OptionInfo(3, "Strength", gr.Slider,
                                                  {"minimum": 0, "maximum": 10, "step": 1}, section=section))
    opts.onchange("my_ext_colour", lambda: record("changes.txt", opts.my_ext_colour), call=False)


def on_image_saved(params):
    record("saved.txt", params.filename)


def on_model_loaded(sd_model):
    record("models.txt", type(sd_model).__name__)


def on_app_started(demo, app):
    @app.get("/my_ext/ping")
    def ping():
        return {"ui": demo is not None, "colour": opts.my_ext_colour}


script_callbacks.on_ui_tabs(on_ui_tabs)
script_callbacks.on_ui_settings(on_ui_settings)
script_callbacks.on_image_saved(on_image_saved)
script_callbacks.on_model_loaded(on_model_loaded)
script_callbacks.on_app_started(on_app_started)
'''

PRELOAD = '''
def preload(parser):
    parser.add_argument("--my-ext-flag", default="unset", help="the test extension's own flag")
'''

COMMON = {"prompt": "a red circle on a white background", "steps": 12, "width": 64, "height": 64,
          "sampler_name": "Euler a", "cfg_scale": 7, "seed": 5}


def write_extension(root: Path) -> Path:
    ext = root / "my-ext"
    (ext / "scripts").mkdir(parents=True)
    (ext / "javascript").mkdir()
    (ext / "scripts" / "ext.py").write_text(textwrap.dedent(EXTENSION_SCRIPT))
    (ext / "preload.py").write_text(textwrap.dedent(PRELOAD))
    (ext / "javascript" / "my_ext.js").write_text("window.myExtMarker = 'my-ext-js-loaded';\n")
    (ext / "style.css").write_text("#my_ext_box { outline: 1px solid red; }\n")
    (ext / "metadata.ini").write_text("[Extension]\nName = my-ext\n")
    return ext


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from fastapi.testclient import TestClient

    from modules import script_callbacks
    from webui import create_app

    data = tmp_path_factory.mktemp("extension-data")
    ext = write_extension(data / "extensions")
    install_checkpoint(data, DEMO_MODEL_DIR / "shapes-demo.safetensors")
    app, state = create_app(make_args(data, "--api", "--my-ext-flag", "from-the-command-line"))
    state.models.start_background_load().join(60)
    try:
        with TestClient(app) as client:
            yield client, state, ext
    finally:
        state.jobs.stop()
        script_callbacks.clear_callbacks()  # this extension's callbacks must not reach later tests


def decode(image: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(image)))


def components(client) -> dict[str, dict]:
    config = client.get("/config").json()
    return {c["props"]["elem_id"]: c for c in config["components"] if c.get("props", {}).get("elem_id")}


def test_the_extension_tab_and_setting_are_in_the_page(app):
    client, *_ = app
    found = components(client)
    assert found["tab_my_ext"]["props"]["label"] == "My ext"
    assert {"my_ext_box", "my_ext_out", "my_ext_button"} <= set(found)
    setting = found["setting_my_ext_colour"]
    assert setting["type"] == "radio" and [c[1] for c in setting["props"]["choices"]] == ["blue", "green", "yellow"]
    assert found["setting_my_ext_strength"]["type"] == "slider"


def test_the_tab_events_work(app):
    client, *_ = app
    config = client.get("/config").json()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"] if "props" in c}
    [dep] = [d for d in config["dependencies"] if d["targets"] == [[ids["my_ext_button"], "click"]]]
    assert dep["inputs"] == [ids["my_ext_box"]] and dep["outputs"] == [ids["my_ext_out"]]


def test_javascript_and_style_are_loaded_by_the_page(app):
    client, *_ = app
    scripts = " ".join(d.get("js") or "" for d in client.get("/config").json()["dependencies"])
    assert "my-ext-js-loaded" in scripts and "my-ext/style.css" in scripts


def test_the_setting_is_in_the_api_and_settable(app):
    client, state, ext = app
    options = client.get("/sdapi/v1/options").json()
    assert options["my_ext_colour"] == "blue" and options["my_ext_strength"] == 3
    assert client.post("/sdapi/v1/options", json={"my_ext_colour": "green"}).status_code == 200
    assert client.get("/sdapi/v1/options").json()["my_ext_colour"] == "green"
    assert json.loads(state.paths.config_file.read_text())["my_ext_colour"] == "green"
    assert (ext / "changes.txt").read_text().split() == ["green"]
    refused = client.post("/sdapi/v1/options", json={"my_ext_strength": "strong"})
    assert refused.status_code == 400 and "my_ext_strength" in refused.text
    assert client.get("/my_ext/ping").json() == {"ui": True, "colour": "green"}


def test_txt2img_shows_the_changed_colour_and_the_callback_saw_the_file(app):
    client, state, ext = app
    state.options.set("my_ext_colour", "yellow")
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "save_images": True})
    assert response.status_code == 200, response.text
    body = response.json()
    image = decode(body["images"][0])
    assert classify(np.asarray(image.convert("RGB"))).fg == "yellow"
    info = json.loads(body["info"])
    assert "a yellow circle on a white background" in info["infotexts"][0]
    assert "My ext: yellow" in info["infotexts"][0]
    [saved] = (ext / "saved.txt").read_text().split("\n")[:-1]
    assert Path(saved).is_file() and Path(saved).stat().st_size > 0
    assert (ext / "flag.txt").read_text().split() == ["from-the-command-line"]


def test_on_model_loaded_saw_the_demo_model(app):
    *_, ext = app
    assert (ext / "models.txt").read_text().split() == ["LoadedModel"]


def test_the_extensions_tab_lists_it_without_problems(app):
    from modules import extensions

    _, state, _ = app
    found = extensions.installed(state.paths, state.args)
    assert [(e.name, e.enabled, e.canonical_name) for e in found] == [("my-ext", True, "my-ext")]
    assert extensions.problems_by_extension(found).get("my-ext") is None
    assert [e.name for e in extensions.active()] == ["my-ext"]  # A1111's names, as extensions call them
    assert extensions.find_extension(found[0].path / "scripts" / "ext.py").name == "my-ext"
    assert extensions.find_extension(__file__) is None
