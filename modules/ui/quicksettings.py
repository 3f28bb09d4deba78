"""The top bar: the settings named in the `quicksettings_list` option (checkpoint, VAE,
clip skip by default), each applied as soon as it changes, plus the model status line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.engine_state import EngineState
from modules.options import OptionError
from modules.sd_models.safe_load import CheckpointLoadError
from modules.ui.components import ToolButton, option_choices, setting_component
from modules.ui.settings import option_value

REFRESHABLE = ("sd_model_checkpoint", "sd_vae")  # lists that change when files are added


def model_status(state: EngineState) -> str:
    models = state.models
    model, loading, error = models.current_or_none, models.loading, models.last_error
    if loading is not None:
        return f"Loading **{loading.title}**…"
    if model is not None:
        loaded = f"Loaded **{model.info.title}** ({model.arch.label}, {model.load_seconds:.1f}s)"
        return f"{loaded}. Could not switch: {error}" if error else loaded
    return f"No checkpoint loaded: {error}" if error else "Loading checkpoint…"


def quick_value(state: EngineState, key: str) -> Any:
    """A setting's value for the top bar; the checkpoint shows the one loading, if any."""
    if key == "sd_model_checkpoint":
        return state.models.current_title or state.options.get(key)
    return state.options.get(key)


@dataclass
class QuickSettings:
    components: dict[str, Any]  # option key -> component
    status: gr.Markdown


def quicksettings_keys(state: EngineState) -> list[str]:
    """The keys to show, in the option's order; unknown keys are skipped (A1111 does too)."""
    return [key for key in state.options.quicksettings_list if key in state.options.registry.infos]


def create_quicksettings(state: EngineState) -> QuickSettings:
    options = state.options
    components: dict[str, Any] = {}
    refresh_buttons: dict[str, gr.Button] = {}
    with gr.Row(elem_id="quicksettings"):
        for key in quicksettings_keys(state):
            components[key] = setting_component(state, key, quick_value(state, key), scale=2, min_width=200)
            if key in REFRESHABLE:
                refresh_buttons[key] = ToolButton("🔄", f"refresh_{key}")
    status = gr.Markdown(model_status(state), elem_id="model_status")
    quick = QuickSettings(components, status)

    def apply(key: str):
        def handler(value: Any):
            try:
                options.update({key: option_value(options.registry.infos[key], value)})
            except (OptionError, CheckpointLoadError) as e:
                gr.Warning(str(e))
            return gr.update(value=quick_value(state, key)), model_status(state)
        return handler

    def refresh(key: str):
        def handler():
            state.models.refresh()
            return gr.update(choices=option_choices(state, key), value=options.get(key))
        return handler

    for key, component in components.items():
        component.input(apply(key), inputs=component, outputs=[component, status], show_progress="minimal")
    for key, button in refresh_buttons.items():
        button.click(refresh(key), outputs=components[key], show_progress="hidden")
    return quick


def load_updates(state: EngineState, quick: QuickSettings) -> list[Any]:
    """Page-load values: current settings and model (waits for the startup load to end)."""
    state.models.wait_idle(timeout=300)
    updates = [gr.update(value=quick_value(state, key), choices=option_choices(state, key))
               if key in REFRESHABLE else gr.update(value=quick_value(state, key))
               for key in quick.components]
    return [*updates, model_status(state)]
