"""The Script dropdown in a real browser on the demo model: a script's controls appear when it
is picked, its run() makes the image, and an AlwaysVisible script's control always shows.

The app runs in this process (webui.create_app + uvicorn) with two test scripts loaded in place
of the built-in ones, so the test does not depend on which scripts ship in scripts/."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from modules.paths import DEMO_MODEL_DIR
from tests.e2e.test_ui_browser import (CHROMIUM, fetch_image, open_tab, set_number, shot, textbox,
                                       wait_for_new_gallery)
from tests.e2e.in_process import browser_page, serve_in_process
from tests.helpers import install_checkpoint, make_args
from tools.shapes_dataset import classify

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")

SCRIPT = '''
import gradio as gr

import modules.scripts as scripts
from modules.processing import process_images


class Recolour(scripts.Script):
    def title(self):
        return "Recolour"

    def ui(self, is_img2img):
        return [gr.Dropdown(["blue", "green"], value="blue", label="New colour", elem_id=self.elem_id("colour"))]

    def run(self, p, colour):
        p.prompt = p.prompt.replace("red", colour)
        return process_images(p)


class Tagger(scripts.Script):
    def title(self):
        return "Tagger"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(True, label="Tag the infotext", elem_id=self.elem_id("tag"))]

    def process(self, p, tag):
        if tag:
            p.extra_generation_params["Tagged by"] = "Tagger"
'''


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):

    import webui
    from modules import scripts

    data = tmp_path_factory.mktemp("ui-scripts")
    folder = tmp_path_factory.mktemp("script-ext")
    (folder / "recolour.py").write_text(textwrap.dedent(SCRIPT))
    install_checkpoint(data, DEMO_MODEL_DIR / "shapes-demo.safetensors")

    def attach(state):
        registry = scripts.ScriptRegistry()
        registry.load([(folder, folder / "recolour.py")])
        state.scripts = scripts.ScriptHost(state, registry)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webui, "attach_scripts", attach)
        app, state = webui.create_app(make_args(data))
    with serve_in_process(app, state) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def page(base_url):
    with browser_page(base_url) as page:
        yield page


def test_picking_a_script_shows_its_controls_and_runs_it(page):
    open_tab(page, "txt2img")
    colour = page.locator("#txt2img_script_recolour_colour")
    assert page.locator("#txt2img_script_tagger_tag").is_visible()  # AlwaysVisible: shown without picking
    assert not colour.is_visible()
    dropdown = page.locator("#tab_txt2img #script_list input")
    dropdown.click()
    page.get_by_role("option", name="Recolour", exact=True).click()
    colour.wait_for(state="visible")
    textbox(page, "txt2img_prompt").fill("a red circle on a white background")
    for name, value in {"width": 64, "height": 64, "steps": 20, "seed": 1}.items():
        set_number(page, f"txt2img_{name}", value)
    page.click("#txt2img_generate")
    sources = wait_for_new_gallery(page, "txt2img", [])
    shot(page, "scripts-recolour")
    reading = classify(np.asarray(fetch_image(page, sources[0]).convert("RGB")))
    assert reading.fg == "blue", reading  # the script's run() changed the prompt's colour
    info = page.locator("#html_info_txt2img").inner_text()
    assert "a blue circle" in info and "Tagged by: Tagger" in info
    assert page.errors == []
