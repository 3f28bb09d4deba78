"""Moving an image and its parameters between tabs: paste (↙️), "Send to …" buttons.

A `PasteTarget` is what a tab offers: its params fields, where an image goes, and extra
updates (which sub-tab to show). Sources give (image or file path, infotext).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from PIL import Image

from modules.engine_state import EngineState
from modules.processing import GenerationParams
from modules.ui import params_form

Source = Callable[..., tuple[Any, str] | None]  # (image | path | None, infotext) or None


@dataclass
class PasteTarget:
    tab_id: str  # the top-level tab to show
    params_cls: type[GenerationParams]
    fields: dict[str, Any]  # params field name -> component
    image: Any = None  # component that takes the image
    extra: dict[Any, Any] = field(default_factory=dict)  # component -> value, e.g. the sub-tab


def field_updates(target: PasteTarget, infotext: str, state: EngineState, sending: bool = False) -> dict[Any, Any]:
    """`sending`: a "Send to" button, which leaves out what the send_seed / send_size settings
    keep (A1111's); the ↙️ paste button always fills every field."""
    values = params_form.values_from_infotext(infotext, target.params_cls, state.styles, state.extra_networks.loras)
    if sending:
        left_out = ([] if state.options.send_seed else ["seed"]) + ([] if state.options.send_size else ["width", "height"])
        values = {name: value for name, value in values.items() if name not in left_out}
    return {target.fields[name]: value for name, value in params_form.only(values, target.fields).items()}


def open_image(image: Any) -> Image.Image | None:
    if image is None or isinstance(image, Image.Image):
        return image
    with Image.open(image) as opened:
        opened.load()
        return opened.copy()


def wire_paste(button: gr.Button, prompt: gr.Textbox, target: PasteTarget, state: EngineState) -> None:
    """↙️: the prompt box holds an infotext; fill the tab's fields from it."""

    def paste(text: str):
        if not params_form.has_parameters(text or ""):
            gr.Warning("The prompt box holds no generation parameters to paste "
                       "(expected an infotext with a 'Steps: …' line).")
            return {}
        return field_updates(target, text, state)

    button.click(paste, inputs=prompt, outputs=list(target.fields.values()), show_progress="hidden")


def wire_send(button: gr.Button, inputs: list[Any], source: Source, target: PasteTarget, tabs: gr.Tabs,
              state: EngineState) -> None:
    """A "Send to …" button, in three steps so that each part lands on screen: show the target
    tab; then its sub-tab and the parameters; then the image (image editors that get a value
    while hidden stay blank)."""

    def found(values: tuple[Any, ...]) -> tuple[Any, str]:
        result = source(*values)
        if result is None:
            raise gr.Error("Nothing to send yet.", print_exception=False)
        return result

    def show_tab(*values: Any):
        found(values)
        return gr.update(selected=target.tab_id)

    def fill_fields(*values: Any):
        _, infotext = found(values)
        updates = field_updates(target, infotext, state, sending=True) if infotext else {}
        updates.update(target.extra)
        return updates

    def send_image(*values: Any):
        return open_image(found(values)[0])

    event = button.click(show_tab, inputs=inputs, outputs=tabs, show_progress="hidden")
    event = event.success(fill_fields, inputs=inputs, outputs=[*target.fields.values(), *target.extra],
                          show_progress="hidden")
    if target.image is not None:
        event.success(send_image, inputs=inputs, outputs=target.image, show_progress="hidden")
