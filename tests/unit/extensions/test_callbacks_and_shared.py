"""script_callbacks (A1111's names: registration, dispatch, a failing callback recorded while
the others run) and the shared facade (opts / OptionInfo / cmd_opts / state)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from modules import script_callbacks, shared
from modules.cmd_args import parse_args
from modules.options import OptionError, Options, OptionsRegistry


@pytest.fixture(autouse=True)
def clean_callbacks(monkeypatch):
    saved = {key: list(value) for key, value in script_callbacks.callback_map.items()}
    monkeypatch.setattr(script_callbacks, "_failures", [])
    script_callbacks.clear_callbacks()
    yield
    for key, value in saved.items():
        script_callbacks.callback_map[key][:] = value


def test_a_failing_callback_is_recorded_and_the_next_one_still_runs(caplog):
    seen = []

    def broken(params):
        raise ValueError("callback boom")

    script_callbacks.on_image_saved(broken)
    script_callbacks.on_image_saved(lambda params: seen.append(params.filename))
    with caplog.at_level(logging.ERROR):
        script_callbacks.image_saved_callback(script_callbacks.ImageSaveParams(None, None, "out.png", {}))
    assert seen == ["out.png"]
    [failure] = script_callbacks.failures()
    assert failure.event == "image_saved_callback" and failure.message == "ValueError: callback boom"
    assert failure.script == __file__ and "callback boom" in caplog.text


def test_ui_tabs_collects_every_extensions_tabs():
    script_callbacks.on_ui_tabs(lambda: [("blocks-a", "A", "a")])
    script_callbacks.on_ui_tabs(lambda: None)
    script_callbacks.on_ui_tabs(lambda: 1 / 0)
    assert script_callbacks.ui_tabs_callback() == [("blocks-a", "A", "a")]
    assert [f.event for f in script_callbacks.failures()] == ["ui_tabs_callback"]


def test_callbacks_are_named_by_their_file_and_removed_per_file():
    script_callbacks.on_app_started(lambda demo, app: None, name="mine")
    script_callbacks.on_app_started(lambda demo, app: None, name="mine")
    names = [c.name for c in script_callbacks.callback_map["callbacks_app_started"]]
    assert names == ["test_callbacks_and_shared.py/app_started/mine", "test_callbacks_and_shared.py/app_started/mine-1"]
    script_callbacks.remove_current_script_callbacks()
    assert script_callbacks.callback_map["callbacks_app_started"] == []


def test_registering_a_callback_easel_never_calls_warns(caplog):
    with caplog.at_level(logging.WARNING):
        script_callbacks.on_image_grid(lambda params: None)
    assert "on_image_grid callback, which Easel never calls" in caplog.text
    with pytest.raises(TypeError, match="not callable"):
        script_callbacks.on_model_loaded("not a function")


@pytest.fixture
def bound(tmp_path):
    args = parse_args(["--data-dir", str(tmp_path), "--no-demo-model"])
    options = Options(OptionsRegistry.builtin(), tmp_path / "config.json")
    engine = SimpleNamespace(args=args, options=options, jobs=None, models=SimpleNamespace(current_or_none=None),
                             paths=SimpleNamespace(data_dir=tmp_path, models_dir=tmp_path / "models"), styles=None)
    previous = shared._engine
    shared.bind(engine)
    yield engine
    shared._engine = previous


def test_opts_reads_sets_and_registers_settings(bound, tmp_path):
    import gradio as gr

    assert shared.opts.samples_format == "png"
    shared.opts.samples_format = "webp"
    assert bound.options.get("samples_format") == "webp"
    with pytest.raises(OptionError, match="samples_format"):
        shared.opts.samples_format = "bmp"
    changes = []
    shared.opts.add_option("my_slider", shared.OptionInfo(0.5, "Strength", gr.Slider,
                                                          {"minimum": 0, "maximum": 1, "step": 0.1},
                                                          onchange=lambda: changes.append("slider"),
                                                          section=("mine", "My section")).info("0 is off"))
    shared.opts.add_option("my_choice", shared.OptionInfo("b", "Pick", gr.Dropdown,
                                                          lambda: {"choices": ["a", "b", "c"]}, section=("mine", "My")))
    info = bound.options.registry.infos["my_slider"]
    assert (info.section, info.component, info.minimum, info.maximum, info.step) == ("My section", "slider", 0, 1, 0.1)
    assert bound.options.registry.infos["my_choice"].dynamic_choices() == ["a", "b", "c"]
    assert shared.opts.set("my_slider", 0.7) is True and changes == ["slider"]
    assert shared.opts.data["my_slider"] == 0.7 and shared.opts.get_default("my_slider") == 0.5
    with pytest.raises(OptionError, match="already registered"):
        shared.opts.add_option("samples_format", shared.OptionInfo("png", "again"))
    with pytest.raises(AttributeError):
        shared.opts.no_such_setting


def test_extension_settings_survive_a_restart_and_a_disabled_extension(bound, tmp_path):
    shared.opts.add_option("my_text", shared.OptionInfo("default", "Text", section=("mine", "Mine")))
    shared.opts.my_text = "kept"
    later = Options(OptionsRegistry.builtin(), tmp_path / "config.json")  # the extension is not loaded yet
    later.set("samples_format", "jpg")  # saving must keep the unknown key
    again = Options(OptionsRegistry.builtin(), tmp_path / "config.json")
    bound.options = again
    shared.opts.add_option("my_text", shared.OptionInfo("default", "Text", section=("mine", "Mine")))
    assert shared.opts.my_text == "kept" and shared.opts.samples_format == "jpg"


def test_cmd_opts_and_state_without_a_running_job(bound):
    assert shared.cmd_opts.data_dir == bound.args.data_dir and shared.cmd_opts.no_demo_model is True
    assert shared.cmd_opts.xformers is None  # an A1111 flag Easel does not have
    assert shared.cmd_opts.disable_extension_access is False
    assert (shared.state.interrupted, shared.state.job_count, shared.state.sampling_step) == (False, 0, 0)
    shared.state.interrupt()  # no queue, no job: nothing to stop, and no error
    assert shared.sd_model is None and shared.data_path == str(bound.paths.data_dir)


def test_shared_before_bind_says_so():
    previous = shared._engine
    shared._engine = None
    try:
        with pytest.raises(RuntimeError, match="not bound"):
            shared.opts.samples_format
    finally:
        shared._engine = previous


def test_the_engine_never_imports_the_extension_surface():
    import subprocess
    import sys

    code = ("import sys, modules.processing.pipeline, modules.generation_jobs, modules.engine_state, "
            "modules.sd_models.manager, modules.jobs; "
            "print(*[name in sys.modules for name in ('modules.shared', 'modules.script_callbacks', "
            "'modules.extensions', 'modules.extension_install')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"] * 4
