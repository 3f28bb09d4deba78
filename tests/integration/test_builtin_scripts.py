"""A1111's built-in scripts (scripts/) through the API on the demo model: what the images
show (colours and shapes per grid cell, per line, per loop), sizes, infotext, and bad
arguments refused with a 422 naming them."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from modules.paths import DEMO_MODEL_DIR
from tests.helpers import api_client
from tools.shapes_dataset import classify

COMMON = {"prompt": "a red circle on a white background", "steps": 10, "width": 64, "height": 64,
          "sampler_name": "Euler a", "cfg_scale": 7, "seed": 5}
XYZ_DEFAULTS = ["Nothing", "", [], "Nothing", "", [], "Nothing", "", [], True, False, False, False, False, False,
                False, 0, False]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("builtin-scripts")
    with api_client(data_dir, {"shapes-demo.safetensors": DEMO_MODEL_DIR / "shapes-demo.safetensors"}) as (client, state):
        yield client, state


def decode(image: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(image))).convert("RGB")


def encode(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def reading(image: Image.Image):
    found = classify(np.asarray(image))
    return found.fg, found.shape


def xyz_args(**changes):
    names = ["x_type", "x_values", "x_values_dropdown", "y_type", "y_values", "y_values_dropdown", "z_type",
             "z_values", "z_values_dropdown", "draw_legend", "include_lone_images", "include_sub_grids",
             "no_fixed_seeds", "vary_seeds_x", "vary_seeds_y", "vary_seeds_z", "margin_size", "csv_mode"]
    args = list(XYZ_DEFAULTS)
    for name, value in changes.items():
        args[names.index(name)] = value
    return args


def post(client, route, **body):
    response = client.post(f"/sdapi/v1/{route}", json={**COMMON, **body})
    assert response.status_code == 200, response.text
    data = response.json()
    return [decode(image) for image in data["images"]], json.loads(data["info"])


def test_scripts_are_listed_per_tab_as_a1111(api):
    client, _ = api
    listed = client.get("/sdapi/v1/scripts").json()
    both = ["prompt matrix", "prompts from file or textbox", "x/y/z plot"]
    img2img_only = ["loopback", "outpainting mk2", "poor man's outpainting", "sd upscale"]
    assert sorted(listed["txt2img"]) == both
    assert sorted(listed["img2img"]) == sorted(both + img2img_only)
    info = {(s["name"], s["is_img2img"]): s for s in client.get("/sdapi/v1/script-info").json()}
    assert [a["label"] for a in info[("sd upscale", True)]["args"]] == [None, "Tile overlap", "Upscaler",
                                                                         "Scale Factor"]
    assert len(info[("x/y/z plot", False)]["args"]) == 18
    assert [a["label"] for a in info[("loopback", True)]["args"]] == [
        "Loops", "Final denoising strength", "Denoising strength curve", "Append interrogated prompt at each iteration"]


def test_xyz_grid_of_colours_by_shapes(api):
    client, _ = api
    pictures, info = post(client, "txt2img", script_name="x/y/z plot", script_args=xyz_args(
        x_type="Prompt S/R", x_values="red,blue", y_type=7, y_values="circle, square", include_lone_images=True))
    grid, cells = pictures[0], pictures[1:]
    expected = [("red", "circle"), ("blue", "circle"), ("red", "square"), ("blue", "square")]
    assert [reading(cell) for cell in cells] == expected
    # the grid: a label band on the left (3/4 of a cell) and on top, then the 2x2 cells
    left = 64 * 3 // 4
    top = grid.height - 2 * 64
    assert grid.width == left + 2 * 64 and top > 5
    for index, wanted in enumerate(expected):
        row, col = divmod(index, 2)
        cell = grid.crop((left + col * 64, top + row * 64, left + (col + 1) * 64, top + (row + 1) * 64))
        assert reading(cell) == wanted
        assert np.array_equal(np.asarray(cell), np.asarray(cells[index]))
    labels = np.asarray(grid.crop((left, 0, grid.width, top)).convert("L"))
    assert labels.min() < 100  # the column labels are drawn
    assert "Script: X/Y/Z plot, X Type: Prompt S/R, X Values: \"red,blue\", Y Type: Prompt S/R" in info["infotexts"][0]
    assert "a blue square" in info["infotexts"][4]


def test_xyz_numeric_ranges_seeds_and_z_grids(api):
    client, _ = api
    pictures, info = post(client, "txt2img", script_name="x/y/z plot", script_args=xyz_args(
        x_type="Seed", x_values="1-3", z_type="Steps", z_values="4-8 [2]", include_lone_images=True,
        include_sub_grids=True, draw_legend=False))
    # main grid (two 3x1 sub-grids side by side), the two sub-grids, then the 6 cells
    assert len(pictures) == 1 + 2 + 6
    assert pictures[0].size == (6 * 64, 64) and pictures[1].size == (3 * 64, 64)
    assert info["all_seeds"][-6:] == [1, 2, 3, 1, 2, 3]
    assert "Steps: 4," in info["infotexts"][3] and "Steps: 8," in info["infotexts"][6]
    assert "Fixed X Values: \"1, 2, 3\"" in info["infotexts"][0] and "Z Type: Steps" in info["infotexts"][0]


def test_xyz_checkpoint_clip_skip_and_varied_seeds(api):
    client, _ = api
    pictures, info = post(client, "txt2img", script_name="x/y/z plot", script_args=xyz_args(
        x_type="Checkpoint name", x_values="shapes-demo", y_type="Clip skip", y_values="1, 2", vary_seeds_y=True,
        include_lone_images=True))
    assert len(pictures) == 3 and pictures[0].size[0] == 64 * 3 // 4 + 64
    assert info["all_seeds"] == [5, 6]  # "Vary seeds for Y": the seed moves on with each row
    assert "Model: shapes-demo" in info["infotexts"][1] and "Clip skip: 2" in info["infotexts"][2]
    assert "Clip skip" not in info["infotexts"][1]  # 1 is the default, left out as A1111 does


@pytest.mark.parametrize("changes, message", [
    ({"x_type": "Steps", "x_values": "5, lots"}, "X values (Steps): 'lots' is not a whole number"),
    ({"x_type": "Sampler", "x_values": "Euler, Nope"}, "X values (Sampler): 'Nope'"),
    ({"y_type": "Prompt S/R", "y_values": "green, blue"}, "Y values (Prompt S/R): 'green' is not in the prompt"),
    ({"z_type": "No such axis"}, "Z type 'No such axis' is not one of"),
    ({"x_type": 99}, "X type 99"),
    ({"x_type": "Checkpoint name", "x_values": "missing-model"}, "X values (Checkpoint name): 'missing-model'"),
    ({"x_type": "Size", "x_values": "64x64, 65x64"}, "X values (Size): '65x64'"),
])
def test_xyz_bad_values_are_refused_naming_axis_and_value(api, changes, message):
    client, state = api
    before = len(state.jobs.list())
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "script_name": "x/y/z plot",
                                                      "script_args": xyz_args(**changes)})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("script_args") and message in response.json()["detail"]
    assert len(state.jobs.list()) == before


def test_prompt_matrix_makes_every_combination(api):
    client, _ = api
    pictures, info = post(client, "txt2img", prompt="circle on a white background|a red|a blue",
                          script_name="prompt matrix", script_args=[True, False, "positive", "space", 0])
    grid, cells = pictures[0], pictures[1:]
    assert len(cells) == 4
    assert info["all_prompts"] == ["circle on a white background", "a red circle on a white background",
                                   "a blue circle on a white background", "a red a blue circle on a white background"]
    assert reading(cells[1]) == ("red", "circle") and reading(cells[2]) == ("blue", "circle")
    # 2 columns ("a red" off/on) x 2 rows ("a blue" off/on) under and beside their label bands
    left, top = 64 * 3 // 4, grid.height - 2 * 64
    assert grid.width == left + 2 * 64 and top > 5
    assert np.array_equal(np.asarray(grid.crop((left + 64, top, left + 128, top + 64))), np.asarray(cells[1]))
    assert np.array_equal(np.asarray(grid.crop((left, top + 64, left + 64, top + 128))), np.asarray(cells[2]))
    assert info["all_seeds"] == [5, 5, 5, 5]
    _, info = post(client, "txt2img", prompt="circle on a white background|a red|a blue",
                   script_name="prompt matrix", script_args=[True, True, "positive", "space", 0])
    assert info["all_seeds"] == [5, 6, 7, 8]


def test_prompts_from_textbox_lines_with_their_own_seeds(api):
    client, _ = api
    lines = "\n".join(['--prompt "a green square on a white background" --seed 11',
                       "a blue circle on a white background",
                       '--prompt "a yellow triangle on a black background" --seed 7 --steps 8'])
    pictures, info = post(client, "txt2img", prompt="", script_name="prompts from file or textbox",
                          script_args=[False, False, "start", lines])
    assert [reading(p)[0] for p in pictures] == ["green", "blue", "yellow"]
    assert info["all_seeds"][0] == 11 and info["all_seeds"][1] == 5 and info["all_seeds"][2] == 7
    assert "Seed: 11," in info["infotexts"][0] and "Steps: 8," in info["infotexts"][2]


def test_prompts_from_textbox_iterate_seed_and_bad_line(api):
    client, _ = api
    _, info = post(client, "txt2img", script_name="prompts from file or textbox",
                   script_args=[True, False, "start", "one\ntwo"])
    assert info["all_seeds"] == [5, 6]
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "script_name": "prompts from file or textbox",
                                                      "script_args": [False, False, "start", "fine\n--seed x"]})
    assert response.status_code == 422
    assert "line 2 ('--seed x')" in response.json()["detail"]
    response = client.post("/sdapi/v1/txt2img", json={**COMMON, "script_name": "prompts from file or textbox",
                                                      "script_args": [False, False, "start", "--bogus 3 --seed 1"]})
    assert response.status_code == 422 and "unknown option --bogus" in response.json()["detail"]


def test_prompts_from_textbox_insert_at_start_or_end_and_same_random_seed(api):
    client, _ = api
    _, info = post(client, "txt2img", prompt="on a white background", script_name="prompts from file or textbox",
                   script_args=[False, False, "start", "a green circle"])
    assert info["all_prompts"] == ["a green circle on a white background"]
    pictures, info = post(client, "txt2img", prompt="a blue", seed=-1, script_name="prompts from file or textbox",
                          script_args=[False, True, "end", "square on a white background\ncircle on a white background"])
    assert info["all_prompts"] == ["a blue square on a white background", "a blue circle on a white background"]
    assert [reading(p) for p in pictures] == [("blue", "square"), ("blue", "circle")]
    assert info["all_seeds"][0] == info["all_seeds"][1]  # one random seed for every line
