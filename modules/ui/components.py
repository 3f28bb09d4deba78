"""Widgets shared by the generation tabs, with A1111's element ids (`<tab>_prompt`, …).

Each `create_*` builds its part in the current Blocks context and returns the components
in a dataclass; the `fields` dicts map params field names to components, which is all the
tabs need to turn a click into params (params_form.py) and an infotext into updates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gradio as gr

from modules import sampling
from modules.engine_state import EngineState
from modules.processing.params import MAX_BATCH_COUNT, MAX_BATCH_SIZE, MAX_SIDE, MAX_STEPS
from modules.prompting import PromptStyle
from modules.ui import params_form
from modules.ui.token_counter import TokenCounter

RANDOM_SYMBOL, REUSE_SYMBOL, SWAP_SYMBOL = "🎲", "♻️", "⇅"
PASTE_SYMBOL, APPLY_STYLE_SYMBOL, SAVE_STYLE_SYMBOL = "↙️", "📋", "💾"
MAX_SEED = 2**32 - 1
# Gradio removes visible=False components from the page and mounts them again when shown;
# the run/stop buttons swap on every job, so they stay mounted and are only hidden.
KEPT_HIDDEN = "hidden"


def ToolButton(value: str, elem_id: str, visible: bool = True) -> gr.Button:  # noqa: N802 (A1111's name)
    return gr.Button(value, elem_id=elem_id, elem_classes=["tool"], scale=0, min_width=40, size="sm",
                     visible=visible)


def wire_job_start(trigger: Callable[..., Any], check: Callable[[dict[Any, Any]], Any], running: dict[Any, Any],
                   stream: Callable[..., Any], idle: dict[Any, Any], inputs: set[Any], outputs: list[Any]) -> None:
    """A run button in two events: a plain one that checks the form (`check` raises gr.Error
    for bad input) and swaps the buttons to `running`, then the streamed job (`stream`), whose
    last update (or, if it fails, `idle`) swaps them back.

    Gradio sends a generator's chunks as diffs, and the page can miss the first one; the button
    swap must not be missed (a hidden Interrupt), so it travels in the plain event's whole reply
    and the stream carries only progress and the finished state."""

    def prepare(data: dict[Any, Any]) -> dict[Any, Any]:
        check(data)
        return running

    started = trigger(prepare, inputs=inputs, outputs=list(running), show_progress="hidden", concurrency_limit=None)
    job = started.success(stream, inputs=inputs, outputs=outputs, show_progress="hidden", concurrency_limit=None)
    job.failure(lambda: idle, outputs=list(idle), show_progress="hidden", queue=False)


def owner_of(request: gr.Request | None) -> str:
    """The queue's fairness key: the logged-in user (same key as the API), else the page session."""
    if request is None:
        return "ui:anonymous"
    username = getattr(request, "username", None)
    return f"user:{username}" if username else f"ui:{getattr(request, 'session_hash', None) or 'anonymous'}"


@dataclass
class TopRow:
    """Prompts, token counters, styles and the Generate/Interrupt/Skip buttons."""

    tab: str
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    token_counter: gr.HTML
    negative_token_counter: gr.HTML
    styles: gr.Dropdown
    style_apply: gr.Button
    style_name: gr.Textbox
    style_save: gr.Button
    paste: gr.Button
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button


def create_top_row(tab: str, state: EngineState) -> TopRow:
    with gr.Row(elem_id=f"{tab}_toprow"):
        with gr.Column(scale=6, elem_id=f"{tab}_prompt_container"):
            prompt = gr.Textbox(label="Prompt", lines=3, max_lines=12, elem_id=f"{tab}_prompt",
                                placeholder="Prompt (Ctrl+Enter to generate; paste an infotext and press ↙️)")
            counter = gr.HTML("<span>0/75</span>", elem_id=f"{tab}_token_counter",
                              elem_classes=["easel-token-counter"])
            negative = gr.Textbox(label="Negative prompt", lines=2, max_lines=8, elem_id=f"{tab}_neg_prompt")
            negative_counter = gr.HTML("<span>0/75</span>", elem_id=f"{tab}_negative_token_counter",
                                       elem_classes=["easel-token-counter"])
        with gr.Column(scale=2, min_width=240, elem_id=f"{tab}_actions_column"):
            generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}_generate")
            with gr.Row():
                interrupt = gr.Button("Interrupt", variant="stop", elem_id=f"{tab}_interrupt", visible=KEPT_HIDDEN)
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", visible=KEPT_HIDDEN)
            with gr.Row(elem_id=f"{tab}_tools"):
                paste = ToolButton(PASTE_SYMBOL, f"{tab}_paste")
                style_apply = ToolButton(APPLY_STYLE_SYMBOL, f"{tab}_style_apply")
            styles = gr.Dropdown(label="Styles", choices=state.styles.names(), value=[], multiselect=True,
                                 elem_id=f"{tab}_styles")
            with gr.Row():
                style_name = gr.Textbox(label="Save prompts as style", placeholder="style name",
                                        elem_id=f"{tab}_style_name", scale=4)
                style_save = ToolButton(SAVE_STYLE_SYMBOL, f"{tab}_style_create")
    return TopRow(tab, prompt, negative, counter, negative_counter, styles, style_apply, style_name, style_save,
                  paste, generate, interrupt, skip)


def wire_top_row(row: TopRow, state: EngineState, counter: TokenCounter, steps: gr.Slider) -> None:
    """Token counters and applying styles (saving styles is wired across tabs in app.py)."""
    row.prompt.change(lambda text, n: counter.label(text, n, True), inputs=[row.prompt, steps],
                      outputs=row.token_counter, trigger_mode="always_last", show_progress="hidden", queue=False)
    row.negative_prompt.change(lambda text, n: counter.label(text, n, False), inputs=[row.negative_prompt, steps],
                               outputs=row.negative_token_counter, trigger_mode="always_last",
                               show_progress="hidden", queue=False)

    def apply_styles(prompt: str, negative: str, names: list[str]):
        try:
            return (state.styles.apply_styles_to_prompt(prompt, names),
                    state.styles.apply_negative_styles_to_prompt(negative, names), [])
        except ValueError as e:
            raise gr.Error(str(e), print_exception=False) from None

    row.style_apply.click(apply_styles, inputs=[row.prompt, row.negative_prompt, row.styles],
                          outputs=[row.prompt, row.negative_prompt, row.styles])


def wire_style_saving(rows: list[TopRow], state: EngineState) -> None:
    """Saving a style in one tab updates the style list of every tab."""

    def save_style(name: str, prompt: str, negative: str):
        try:
            state.styles.put(PromptStyle(name.strip(), prompt, negative))
            state.styles.save()
        except (ValueError, OSError) as e:
            raise gr.Error(f"Could not save the style: {e}", print_exception=False) from None
        gr.Info(f"Saved style {name.strip()!r}")
        return ["", *[gr.update(choices=state.styles.names()) for _ in rows]]

    for row in rows:
        row.style_save.click(save_style, inputs=[row.style_name, row.prompt, row.negative_prompt],
                             outputs=[row.style_name, *[r.styles for r in rows]])


@dataclass
class SeedControls:
    seed: gr.Number
    random_seed: gr.Button
    reuse_seed: gr.Button
    show_variation: gr.Checkbox
    subseed: gr.Number
    random_subseed: gr.Button
    reuse_subseed: gr.Button
    subseed_strength: gr.Slider
    seed_resize_from_w: gr.Slider
    seed_resize_from_h: gr.Slider

    @property
    def fields(self) -> dict[str, gr.components.Component]:
        return {"seed": self.seed, "subseed": self.subseed, "subseed_strength": self.subseed_strength,
                "seed_resize_from_w": self.seed_resize_from_w, "seed_resize_from_h": self.seed_resize_from_h}


def create_seed_controls(tab: str) -> SeedControls:
    with gr.Row(elem_id=f"{tab}_seed_row"):
        seed = gr.Number(label="Seed", value=-1, precision=0, minimum=-1, maximum=MAX_SEED, elem_id=f"{tab}_seed",
                         scale=4)
        random_seed = ToolButton(RANDOM_SYMBOL, f"{tab}_random_seed")
        reuse_seed = ToolButton(REUSE_SYMBOL, f"{tab}_reuse_seed")
        show_variation = gr.Checkbox(label="Extra", value=False, elem_id=f"{tab}_subseed_show", scale=1)
    with gr.Group(visible=False, elem_id=f"{tab}_seed_extras") as extras:
        with gr.Row():
            subseed = gr.Number(label="Variation seed", value=-1, precision=0, minimum=-1, maximum=MAX_SEED,
                                elem_id=f"{tab}_subseed", scale=4)
            random_subseed = ToolButton(RANDOM_SYMBOL, f"{tab}_random_subseed")
            reuse_subseed = ToolButton(REUSE_SYMBOL, f"{tab}_reuse_subseed")
            strength = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength",
                                 elem_id=f"{tab}_subseed_strength", scale=4)
        with gr.Row():
            resize_w = gr.Slider(0, MAX_SIDE, value=0, step=8, label="Resize seed from width",
                                 elem_id=f"{tab}_seed_resize_from_w")
            resize_h = gr.Slider(0, MAX_SIDE, value=0, step=8, label="Resize seed from height",
                                 elem_id=f"{tab}_seed_resize_from_h")
    show_variation.change(lambda show: gr.update(visible=show), inputs=show_variation, outputs=extras,
                          show_progress="hidden", queue=False)
    random_seed.click(lambda: -1, outputs=seed, show_progress="hidden", queue=False)
    random_subseed.click(lambda: -1, outputs=subseed, show_progress="hidden", queue=False)
    return SeedControls(seed, random_seed, reuse_seed, show_variation, subseed, random_subseed, reuse_subseed,
                        strength, resize_w, resize_h)


@dataclass
class SizeSliders:
    width: gr.Slider
    height: gr.Slider
    swap: gr.Button


class SizeArea(Protocol):
    """What the sampling controls need of a size widget group (img2img adds "Resize by")."""

    width: gr.Slider
    height: gr.Slider


@dataclass
class SamplingControls:
    fields: dict[str, Any] = field(default_factory=dict)
    size: SizeArea | None = None


def create_size_sliders(tab: str) -> SizeSliders:
    """Width and height, with the button that swaps them."""
    with gr.Row():
        with gr.Column(scale=4):
            width = gr.Slider(64, MAX_SIDE, value=512, step=8, label="Width", elem_id=f"{tab}_width")
            height = gr.Slider(64, MAX_SIDE, value=512, step=8, label="Height", elem_id=f"{tab}_height")
        swap = ToolButton(SWAP_SYMBOL, f"{tab}_res_switch_btn")
    swap.click(lambda w, h: (h, w), inputs=[width, height], outputs=[width, height], show_progress="hidden",
               queue=False)
    return SizeSliders(width, height, swap)


def create_sampling_controls(tab: str, size_area: Callable[[], SizeArea] | None = None) -> SamplingControls:
    """Sampler, schedule type, steps, size (the sliders, or what `size_area` builds), batch
    count/size, CFG scale."""
    with gr.Row(elem_id=f"{tab}_sampling_row"):
        sampler = gr.Dropdown(label="Sampling method", choices=sampling.sampler_names(), value="DPM++ 2M",
                              elem_id=f"{tab}_sampling")
        scheduler = gr.Dropdown(label="Schedule type", choices=sampling.schedule_labels(), value="Automatic",
                                elem_id=f"{tab}_scheduler")
        steps = gr.Slider(1, MAX_STEPS, value=20, step=1, label="Sampling steps", elem_id=f"{tab}_steps")
    with gr.Row(elem_id=f"{tab}_dimensions_row"):
        with gr.Column(scale=4):
            size = size_area() if size_area is not None else create_size_sliders(tab)
        with gr.Column(scale=2):
            batch_count = gr.Slider(1, MAX_BATCH_COUNT, value=1, step=1, label="Batch count",
                                    elem_id=f"{tab}_batch_count")
            batch_size = gr.Slider(1, MAX_BATCH_SIZE, value=1, step=1, label="Batch size",
                                   elem_id=f"{tab}_batch_size")
    cfg = gr.Slider(1, 30, value=7.0, step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")
    fields = {"sampler_name": sampler, "scheduler": scheduler, "steps": steps, "width": size.width,
              "height": size.height, "n_iter": batch_count, "batch_size": batch_size, "cfg_scale": cfg}
    return SamplingControls(fields, size)


def create_refiner(tab: str, fields: dict[str, Any], state: EngineState) -> None:
    """The Refiner accordion (A1111 has it in txt2img and img2img): a checkpoint and where it takes over."""
    with gr.Accordion("Refiner", open=False, elem_id=f"{tab}_refiner"):
        with gr.Row():
            checkpoint = gr.Dropdown(label="Checkpoint", value=params_form.NO_REFINER,
                                     choices=[params_form.NO_REFINER, *(c.title for c in state.models.checkpoints)],
                                     elem_id=f"{tab}_refiner_checkpoint",
                                     allow_custom_value=True)  # a pasted "name [hash]", resolved just below
            fields["refiner_checkpoint"] = checkpoint
            fields["refiner_switch_at"] = gr.Slider(0.01, 1, value=0.8, step=0.01, label="Switch at",
                                                    elem_id=f"{tab}_refiner_switch_at")
    # Infotexts name the refiner by A1111's short title: show the listed checkpoint it means.
    checkpoint.change(lambda text: params_form.checkpoint_title(text, state.models.checkpoints), inputs=checkpoint,
                      outputs=checkpoint, show_progress="hidden", queue=False)


# --- settings widgets (Settings tab and the quicksettings bar) -------------------------------

def option_choices(state: EngineState, key: str) -> list[Any] | None:
    """Choices of a setting: dynamic ones (checkpoints, VAEs, setting keys) or the fixed list."""
    if key == "sd_model_checkpoint":
        return [c.title for c in state.models.checkpoints]
    if key == "sd_vae":
        return state.models.vae_choices()
    if key == "quicksettings_list":
        return list(state.options.registry.infos)
    info = state.options.registry.infos[key]
    if info.dynamic_choices is not None:
        return list(info.dynamic_choices() or [])
    return list(info.choices) if info.choices is not None else None


def setting_component(state: EngineState, key: str, value: Any, **kwargs: Any) -> gr.components.Component:
    """The widget for one registered setting (elem_id `setting_<key>`), from its UI hint."""
    info = state.options.registry.infos[key]
    common = {"label": info.label, "value": value, "elem_id": f"setting_{key}", **kwargs}
    kind = info.component
    if kind == "auto":
        kind = {bool: "checkbox", int: "number", float: "number", list: "dropdown"}.get(type(info.default), "textbox")
    if kind == "checkbox":
        return gr.Checkbox(**common)
    if kind == "slider":
        return gr.Slider(info.minimum if info.minimum is not None else 0,
                         info.maximum if info.maximum is not None else 100, step=info.step or 1, **common)
    if kind == "number":
        return gr.Number(minimum=info.minimum, maximum=info.maximum, precision=0 if type(info.default) is int else None,
                         **common)
    if kind == "radio":
        choices = option_choices(state, key) or []
        if value not in choices:  # a saved or default value nothing offers now (e.g. no restorer installed)
            choices = [value, *choices]
        return gr.Radio(choices=choices, **common)
    if kind == "dropdown":
        multiselect = isinstance(info.default, list)
        return gr.Dropdown(choices=option_choices(state, key) or [], multiselect=multiselect,
                           allow_custom_value=not multiselect, **common)
    return gr.Textbox(**common)
