"""The img2img tab: sub-tabs img2img / Sketch / Inpaint / Inpaint sketch / Inpaint upload /
Batch, resize mode, denoising, inpaint settings → queued img2img jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from modules.engine_state import EngineState
from modules.generation_jobs import params_to_json
from modules.jobs import JobStatus
from modules.processing import Img2ImgParams, ParamsError
from modules.processing.params import INPAINTING_FILL, RESIZE_MODES
from modules.ui import editor_images, extra_networks, img2img_batch, params_form, results, ui_config
from modules.ui.components import (SeedControls, TopRow, create_sampling_controls, create_seed_controls,
                                   create_top_row, owner_of, wire_top_row)
from modules.ui.extra_networks import ExtraNetworksPanel
from modules.ui.results import ResultPanel, RunOutcome
from modules.ui.send_to import PasteTarget, wire_paste
from modules.ui.token_counter import TokenCounter

TAB = "img2img"
# sub-tab id -> (label, A1111 element id)
MODE_TABS = {
    "img2img": ("img2img", "img2img_img2img_tab"),
    "sketch": ("Sketch", "img2img_img2img_sketch_tab"),
    "inpaint": ("Inpaint", "img2img_inpaint_tab"),
    "inpaint_sketch": ("Inpaint sketch", "img2img_inpaint_sketch_tab"),
    "inpaint_upload": ("Inpaint upload", "img2img_inpaint_upload_tab"),
    "batch": ("Batch", "img2img_batch_tab"),
}
MASK_MODE_CHOICES = [(label, index) for label, index in params_form.MASK_MODES.items()]
# Generate reads the sub-tab on screen from the page (as A1111's submit_img2img does): select
# events also fire for programmatic switches and may arrive late, so they cannot be trusted.
MODE_FROM_PAGE_JS = (
    "() => { const modes = " + json.dumps({label: mode for mode, (label, _) in MODE_TABS.items()}) + ";"
    " const tab = document.querySelector('#mode_img2img button[role=tab][aria-selected=true]');"
    " return (tab && modes[tab.innerText.trim()]) || 'img2img'; }")


@dataclass
class ImageInputs:
    image: gr.Image
    sketch: gr.ImageEditor
    inpaint: gr.ImageEditor
    inpaint_sketch: gr.ImageEditor
    inpaint_base: gr.Image
    inpaint_mask: gr.Image
    batch_input_dir: gr.Textbox
    batch_output_dir: gr.Textbox
    batch_mask_dir: gr.Textbox

    def by_name(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Img2ImgTab:
    row: TopRow
    fields: dict[str, Any]
    seed: SeedControls
    panel: ResultPanel
    images: ImageInputs
    mode_tabs: gr.Tabs
    mode: gr.Textbox  # hidden; set from the page when Generate is clicked
    inpaint_controls: gr.Group
    networks: ExtraNetworksPanel

    def paste_target(self, mode: str = "img2img") -> PasteTarget:
        """Where "Send to img2img" / "Send to inpaint" put the image, and which sub-tab shows."""
        image = self.images.inpaint if mode == "inpaint" else self.images.image
        extra = {self.mode_tabs: gr.update(selected=mode),
                 self.inpaint_controls: gr.update(visible=mode in editor_images.INPAINT_MODES)}
        return PasteTarget(TAB, Img2ImgParams, self.fields, image, extra)


def _editor(label: str, elem_id: str, brush_colors: list[str] | None = None) -> gr.ImageEditor:
    brush = gr.Brush(colors=brush_colors, color_mode="fixed") if brush_colors else gr.Brush()
    return gr.ImageEditor(label=label, type="pil", image_mode="RGBA", sources=["upload", "clipboard"],
                          elem_id=elem_id, brush=brush, layers=False, height=420, format="png")


def _create_image_inputs() -> tuple[gr.Tabs, dict[str, gr.Tab], ImageInputs]:
    tabs: dict[str, gr.Tab] = {}
    with gr.Tabs(elem_id="mode_img2img") as mode_tabs:
        def tab(mode: str) -> gr.Tab:
            label, elem_id = MODE_TABS[mode]
            tabs[mode] = gr.Tab(label, id=mode, elem_id=elem_id)
            return tabs[mode]

        with tab("img2img"):
            image = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA",
                             sources=["upload", "clipboard"], elem_id="img2img_image", height=420, format="png")
        with tab("sketch"):
            sketch = _editor("Image for img2img", "img2img_sketch")
        with tab("inpaint"):
            inpaint = _editor("Image for inpainting with mask", "img2maskimg", ["#ffffff"])
        with tab("inpaint_sketch"):
            inpaint_sketch = _editor("Color sketch inpainting", "inpaint_sketch")
        with tab("inpaint_upload"):
            base = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA", sources=["upload"],
                            elem_id="img_inpaint_base", format="png")
            mask = gr.Image(label="Mask (white = repaint)", type="pil", image_mode="RGBA", sources=["upload"],
                            elem_id="img_inpaint_mask", format="png")
        with tab("batch"):
            gr.Markdown("Process every image of a folder on the server. Masks (inpaint batch) are found "
                        "by file name in the mask folder; results are copied to the output folder.")
            input_dir = gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir")
            output_dir = gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir")
            mask_dir = gr.Textbox(label="Inpaint batch mask directory (optional)",
                                  elem_id="img2img_batch_inpaint_mask_dir")
    inputs = ImageInputs(image, sketch, inpaint, inpaint_sketch, base, mask, input_dir, output_dir, mask_dir)
    return mode_tabs, tabs, inputs


def _create_inpaint_controls(fields: dict[str, Any]) -> gr.Group:
    with gr.Group(visible=False, elem_id="img2img_inpaint_controls") as group:
        with gr.Row():
            fields["mask_blur"] = gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id=f"{TAB}_mask_blur")
            fields["inpaint_full_res_padding"] = gr.Slider(0, 256, value=32, step=4,
                                                           label="Only masked padding, pixels",
                                                           elem_id=f"{TAB}_inpaint_full_res_padding")
        fields["inpainting_mask_invert"] = gr.Radio(MASK_MODE_CHOICES, value=0, label="Mask mode",
                                                    elem_id=f"{TAB}_mask_mode")
        fields["inpainting_fill"] = gr.Radio([(label, index) for index, label in INPAINTING_FILL.items()], value=1,
                                             label="Masked content", elem_id=f"{TAB}_inpainting_fill")
        fields["inpaint_full_res"] = gr.Checkbox(label="Inpaint area: only masked", value=False,
                                                 elem_id=f"{TAB}_inpaint_full_res")
    return group


def create_tab(state: EngineState, counter: TokenCounter) -> Img2ImgTab:
    row = create_top_row(TAB, state)
    networks = extra_networks.create_panel(TAB, state, row.prompt)
    fields: dict[str, Any] = {"prompt": row.prompt, "negative_prompt": row.negative_prompt, "styles": row.styles}
    with gr.Row():
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            mode_tabs, mode_tab_items, images = _create_image_inputs()
            mode = gr.Textbox("img2img", visible=False, elem_id="img2img_mode")
            fields["resize_mode"] = gr.Radio([(label, index) for index, label in RESIZE_MODES.items()], value=0,
                                             label="Resize mode", elem_id="resize_mode")
            inpaint_controls = _create_inpaint_controls(fields)
            controls = create_sampling_controls(TAB)
            fields.update(controls.fields)
            fields["denoising_strength"] = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                                     elem_id=f"{TAB}_denoising_strength")
            seed = create_seed_controls(TAB)
            fields.update(seed.fields)
        with gr.Column(scale=1):
            panel = results.create_result_panel(TAB)
    ui_config.apply_ui_config(state.paths.ui_config_file, TAB, fields.values())
    tab = Img2ImgTab(row, fields, seed, panel, images, mode_tabs, mode, inpaint_controls, networks)
    for name, item in mode_tab_items.items():
        item.select(lambda name=name: gr.update(visible=name in editor_images.INPAINT_MODES),
                    outputs=inpaint_controls, show_progress="hidden", queue=False)
    _wire(tab, state, counter)
    return tab


def build_params(mode: str, values: dict[str, Any], image_values: dict[str, Any]) -> Img2ImgParams:
    """Params for one sub-tab (not Batch): the init image and mask from its inputs."""
    init, mask = editor_images.init_and_mask(mode, image_values)
    values = dict(values, init_images=[init], mask=mask)
    if mask is None:  # the inpaint settings mean nothing without a mask
        for name in ("mask_blur", "inpainting_mask_invert", "inpainting_fill", "inpaint_full_res",
                     "inpaint_full_res_padding"):
            values.pop(name, None)
    return params_form.params_from_form(Img2ImgParams, values)


def _wire(tab: Img2ImgTab, state: EngineState, counter: TokenCounter) -> None:
    row, panel = tab.row, tab.panel
    wire_top_row(row, state, counter, tab.fields["steps"])
    results.wire_result_panel(panel)
    results.wire_stop_buttons(row, state)
    results.wire_seed_reuse(tab.seed, panel)
    wire_paste(row.paste, row.prompt, tab.paste_target(), state)
    image_inputs = tab.images.by_name()
    inputs = {tab.mode, *tab.fields.values(), *image_inputs.values()}

    def generate(data: dict[Any, Any], request: gr.Request):
        mode = data[tab.mode]
        values = {name: data[component] for name, component in tab.fields.items()}
        images = {name: data[component] for name, component in image_inputs.items()}
        owner = owner_of(request)
        if mode == "batch":
            yield from stream_batch(state, values, images, owner, tab)
            return
        try:
            params = build_params(mode, values, images)
        except ParamsError as e:
            raise gr.Error(str(e), print_exception=False) from None
        yield from results.stream_generation(state, params, owner, row, panel)

    read_mode = row.generate.click(None, outputs=tab.mode, js=MODE_FROM_PAGE_JS, show_progress="hidden")
    read_mode.then(generate, inputs=inputs, outputs=results.generation_outputs(row, panel),
                   concurrency_limit=None, show_progress="hidden")


def stream_batch(state: EngineState, values: dict[str, Any], images: dict[str, Any], owner: str,
                 tab: Img2ImgTab):
    """One queued job per image of the input folder, one after another (Interrupt stops the batch)."""
    try:
        files = img2img_batch.batch_inputs(images["batch_input_dir"])
        masks = img2img_batch.mask_folder(images["batch_mask_dir"])
        output = img2img_batch.output_folder(images["batch_output_dir"])
        first = _batch_params(values, files[0], masks)  # bad settings fail before anything is queued
    except (ParamsError, OSError) as e:
        raise gr.Error(str(e), print_exception=False) from None
    row, panel = tab.row, tab.panel
    yield results.start_updates(row, panel)
    done = RunOutcome([], [], {}, 0.0, None)
    for index, path in enumerate(files):
        try:
            params = first if index == 0 else _batch_params(values, path, masks)
        except (ParamsError, OSError) as e:
            done.message = f"{path.name}: {e}"
            break
        job_id = state.jobs.submit("img2img", params_to_json(params), owner)
        job = yield from results.follow_updates(state, job_id, panel, f"{path.name} ({index + 1}/{len(files)})")
        outcome = RunOutcome.from_job(job)
        done.files += img2img_batch.copy_results(outcome.files, path, output)
        done.infotexts += outcome.infotexts
        done.seconds = (done.seconds or 0.0) + (outcome.seconds or 0.0)
        if outcome.message or job.status is JobStatus.INTERRUPTED:
            done.message = f"{path.name}: {outcome.message}" if outcome.message else None
            break
    yield results.finished_updates(done, row, panel)


def _batch_params(values: dict[str, Any], path: Path, masks: Path | None) -> Img2ImgParams:
    mask_path = img2img_batch.find_mask(masks, path)
    image_values = {"image": img2img_batch.load_image(path)}
    if mask_path is None:
        return build_params("img2img", values, image_values)
    upload = {"inpaint_base": image_values["image"], "inpaint_mask": img2img_batch.load_image(mask_path)}
    return build_params("inpaint_upload", values, upload)
