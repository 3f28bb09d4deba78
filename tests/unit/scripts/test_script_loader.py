"""The Script API's loader and argument layout (no model: Script classes written in tmp files)."""

import textwrap

import gradio as gr
import pytest

from modules import scripts
from modules.processing import ParamsError, UnknownNameError

TEMPLATE = '''
import gradio as gr
import modules.scripts as scripts

FOLDER = scripts.basedir()


class {name}(scripts.Script):
    def title(self):
        return "{title}"

    def show(self, is_img2img):
        return {show}

    def ui(self, is_img2img):
        return [gr.Slider(minimum=0, maximum=10, step=1, value={value}, label="{title} amount"),
                gr.Checkbox(False, label="{title} flag")]
'''


def write(folder, filename, name, title, show="True", value=1):
    path = folder / filename
    path.write_text(textwrap.dedent(TEMPLATE.format(name=name, title=title, show=show, value=value)))
    return path


@pytest.fixture
def loaded(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    files = [(one, write(one, "a.py", "First", "First")),
             (one, write(one, "b.py", "Always", "Always", show="scripts.AlwaysVisible", value=4)),
             (two, two / "broken.py"),
             (two, write(two, "c.py", "Second", "Second", show="not is_img2img", value=7))]
    (two / "broken.py").write_text("import no_such_module_anywhere\n")
    registry = scripts.ScriptRegistry()
    registry.load(files)
    return registry, one, two


def test_loader_keeps_order_records_failures_and_sets_basedir(loaded):
    registry, one, two = loaded
    assert [c.script_class.__name__ for c in registry.classes] == ["First", "Always", "Second"]
    assert [(path.name, message.split(":")[0]) for path, message in registry.failures] == \
        [("broken.py", "ModuleNotFoundError")]
    assert [c.module.FOLDER for c in registry.classes] == [str(one), str(one), str(two)]
    assert scripts.basedir() == str(scripts.REPO_ROOT)  # outside loading: the repo root


def test_load_scripts_replaces_the_app_registry(tmp_path):
    write(tmp_path, "x.py", "X", "X")
    scripts.load_scripts([(tmp_path, tmp_path / "x.py"), (tmp_path, tmp_path / "missing.py")])
    assert [c.script_class.__name__ for c in scripts.loaded_registry().classes] == ["X"]
    assert [p.name for p, _ in scripts.load_failures()] == ["missing.py"]
    scripts.load_scripts([])
    assert scripts.load_failures() == [] and scripts.loaded_registry().classes == []


def runner_for(registry, is_img2img):
    runner = scripts.ScriptRunner(is_img2img, registry.classes, registry)
    with gr.Blocks():
        runner.create_ui()
    return runner


def test_args_are_sliced_alwayson_first_then_selectable(loaded):
    registry, *_ = loaded
    txt = runner_for(registry, False)
    assert [s.title() for s in txt.alwayson_scripts] == ["Always"]
    assert txt.titles() == ["First", "Second"]
    always, first, second = txt.alwayson_scripts[0], *txt.selectable_scripts
    assert [(s.args_from, s.args_to) for s in (always, first, second)] == [(1, 3), (3, 5), (5, 7)]
    assert txt.default_args() == [0, 4, False, 1, False, 7, False]
    args = txt.resolve_args("second", [9], {"always": {"args": [2, True]}})
    assert args == [2, 2, True, 1, False, 9, False]
    assert txt.selected(args) is second
    assert runner_for(registry, True).titles() == ["First"]  # Second shows on txt2img only


def test_run_passes_the_selected_scripts_slice(loaded):
    registry, *_ = loaded
    runner = runner_for(registry, False)
    seen = []
    runner.selectable_scripts[1].run = lambda p, *args: seen.append(args) or "done"
    assert runner.run(object(), *runner.resolve_args("Second", [3, True], {})) == "done"
    assert seen == [(3, True)]
    assert runner.run(object(), *runner.default_args()) is None  # no script selected


@pytest.mark.parametrize("request_args, error, field", [
    (("nope", [], {}), UnknownNameError, "script_name"),
    ((None, [1], {}), ParamsError, "script_args"),
    (("First", [1, False, 3], {}), ParamsError, "script_args"),
    (("First", ["ten"], {}), ParamsError, "script_args[0]"),
    (("First", [1, "yes"], {}), ParamsError, "script_args[1]"),
    ((None, [], {"nope": {"args": []}}), UnknownNameError, "alwayson_scripts"),
    ((None, [], {"First": {"args": []}}), ParamsError, "alwayson_scripts"),
    ((None, [], {"Always": [1]}), ParamsError, "alwayson_scripts"),
    ((None, [], []), ParamsError, "alwayson_scripts"),
])
def test_bad_requests_name_the_field(loaded, request_args, error, field):
    registry, *_ = loaded
    with pytest.raises(error) as caught:
        runner_for(registry, False).resolve_args(*request_args)
    assert caught.value.field == field


def test_a_raising_hook_names_the_script(loaded):
    registry, *_ = loaded
    runner = runner_for(registry, False)

    def fail(p, *args):
        raise KeyError("oops")

    runner.alwayson_scripts[0].process = fail

    class P:
        script_args = runner.default_args()

    with pytest.raises(scripts.ScriptError, match=r"script 'Always' \(b.py\) failed in process\(\): KeyError"):
        runner.process(P())


def test_ui_that_raises_drops_the_script_and_records_it(loaded):
    registry, *_ = loaded
    runner = scripts.ScriptRunner(False, registry.classes, registry)
    runner.selectable_scripts[0].ui = lambda is_img2img: 1 / 0
    with gr.Blocks():
        runner.create_ui()
    assert runner.titles() == ["Second"] and runner.selectable_scripts[0].args_from == 3
    assert "ZeroDivisionError" in registry.failures[-1][1]
