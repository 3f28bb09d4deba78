"""img2img's "Resize to" / "Resize by" size (Gradio-free): A1111's arithmetic, the line under
the Scale slider, and which image a sub-tab scales."""

from __future__ import annotations

import pytest
from PIL import Image

from modules.processing import ParamsError
from modules.ui import editor_images
from modules.ui.img2img_size import (RESIZE_BY, RESIZE_TO, SizeChoice, resize_from_to_html, scaled_side,
                                     scaled_size)


@pytest.mark.parametrize("size, scale, expected", [
    ((512, 512), 1.0, (512, 512)),
    ((100, 60), 0.5, (48, 24)),  # 50x30, each side down to a multiple of 8
    ((640, 480), 1.5, (960, 720)),
    ((720, 1440), 0.7, (504, 1008)),  # 720 * 0.7 is 503.99999999999994 in floats: still 504
    ((33, 1000), 4.0, (128, 4000)),
])
def test_scaled_size_multiplies_and_rounds_each_side_down_to_a_multiple_of_8(size, scale, expected):
    assert scaled_size(size, scale) == expected


def test_a_side_that_scales_below_8_becomes_0():
    assert scaled_side(100, 0.05) == 0  # 5 pixels


def test_resolution_line_shows_the_size_that_will_be_generated():
    assert resize_from_to_html((100, 60), 0.5) == ("resize: from <span class='resolution'>100x60</span> "
                                                   "to <span class='resolution'>48x24</span>")
    assert resize_from_to_html(None, 0.5) == "no image selected"
    assert resize_from_to_html((100, 60), 0.05) == "no image selected"  # A1111's text for a 0-pixel side


def test_resize_to_keeps_the_sliders_and_resize_by_takes_the_image_size():
    values = {"width": 512, "height": 768, "steps": 20}
    assert SizeChoice(RESIZE_TO, 0.5).form_values(values, (100, 60)) == values
    assert SizeChoice(RESIZE_BY, 0.5).form_values(values, (100, 60)) == {"width": 48, "height": 24, "steps": 20}
    assert values["width"] == 512  # the form's own values are left alone


@pytest.mark.parametrize("tab, scale, field", [
    (2, 1.0, "selected_scale_tab"), (None, 1.0, "selected_scale_tab"),
    (RESIZE_BY, 0.0, "scale_by"), (RESIZE_BY, 4.05, "scale_by"), (RESIZE_BY, "1", "scale_by"),
    (RESIZE_BY, float("nan"), "scale_by"),
])
def test_bad_form_values_name_the_field(tab, scale, field):
    with pytest.raises(ParamsError) as error:
        SizeChoice.from_form(tab, scale)
    assert error.value.field == field


def test_form_values_become_a_size_choice():
    assert SizeChoice.from_form(1, 2) == SizeChoice(RESIZE_BY, 2.0)
    assert SizeChoice.from_form(0, 0.05) == SizeChoice(RESIZE_TO, 0.05)


def test_a_size_error_from_scaling_is_told_as_a_scale_error():
    choice = SizeChoice(RESIZE_BY, 0.5)
    explained = choice.explain(ParamsError("width", "must be between 64 and 2048, got 48"), (100, 60))
    assert explained.field == "scale_by"
    assert str(explained) == "scale_by: 100x60 resized by 0.5 is 48x24; width: must be between 64 and 2048, got 48"
    other = ParamsError("steps", "must be between 1 and 150, got 0")
    assert choice.explain(other, (100, 60)) is other
    width_error = ParamsError("width", "must be a multiple of 8, got 500")
    assert SizeChoice(RESIZE_TO).explain(width_error, (100, 60)) is width_error


def test_source_size_is_the_image_each_sub_tab_starts_from():
    image, base = Image.new("RGB", (40, 24)), Image.new("RGB", (72, 56))
    background, composite = Image.new("RGBA", (16, 8)), Image.new("RGBA", (24, 16))
    editor = {"background": background, "layers": [], "composite": composite}
    values = {"image": image, "inpaint_base": base, "sketch": editor, "inpaint": editor, "inpaint_sketch": editor}
    sizes = {mode: editor_images.source_size(mode, values)
             for mode in ("img2img", "sketch", "inpaint", "inpaint_sketch", "inpaint_upload", "batch")}
    assert sizes == {"img2img": (40, 24), "sketch": (24, 16), "inpaint": (16, 8), "inpaint_sketch": (24, 16),
                     "inpaint_upload": (72, 56), "batch": None}
    empty_editor = {"background": None, "layers": [], "composite": None}
    assert editor_images.source_size("img2img", {}) is None
    assert editor_images.source_size("inpaint", {"inpaint": empty_editor}) is None
