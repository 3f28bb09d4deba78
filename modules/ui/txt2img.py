"""The txt2img tab: prompts, sampling, hires fix, refiner, seeds → a queued txt2img job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules import sampling
from modules.engine_state import EngineState
from modules.processing import ParamsError, Txt2ImgParams
from modules.processing.hires import SAME_SAMPLER, SAME_SCHEDULER
from modules.processing.params import MAX_SIDE, MAX_STEPS
from modules.processing.upscalers import upscaler_names
from modules.ui import extra_networks, params_form, results, ui_config
from modules.ui.components import (SeedControls, TopRow, create_refiner, create_sampling_controls,
                                   create_seed_controls, create_top_row, owner_of, wire_job_start, wire_top_row)
from modules.ui.extra_networks import ExtraNetworksPanel
from modules.ui.results import ResultPanel
from modules.ui.script_controls import ScriptControls, check_request, create_script_controls
from modules.ui.send_to import PasteTarget, wire_paste
from modules.ui.token_counter import TokenCounter

TAB = "txt2img"


@dataclass
class Txt2ImgTab:
    row: TopRow
    fields: dict[str, Any]  # params field name -> component
    seed: SeedControls
    panel: ResultPanel
    networks: ExtraNetworksPanel
    scripts: ScriptControls | None = None

    def paste_target(self) -> PasteTarget:
        return PasteTarget(TAB, Txt2ImgParams, self.fields)


def _create_hires(fields: dict[str, Any]) -> None:
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{TAB}_hr"):
        fields["enable_hr"] = gr.Checkbox(label="Hires. fix", value=False, elem_id=f"{TAB}_enable_hr")
        with gr.Row():
            fields["hr_upscaler"] = gr.Dropdown(label="Upscaler", choices=upscaler_names(), value="Latent",
                                                elem_id=f"{TAB}_hr_upscaler")
            fields["hr_second_pass_steps"] = gr.Slider(0, MAX_STEPS, value=0, step=1, label="Hires steps",
                                                       elem_id=f"{TAB}_hires_steps")
            fields["denoising_strength"] = gr.Slider(0, 1, value=0.7, step=0.01, label="Denoising strength",
                                                     elem_id=f"{TAB}_denoising_strength")
        with gr.Row():
            fields["hr_scale"] = gr.Slider(1, 4, value=2, step=0.05, label="Upscale by", elem_id=f"{TAB}_hr_scale")
            fields["hr_resize_x"] = gr.Slider(0, MAX_SIDE * 2, value=0, step=8, label="Resize width to",
                                              elem_id=f"{TAB}_hr_resize_x")
            fields["hr_resize_y"] = gr.Slider(0, MAX_SIDE * 2, value=0, step=8, label="Resize height to",
                                              elem_id=f"{TAB}_hr_resize_y")
        with gr.Row():
            fields["hr_sampler_name"] = gr.Dropdown(label="Hires sampling method", value=SAME_SAMPLER,
                                                    choices=[SAME_SAMPLER, *sampling.sampler_names()],
                                                    elem_id="hr_sampler")
            fields["hr_scheduler"] = gr.Dropdown(label="Hires schedule type", value=SAME_SCHEDULER,
                                                 choices=[SAME_SCHEDULER, *sampling.schedule_labels()],
                                                 elem_id="hr_scheduler")
        fields["hr_prompt"] = gr.Textbox(label="Hires prompt", lines=2, elem_id="hires_prompt",
                                         placeholder="empty: same as the prompt")
        fields["hr_negative_prompt"] = gr.Textbox(label="Hires negative prompt", lines=2, elem_id="hires_neg_prompt",
                                                  placeholder="empty: same as the negative prompt")


def build_params(values: dict[str, Any]) -> Txt2ImgParams:
    """Params from the tab's values (keyed by field name); ParamsError names a bad field."""
    return params_form.params_from_form(Txt2ImgParams, params_form.without_unset_refiner(values))


def create_tab(state: EngineState, counter: TokenCounter) -> Txt2ImgTab:
    row = create_top_row(TAB, state)
    networks = extra_networks.create_panel(TAB, state, row.prompt)
    fields: dict[str, Any] = {"prompt": row.prompt, "negative_prompt": row.negative_prompt, "styles": row.styles}
    with gr.Row(elem_id=f"{TAB}_main_row"):
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            controls = create_sampling_controls(TAB)
            fields.update(controls.fields)
            _create_hires(fields)
            create_refiner(TAB, fields, state)
            seed = create_seed_controls(TAB)
            fields.update(seed.fields)
            script_controls = create_script_controls(TAB, state)
        with gr.Column(scale=1):
            panel = results.create_result_panel(TAB)
    ui_config.apply_ui_config(state.paths.ui_config_file, TAB, fields.values())
    tab = Txt2ImgTab(row, fields, seed, panel, networks, script_controls)
    _wire(tab, state, counter)
    return tab


def _wire(tab: Txt2ImgTab, state: EngineState, counter: TokenCounter) -> None:
    row, panel = tab.row, tab.panel
    wire_top_row(row, state, counter, tab.fields["steps"])
    results.wire_result_panel(panel)
    results.wire_stop_buttons(row, state)
    wire_paste(row.paste, row.prompt, tab.paste_target(), state)
    inputs = set(tab.fields.values()) | set(tab.scripts.inputs if tab.scripts else [])

    def script_fields(data: dict[Any, Any]) -> dict[str, Any]:
        fields = tab.scripts.request(data) if tab.scripts else {}
        if fields:
            check_request(state, TAB, fields)
        return fields

    def form_params(data: dict[Any, Any]) -> Txt2ImgParams:
        try:
            params = build_params({name: data[component] for name, component in tab.fields.items()})
        except ParamsError as e:
            raise gr.Error(str(e), print_exception=False) from None
        script_fields(data)
        return params

    def generate(data: dict[Any, Any], request: gr.Request):
        yield from results.stream_generation(state, form_params(data), owner_of(request), row, panel,
                                             script_fields=script_fields(data))

    wire_job_start(row.generate.click, form_params, results.start_updates(row, panel), generate,
                   results.idle_updates(row, panel), inputs, results.generation_outputs(row, panel))
    results.wire_seed_reuse(tab.seed, panel)

