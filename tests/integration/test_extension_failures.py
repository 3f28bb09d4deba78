"""A broken extension never stops Easel: a script that fails to import, a failing install.py,
an unreadable metadata.ini, callbacks that raise and a malformed tab are each reported in the
Extensions tab and the log, while the app starts, the other extension works and jobs run."""

from __future__ import annotations

import logging
import textwrap

import pytest

from modules.paths import DEMO_MODEL_DIR
from tests.helpers import install_checkpoint, make_args

BAD_CALLBACKS = '''
from modules import script_callbacks


def settings():
    raise RuntimeError("settings boom")


def saved(params):
    raise RuntimeError("saved boom")


script_callbacks.on_ui_settings(settings)
script_callbacks.on_image_saved(saved)
script_callbacks.on_app_started(lambda demo, app: 1 / 0)
script_callbacks.on_ui_tabs(lambda: [("not a tab",)])
'''

GOOD = '''
from modules import script_callbacks, shared

script_callbacks.on_ui_settings(
    lambda: shared.opts.add_option("good_ext_word", shared.OptionInfo("fine", "Word", section=("good", "Good"))))
'''


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from fastapi.testclient import TestClient

    from modules import extensions, script_callbacks
    from webui import create_app

    data = tmp_path_factory.mktemp("broken-extension-data")
    broken = data / "extensions" / "broken-ext"
    (broken / "scripts").mkdir(parents=True)
    (broken / "scripts" / "bad_import.py").write_text("import a_module_that_is_not_installed\n")
    (broken / "scripts" / "bad_callbacks.py").write_text(textwrap.dedent(BAD_CALLBACKS))
    (broken / "install.py").write_text("raise SystemExit('pip could not reach the index')\n")
    (broken / "metadata.ini").write_text("[Extension\nName = nope\n")
    good = data / "extensions" / "good-ext"
    (good / "scripts").mkdir(parents=True)
    (good / "scripts" / "good.py").write_text(textwrap.dedent(GOOD))
    install_checkpoint(data, DEMO_MODEL_DIR / "shapes-demo.safetensors")
    extensions.problems.clear("install")
    app, state = create_app(make_args(data, "--api"))
    state.models.start_background_load().join(60)
    try:
        with TestClient(app) as client:
            yield client, state
    finally:
        state.jobs.stop()
        script_callbacks.clear_callbacks()  # this extension's callbacks must not reach later tests


def problems(state) -> list[str]:
    from modules import extensions

    return extensions.problems_by_extension(extensions.installed(state.paths, state.args)).get("broken-ext", [])


def test_every_failure_is_listed_for_the_broken_extension(app):
    _, state = app
    found = problems(state)
    expected = ["ModuleNotFoundError: No module named 'a_module_that_is_not_installed'",
                "install.py exited with status 1: pip could not reach the index", "metadata.ini is unreadable",
                "callback ui_settings_callback in bad_callbacks.py: RuntimeError: settings boom",
                "callback app_started_callback in bad_callbacks.py: ZeroDivisionError"]
    for text in expected:
        assert any(text in line for line in found), (text, found)


def test_the_extensions_tab_shows_the_problems(app):
    client, _ = app
    config = client.get("/config").json()
    [table] = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "extensions_installed_html"]
    html = table["props"]["value"]
    assert "broken-ext" in html and "good-ext" in html
    assert "a_module_that_is_not_installed" in html and "pip could not reach the index" in html
    assert "could not be added" in html  # the malformed tab


def test_the_good_extension_and_generation_still_work(app, caplog):
    client, state = app
    assert client.get("/sdapi/v1/options").json()["good_ext_word"] == "fine"
    with caplog.at_level(logging.ERROR):
        response = client.post("/sdapi/v1/txt2img", json={"prompt": "a red circle on a white background",
                                                           "steps": 4, "width": 64, "height": 64,
                                                           "save_images": True})
    assert response.status_code == 200, response.text
    assert any("callback image_saved_callback in bad_callbacks.py: RuntimeError: saved boom" in line
               for line in problems(state))
    assert "saved boom" in caplog.text


def test_install_py_is_not_run_again_at_each_start_once_it_worked(app):
    from modules import extensions

    _, state = app
    broken = state.paths.extensions_dir / "broken-ext"
    (broken / "install.py").write_text("open('ran.txt', 'a').write('x')\n")
    found = extensions.installed(state.paths, state.args)
    extensions.run_pending_installers(found, state.paths.data_dir)
    extensions.run_pending_installers(found, state.paths.data_dir)
    assert (broken / "ran.txt").read_text() == "x"
