"""The Train tab (A1111's layout and ids): create a textual-inversion embedding, train it.

Creating writes the file at once (it only reads the text encoder's token table); training is
a "train" job in the queue, checked first as the API checks it, then followed like a
generation: progress bar, loss/step text, preview image, Interrupt. Previews use the last
training prompt, or (A1111's "Read parameters … from txt2img tab") the txt2img tab's settings.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.engine_state import EngineState
from modules.jobs import Job, JobStatus
from modules.processing import ParamsError
from modules.sd_models.manager import NoModelLoadedError
from modules.training import (TRAIN_JOB_KIND, TrainParams, create_embedding, list_templates, resolve_inputs,
                              template_dirs, trainable_embedding)
from modules.training.params import CLIP_GRAD_MODES, LATENT_SAMPLING_METHODS, MAX_TRAINING_SIDE, MAX_VECTORS_PER_TOKEN
from modules.ui import job_progress, params_form
from modules.ui.components import KEPT_HIDDEN, ToolButton, owner_of, wire_job_start

MODEL_WAIT_SECONDS = 600  # a checkpoint may still be loading in the background
REFRESH_SYMBOL = "🔄"
DEFAULT_TEMPLATE = TrainParams.template_filename
# TrainParams preview field <- txt2img params field (A1111's txt2img_preview_params)
TXT2IMG_PREVIEW_FIELDS = {
    "preview_prompt": "prompt",
    "preview_negative_prompt": "negative_prompt",
    "preview_steps": "steps",
    "preview_sampler_name": "sampler_name",
    "preview_cfg_scale": "cfg_scale",
    "preview_seed": "seed",
    "preview_width": "width",
    "preview_height": "height",
}


@dataclass
class CreateEmbeddingForm:
    name: gr.Textbox
    init_text: gr.Textbox
    vectors_per_token: gr.Number
    overwrite: gr.Checkbox
    create: gr.Button


@dataclass
class TrainTab:
    create: CreateEmbeddingForm
    fields: dict[str, Any]  # TrainParams field name -> component
    txt2img_inputs: dict[str, Any]  # txt2img params field -> component, for previews read from txt2img
    refresh: gr.Button
    train: gr.Button
    interrupt: gr.Button
    progress: gr.HTML
    output: gr.HTML  # what happened, in words: created file, loss/step, finished or failed
    preview: gr.Image
    gallery: gr.Gallery


# --- Gradio-free conversions ------------------------------------------------------------------

def embedding_choices(state: EngineState) -> list[str]:
    """Embeddings usable with the loaded model (file names until a model is loaded)."""
    database = state.extra_networks.embeddings
    model = state.models.current_or_none
    if model is None:
        return sorted({path.stem for path in database.files()})
    try:
        return sorted(database.load(model).loaded)
    except ValueError:  # a model family without embeddings
        return []


def template_choices(state: EngineState) -> list[str]:
    return sorted(list_templates(template_dirs(state.paths.data_dir)))


def preview_values_from_txt2img(txt2img: Mapping[str, Any]) -> dict[str, Any]:
    """The preview_* training fields from the txt2img tab's values (keyed by params field name)."""
    return {preview: txt2img[source] for preview, source in TXT2IMG_PREVIEW_FIELDS.items()}


def from_txt2img(error: ParamsError, preview_from_txt2img: bool) -> ParamsError:
    """An error in a preview field read from txt2img, saying where the value came from."""
    source = TXT2IMG_PREVIEW_FIELDS.get(error.field)
    if not preview_from_txt2img or source is None:
        return error
    message = str(error).removeprefix(f"{error.field}: ")
    return type(error)(error.field, f"{message} (read from the txt2img tab's {source})")


def build_train_params(values: dict[str, Any], txt2img: Mapping[str, Any] | None = None) -> TrainParams:
    """TrainParams from the form (keyed by field name); with "preview_from_txt2img" checked,
    the preview settings come from `txt2img` (the txt2img tab's values). ParamsError names a
    bad field."""
    values = dict(values)
    values["embedding_name"] = values.get("embedding_name") or ""
    values["learn_rate"] = str(values.get("learn_rate", "")).strip()
    for name in ("data_root", "log_directory"):
        values[name] = str(values.get(name) or "").strip()
    if values.get("preview_from_txt2img"):
        if txt2img is None:
            raise ValueError("preview_from_txt2img is checked, but no txt2img values were given")
        values.update(preview_values_from_txt2img(txt2img))
    return params_form.params_from_form(TrainParams, values)  # type: ignore[arg-type]


def whole_number(value: Any, field_name: str) -> int:
    """gr.Number gives floats; a whole float becomes an int, anything else is refused by name."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ParamsError(field_name, f"must be a whole number, got {value!r}")


def outcome_text(job: Job) -> str:
    """One line for the end of a training job."""
    result = job.result or {}
    if job.status is JobStatus.FAILED:
        return f"Training failed: {job.error or 'unknown error'}"
    if job.status is JobStatus.CANCELLED:
        return "The training job was cancelled."
    step = result.get("step")
    losses = result.get("losses") or []
    loss = f", last loss {losses[-1]:.6f}" if losses else ""
    if result.get("interrupted") or job.status is JobStatus.INTERRUPTED:
        return f"Training interrupted at step {step}; the embedding was saved{loss}. Train again to resume."
    return f"Training of {result.get('embedding_name')} finished at step {step}{loss}. " \
           f"Embedding saved to {result.get('filename')}"


# --- the tab --------------------------------------------------------------------------------

def _create_embedding_form() -> CreateEmbeddingForm:
    name = gr.Textbox(label="Name", elem_id="train_new_embedding_name")
    init_text = gr.Textbox(label="Initialization text", value="*", elem_id="train_initialization_text")
    vectors = gr.Number(label="Number of vectors per token", value=1, precision=0, minimum=1,
                        maximum=MAX_VECTORS_PER_TOKEN, elem_id="train_nvpt")
    overwrite = gr.Checkbox(label="Overwrite Old Embedding", value=False, elem_id="train_overwrite_old_embedding")
    create = gr.Button("Create embedding", variant="primary", elem_id="train_create_embedding")
    return CreateEmbeddingForm(name, init_text, vectors, overwrite, create)


def _create_train_form(state: EngineState, fields: dict[str, Any]) -> gr.Button:
    with gr.Row():
        fields["embedding_name"] = gr.Dropdown(label="Embedding", choices=embedding_choices(state), value=None,
                                               elem_id="train_embedding", allow_custom_value=False)
        refresh = ToolButton(REFRESH_SYMBOL, "refresh_train_embedding_name")
    with gr.Row():
        fields["learn_rate"] = gr.Textbox(label="Embedding Learning rate", value="0.005",
                                          placeholder="0.005 or a schedule: 0.005:100, 1e-3:1000, 1e-5",
                                          elem_id="train_embedding_learn_rate")
    with gr.Row():
        fields["clip_grad_mode"] = gr.Dropdown(label="Gradient Clipping", choices=list(CLIP_GRAD_MODES),
                                               value="disabled", elem_id="train_clip_grad_mode")
        fields["clip_grad_value"] = gr.Textbox(label="Clip value", value="0.1", elem_id="train_clip_grad_value")
    with gr.Row():
        fields["batch_size"] = gr.Number(label="Batch size", value=1, precision=0, elem_id="train_batch_size")
        fields["gradient_step"] = gr.Number(label="Gradient accumulation steps", value=1, precision=0,
                                            elem_id="train_gradient_step")
    fields["data_root"] = gr.Textbox(label="Dataset directory", placeholder="Path to directory with input images",
                                     elem_id="train_dataset_directory")
    fields["log_directory"] = gr.Textbox(label="Log directory", value="textual_inversion",
                                         placeholder="Path to directory where to write outputs",
                                         elem_id="train_log_directory")
    templates = template_choices(state)
    fields["template_filename"] = gr.Dropdown(label="Prompt template", choices=templates,
                                              value=DEFAULT_TEMPLATE if DEFAULT_TEMPLATE in templates else None,
                                              elem_id="train_template_file")
    fields["training_width"] = gr.Slider(64, MAX_TRAINING_SIDE, value=512, step=8, label="Width",
                                         elem_id="train_training_width")
    fields["training_height"] = gr.Slider(64, MAX_TRAINING_SIDE, value=512, step=8, label="Height",
                                          elem_id="train_training_height")
    fields["varsize"] = gr.Checkbox(label="Do not resize images", value=False, elem_id="train_varsize")
    fields["steps"] = gr.Number(label="Max steps", value=100000, precision=0, elem_id="train_steps")
    with gr.Row():
        fields["create_image_every"] = gr.Number(label="Save an image to log directory every N steps, 0 to disable",
                                                 value=500, precision=0, elem_id="train_create_image_every")
        fields["save_embedding_every"] = gr.Number(
            label="Save a copy of embedding to log directory every N steps, 0 to disable", value=500, precision=0,
            elem_id="train_save_embedding_every")
    fields["save_image_with_stored_embedding"] = gr.Checkbox(
        label="Save images with embedding in PNG chunks", value=True, elem_id="train_save_image_with_stored_embedding")
    fields["preview_from_txt2img"] = gr.Checkbox(
        label="Read parameters (prompt, etc...) from txt2img tab when making previews", value=False,
        elem_id="train_preview_from_txt2img")
    fields["shuffle_tags"] = gr.Checkbox(label="Shuffle tags by ',' when creating prompts.", value=False,
                                         elem_id="train_shuffle_tags")
    fields["tag_drop_out"] = gr.Slider(0.0, 1.0, value=0.0, step=0.1, label="Drop out tags when creating prompts.",
                                       elem_id="train_tag_drop_out")
    fields["latent_sampling_method"] = gr.Radio(label="Choose latent sampling method", value="once",
                                                choices=list(LATENT_SAMPLING_METHODS),
                                                elem_id="train_latent_sampling_method")
    return refresh


def create_tab(state: EngineState, txt2img_fields: Mapping[str, Any]) -> TrainTab:
    """The tab; `txt2img_fields` are the txt2img tab's components by params field name."""
    fields: dict[str, Any] = {}
    with gr.Row(equal_height=False, elem_id="train_main_row"):
        with gr.Column(scale=1):
            with gr.Tabs(elem_id="train_tabs"):
                with gr.Tab("Create embedding", id="create_embedding", elem_id="train_create_embedding_tab"):
                    create = _create_embedding_form()
                with gr.Tab("Train", id="train", elem_id="train_train_tab") as train_item:
                    refresh = _create_train_form(state, fields)
                    with gr.Row():
                        interrupt = gr.Button("Interrupt", elem_id="train_interrupt_training", visible=KEPT_HIDDEN)
                        train = gr.Button("Train Embedding", variant="primary", elem_id="train_train_embedding")
        with gr.Column(scale=1, elem_id="ti_gallery_container"):
            progress = gr.HTML("", elem_id="ti_progress")
            output = gr.HTML("", elem_id="ti_output")
            preview = gr.Image(label="Preview", type="pil", interactive=False, visible=False, elem_id="ti_preview",
                               height=256, format="png")
            gallery = gr.Gallery(label="Output", show_label=False, elem_id="ti_gallery", columns=4, height="auto",
                                 object_fit="contain", format="png", interactive=False)
    txt2img_inputs = {source: txt2img_fields[source] for source in TXT2IMG_PREVIEW_FIELDS.values()}
    tab = TrainTab(create, fields, txt2img_inputs, refresh, train, interrupt, progress, output, preview, gallery)
    _wire(tab, state)
    train_item.select(lambda: _choices_update(state), outputs=fields["embedding_name"], show_progress="hidden")
    return tab


def _choices_update(state: EngineState, value: str | None = None) -> Any:
    choices = embedding_choices(state)
    return gr.update(choices=choices, value=value) if value in choices else gr.update(choices=choices)


def _fail(error: Exception) -> gr.Error:
    return gr.Error(str(error), print_exception=False)


def _wire(tab: TrainTab, state: EngineState) -> None:
    form, dropdown = tab.create, tab.fields["embedding_name"]

    def create(name: str, init_text: str, vectors: Any, overwrite: bool):
        try:
            model = state.models.current(timeout=MODEL_WAIT_SECONDS)
            path = create_embedding((name or "").strip(), whole_number(vectors, "num_vectors_per_token"),
                                    init_text or "", model, state.paths.embeddings_dir, overwrite=bool(overwrite))
        except (ParamsError, NoModelLoadedError) as e:
            raise _fail(e) from None
        return job_progress.info_html(f"Created embedding {path.stem}: {path}"), _choices_update(state, path.stem)

    form.create.click(create, inputs=[form.name, form.init_text, form.vectors_per_token, form.overwrite],
                      outputs=[tab.output, dropdown], show_progress="hidden")
    tab.refresh.click(lambda value: _choices_update(state, value), inputs=dropdown, outputs=dropdown,
                      show_progress="hidden")

    def form_params(data: dict[Any, Any]) -> TrainParams:
        values = {name: data[component] for name, component in tab.fields.items()}
        try:
            params = build_train_params(values, {name: data[c] for name, c in tab.txt2img_inputs.items()})
            resolve_inputs(params, state.paths.data_dir)
            trainable_embedding(state.extra_networks.embeddings, state.models.current(timeout=MODEL_WAIT_SECONDS),
                                params.embedding_name)
        except ParamsError as e:
            raise _fail(from_txt2img(e, bool(values["preview_from_txt2img"]))) from None
        except NoModelLoadedError as e:
            raise _fail(e) from None
        return params

    def train(data: dict[Any, Any], request: gr.Request):
        job_id = state.jobs.submit(TRAIN_JOB_KIND, form_params(data).to_dict(), owner_of(request))
        job = yield from _follow(state, tab, job_id)
        yield _finished(tab, job)

    running = {tab.train: gr.update(visible=KEPT_HIDDEN), tab.interrupt: gr.update(visible=True),
               tab.progress: job_progress.progress_html(None), tab.output: "",
               tab.preview: gr.update(visible=True, value=None)}
    wire_job_start(tab.train.click, form_params, running, train, _idle(tab),
                   {*tab.fields.values(), *tab.txt2img_inputs.values()},
                   [tab.train, tab.interrupt, tab.progress, tab.output, tab.preview, tab.gallery])

    def interrupt(request: gr.Request):
        state.jobs.interrupt(owner_of(request))

    tab.interrupt.click(interrupt, show_progress="hidden", concurrency_limit=None)


def _follow(state: EngineState, tab: TrainTab, job_id: str) -> Generator[dict[Any, Any], None, Job]:
    """Progress, loss text and new preview images while the job runs; returns the finished job."""
    shown_preview = None
    for job in job_progress.follow_job(state.jobs, job_id):
        if job.finished:
            return job
        update: dict[Any, Any] = {tab.progress: job_progress.progress_html(job),
                                  tab.output: job_progress.info_html(job.textinfo or "")}
        raw = state.jobs.preview(job_id)
        if raw is not None and raw is not shown_preview:
            shown_preview = raw
            update[tab.preview] = job_progress.preview_image(raw)
        yield update
    raise RuntimeError(f"job {job_id} was never reported finished")


def _idle(tab: TrainTab) -> dict[Any, Any]:
    return {tab.train: gr.update(visible=True), tab.interrupt: gr.update(visible=KEPT_HIDDEN),
            tab.preview: gr.update(visible=False, value=None)}


def _finished(tab: TrainTab, job: Job) -> dict[Any, Any]:
    text = outcome_text(job)
    failed = job.status in (JobStatus.FAILED, JobStatus.CANCELLED)
    if failed:
        gr.Warning(text)
    update: dict[Any, Any] = {**_idle(tab),
                              tab.progress: job_progress.error_html(text) if failed else "",
                              tab.output: job_progress.info_html(text)}
    images = (job.result or {}).get("images") or []
    if images:
        update[tab.gallery] = images
    return update
