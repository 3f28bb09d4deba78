"""The Extras and Train tabs in a real browser (same server/page fixtures as test_ui_browser).

Runs in order on one page: send an image from PNG Info to Extras and upscale it; create an
embedding; refuse bad input with readable messages; train it 4 steps on 2 images, then resume
it and interrupt it while the live loss/step text runs.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw

from modules.sd_models.safe_load import load_pickle_tree
from tests.e2e.test_ui_browser import (  # noqa: F401 (fixtures are found by name)
    CHROMIUM, fetch_image, gallery_sources, open_tab, page, server, set_number, shot, textbox,
    wait_for_new_gallery)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")
EMBEDDING = "easel-shape"


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_function("([sel, v]) => document.querySelector(sel).value === v",
                           arg=[f"#{elem_id} input", option])


def toast_text(page, contains: str) -> str:
    toast = page.locator(".toast-body").filter(has_text=contains).first
    toast.wait_for()
    text = toast.inner_text()
    page.locator(".toast-body button, .toast-close").first.click()
    return text


def shape_image(path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> None:
    image = Image.new("RGB", size, (240, 240, 240))
    ImageDraw.Draw(image).ellipse((8, 8, size[0] - 8, size[1] - 8), fill=colour)
    image.save(path)


def test_send_from_png_info_to_extras_and_upscale_with_nearest(page, tmp_path):
    # beside "Send to inpaint" under the gallery (img2img's is built the same way; hidden tabs are not in the DOM)
    assert page.locator("#image_buttons_txt2img #txt2img_send_to_extras").count() == 1
    source = tmp_path / "source.png"
    shape_image(source, (150, 40, 200), size=(40, 24))
    open_tab(page, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(source))
    page.wait_for_selector("#pnginfo_html_info:has-text('No generation parameters')")
    page.click("#pnginfo_send_to_extras")
    page.wait_for_selector("#extras_image img", state="visible")
    choose(page, "extras_upscaler_1", "Nearest")
    set_number(page, "extras_upscaling_resize", 2)
    before = gallery_sources(page, "extras")
    page.click("#extras_generate")
    sources = wait_for_new_gallery(page, "extras", before)
    shot(page, "extras-upscaled")
    assert len(sources) == 1
    result = fetch_image(page, sources[0]).convert("RGB")
    assert result.size == (80, 48)
    assert result.getpixel((40, 24)) == (150, 40, 200)  # Nearest keeps the exact colour
    assert "1 image(s) upscaled to 80x48" in page.locator("#html_info_extras").inner_text()


def test_a_model_upscaler_dropped_in_is_offered_after_refresh(page, server):
    """A spandrel model file added while the app runs: the refresh button lists it, it
    upscales the image still in Extras, and the postprocessing infotext shows under it."""
    from tests import image_models

    _, data = server
    image_models.save_state_dict(image_models.compact(2).state_dict(), data / "models" / "ESRGAN" / "2x-Browser.pth")
    page.click("#extras_upscaler_refresh")
    choose(page, "extras_upscaler_1", "2x-Browser")
    page.locator("#extras_face_restoration").get_by_text("Face restoration").first.click()  # a closed accordion
    page.wait_for_selector("#extras_gfpgan_visibility")  # face restoration rows (A1111's ids)
    assert page.locator("#extras_codeformer_weight").count() == 1
    before = gallery_sources(page, "extras")
    page.click("#extras_generate")
    sources = wait_for_new_gallery(page, "extras", before)
    assert fetch_image(page, sources[0]).size == (80, 48)
    info = page.locator("#html_info_extras").inner_text()
    assert "Postprocess upscale by: 2, Postprocess upscaler: 2x-Browser" in info


def test_extras_without_an_image_says_so(page):
    open_tab(page, "Extras")
    page.get_by_role("tab", name="Batch Process", exact=True).click()
    page.click("#extras_generate")
    assert "no files to process" in toast_text(page, "no files")


def test_extras_batch_from_directory_writes_to_the_output_folder(page, tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for name, size in (("a", (16, 16)), ("b", (24, 20))):
        shape_image(inputs / f"{name}.png", (30, 160, 90), size)
    page.get_by_role("tab", name="Batch from Directory", exact=True).click()
    textbox(page, "extras_batch_input_dir").fill(str(inputs))
    textbox(page, "extras_batch_output_dir").fill(str(outputs))
    before = gallery_sources(page, "extras")
    page.click("#extras_generate")
    sources = wait_for_new_gallery(page, "extras", before)
    assert len(sources) == 2
    written = {p.name: Image.open(p).size for p in outputs.iterdir()}
    assert written == {"a.png": (32, 32), "b.png": (48, 40)}


def test_create_embedding_appears_in_the_dropdown_and_the_folder(page, server):
    _, data = server
    open_tab(page, "Train")
    textbox(page, "train_new_embedding_name").fill("bad/name")
    page.click("#train_create_embedding")
    assert "contains '/'" in toast_text(page, "contains")
    textbox(page, "train_new_embedding_name").fill(EMBEDDING)
    textbox(page, "train_initialization_text").fill("circle")
    page.click("#train_create_embedding")
    page.wait_for_selector(f"#ti_output:has-text('Created embedding {EMBEDDING}')")
    assert (data / "embeddings" / f"{EMBEDDING}.pt").is_file()
    assert load_pickle_tree(data / "embeddings" / f"{EMBEDDING}.pt")["step"] == 0
    page.get_by_role("tab", name="Train", exact=True).last.click()
    page.wait_for_function("v => document.querySelector('#train_embedding input').value === v", arg=EMBEDDING)
    shot(page, "train-embedding-created")


def test_training_refuses_a_missing_dataset_folder(page, server):
    textbox(page, "train_dataset_directory").fill(str(server[1] / "no-such-folder"))
    page.click("#train_train_embedding")
    assert "data_root" in toast_text(page, "is not a folder")


def test_train_four_steps_on_two_images(page, server):
    _, data = server
    dataset = data / "train-data"
    dataset.mkdir()
    for index, colour in enumerate(((150, 40, 200), (120, 30, 180))):
        shape_image(dataset / f"circle-{index}.png", colour)
    textbox(page, "train_dataset_directory").fill(str(dataset))
    for elem_id, value in (("train_training_width", 64), ("train_training_height", 64), ("train_steps", 4),
                           ("train_create_image_every", 0), ("train_save_embedding_every", 2)):
        set_number(page, elem_id, value)
    page.click("#train_train_embedding")
    page.wait_for_selector("#ti_output:has-text('finished at step 4')", timeout=60_000)
    shot(page, "train-finished")
    assert page.locator("#train_train_embedding").is_visible()
    assert load_pickle_tree(data / "embeddings" / f"{EMBEDDING}.pt")["step"] == 4
    snapshots = sorted(p.name for p in (data / "textual_inversion").rglob(f"{EMBEDDING}-*.pt"))
    assert snapshots == [f"{EMBEDDING}-2.pt", f"{EMBEDDING}-4.pt"]


def test_interrupt_training_shows_live_loss_and_saves_where_it_stopped(page, server):
    _, data = server
    set_number(page, "train_steps", 100_000)  # resumes from step 4; far more than the test waits for
    set_number(page, "train_save_embedding_every", 0)
    page.click("#train_train_embedding")
    page.wait_for_function(  # a few steps in, so the step text and ETA are live readings
        "() => /Step: (\\d+)\\//.test(document.querySelector('#ti_output').innerText)"
        " && +document.querySelector('#ti_output').innerText.match(/Step: (\\d+)\\//)[1] >= 7", timeout=60_000)
    live = page.locator("#ti_output").inner_text()
    assert re.search(r"Loss: \d+\.\d+, Step: \d+/100000, Last prompt: ", live), live
    assert "ETA" in page.locator("#ti_progress").inner_text()
    shot(page, "train-running")
    page.click("#train_interrupt_training")
    page.wait_for_selector("#ti_output:has-text('Training interrupted at step')", timeout=30_000)
    assert page.locator("#train_train_embedding").is_visible() and not page.locator(
        "#train_interrupt_training").is_visible()
    stopped = int(re.search(r"interrupted at step (\d+)", page.locator("#ti_output").inner_text())[1])
    embedding = data / "embeddings" / f"{EMBEDDING}.pt"
    assert stopped >= 7 and load_pickle_tree(embedding)["step"] == stopped
    [adam] = load_pickle_tree(embedding.with_name(embedding.name + ".optim"))["optimizer_state_dict"]["state"].values()
    assert int(adam["step"]) == stopped  # the optimizer state went on from the 4-step run's


def test_no_uncaught_errors_in_the_page(page):
    assert page.errors == []
