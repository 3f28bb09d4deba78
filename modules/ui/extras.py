"""The Extras tab: upscale one image, several files, or a folder (A1111's layout and ids).

Every run is an "extras" job in the queue (like txt2img), so upscaling waits its turn and
never blocks the page; a folder runs as one job per image so progress names the file.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from modules.engine_state import EngineState
from modules.generation_jobs import encode_png
from modules.images import read_infotext
from modules.jobs import Job, JobStatus
from modules.postprocessing.extras import ExtrasParams, pixel_upscaler_names
from modules.processing import GenerationParams, ParamsError, batch_folders
from modules.ui import job_progress, params_form
from modules.ui.components import KEPT_HIDDEN, ToolButton, owner_of, wire_job_start
from modules.ui.send_to import PasteTarget, Source

TAB = "extras"
JOB_KIND = "extras"
MODES = ("single", "batch", "directory")  # the sub-tabs, in order
RESIZE_BY, RESIZE_TO = 0, 1  # ExtrasParams.resize_mode
REFRESH_SYMBOL = "🔄"


@dataclass
class ExtrasTab:
    mode: gr.State  # one of MODES, follows the selected sub-tab
    mode_tabs: gr.Tabs
    image: gr.Image
    batch_files: gr.File
    input_dir: gr.Textbox
    output_dir: gr.Textbox
    show_results: gr.Checkbox
    fields: dict[str, Any]  # ExtrasParams field name -> component (resize_mode is a gr.State)
    generate: gr.Button
    interrupt: gr.Button
    progress: gr.HTML
    gallery: gr.Gallery
    info: gr.HTML

    def paste_target(self) -> PasteTarget:
        """For "Send to extras": the image goes to the single-image sub-tab; no parameters."""
        return PasteTarget(TAB, GenerationParams, {}, image=self.image,
                           extra={self.mode_tabs: gr.update(selected="single"), self.mode: "single"})


def image_only(source: Source) -> Source:
    """A send-to source without its infotext: extras takes only the image."""

    def pick(*values: Any) -> tuple[Any, str] | None:
        found = source(*values)
        return None if found is None else (found[0], "")

    return pick


# --- Gradio-free conversions ------------------------------------------------------------------

def build_params(values: dict[str, Any]) -> ExtrasParams:
    """ExtrasParams from the tab's values (keyed by field name); ParamsError names a bad field."""
    values = dict(values)
    if values.get("upscaler_2") in (None, ""):
        values["upscaler_2"] = "None"
    return params_form.params_from_form(ExtrasParams, values)  # type: ignore[arg-type]


def encode_image(image: Image.Image) -> str:
    """Base64 PNG of an uploaded image, its generation parameters kept for the result."""
    text, _ = read_infotext(image)
    return encode_png(image, text)


def encode_file(path: str | Path) -> str:
    """Base64 of a file as it is (its metadata travels with it); ParamsError if not an image."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.verify()
    except Exception as e:  # PIL raises many types for bad files
        raise ParamsError("image", f"{path.name} is not an image ({e.__class__.__name__})") from None
    return base64.b64encode(path.read_bytes()).decode("ascii")


def job_payload(images: list[str], params: ExtrasParams, save: bool) -> dict[str, Any]:
    """The "extras" job's JSON: base64 images, whether to save to outputs/, the params."""
    if not images:
        raise ParamsError("image", "no image to process: upload one first")
    return {"images": images, "save": save, **asdict(params)}


def single_sources(image: Image.Image | None) -> list[str]:
    if image is None:
        raise ParamsError("image", "no image to process: upload one first")
    return [encode_image(image)]


def batch_sources(files: list[Any] | None) -> list[str]:
    """gr.File gives paths (or objects with .name, depending on the Gradio version)."""
    paths = [getattr(f, "name", f) for f in files or []]
    if not paths:
        raise ParamsError("image", "no files to process: add some images first")
    return [encode_file(p) for p in paths]


# --- the tab --------------------------------------------------------------------------------

def _create_inputs() -> tuple[gr.State, gr.Tabs, gr.Image, gr.File, gr.Textbox, gr.Textbox, gr.Checkbox]:
    mode = gr.State("single")
    with gr.Tabs(elem_id="mode_extras", selected="single") as mode_tabs:
        with gr.Tab("Single Image", id="single", elem_id="extras_single_tab") as single:
            image = gr.Image(label="Source", type="pil", sources=["upload", "clipboard"], elem_id="extras_image",
                             height=360, format="png")
        with gr.Tab("Batch Process", id="batch", elem_id="extras_batch_process_tab") as batch:
            files = gr.File(label="Batch Process", file_count="multiple", file_types=["image"],
                            elem_id="extras_image_batch")
        with gr.Tab("Batch from Directory", id="directory", elem_id="extras_batch_directory_tab") as directory:
            input_dir = gr.Textbox(label="Input directory", placeholder="a folder of images on the server",
                                   elem_id="extras_batch_input_dir")
            output_dir = gr.Textbox(label="Output directory",
                                    placeholder="empty: save to the usual outputs/extras-images folder",
                                    elem_id="extras_batch_output_dir")
            show = gr.Checkbox(label="Show result images", value=True, elem_id="extras_show_extras_results")
    for name, item in zip(MODES, (single, batch, directory)):
        item.select(lambda name=name: name, outputs=mode, show_progress="hidden", queue=False)
    return mode, mode_tabs, image, files, input_dir, output_dir, show


def upscaler_choices(state: EngineState) -> list[str]:
    """Built-in and model upscalers, models/ re-scanned first (files dropped in show up)."""
    if state.postprocessing is not None:
        state.postprocessing.refresh()
    return pixel_upscaler_names()


def _create_upscaling(fields: dict[str, Any], names: list[str]) -> gr.Button:
    fields["resize_mode"] = gr.State(RESIZE_BY)
    with gr.Tabs(elem_id="extras_resize_mode"):
        with gr.Tab("Scale by", elem_id="extras_scale_by_tab") as scale_by:
            fields["upscaling_resize"] = gr.Slider(1.0, 8.0, value=2.0, step=0.05, label="Resize",
                                                   elem_id="extras_upscaling_resize")
        with gr.Tab("Scale to", elem_id="extras_scale_to_tab") as scale_to:
            with gr.Row():
                fields["upscaling_resize_w"] = gr.Slider(64, 8192, value=512, step=8, label="Width",
                                                         elem_id="extras_upscaling_resize_w")
                fields["upscaling_resize_h"] = gr.Slider(64, 8192, value=512, step=8, label="Height",
                                                         elem_id="extras_upscaling_resize_h")
            fields["upscaling_crop"] = gr.Checkbox(label="Crop to fit", value=True, elem_id="extras_upscaling_crop")
    scale_by.select(lambda: RESIZE_BY, outputs=fields["resize_mode"], show_progress="hidden", queue=False)
    scale_to.select(lambda: RESIZE_TO, outputs=fields["resize_mode"], show_progress="hidden", queue=False)
    with gr.Row():
        fields["upscaler_1"] = gr.Dropdown(label="Upscaler 1", choices=names, value=names[0],
                                           elem_id="extras_upscaler_1")
        refresh = ToolButton(REFRESH_SYMBOL, "extras_upscaler_refresh")
    with gr.Row():
        fields["upscaler_2"] = gr.Dropdown(label="Upscaler 2", choices=names, value="None",
                                           elem_id="extras_upscaler_2")
        fields["extras_upscaler_2_visibility"] = gr.Slider(0.0, 1.0, value=0.0, step=0.001,
                                                           label="Upscaler 2 visibility",
                                                           elem_id="extras_upscaler_2_visibility")
    return refresh


def _create_face_restoration(fields: dict[str, Any]) -> None:
    """A1111's GFPGAN and CodeFormer rows (ids as A1111's postprocessing scripts)."""
    with gr.Row():
        fields["gfpgan_visibility"] = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="GFPGAN visibility",
                                                elem_id="extras_gfpgan_visibility")
    with gr.Row():
        fields["codeformer_visibility"] = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="CodeFormer visibility",
                                                    elem_id="extras_codeformer_visibility")
        fields["codeformer_weight"] = gr.Slider(0.0, 1.0, value=0.0, step=0.001,
                                                label="CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                                                elem_id="extras_codeformer_weight")


def create_tab(state: EngineState) -> ExtrasTab:
    fields: dict[str, Any] = {}
    with gr.Row(elem_id="extras_main_row"):
        with gr.Column(scale=1, elem_id="extras_settings"):
            mode, mode_tabs, image, files, input_dir, output_dir, show = _create_inputs()
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="extras_generate")
                interrupt = gr.Button("Interrupt", variant="stop", elem_id="extras_interrupt", visible=KEPT_HIDDEN)
            with gr.Accordion("Upscale", open=True, elem_id="extras_upscale"):
                refresh = _create_upscaling(fields, upscaler_choices(state))
            with gr.Accordion("Face restoration", open=False, elem_id="extras_face_restoration"):
                _create_face_restoration(fields)
        with gr.Column(scale=1, elem_id="extras_results"):
            progress = gr.HTML("", elem_id="extras_progress")
            gallery = gr.Gallery(label="Output", show_label=False, elem_id="extras_gallery", columns=4,
                                 height="auto", object_fit="contain", format="png", interactive=False)
            info = gr.HTML("", elem_id="html_info_extras")
    tab = ExtrasTab(mode, mode_tabs, image, files, input_dir, output_dir, show, fields, generate, interrupt,
                    progress, gallery, info)
    _wire(tab, state)

    def refreshed(first: str, second: str) -> tuple[Any, Any]:
        names = upscaler_choices(state)
        return (gr.update(choices=names, value=first if first in names else names[0]),
                gr.update(choices=names, value=second if second in names else "None"))

    upscalers = [fields["upscaler_1"], fields["upscaler_2"]]
    refresh.click(refreshed, inputs=upscalers, outputs=upscalers, show_progress="hidden")
    return tab


def _wire(tab: ExtrasTab, state: EngineState) -> None:
    inputs = {tab.mode, tab.image, tab.batch_files, tab.input_dir, tab.output_dir, tab.show_results,
              *tab.fields.values()}
    outputs = [tab.generate, tab.interrupt, tab.progress, tab.gallery, tab.info]

    def form_request(data: dict[Any, Any]) -> tuple[ExtrasParams, Any]:
        """(params, and the folder's (sources, output) or the uploaded images' job payload)."""
        try:
            params = build_params({name: data[component] for name, component in tab.fields.items()})
            if data[tab.mode] == "directory":
                return params, (batch_folders.batch_inputs(data[tab.input_dir]),
                                batch_folders.output_folder(data[tab.output_dir]))
            encoded = single_sources(data[tab.image]) if data[tab.mode] == "single" \
                else batch_sources(data[tab.batch_files])
            return params, job_payload(encoded, params, save=True)
        except (ParamsError, OSError) as e:
            raise gr.Error(str(e), print_exception=False) from None

    def run(data: dict[Any, Any], request: gr.Request):
        owner = owner_of(request)
        params, work = form_request(data)
        details = ""
        if data[tab.mode] == "directory":
            files, message = yield from _run_directory(state, tab, params, *work, owner)
            if not data[tab.show_results]:
                files = []
        else:
            job = yield from _follow(state, tab, state.jobs.submit(JOB_KIND, work, owner))
            files, message = job_progress.result_files(job), job_progress.finished_message(job)
            details = (job.result or {}).get("html_info", "")
        yield _finished(tab, files, message, details)

    running = {tab.generate: gr.update(visible=KEPT_HIDDEN), tab.interrupt: gr.update(visible=True),
               tab.progress: job_progress.progress_html(None)}
    wire_job_start(tab.generate.click, form_request, running, run, _idle(tab), inputs, outputs)

    def interrupt(request: gr.Request):
        state.jobs.interrupt(owner_of(request))

    tab.interrupt.click(interrupt, show_progress="hidden", concurrency_limit=None)


def _follow(state: EngineState, tab: ExtrasTab, job_id: str,
            label: str = "") -> Generator[dict[Any, Any], None, Job]:
    """Progress updates while the job runs; returns the finished job."""
    for job in job_progress.follow_job(state.jobs, job_id):
        if job.finished:
            return job
        yield {tab.progress: job_progress.progress_html(job, label)}
    raise RuntimeError(f"job {job_id} was never reported finished")


def _run_directory(state: EngineState, tab: ExtrasTab, params: ExtrasParams, sources: list[Path],
                   output: Path | None,
                   owner: str) -> Generator[dict[Any, Any], None, tuple[list[str], str | None]]:
    """One job per file; results copied to the output folder as <input name>.png (or, with no
    output folder, saved to outputs/extras-images by the job). Returns (files, message)."""
    files: list[str] = []
    for index, path in enumerate(sources):
        try:
            payload = job_payload([encode_file(path)], params, save=output is None)
        except (ParamsError, OSError) as e:
            return files, f"{path.name}: {e}"
        job_id = state.jobs.submit(JOB_KIND, payload, owner)
        job = yield from _follow(state, tab, job_id, f"{path.name} ({index + 1}/{len(sources)})")
        files += batch_folders.copy_results(job_progress.result_files(job), path, output)
        message = job_progress.finished_message(job)
        if message or job.status is JobStatus.INTERRUPTED:
            return files, f"{path.name}: {message}" if message else None
    return files, None


def _idle(tab: ExtrasTab) -> dict[Any, Any]:
    return {tab.generate: gr.update(visible=True), tab.interrupt: gr.update(visible=KEPT_HIDDEN)}


def _finished(tab: ExtrasTab, files: list[str], message: str | None, details: str = "") -> dict[Any, Any]:
    """`details`: the job's html_info (its postprocessing infotext, HTML-escaped)."""
    if message:
        gr.Warning(message)
    update: dict[Any, Any] = {**_idle(tab), tab.progress: job_progress.error_html(message) if message else ""}
    if files:
        size = _size_text(files[-1])
        update[tab.gallery] = files
        update[tab.info] = f'<p class="easel-extras-info">{len(files)} image(s) upscaled{size}</p>{details}'
    return update


def _size_text(path: str) -> str:
    try:
        with Image.open(path) as image:
            return f" to {image.width}x{image.height}"
    except OSError:
        return ""
