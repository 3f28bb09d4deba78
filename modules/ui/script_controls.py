"""The Script dropdown and the scripts' own controls in txt2img/img2img (A1111's layout).

Each script's ui() runs once, here, inside the tab (the API reads the same components for
/script-info and default arguments). A selectable script's controls show only while it is
picked; AlwaysVisible scripts' controls always show. On Generate the values become the job's
script_name / script_args / alwayson_scripts, in the API's form, so the worker checks and runs
a UI job exactly as an API one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules import scripts
from modules.processing import ParamsError
from modules.ui.components import KEPT_HIDDEN

log = logging.getLogger(__name__)
NONE = "None"


@dataclass
class ScriptControls:
    runner: scripts.ScriptRunner
    dropdown: gr.Dropdown
    groups: list[Any]  # one per selectable script, in order

    @property
    def inputs(self) -> list[Any]:
        return [self.dropdown, *self.runner.inputs[1:]]

    def request(self, data: dict[Any, Any]) -> dict[str, Any]:
        """The job's script fields from the page's values (keyed by component)."""
        title = data[self.dropdown]
        fields: dict[str, Any] = {}
        if title and title != NONE:
            script = self.runner.find(title, self.runner.selectable_scripts)
            if script is None:
                raise gr.Error(f"script_name: script {title!r} is not loaded", print_exception=False)
            fields["script_name"] = title.lower()
            fields["script_args"] = self._values(script, data)
        alwayson = {s.title(): {"args": self._values(s, data)} for s in self.runner.alwayson_scripts
                    if s.args_to > s.args_from}
        if alwayson:
            fields["alwayson_scripts"] = alwayson
        return fields

    def _values(self, script: scripts.Script, data: dict[Any, Any]) -> list[Any]:
        return [scripts.encode_arg(data[c]) for c in self.runner.inputs[script.args_from:script.args_to]]


def create_script_controls(tab: str, state: Any) -> ScriptControls | None:
    """The dropdown and the scripts' controls (call inside the tab's settings column)."""
    host = getattr(state, "scripts", None)
    if host is None:
        return None
    runner = host.runner(tab)
    if runner.ui_created:  # a second UI on the same state (tests): give it a runner of its own
        runner = host.runners[tab] = scripts.ScriptRunner(runner.is_img2img, host.registry.classes, host.registry)
    groups: list[Any] = []

    def selectable_group(script: scripts.Script) -> Any:
        group = gr.Group(visible=KEPT_HIDDEN, elem_id=f"{tab}_script_container_{len(groups)}")
        groups.append(group)
        return group

    with gr.Column(elem_id=f"{tab}_script_container"):
        dropdown = gr.Dropdown(label="Script", choices=[NONE, *runner.titles()], value=NONE,
                               elem_id="script_list", elem_classes=[f"{tab}_script_list"])
        runner.create_ui(selectable_group)
    groups = [s.group for s in runner.selectable_scripts]  # ui() failures drop scripts and their groups
    controls = ScriptControls(runner, dropdown, groups)
    dropdown.choices = [(t, t) for t in [NONE, *runner.titles()]]
    if groups:
        dropdown.change(_show_picked(runner.titles()), inputs=dropdown, outputs=groups, queue=False,
                        show_progress="hidden")
    return controls


def _show_picked(titles: list[str]):
    """Visibility updates for the scripts' groups: only the picked script's shows."""
    def updates(title: str):
        shown = [gr.update(visible=True if title == t else KEPT_HIDDEN) for t in titles]
        return shown[0] if len(shown) == 1 else shown  # Gradio takes one output's value bare, not in a list
    return updates


def check_request(state: Any, kind: str, fields: dict[str, Any]) -> None:
    """The worker's own check, before queueing: a toast naming the bad argument."""
    try:
        state.scripts.check(kind, fields)
    except ParamsError as e:
        raise gr.Error(str(e), print_exception=False) from None
