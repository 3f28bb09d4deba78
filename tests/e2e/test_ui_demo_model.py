"""The Gradio page on the bundled demo model, judged by what its images show (issue: Gradio UI).

A real server (launch.py with the shapes-demo checkpoint as --ckpt) and Chromium, with the
`page` fixture and helpers of test_ui_browser.py; gallery images are downloaded and read with
the evaluation tool's pixel classifier (background, foreground colour, shape).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from modules.generation_jobs import decode_image
from modules.jobs import JOBS_DB_NAME, JobStore
from modules.paths import DEMO_MODEL_DIR
from tests.e2e.test_ui_browser import (CHROMIUM, fetch_image, gallery_sources, open_tab, page,  # noqa: F401 (page)
                                       set_number, shot, textbox, wait_for_new_gallery)
from tests.server import running_server
from tools.shapes_dataset import classify, nearest_colour

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")
DEMO = DEMO_MODEL_DIR / "shapes-demo.safetensors"
PROMPT = "a red circle on a white background"
SETTINGS = {"width": 64, "height": 64, "steps": 20, "cfg_scale": 7, "seed": 1}
BRUSH_RADIUS = 12  # image pixels: a dab at the centre covers the middle of the circle, not the corners
MASK_BLUR = 4
FAR = 3 * MASK_BLUR  # the Gaussian mask blur reaches about 2.5 radii beyond the painted area


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo model as --ckpt on an empty data dir: (base URL, data dir), as `page` expects."""
    data = tmp_path_factory.mktemp("ui-demo")
    with running_server(data, "--ckpt", str(DEMO)) as server:
        server.wait_until_answering("/", timeout=120)
        yield server.base, data


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    assert page.locator(f"#{elem_id} input").input_value() == option


def paint_dab(page, editor, x: int, y: int, radius: int) -> None:
    """A short brush stroke around (x, y) of the 64x64 image, with the brush `radius` in image pixels."""
    editor.locator("button[aria-label='Brush Size']").click()
    editor.locator("input[type=range]").fill(str(radius))
    page.keyboard.press("Escape")
    editor.locator("button[aria-label='Brush']").click()
    canvas = editor.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    zoom = float(editor.get_by_text("%").first.inner_text().strip().rstrip("%")) / 100
    box = canvas.bounding_box()
    left = box["x"] + box["width"] / 2 - 32 * zoom  # the image is centred in the canvas
    top = box["y"] + box["height"] / 2 - 32 * zoom
    page.mouse.move(left + (x - 2) * zoom, top + (y - 2) * zoom)
    page.mouse.down()
    page.mouse.move(left + (x + 2) * zoom, top + (y + 2) * zoom, steps=4)
    page.mouse.up()


def colour_shares(image: np.ndarray, where: np.ndarray) -> Counter:
    names = Counter(nearest_colour(rgb) for rgb in image[where])
    return Counter({name: count / where.sum() for name, count in names.items()})


def test_txt2img_on_the_demo_model_draws_what_the_prompt_asks(page):
    open_tab(page, "txt2img")
    textbox(page, "txt2img_prompt").fill(PROMPT)
    for name, value in SETTINGS.items():
        set_number(page, f"txt2img_{name}", value)
    choose(page, "txt2img_sampling", "Euler a")
    page.click("#txt2img_generate")
    sources = wait_for_new_gallery(page, "txt2img", [])
    shot(page, "demo-txt2img")
    image = fetch_image(page, sources[0])
    assert image.size == (64, 64)
    reading = classify(pixels(image))
    assert (reading.fg, reading.shape, reading.bg) == ("red", "circle", "white"), reading
    info = page.locator("#html_info_txt2img").inner_text()
    assert "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64" in info and "Model: shapes-demo" in info


def test_inpaint_on_the_demo_model_recolours_the_painted_area_only(page, server):
    open_tab(page, "txt2img")
    original = pixels(fetch_image(page, gallery_sources(page, "txt2img")[0]))
    page.click("#txt2img_send_to_inpaint")
    editor = page.locator("#img2maskimg")
    editor.locator("canvas").first.wait_for()
    page.wait_for_timeout(500)  # the editor lays the image out
    paint_dab(page, editor, 32, 32, BRUSH_RADIUS)
    shot(page, "demo-inpaint-painted")
    textbox(page, "img2img_prompt").fill("a blue circle on a white background")
    set_number(page, "img2img_mask_blur", MASK_BLUR)
    set_number(page, "img2img_denoising_strength", 0.75)
    before = gallery_sources(page, "img2img")
    page.click("#img2img_generate")
    sources = wait_for_new_gallery(page, "img2img", before)
    shot(page, "demo-inpaint")
    result = pixels(fetch_image(page, sources[0]))
    mask = np.asarray(decode_image(JobStore(server[1] / JOBS_DB_NAME).list()[-1].params["mask"], "mask").convert("L"))
    painted = ndimage.binary_erosion(mask > 127, iterations=2)  # well inside the brush stroke
    assert 200 < painted.sum() < 1000, "the brush did not paint a dab of the expected size"
    assert colour_shares(original, painted)["red"] > 0.9  # the dab was on the red circle
    shares = colour_shares(result, painted)
    assert shares["blue"] > 0.6 and shares["red"] < 0.05, shares
    far = ndimage.distance_transform_edt(mask == 0) > FAR
    assert far.sum() > 1000  # the corners and a band along the edges
    assert np.array_equal(result[far], original[far]), "pixels far from the mask changed"


def test_no_uncaught_errors_in_the_page(page):
    assert page.errors == []
