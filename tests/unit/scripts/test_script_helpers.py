"""Script helpers without a model: X/Y/Z value syntax, axis application, tiles, outpaint geometry."""

import numpy as np
import pytest
from PIL import Image

from modules import images
from modules.processing import StableDiffusionProcessingTxt2Img
from modules.script_helpers import csv_list, parse_values
from modules.script_helpers.outpaint import match_histograms, matched_noise, plan_expansion
from modules.script_helpers.xyz_axes import apply_order, apply_prompt, axis_options


@pytest.mark.parametrize("text, kind, expected", [
    ("1-5", "int", [1, 2, 3, 4, 5]),
    ("1-5 (+2)", "int", [1, 3, 5]),
    ("10-1 (-3)", "int", [10, 7, 4, 1]),
    ("1-10 [4]", "int", [1, 4, 7, 10]),
    ("3, 7, 1-2", "int", [3, 7, 1, 2]),
    ("0.5-1 (+0.25)", "float", [0.5, 0.75, 1.0]),
    ("1-2 [3]", "float", [1.0, 1.5, 2.0]),
    ("7.5, 9", "float", [7.5, 9.0]),
    ('red, "blue, dark", green', "str", ["red", "blue, dark", "green"]),
    ("a, b", "permutations", [("a", "b"), ("b", "a")]),
    (["Euler", "DDIM"], "str", ["Euler", "DDIM"]),
])
def test_value_syntax(text, kind, expected):
    assert parse_values(text, kind) == expected


@pytest.mark.parametrize("text, kind, message", [
    ("1, x", "int", "'x' is not a whole number"),
    ("1.5", "int", "'1.5' is not a whole number"),
    ("a-b", "float", "'a-b' is not a number"),
    ("", "int", "no values"),
    ("1-5000", "int", "at most 1000"),
    ("1-5 (+0)", "int", "step must not be 0"),
])
def test_bad_values_say_what_is_wrong(text, kind, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("+", r"\+")):
        parse_values(text, kind)


def test_csv_list_strips_and_keeps_empty_replacements():
    assert csv_list("red, ,blue") == ["red", "", "blue"]


def test_prompt_search_replace_and_order():
    p = StableDiffusionProcessingTxt2Img(prompt="a red circle, big, shiny", negative_prompt="red")
    apply_prompt(p, "blue", ["red", "blue"])
    assert (p.prompt, p.negative_prompt) == ("a blue circle, big, shiny", "blue")
    p = StableDiffusionProcessingTxt2Img(prompt="a red circle, big, shiny")
    apply_order(p, ("shiny", "big"), [])
    assert p.prompt == "a red circle, shiny, big"


def test_axis_lists_keep_a1111_indices_per_tab():
    txt2img = [o.label for o in axis_options if o.shown_on(False)]
    img2img = [o.label for o in axis_options if o.shown_on(True)]
    assert txt2img[:12] == ["Nothing", "Seed", "Var. seed", "Var. strength", "Steps", "Hires steps", "CFG Scale",
                            "Prompt S/R", "Prompt order", "Sampler", "Hires sampler", "Checkpoint name"]
    assert img2img[:11] == ["Nothing", "Seed", "Var. seed", "Var. strength", "Steps", "CFG Scale",
                            "Image CFG Scale", "Prompt S/R", "Prompt order", "Sampler", "Checkpoint name"]


def test_split_and_combine_grid_round_trip():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (100, 130, 3), dtype=np.uint8))
    grid = images.split_grid(image, tile_w=64, tile_h=64, overlap=16)
    assert [y for y, _, _ in grid.tiles] == [0, 36] and [x for x, _, _ in grid.tiles[0][2]] == [0, 33, 66]
    assert all(tile.size == (64, 64) for _, _, row in grid.tiles for _, _, tile in row)
    assert np.array_equal(np.asarray(images.combine_grid(grid)), np.asarray(image))
    with pytest.raises(ValueError, match="overlap"):
        images.split_grid(image, 64, 64, overlap=64)


def test_combine_grid_blends_overlaps():
    image = Image.new("RGB", (96, 64))
    grid = images.split_grid(image, tile_w=64, tile_h=64, overlap=32)
    grid.tiles[0][2][0][2] = Image.new("RGB", (64, 64), (0, 0, 0))
    grid.tiles[0][2][1][2] = Image.new("RGB", (64, 64), (200, 200, 200))
    row = np.asarray(images.combine_grid(grid))[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 200 and 0 < row[48] < 200 and np.all(np.diff(row) >= 0)


def test_outpaint_expansion_rounds_to_64():
    grow = plan_expansion(64, 64, 32, ["left", "right"])
    assert (grow.left, grow.right, grow.up, grow.down) == (32, 32, 0, 0)
    grow = plan_expansion(100, 64, 40, ["right", "down"])
    assert (100 + grow.right) % 64 == 0 and (64 + grow.down) % 64 == 0 and grow.left == grow.up == 0


def test_matched_noise_keeps_known_pixels_and_takes_their_colours():
    image = np.zeros((32, 64, 3))
    image[:, 32:] = [0.9, 0.1, 0.1]
    mask = np.zeros_like(image)
    mask[:, :32] = 1.0
    out = matched_noise(image, mask, seed=0)
    assert np.array_equal(out[:, 32:], image[:, 32:])
    assert np.allclose(out[:, :32].mean(axis=(0, 1)), [0.9, 0.1, 0.1], atol=0.05)
    values = np.linspace(0, 1, 50)[:, None].repeat(3, axis=1)
    reference = np.full((20, 3), 0.3)
    assert np.allclose(match_histograms(values, reference), 0.3)
