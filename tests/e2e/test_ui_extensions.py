"""Extensions in a real browser: an A1111-style extension's tab works, its javascript and
style.css apply, its setting shows in Settings; the Extensions tab lists a broken extension's
problems and installs another one from a folder.

The app runs in this process (webui.create_app + uvicorn) on the demo model."""

from __future__ import annotations

import zipfile

import pytest

from modules.paths import DEMO_MODEL_DIR
from tests.e2e.test_ui_browser import CHROMIUM, open_tab, shot, textbox
from tests.e2e.in_process import browser_page, serve_in_process
from tests.helpers import install_checkpoint, make_args
from tests.integration.test_a1111_extension import write_extension

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: install Debian's chromium "
                                                         "(apt-get install chromium) to run the browser tests")


@pytest.fixture(scope="module")
def served(tmp_path_factory):

    import webui
    from modules import script_callbacks

    data = tmp_path_factory.mktemp("ui-extensions")
    write_extension(data / "extensions")
    broken = data / "extensions" / "broken-ext" / "scripts"
    broken.mkdir(parents=True)
    (broken / "broken.py").write_text("raise ImportError('this extension is broken on purpose')\n")
    source = tmp_path_factory.mktemp("to-install") / "installed-from-folder"
    (source / "javascript").mkdir(parents=True)
    (source / "javascript" / "later.js").write_text("window.laterExt = 1;\n")
    install_checkpoint(data, DEMO_MODEL_DIR / "shapes-demo.safetensors")
    app, state = webui.create_app(make_args(data, "--my-ext-flag", "browser"))
    try:
        with serve_in_process(app, state) as base_url:
            yield base_url, data, source
    finally:
        script_callbacks.clear_callbacks()


@pytest.fixture(scope="module")
def page(served):

    base, *_ = served
    with browser_page(base) as page:
        yield page


def test_the_extension_tab_runs_its_events_with_its_js_and_css(page):
    page.wait_for_function("window.myExtMarker === 'my-ext-js-loaded'")
    open_tab(page, "My ext")
    textbox(page, "my_ext_box").fill("hello")
    page.click("#my_ext_button")
    page.wait_for_function("document.querySelector('#my_ext_out textarea').value === 'HELLO'")
    outline = page.eval_on_selector("#my_ext_box", "el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"  # the extension's style.css
    shot(page, "extension-tab")


def test_the_extension_setting_is_in_settings(page):
    open_tab(page, "Settings")
    page.click("#settings_show_all_pages")
    page.wait_for_selector("#setting_my_ext_colour", state="visible")
    assert page.locator("#setting_my_ext_colour input[value=blue]").is_checked()


def test_extensions_tab_lists_problems_and_installs_from_a_folder(page, served):
    _, data, source = served
    evil_zip = source.parent / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as archive:
        archive.writestr("ext/../../outside.py", "print('escaped')")
    open_tab(page, "Extensions")
    table = page.locator("#extensions_installed_html")
    table.wait_for(state="visible")
    text = table.inner_text()
    assert "my-ext" in text and "broken-ext" in text and "this extension is broken on purpose" in text
    shot(page, "extensions-problems")
    page.get_by_role("tab", name="Install from file", exact=True).click()
    page.set_input_files("#extensions_install_zip input[type=file]", str(evil_zip))
    page.wait_for_selector("#extensions_install_zip :text('evil.zip')")
    page.click("#extensions_install_file_button")
    page.wait_for_selector("#extension_install_result:has-text('Not installed: the zip file is unsafe')")
    assert sorted(p.name for p in (data / "extensions").iterdir()) == ["broken-ext", "my-ext"]
    page.locator("#extensions_install_zip button[aria-label='Clear']").click()
    textbox(page, "extensions_install_folder").fill(str(source))
    page.click("#extensions_install_file_button")
    page.wait_for_selector("#extension_install_result:has-text('Installed installed-from-folder')")
    assert (data / "extensions" / "installed-from-folder" / "javascript" / "later.js").is_file()
    page.get_by_role("tab", name="Installed", exact=True).click()
    assert "installed-from-folder" in page.locator("#extensions_installed_html").inner_text()
    shot(page, "extensions-installed")
    assert page.errors == []
