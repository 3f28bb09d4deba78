"""components.wire_job_start in a real browser, on a tiny Gradio app of its own: the run button
gives way to Stop as soon as the form is accepted, and comes back when the job ends, when the
form is refused, and when the streamed job itself fails."""

from __future__ import annotations

import threading

import gradio as gr
import pytest

from tests.e2e.test_ui_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")


def build_app(release: threading.Event) -> gr.Blocks:
    from modules.ui.components import KEPT_HIDDEN, wire_job_start

    with gr.Blocks() as demo:
        box = gr.Textbox(elem_id="box")
        run = gr.Button("Run", elem_id="run")
        stop = gr.Button("Stop", elem_id="stop", visible=KEPT_HIDDEN)
        status = gr.HTML(elem_id="status")
        running = {run: gr.update(visible=KEPT_HIDDEN), stop: gr.update(visible=True)}
        idle = {run: gr.update(visible=True), stop: gr.update(visible=KEPT_HIDDEN)}

        def check(data):
            if data[box] == "bad":
                raise gr.Error("the form is refused", print_exception=False)

        def stream(data):
            if data[box] == "explode":
                raise gr.Error("the job broke", print_exception=False)
            yield {status: "running"}
            release.wait(30)
            yield {**idle, status: "done"}

        wire_job_start(run.click, check, running, stream, idle, {box}, [run, stop, status])
    return demo


@pytest.fixture(scope="module")
def release():
    return threading.Event()


@pytest.fixture(scope="module")
def page(release):
    from playwright.sync_api import sync_playwright

    demo = build_app(release)
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            page.wait_for_selector("#run")
            yield page
            browser.close()
    finally:
        demo.close()


def submit(page, text: str) -> None:
    page.fill("#box textarea, #box input", text)
    page.click("#run")


def close_toast(page, text: str) -> None:
    toast = page.locator(".toast-body").filter(has_text=text).first
    toast.wait_for()
    toast.locator("button").first.click()


def test_stop_replaces_run_while_the_job_streams_and_run_comes_back_after(page, release):
    submit(page, "fine")
    page.wait_for_selector("#status:has-text('running')")
    assert page.locator("#stop").is_visible() and not page.locator("#run").is_visible()
    release.set()
    page.wait_for_selector("#status:has-text('done')")
    page.wait_for_selector("#run", state="visible")
    assert not page.locator("#stop").is_visible()


def test_a_refused_form_never_shows_stop(page):
    submit(page, "bad")
    close_toast(page, "the form is refused")
    assert page.locator("#run").is_visible() and not page.locator("#stop").is_visible()


def test_a_failing_job_gives_the_run_button_back(page):
    submit(page, "explode")
    close_toast(page, "the job broke")
    page.wait_for_selector("#run", state="visible")
    assert not page.locator("#stop").is_visible()
