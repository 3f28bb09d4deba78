"""The img2img tab: sub-tabs img2img / Sketch / Inpaint / Inpaint sketch / Inpaint upload /
Batch, resize mode, size ("Resize to" or "Resize by"), denoising, inpaint settings, refiner → queued
img2img jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from modules.engine_state import EngineState
from modules.generation_jobs import params_to_json
from modules.jobs import JobStatus
from modules.images.image_folders import load_image
from modules.processing import Img2ImgParams, ParamsError, batch_folders
from modules.processing.params import INPAINTING_FILL, RESIZE_MODES
from modules.ui import editor_images, extra_networks, img2img_size, params_form, results, ui_config
from modules.ui.components import (SeedControls, TopRow, create_refiner, create_sampling_controls,
                                   create_seed_controls, create_size_sliders, create_top_row, owner_of,
                                   wire_job_start, wire_top_row)
from modules.ui.extra_networks import ExtraNetworksPanel
from modules.ui.img2img_size import RESIZE_BY, RESIZE_TO, SizeChoice
from modules.ui.results import ResultPanel, RunOutcome
from modules.ui.script_controls import ScriptControls, check_request, create_script_controls
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
RESIZE_TABS = {RESIZE_TO: ("Resize to", "img2img_tab_resize_to"), RESIZE_BY: ("Resize by", "img2img_tab_resize_by")}
IMAGE_INPUT_NAMES = ("image", "sketch", "inpaint", "inpaint_sketch", "inpaint_base")  # what a sub-tab starts from
# Generate reads the sub-tab and the size tab on screen from the page (as A1111's submit_img2img
# does): select events also fire for programmatic switches and may arrive late, so they cannot
# be trusted.
TABS_FROM_PAGE_JS = f"""() => {{
    const modes = {json.dumps({label: mode for mode, (label, _) in MODE_TABS.items()})};
    const selected = (id) => document.querySelector('#' + id + ' button[role=tab][aria-selected=true]');
    const mode = selected('mode_img2img'), size = selected('img2img_resize_tabs');
    const resizeBy = size && size.innerText.trim() === {json.dumps(RESIZE_TABS[RESIZE_BY][0])};
    return [(mode && modes[mode.innerText.trim()]) || 'img2img', resizeBy ? {RESIZE_BY} : {RESIZE_TO}];
}}"""


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
class ResizeControls:
    """The size section: "Resize to" (width, height) or "Resize by" (a scale of the source image)."""

    width: gr.Slider
    height: gr.Slider
    tabs: gr.Tabs
    scale: gr.Slider
    resolution: gr.HTML  # "resize: from WxH to WxH"
    selected_tab: gr.Number  # hidden; A1111's selected_scale_tab, set from the page when Generate is clicked


@dataclass
class Img2ImgTab:
    row: TopRow
    fields: dict[str, Any]
    seed: SeedControls
    panel: ResultPanel
    images: ImageInputs
    mode_tabs: gr.Tabs
    mode: gr.Textbox  # hidden; follows the sub-tab, and is read from the page when Generate is clicked
    inpaint_controls: gr.Group
    networks: ExtraNetworksPanel
    resize: ResizeControls
    scripts: ScriptControls | None = None

    def paste_target(self, mode: str = "img2img") -> PasteTarget:
        """Where "Send to img2img" / "Send to inpaint" put the image, and which sub-tab shows."""
        image = self.images.inpaint if mode == "inpaint" else self.images.image
        extra = {self.mode_tabs: gr.update(selected=mode), self.mode: mode,
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


def _create_resize_controls() -> ResizeControls:
    with gr.Tabs(elem_id="img2img_resize_tabs") as tabs:
        with gr.Tab(RESIZE_TABS[RESIZE_TO][0], id="resize_to", elem_id=RESIZE_TABS[RESIZE_TO][1]):
            sliders = create_size_sliders(TAB)
        with gr.Tab(RESIZE_TABS[RESIZE_BY][0], id="resize_by", elem_id=RESIZE_TABS[RESIZE_BY][1]):
            scale = gr.Slider(img2img_size.SCALE_MIN, img2img_size.SCALE_MAX, value=1.0,
                              step=img2img_size.SCALE_STEP, label="Scale", elem_id="img2img_scale")
            resolution = gr.HTML(img2img_size.NO_IMAGE_TEXT, elem_id="img2img_scale_resolution_preview")
    selected_tab = gr.Number(RESIZE_TO, precision=0, visible=False, elem_id="img2img_selected_scale_tab")
    return ResizeControls(sliders.width, sliders.height, tabs, scale, resolution, selected_tab)


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
            controls = create_sampling_controls(TAB, size_area=_create_resize_controls)
            fields.update(controls.fields)
            fields["denoising_strength"] = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                                     elem_id=f"{TAB}_denoising_strength")
            create_refiner(TAB, fields, state)
            seed = create_seed_controls(TAB)
            fields.update(seed.fields)
            script_controls = create_script_controls(TAB, state)
        with gr.Column(scale=1):
            panel = results.create_result_panel(TAB)
    resize: ResizeControls = controls.size  # as _create_resize_controls built it
    ui_config.apply_ui_config(state.paths.ui_config_file, TAB, [*fields.values(), resize.scale])
    tab = Img2ImgTab(row, fields, seed, panel, images, mode_tabs, mode, inpaint_controls, networks, resize,
                     script_controls)
    show_resolution = _wire_resolution_preview(tab)
    for name, item in mode_tab_items.items():
        selected = item.select(lambda name=name: (gr.update(visible=name in editor_images.INPAINT_MODES), name),
                               outputs=[inpaint_controls, mode], show_progress="hidden", queue=False)
        selected.then(**show_resolution)
    _wire(tab, state, counter)
    return tab


def _wire_resolution_preview(tab: Img2ImgTab) -> dict[str, Any]:
    """Keep "resize: from WxH to WxH" up to date; returns the event arguments, for chaining.
    Editors report only uploads: their change event fires for every brush stroke. The sum is
    cheap and pure, so it skips the queue and its answer comes with the HTTP reply. Once in CI a
    queued run's end never reached the page, which holds back every later always_last run."""
    images = tab.images
    inputs = [tab.mode, tab.resize.scale, *(getattr(images, name) for name in IMAGE_INPUT_NAMES)]

    def show(mode: str, scale: float, *image_values: Any) -> str:
        size = editor_images.source_size(mode, dict(zip(IMAGE_INPUT_NAMES, image_values)))
        return img2img_size.resize_from_to_html(size, scale)

    arguments = {"fn": show, "inputs": inputs, "outputs": tab.resize.resolution, "show_progress": "hidden",
                 "queue": False}
    triggers = [tab.resize.scale.change, images.image.change, images.inpaint_base.change, images.sketch.upload,
                images.inpaint.upload, images.inpaint_sketch.upload]
    gr.on(triggers, trigger_mode="always_last", **arguments)
    return arguments


def build_params(mode: str, values: dict[str, Any], image_values: dict[str, Any],
                 size: SizeChoice) -> Img2ImgParams:
    """Params for one sub-tab (not Batch): the init image and mask from its inputs, and the
    output size from the sliders or (Resize by) from the init image."""
    init, mask = editor_images.init_and_mask(mode, image_values)
    values = dict(size.form_values(params_form.without_unset_refiner(values), init.size), init_images=[init],
                  mask=mask)
    if mask is None:  # the inpaint settings mean nothing without a mask
        for name in ("mask_blur", "inpainting_mask_invert", "inpainting_fill", "inpaint_full_res",
                     "inpaint_full_res_padding"):
            values.pop(name, None)
    try:
        return params_form.params_from_form(Img2ImgParams, values)
    except ParamsError as e:
        raise size.explain(e, init.size) from None


def _wire(tab: Img2ImgTab, state: EngineState, counter: TokenCounter) -> None:
    row, panel = tab.row, tab.panel
    wire_top_row(row, state, counter, tab.fields["steps"])
    results.wire_result_panel(panel)
    results.wire_stop_buttons(row, state)
    results.wire_seed_reuse(tab.seed, panel)
    wire_paste(row.paste, row.prompt, tab.paste_target(), state)
    image_inputs = tab.images.by_name()
    resize = tab.resize
    inputs = {tab.mode, resize.selected_tab, resize.scale, *tab.fields.values(), *image_inputs.values(),
              *(tab.scripts.inputs if tab.scripts else [])}

    def script_fields(data: dict[Any, Any]) -> dict[str, Any]:
        fields = tab.scripts.request(data) if tab.scripts else {}
        if fields:
            check_request(state, TAB, fields)
        return fields

    def form_request(data: dict[Any, Any]) -> Img2ImgParams | BatchPlan:
        """The job the form asks for: one img2img, or a Batch folder (checked before anything runs)."""
        mode = data[tab.mode]
        values = {name: data[component] for name, component in tab.fields.items()}
        images = {name: data[component] for name, component in image_inputs.items()}
        try:
            size = SizeChoice.from_form(data[resize.selected_tab], data[resize.scale])
            wanted = BatchPlan.from_form(values, images, size) if mode == "batch" \
                else build_params(mode, values, images, size)
        except (ParamsError, OSError) as e:
            raise gr.Error(str(e), print_exception=False) from None
        script_fields(data)  # a bad script argument stops Generate before anything is queued
        return wanted

    def generate(data: dict[Any, Any], request: gr.Request):
        wanted = form_request(data)
        if isinstance(wanted, BatchPlan):
            yield from stream_batch(state, wanted, owner_of(request), tab, script_fields(data))
        else:
            yield from results.stream_generation(state, wanted, owner_of(request), row, panel,
                                                 script_fields=script_fields(data))

    read_tabs = row.generate.click(None, outputs=[tab.mode, resize.selected_tab], js=TABS_FROM_PAGE_JS,
                                   show_progress="hidden")
    wire_job_start(read_tabs.then, form_request, results.start_updates(row, panel), generate,
                   results.idle_updates(row, panel), inputs, results.generation_outputs(row, panel))


@dataclass
class BatchPlan:
    """A Batch run: the input images, the optional mask and output folders, the form's values."""

    files: list[Path]
    masks: Path | None
    output: Path | None
    values: dict[str, Any]
    size: SizeChoice
    first: Img2ImgParams  # built up front: bad settings fail before anything is queued

    @classmethod
    def from_form(cls, values: dict[str, Any], images: dict[str, Any], size: SizeChoice) -> BatchPlan:
        files = batch_folders.batch_inputs(images["batch_input_dir"])
        masks = batch_folders.mask_folder(images["batch_mask_dir"])
        return cls(files, masks, batch_folders.output_folder(images["batch_output_dir"]), values, size,
                   batch_params(values, files[0], masks, size))


def stream_batch(state: EngineState, plan: BatchPlan, owner: str, tab: Img2ImgTab,
                 script_fields: dict[str, Any] | None = None):
    """One queued job per image of the input folder, one after another (Interrupt stops the
    batch). "Resize by" scales each image by its own size, as in A1111."""
    row, panel = tab.row, tab.panel
    done = RunOutcome([], [], {}, 0.0, None)
    for index, path in enumerate(plan.files):
        try:
            params = plan.first if index == 0 else batch_params(plan.values, path, plan.masks, plan.size)
        except (ParamsError, OSError) as e:
            done.message = f"{path.name}: {e}"
            break
        job_id = state.jobs.submit("img2img", {**params_to_json(params), **(script_fields or {})}, owner)
        job = yield from results.follow_updates(state, job_id, panel, f"{path.name} ({index + 1}/{len(plan.files)})")
        outcome = RunOutcome.from_job(job)
        outcome.files = batch_folders.copy_results(outcome.files, path, plan.output)
        done.add(outcome)
        if outcome.message or job.status is JobStatus.INTERRUPTED:
            done.message = f"{path.name}: {outcome.message}" if outcome.message else None
            break
    yield results.finished_updates(done, row, panel)


def batch_params(values: dict[str, Any], path: Path, masks: Path | None, size: SizeChoice) -> Img2ImgParams:
    """Params for one image of a Batch folder: inpaint when the mask folder has its mask;
    "Resize by" scales this image's own size."""
    mask_path = batch_folders.find_mask(masks, path)
    image_values = {"image": load_image(path)}
    if mask_path is None:
        return build_params("img2img", values, image_values, size)
    upload = {"inpaint_base": image_values["image"], "inpaint_mask": load_image(mask_path)}
    return build_params("inpaint_upload", values, upload, size)
