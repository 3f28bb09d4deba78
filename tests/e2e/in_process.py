"""An app served in this process (webui.create_app + uvicorn in a thread) and a browser page on
it, for browser tests that set the app up themselves (their own scripts or extensions)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.e2e.test_ui_browser import CHROMIUM, CHROMIUM_ARGS
from tests.server import free_port


@contextmanager
def serve_in_process(app: Any, state: Any) -> Iterator[str]:
    """Serve `app` once its checkpoint is loaded; yields the base URL, stops server and jobs after."""
    import uvicorn

    state.models.start_background_load().join(120)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        state.jobs.stop()


@contextmanager
def browser_page(base_url: str, height: int = 1000) -> Iterator[Any]:
    """A chromium page on the app, past its first render; `page.errors` collects page errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": height})
        page.set_default_timeout(60_000)
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(base_url + "/")
        page.wait_for_selector("#txt2img_generate")
        try:
            yield page
        finally:
            browser.close()
