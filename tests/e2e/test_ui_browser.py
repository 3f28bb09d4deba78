"""The Gradio page in a real browser (Playwright + Debian's Chromium) against the real server.

One server (tiny random-weight SD1 checkpoint, temp data dir) and one page serve all tests,
in order; screenshots go to outputs/test-artifacts/ui/. Skipped only when no chromium binary
exists (install it with `apt-get install chromium`; .ci/run does).
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.cmd_args import REPO_ROOT
from modules.images import read_infotext
from modules.jobs import JOBS_DB_NAME, JobStatus, JobStore
from modules.sd_models.random_weights import write_checkpoint
from tests.helpers import TINY_ARCHITECTURES
from tests.server import running_server

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "outputs" / "test-artifacts" / "ui"
EXTENSION_JS = "window.demoExtensionRuns = (window.demoExtensionRuns || 0) + 1;\n" \
               "onUiLoaded(() => { window.demoExtensionSawUi = !!gradioApp().querySelector('#txt2img_prompt'); });\n"
PROMPT = "a red circle on blue"


@contextmanager
def serve(data: Path, *flags: str) -> Iterator[str]:
    """launch.py serving `data` (the caller puts a checkpoint there) with `flags`; yields the base URL."""
    with running_server(data, "--no-demo-model", *flags) as server:
        server.wait_until_answering("/", timeout=120)
        yield server.base


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui-data")
    write_checkpoint(data / "models" / "Stable-diffusion" / "tiny.safetensors", TINY_ARCHITECTURES["sd1"])
    extension = data / "extensions" / "demo-extension"
    (extension / "javascript").mkdir(parents=True)
    (extension / "javascript" / "demo.js").write_text(EXTENSION_JS)
    lora = data / "models" / "Lora" / "tiny-style.safetensors"  # only listed, never loaded here
    lora.parent.mkdir(parents=True)
    lora.write_bytes(b"not read by the panel")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(lora.with_suffix(".png"))
    with serve(data) as base:
        yield base, data


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    base, _ = server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.errors = []  # uncaught page errors, checked by the last test
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda m: print("CONSOLE", m.type, m.text[:300]) if m.type == "error" else None)
        page.goto(base + "/")
        page.wait_for_selector("#model_status:has-text('Loaded')", timeout=120_000)  # background checkpoint load
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label, exact=True).first.click()


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input[type=text]").first


def small_fast_settings(page, tab: str) -> None:
    for name, value in (("width", 64), ("height", 64), ("steps", 3)):
        set_number(page, f"{tab}_{name}", value)


def gallery_sources(page, tab: str) -> list[str]:
    return page.eval_on_selector_all(f"#{tab}_gallery img", "els => els.map(e => e.src)")


def wait_for_new_gallery(page, tab: str, before: list[str]) -> list[str]:
    page.wait_for_function(
        "([sel, before]) => { const s = [...document.querySelectorAll(sel)].map(e => e.src);"
        " return s.length > 0 && JSON.stringify(s) !== JSON.stringify(before); }",
        arg=[f"#{tab}_gallery img", before])
    page.wait_for_selector(f"#{tab}_generate", state="visible")
    return gallery_sources(page, tab)


def fetch_image(page, src: str) -> Image.Image:
    image = Image.open(io.BytesIO(page.request.get(src).body()))
    image.load()
    return image


def saved_pngs(data: Path, kind: str) -> list[Path]:
    return sorted((data / "outputs" / f"{kind}-images").rglob("*.png"), key=lambda p: p.stat().st_mtime)


def test_txt2img_generates_into_gallery_and_saves_infotext(page, server):
    _, data = server
    textbox(page, "txt2img_prompt").fill(PROMPT)
    small_fast_settings(page, "txt2img")
    page.wait_for_function("document.querySelector('#txt2img_token_counter').innerText.trim() === '5/75'")
    page.click("#txt2img_generate")
    sources = wait_for_new_gallery(page, "txt2img", [])
    shot(page, "txt2img-generated")
    assert len(sources) == 1
    shown = fetch_image(page, sources[0])
    assert shown.size == (64, 64)
    info = page.locator("#html_info_txt2img").inner_text()
    assert PROMPT in info and "Steps: 3" in info and "Size: 64x64" in info
    files = saved_pngs(data, "txt2img")
    assert len(files) == 1
    infotext, _ = read_infotext(Image.open(files[0]))
    assert infotext.startswith(PROMPT) and "Steps: 3" in infotext


def download_links(page, tab: str, count: int) -> list[str]:
    links = page.locator(f"#download_files_{tab} a[href]")
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[f"#download_files_{tab} a[href]", count])
    return [links.nth(i).get_attribute("href") for i in range(count)]


def test_save_and_zip_offer_the_generated_file_itself(page, server):
    _, data = server
    [saved] = saved_pngs(data, "txt2img")
    page.click("#save_txt2img")
    [href] = download_links(page, "txt2img", 1)
    assert page.request.get(href).body() == saved.read_bytes()  # the PNG with its infotext, not a re-encode
    page.click("#save_zip_txt2img")
    page.wait_for_function("() => [...document.querySelectorAll('#download_files_txt2img a[href]')]"
                           ".some(a => a.getAttribute('href').endsWith('.zip'))")
    [href] = download_links(page, "txt2img", 1)
    with zipfile.ZipFile(io.BytesIO(page.request.get(href).body())) as archive:
        assert archive.namelist() == [saved.name] and archive.read(saved.name) == saved.read_bytes()


def test_bad_width_shows_a_readable_error_not_a_traceback(page):
    set_number(page, "txt2img_width", 500)
    page.click("#txt2img_generate")
    toast = page.locator(".toast-body").filter(has_text="multiple of 8").first
    toast.wait_for()
    text = toast.inner_text()
    shot(page, "txt2img-bad-width")
    assert "width: must be a multiple of 8, got 500" in text and "Traceback" not in text
    set_number(page, "txt2img_width", 64)
    page.locator(".toast-body button, .toast-close").first.click()


def test_png_info_reads_parameters_and_sends_them_to_txt2img(page, server):
    _, data = server
    textbox(page, "txt2img_prompt").fill("something else")
    set_number(page, "txt2img_steps", 9)  # sending must bring 3 back
    open_tab(page, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(saved_pngs(data, "txt2img")[-1]))
    page.wait_for_selector(f"#pnginfo_html_info:has-text('{PROMPT}')")
    html_text = page.locator("#pnginfo_html_info").inner_text()
    assert "Steps: 3" in html_text and "Sampler: DPM++ 2M" in html_text
    page.click("#pnginfo_send_to_txt2img")
    page.wait_for_function("p => document.querySelector('#txt2img_prompt textarea').value === p", arg=PROMPT)
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "3"
    assert page.locator("#txt2img_width input[type=number]").input_value() == "64"
    shot(page, "pnginfo-sent-to-txt2img")


def test_paste_button_fills_the_fields_from_an_infotext_in_the_prompt(page):
    open_tab(page, "txt2img")
    textbox(page, "txt2img_prompt").fill("a blue square\nNegative prompt: dull\n"
                                         "Steps: 7, Sampler: Euler a, Schedule type: Karras, CFG scale: 4.5, Seed: 99, "
                                         "Size: 64x64")
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a blue square'")
    assert textbox(page, "txt2img_neg_prompt").input_value() == "dull"
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "7"
    assert page.locator("#txt2img_cfg_scale input[type=number]").input_value() == "4.5"
    assert page.locator("#txt2img_sampling input").input_value() == "Euler a"
    assert page.locator("#txt2img_scheduler input").input_value() == "Karras"
    for elem_id, value in (("txt2img_prompt", PROMPT), ("txt2img_neg_prompt", "")):
        textbox(page, elem_id).fill(value)
    set_number(page, "txt2img_steps", 3)


def test_send_to_img2img_and_generate_with_ctrl_enter(page):
    open_tab(page, "txt2img")
    before = gallery_sources(page, "img2img")
    page.click("#txt2img_send_to_img2img")
    page.wait_for_selector("#img2img_image img", state="visible")  # the last of the send steps
    assert textbox(page, "img2img_prompt").input_value() == PROMPT
    set_number(page, "img2img_denoising_strength", 0.5)
    textbox(page, "img2img_prompt").press("Control+Enter")
    sources = wait_for_new_gallery(page, "img2img", before)
    shot(page, "img2img-generated")
    assert fetch_image(page, sources[0]).size == (64, 64)
    info = page.locator("#html_info_img2img").inner_text()
    assert PROMPT in info and "Denoising strength: 0.5" in info


def test_inpaint_changes_only_the_painted_area(page, server):
    open_tab(page, "txt2img")
    original = np.asarray(fetch_image(page, gallery_sources(page, "txt2img")[0]).convert("RGB"), dtype=int)
    page.click("#txt2img_send_to_inpaint")
    editor = page.locator("#img2maskimg")

    editor.locator("canvas").first.wait_for()
    page.wait_for_timeout(500)  # the editor lays the image out
    editor.locator("button[aria-label='Brush']").click()
    zoom = float(editor.get_by_text("%").first.inner_text().strip().rstrip("%")) / 100
    box = editor.locator("canvas").first.bounding_box()
    left = box["x"] + box["width"] / 2 - 32 * zoom  # the 64x64 image is centred in the canvas
    top = box["y"] + box["height"] / 2 - 32 * zoom
    page.mouse.move(left + 2 * zoom, top + 2 * zoom)  # a dab in the top-left corner
    page.mouse.down()
    page.mouse.move(left + 6 * zoom, top + 6 * zoom, steps=4)
    page.mouse.up()
    before = gallery_sources(page, "img2img")
    page.click("#img2img_generate")
    sources = wait_for_new_gallery(page, "img2img", before)
    shot(page, "inpaint-generated")
    job = JobStore(server[1] / JOBS_DB_NAME).list()[-1]
    assert job.kind == "img2img" and job.params["mask"], "the job was not an inpaint job"
    result = np.asarray(fetch_image(page, sources[0]).convert("RGB"), dtype=int)
    changed = np.abs(result - original).sum(axis=-1) > 0
    assert changed[:8, :8].all(), "the painted corner was not repainted"
    ys, xs = np.nonzero(changed)
    # the dab's brush (radius ~half the image at this zoom) plus the 4 px mask blur stays left of/above 52
    assert xs.max() < 52 and ys.max() < 52, f"pixels far from the brush changed: x <= {xs.max()}, y <= {ys.max()}"


def test_extra_network_card_inserts_its_syntax_and_takes_it_out_again(page):
    open_tab(page, "txt2img")
    prompt = textbox(page, "txt2img_prompt")
    prompt.fill("a cat")
    page.locator("#txt2img_extra_networks").get_by_text("Extra networks", exact=True).click()
    page.locator("#txt2img_extra_tabs").get_by_role("tab", name="Lora", exact=True).click()
    card = page.locator("#txt2img_lora_cards img").first
    card.wait_for()
    assert "tiny-style" in page.locator("#txt2img_lora_cards").inner_text()
    card.click()
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value.includes('<lora:')")
    assert prompt.input_value() == "a cat, <lora:tiny-style:1>"
    shot(page, "extra-networks")
    card.click()
    page.wait_for_function("!document.querySelector('#txt2img_prompt textarea').value.includes('<lora:')")
    assert prompt.input_value() == "a cat"


def test_a_lora_that_cannot_be_used_is_named_in_a_warning_and_the_image_still_comes(page):
    open_tab(page, "txt2img")
    small_fast_settings(page, "txt2img")
    textbox(page, "txt2img_prompt").fill("a cat <lora:tiny-style:1>")  # its file is not a safetensors
    before = gallery_sources(page, "txt2img")
    page.click("#txt2img_generate")
    wait_for_new_gallery(page, "txt2img", before)
    toast = page.locator(".toast-body").filter(has_text="tiny-style.safetensors").first
    toast.wait_for()
    assert "Traceback" not in toast.inner_text()
    page.locator(".toast-body button, .toast-close").first.click()


def test_save_a_style_then_apply_it_to_another_prompt(page, server):
    _, data = server
    open_tab(page, "txt2img")
    textbox(page, "txt2img_prompt").fill("oil painting")
    textbox(page, "txt2img_neg_prompt").fill("blurry")
    textbox(page, "txt2img_style_name").fill("painterly")
    page.click("#txt2img_style_create")
    page.wait_for_function("document.querySelector('#txt2img_style_name input, #txt2img_style_name textarea')"
                           ".value === ''")
    assert "painterly,oil painting,blurry" in (data / "styles.csv").read_text()
    textbox(page, "txt2img_prompt").fill("a dog")
    textbox(page, "txt2img_neg_prompt").fill("")
    page.locator("#txt2img_styles input").click()
    page.keyboard.type("painterly")
    page.keyboard.press("Enter")
    page.click("#txt2img_style_apply")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a dog, oil painting'")
    assert textbox(page, "txt2img_neg_prompt").input_value() == "blurry"


def test_interrupt_stops_a_long_generation(page, server):
    open_tab(page, "txt2img")
    # many images of many steps: on any machine the job is still running when the click lands
    for name, value in (("width", 128), ("height", 128), ("steps", 150), ("batch_count", 50)):
        set_number(page, f"txt2img_{name}", value)
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_progress:has-text('step')")
    started = time.perf_counter()
    shot(page, "txt2img-running")
    page.click("#txt2img_interrupt")
    page.wait_for_selector("#txt2img_generate", state="visible")
    assert time.perf_counter() - started < 20
    assert not page.locator("#txt2img_interrupt").is_visible()
    assert "failed" not in page.locator("#txt2img_progress").inner_text().lower()
    job = JobStore(server[1] / JOBS_DB_NAME).list()[-1]
    assert job.status is JobStatus.INTERRUPTED and job.progress.job_no < 50
    small_fast_settings(page, "txt2img")
    set_number(page, "txt2img_batch_count", 1)


def test_settings_change_persists_across_reload(page, server):
    base, data = server
    open_tab(page, "Settings")
    page.locator("#settings_sections").get_by_text("Saving images/grids", exact=True).click()
    page.locator("#setting_samples_format").get_by_text("webp", exact=True).click()
    set_number(page, "setting_jpeg_quality", 65)
    page.click("#settings_submit")
    page.wait_for_selector("#settings_result:has-text('2 settings changed')")
    stored = json.loads((data / "config.json").read_text())
    assert stored["samples_format"] == "webp" and stored["jpeg_quality"] == 65
    page.fill("#settings_search input, #settings_search textarea", "quality")
    page.wait_for_selector("#setting_samples_format", state="hidden")
    assert page.locator("#setting_jpeg_quality").is_visible()
    page.reload()
    page.wait_for_selector("#model_status:has-text('Loaded')")
    open_tab(page, "Settings")
    page.click("#settings_show_all_pages")
    page.wait_for_selector("#setting_jpeg_quality", state="visible")
    page.wait_for_function("document.querySelector('#setting_jpeg_quality input[type=number]').value === '65'")
    assert page.locator("#setting_samples_format input[value=webp]").is_checked()
    shot(page, "settings-after-reload")


def test_extension_scripts_run_and_disabling_is_saved(page, server):
    _, data = server
    assert page.evaluate("window.demoExtensionRuns") == 1
    assert page.evaluate("window.demoExtensionSawUi") is True
    open_tab(page, "Extensions")
    assert "demo-extension" in page.locator("#extensions_installed_html").inner_text()
    page.locator("#extensions_enabled").get_by_text("demo-extension", exact=True).click()
    page.click("#extensions_apply")
    page.wait_for_selector("#extensions_result:has-text('Disabled: demo-extension')")
    stored = json.loads((data / "extensions-state.json").read_text())
    assert stored == {"disabled_extensions": ["demo-extension"]}
    assert "disabled" in page.locator("#extensions_installed_html").inner_text()
    shot(page, "extensions")


def test_selecting_a_malicious_checkpoint_never_runs_its_code(page, server):
    from tests.unit.foundation.test_safe_load import write_malicious_ckpt

    _, data = server
    marker = data / "code-ran"
    write_malicious_ckpt(data / "models" / "Stable-diffusion" / "evil.ckpt", marker)
    page.click("#refresh_sd_model_checkpoint")
    page.locator("#setting_sd_model_checkpoint input").click()
    page.get_by_role("option", name="evil.ckpt").click()
    page.wait_for_selector("text=evil.ckpt: refused to load")  # the toast, in words
    assert not marker.exists()
    page.wait_for_selector("#model_status:has-text('tiny.safetensors')")  # the previous model still serves
    shot(page, "malicious-checkpoint-refused")


def test_no_uncaught_errors_in_the_page(page):
    assert page.errors == []
