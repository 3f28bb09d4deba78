"""The Script dropdown's controls turn page values into the job's script fields (no browser:
tests/e2e/test_ui_scripts.py drives the page)."""

import textwrap
from types import SimpleNamespace

import gradio as gr
import pytest
from PIL import Image

from modules import scripts
from modules.ui.script_controls import NONE, check_request, create_script_controls

SCRIPT = '''
import gradio as gr
import modules.scripts as scripts


class Pick(scripts.Script):
    def title(self):
        return "Pick Me"

    def ui(self, is_img2img):
        return [gr.Slider(minimum=1, maximum=9, step=1, value=2, label="Count"), gr.Image(type="pil", label="Picture")]


class Always(scripts.Script):
    def title(self):
        return "Always"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(False, label="On")]
'''


@pytest.fixture
def controls(tmp_path):
    (tmp_path / "s.py").write_text(textwrap.dedent(SCRIPT))
    registry = scripts.ScriptRegistry()
    registry.load([(tmp_path, tmp_path / "s.py")])
    state = SimpleNamespace()
    state.scripts = scripts.ScriptHost(state, registry)
    with gr.Blocks():
        made = create_script_controls("txt2img", state)
    return made, state


def test_dropdown_lists_none_and_the_selectable_titles(controls):
    made, _ = controls
    assert made.dropdown.elem_id == "script_list" and made.dropdown.label == "Script"
    assert [value for _, value in made.dropdown.choices] == [NONE, "Pick Me"]
    assert len(made.groups) == 1 and made.runner.ui_created


def test_request_gathers_the_selected_and_alwayson_values(controls):
    made, state = controls
    on, count, picture = made.runner.inputs[1:4]
    image = Image.new("RGB", (8, 8), (0, 0, 255))
    data = {made.dropdown: "Pick Me", count: 5, picture: image, on: True}
    fields = made.request(data)
    assert fields["script_name"] == "pick me" and fields["script_args"][0] == 5
    assert fields["alwayson_scripts"] == {"Always": {"args": [True]}}
    check_request(state, "txt2img", fields)  # the worker's own check accepts it
    decoded = scripts.decode_arg(fields["script_args"][1])
    assert decoded.getpixel((0, 0)) == (0, 0, 255)  # the image travels as JSON and comes back
    assert "script_name" not in made.request({**data, made.dropdown: NONE})


def test_a_bad_value_is_a_toast_naming_it(controls):
    made, state = controls
    with pytest.raises(gr.Error, match=r"script_args\[0\]"):
        check_request(state, "txt2img", {"script_name": "pick me", "script_args": ["many"]})
