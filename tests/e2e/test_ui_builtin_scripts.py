"""The built-in X/Y/Z plot in a real browser on the demo model: picking it shows its axis
controls, an axis with fixed choices (Sampler) swaps its textbox for a dropdown, and a
Prompt S/R x Prompt S/R plot fills the gallery with a labelled grid of the right cells."""

from __future__ import annotations


import numpy as np
import pytest

from modules.paths import DEMO_MODEL_DIR
from tests.e2e.test_ui_browser import (CHROMIUM, fetch_image, open_tab, set_number, textbox,
                                       wait_for_new_gallery)
from tests.e2e.in_process import browser_page, serve_in_process
from tests.helpers import install_checkpoint, make_args
from tools.shapes_dataset import classify

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")
XYZ = "txt2img_script_x_y_z_plot"


@pytest.fixture(scope="module")
def page(tmp_path_factory):

    import webui

    data = tmp_path_factory.mktemp("ui-builtin-scripts")
    install_checkpoint(data, DEMO_MODEL_DIR / "shapes-demo.safetensors")
    app, state = webui.create_app(make_args(data))
    with serve_in_process(app, state) as base_url, browser_page(base_url, height=1200) as page:
        yield page


def pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    # the list closes after the pick; the next dropdown's list must not meet this one still open
    page.get_by_role("option").first.wait_for(state="detached")


def test_xyz_plot_from_the_ui(page):
    open_tab(page, "txt2img")
    pick(page, "tab_txt2img #script_list", "X/Y/Z plot")
    page.locator(f"#{XYZ}_x_type").wait_for(state="visible")
    # Sampler has fixed choices: its values become a dropdown, the textbox hides
    pick(page, f"{XYZ}_y_type", "Sampler")
    page.locator(f"#{XYZ}_y_values_dropdown").wait_for(state="visible")
    assert not page.locator(f"#{XYZ}_y_values").is_visible()
    pick(page, f"{XYZ}_x_type", "Prompt S/R")
    textbox(page, f"{XYZ}_x_values").fill("red,blue")
    pick(page, f"{XYZ}_y_type", "Prompt S/R")
    page.locator(f"#{XYZ}_y_values").wait_for(state="visible")
    textbox(page, f"{XYZ}_y_values").fill("circle,square")
    textbox(page, "txt2img_prompt").fill("a red circle on a white background")
    for name, value in {"width": 64, "height": 64, "steps": 10, "seed": 5}.items():
        set_number(page, f"txt2img_{name}", value)
    page.click("#txt2img_generate")
    sources = wait_for_new_gallery(page, "txt2img", [])
    grid = fetch_image(page, sources[0]).convert("RGB")
    left, top = 48, grid.height - 128
    assert grid.width == left + 128 and top > 5
    cells = [classify(np.asarray(grid.crop((left + c * 64, top + r * 64, left + c * 64 + 64, top + r * 64 + 64))))
             for r in range(2) for c in range(2)]
    assert [(cell.fg, cell.shape) for cell in cells] == [("red", "circle"), ("blue", "circle"),
                                                         ("red", "square"), ("blue", "square")]
    assert "X Type: Prompt S/R" in page.locator("#html_info_txt2img").inner_text()
    assert page.errors == []
