"""img2img "Resize by", extra-network cards after Refresh, and training previews read from the
txt2img tab, in a real browser against the real server (started with --api, so the page and
/sdapi/v1 can be compared). Page helpers and the `page` fixture come from test_ui_browser;
screenshots go to outputs/test-artifacts/ui/.
"""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from modules.images import read_infotext
from modules.jobs import JOBS_DB_NAME, JobStore
from modules.sd_models.random_weights import write_checkpoint
from tests.e2e.test_ui_browser import (  # noqa: F401 (fixtures are found by name)
    CHROMIUM, fetch_image, gallery_sources, open_tab, page, serve, set_number, shot, textbox, wait_for_new_gallery)
from tests.e2e.test_ui_extras_train import choose, shape_image
from tests.e2e.test_ui_resize_cards_train_forms import write_lora
from tests.helpers import TINY_ARCHITECTURES

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")
EMBEDDING = "easel-preview"
TXT2IMG_SETTINGS = {"txt2img_steps": 3, "txt2img_cfg_scale": 4.5, "txt2img_seed": 77, "txt2img_width": 72,
                    "txt2img_height": 64}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui-resize-cards-train")
    write_checkpoint(data / "models" / "Stable-diffusion" / "tiny.safetensors", TINY_ARCHITECTURES["sd1"])
    with serve(data, "--api") as base:
        yield base, data


def last_job(data):
    return JobStore(data / JOBS_DB_NAME).list()[-1]


def test_img2img_resize_by_half_generates_at_half_the_image_size(page, server, tmp_path):
    _, data = server
    source = tmp_path / "source.png"
    shape_image(source, (150, 40, 200), size=(160, 128))
    open_tab(page, "img2img")
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.wait_for_selector("#img2img_image img", state="visible")
    set_number(page, "img2img_steps", 3)
    page.locator("#img2img_resize_tabs").get_by_role("tab", name="Resize by", exact=True).click()
    set_number(page, "img2img_scale", 0.5)
    page.wait_for_selector("#img2img_scale_resolution_preview:has-text('resize: from 160x128 to 80x64')")
    shot(page, "img2img-resize-by")
    page.click("#img2img_generate")
    sources = wait_for_new_gallery(page, "img2img", [])
    assert fetch_image(page, sources[0]).size == (80, 64)
    assert (last_job(data).params["width"], last_job(data).params["height"]) == (80, 64)
    assert "Size: 80x64" in page.locator("#html_info_img2img").inner_text()


def test_img2img_resize_to_uses_the_sliders_again(page, server):
    _, data = server
    page.locator("#img2img_resize_tabs").get_by_role("tab", name="Resize to", exact=True).click()
    set_number(page, "img2img_width", 64)
    set_number(page, "img2img_height", 96)
    before = gallery_sources(page, "img2img")
    page.click("#img2img_generate")
    sources = wait_for_new_gallery(page, "img2img", before)
    assert fetch_image(page, sources[0]).size == (64, 96)
    assert (last_job(data).params["width"], last_job(data).params["height"]) == (64, 96)


def test_a_lora_added_to_the_folder_shows_after_refresh_in_the_cards_and_the_api(page, server):
    base, data = server
    open_tab(page, "txt2img")
    page.locator("#txt2img_extra_networks").get_by_text("Extra networks", exact=True).click()
    page.locator("#txt2img_extra_tabs").get_by_role("tab", name="Lora", exact=True).click()
    write_lora(data / "models" / "Lora" / "added-style.safetensors")
    (data / "models" / "Lora" / "added-style.json").write_text('{"preferred weight": 0.6}')  # A1111's card editor
    page.click("#txt2img_extra_refresh")
    page.wait_for_selector("#txt2img_lora_cards:has-text('added-style')")
    shot(page, "extra-networks-refreshed")
    api_names = [item["name"] for item in httpx.get(base + "/sdapi/v1/loras", timeout=30).json()]
    assert api_names == ["added-style"]
    page.locator("#txt2img_lora_cards img").first.click()
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === '<lora:added-style:0.6>'")
    textbox(page, "txt2img_prompt").fill("")


def test_training_previews_read_the_txt2img_settings(page, server):
    _, data = server
    open_tab(page, "txt2img")
    textbox(page, "txt2img_prompt").fill("a purple circle")
    textbox(page, "txt2img_neg_prompt").fill("blurry")
    choose(page, "txt2img_sampling", "Euler a")
    for elem_id, value in TXT2IMG_SETTINGS.items():
        set_number(page, elem_id, value)
    dataset = data / "train-data"
    dataset.mkdir()
    for index, colour in enumerate(((150, 40, 200), (120, 30, 180))):
        shape_image(dataset / f"circle-{index}.png", colour)
    open_tab(page, "Train")
    textbox(page, "train_new_embedding_name").fill(EMBEDDING)
    page.click("#train_create_embedding")
    page.wait_for_selector(f"#ti_output:has-text('Created embedding {EMBEDDING}')")
    page.get_by_role("tab", name="Train", exact=True).last.click()
    page.wait_for_function("v => document.querySelector('#train_embedding input').value === v", arg=EMBEDDING)
    textbox(page, "train_dataset_directory").fill(str(dataset))
    for elem_id, value in (("train_training_width", 64), ("train_training_height", 64), ("train_steps", 2),
                           ("train_create_image_every", 2), ("train_save_embedding_every", 0)):
        set_number(page, elem_id, value)
    page.locator("#train_preview_from_txt2img input[type=checkbox]").check()
    page.click("#train_train_embedding")
    page.wait_for_selector("#ti_output:has-text('finished at step 2')", timeout=120_000)
    shot(page, "train-preview-from-txt2img")
    job = last_job(data)
    assert job.kind == "train" and job.params["preview_from_txt2img"] is True
    assert {name: job.params[f"preview_{name}"] for name in ("prompt", "negative_prompt", "steps", "cfg_scale",
                                                              "seed", "width", "height")} == {
        "prompt": "a purple circle", "negative_prompt": "blurry", "steps": 3, "cfg_scale": 4.5, "seed": 77,
        "width": 72, "height": 64}
    [preview] = sorted((data / "textual_inversion").rglob("images/*.png"))
    infotext, _ = read_infotext(Image.open(preview))
    assert Image.open(preview).size == (72, 64)
    assert infotext.startswith("a purple circle\nNegative prompt: blurry\n") and "Sampler: Euler a" in infotext


def test_no_uncaught_errors_in_the_page(page):
    assert page.errors == []
