"""The right-hand side of txt2img/img2img: progress, live preview, gallery, infotext, save,
zip, and the generator that streams a queued job into them.

Generate never runs the engine itself: it submits to the job queue and polls, so the page
stays responsive and every user's work is served fairly.
"""

from __future__ import annotations

import tempfile
import uuid
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from modules.engine_state import EngineState
from modules.generation_jobs import params_to_json
from modules.jobs import Job
from modules.processing import GenerationParams
from modules.ui import job_progress
from modules.ui.components import KEPT_HIDDEN, SeedControls, TopRow, owner_of


@dataclass
class ResultPanel:
    tab: str
    progress: gr.HTML
    preview: gr.Image
    gallery: gr.Gallery
    info: gr.HTML
    result: gr.State  # {"images": [paths], "infotexts": [...], "info": {...}}
    selected: gr.State  # gallery index
    save: gr.Button
    save_zip: gr.Button
    download: gr.File
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button


def create_result_panel(tab: str) -> ResultPanel:
    with gr.Column(elem_id=f"{tab}_results"):
        progress = gr.HTML("", elem_id=f"{tab}_progress")
        preview = gr.Image(label="Live preview", type="pil", interactive=False, visible=False,
                           elem_id=f"{tab}_preview", height=256, format="jpeg")
        gallery = gr.Gallery(label="Output", show_label=False, elem_id=f"{tab}_gallery", columns=4,
                             height="auto", object_fit="contain", format="png", interactive=False)
        with gr.Row(elem_id=f"image_buttons_{tab}"):
            save = gr.Button("Save", elem_id=f"save_{tab}", size="sm")
            save_zip = gr.Button("Zip", elem_id=f"save_zip_{tab}", size="sm")
            send_to_img2img = gr.Button("Send to img2img", elem_id=f"{tab}_send_to_img2img", size="sm")
            send_to_inpaint = gr.Button("Send to inpaint", elem_id=f"{tab}_send_to_inpaint", size="sm")
        download = gr.File(label="Download", visible=False, file_count="multiple", interactive=False,
                           elem_id=f"download_files_{tab}")
        info = gr.HTML("", elem_id=f"html_info_{tab}")
        result = gr.State({})
        selected = gr.State(0)
    return ResultPanel(tab, progress, preview, gallery, info, result, selected, save, save_zip, download,
                       send_to_img2img, send_to_inpaint)


def selected_file(result: dict[str, Any], index: int) -> tuple[str, str] | None:
    """(path, infotext) of the gallery image at `index`, or None when there is none."""
    files, infotexts = result.get("images", []), result.get("infotexts", [])
    if not files:
        return None
    index = min(max(int(index or 0), 0), len(files) - 1)
    return files[index], infotexts[index] if index < len(infotexts) else ""


def selected_seed(result: dict[str, Any], index: int, key: str) -> int | None:
    """The seed (key "all_seeds") or variation seed ("all_subseeds") of a gallery image."""
    info = result.get("info") or {}
    seeds = info.get(key) or []
    if not seeds:
        return None
    position = max(int(index or 0) - int(info.get("index_of_first_image", 0)), 0)
    return int(seeds[min(position, len(seeds) - 1)])


def download_files(result: dict[str, Any]) -> list[str]:
    """What Save/Zip offer: the files as saved in outputs/ (the user's format and file names)
    when every image was saved, else the job's PNG copies (infotext inside either way)."""
    images, saved = result.get("images", []), result.get("saved", [])
    return list(saved) if saved and len(saved) == len(images) else list(images)


_ZIP_DIR = tempfile.TemporaryDirectory(prefix="easel-zip-")  # Gradio serves a copy; removed at exit


def zip_files(files: list[str], folder: Path) -> Path:
    """A new zip in `folder` holding `files` under their own names (the index added on a clash)."""
    target = folder / f"images-{uuid.uuid4().hex[:12]}.zip"
    names: set[str] = set()
    with zipfile.ZipFile(target, "w") as archive:
        for index, path in enumerate(files):
            name = Path(path).name
            name = name if name not in names else f"{index:05d}-{name}"
            names.add(name)
            archive.write(path, name)
    return target


def wire_result_panel(panel: ResultPanel) -> None:
    def on_select(result: dict[str, Any], event: gr.SelectData):
        chosen = selected_file(result, event.index)
        return event.index, job_progress.info_html(chosen[1], result.get("seconds")) if chosen else ""

    panel.gallery.select(on_select, inputs=panel.result, outputs=[panel.selected, panel.info],
                         show_progress="hidden")

    def save(result: dict[str, Any], index: int):
        files = download_files(result)
        if not files:
            raise gr.Error("Nothing to save yet: generate an image first.", print_exception=False)
        return gr.update(value=[files[min(max(int(index or 0), 0), len(files) - 1)]], visible=True)

    def save_zip(result: dict[str, Any]):
        files = download_files(result)
        if not files:
            raise gr.Error("Nothing to zip yet: generate an image first.", print_exception=False)
        return gr.update(value=[str(zip_files(files, Path(_ZIP_DIR.name)))], visible=True)

    panel.save.click(save, inputs=[panel.result, panel.selected], outputs=panel.download)
    panel.save_zip.click(save_zip, inputs=panel.result, outputs=panel.download)


def wire_seed_reuse(seed: SeedControls, panel: ResultPanel) -> None:
    """♻️: the seed (or variation seed) of the image selected in the gallery."""

    def reuse(key: str):
        def pick(result: dict[str, Any], index: int):
            value = selected_seed(result, index, key)
            if value is None:
                raise gr.Error("Generate an image first: its seed is what ♻️ reuses.", print_exception=False)
            return value
        return pick

    seed.reuse_seed.click(reuse("all_seeds"), inputs=[panel.result, panel.selected], outputs=seed.seed,
                          show_progress="hidden")
    seed.reuse_subseed.click(reuse("all_subseeds"), inputs=[panel.result, panel.selected], outputs=seed.subseed,
                             show_progress="hidden")


def wire_stop_buttons(row: TopRow, state: EngineState) -> None:
    """Interrupt/Skip reach only this user's running job."""

    def interrupt(request: gr.Request):
        state.jobs.interrupt(owner_of(request))

    def skip(request: gr.Request):
        state.jobs.skip(owner_of(request))

    row.interrupt.click(interrupt, show_progress="hidden", concurrency_limit=None)
    row.skip.click(skip, show_progress="hidden", concurrency_limit=None)


def generation_outputs(row: TopRow, panel: ResultPanel) -> list[Any]:
    return [row.generate, row.interrupt, row.skip, panel.progress, panel.preview, panel.gallery, panel.info,
            panel.result, panel.selected, panel.download]


@dataclass
class RunOutcome:
    """What the page shows when a run (one job, or a batch of them) has ended."""

    files: list[str]
    infotexts: list[str]
    info: dict[str, Any]
    seconds: float | None
    message: str | None  # None: success
    saved: list[str] = field(default_factory=list)  # the same images as saved in outputs/ (if they were)
    warnings: list[str] = field(default_factory=list)  # things the user should know (e.g. a LoRA not found)

    @classmethod
    def from_job(cls, job: Job) -> RunOutcome:
        result = job.result or {}
        return cls(job_progress.result_files(job), job_progress.result_infotexts(job), result.get("info", {}),
                   job_progress.job_seconds(job), job_progress.finished_message(job),
                   list(result.get("saved", [])), list(result.get("warnings", [])))

    def add(self, other: RunOutcome) -> None:
        """Take in the next job of a batch: its images (as `other.files`), time and warnings."""
        self.files += other.files
        self.infotexts += other.infotexts
        self.saved += other.saved
        self.seconds = (self.seconds or 0.0) + (other.seconds or 0.0)
        self.warnings += [w for w in other.warnings if w not in self.warnings]


def start_updates(row: TopRow, panel: ResultPanel) -> dict[Any, Any]:
    """Generate becomes Interrupt/Skip; the progress bar and preview appear (see wire_job_start)."""
    return {row.generate: gr.update(visible=KEPT_HIDDEN), row.interrupt: gr.update(visible=True),
            row.skip: gr.update(visible=True), panel.progress: job_progress.progress_html(None),
            panel.preview: gr.update(visible=True, value=None), panel.download: gr.update(visible=False)}


def follow_updates(state: EngineState, job_id: str, panel: ResultPanel, label: str = "",
                   poll_seconds: float = 0.25) -> Generator[dict[Any, Any], None, Job]:
    """Progress and new live previews while the job runs; returns the finished job."""
    shown_preview = None
    for job in job_progress.follow_job(state.jobs, job_id, poll_seconds):
        if job.finished:
            return job
        update: dict[Any, Any] = {panel.progress: job_progress.progress_html(job, label)}
        raw = state.jobs.preview(job_id)
        if raw is not None and raw is not shown_preview:
            shown_preview = raw
            update[panel.preview] = job_progress.preview_image(raw)
        yield update
    raise RuntimeError(f"job {job_id} was never reported finished")  # follow_job ends only on a finished job


def stream_generation(state: EngineState, params: GenerationParams, owner: str, row: TopRow,
                      panel: ResultPanel, poll_seconds: float = 0.25,
                      script_fields: dict[str, Any] | None = None) -> Iterator[dict[Any, Any]]:
    """Submit `params` (with the Script fields, if any) and yield page updates until the job
    ends (see generation_outputs)."""
    job_id = state.jobs.submit(params.kind, {**params_to_json(params), **(script_fields or {})}, owner)
    job = yield from follow_updates(state, job_id, panel, poll_seconds=poll_seconds)
    yield finished_updates(RunOutcome.from_job(job), row, panel)


def idle_updates(row: TopRow, panel: ResultPanel) -> dict[Any, Any]:
    """Interrupt/Skip become Generate again; the live preview goes."""
    return {row.generate: gr.update(visible=True), row.interrupt: gr.update(visible=KEPT_HIDDEN),
            row.skip: gr.update(visible=KEPT_HIDDEN), panel.preview: gr.update(visible=False, value=None)}


def finished_updates(outcome: RunOutcome, row: TopRow, panel: ResultPanel) -> dict[Any, Any]:
    for warning in outcome.warnings:
        gr.Warning(warning)
    if outcome.message:
        gr.Warning(outcome.message)
    update = {**idle_updates(row, panel),
              panel.progress: job_progress.error_html(outcome.message) if outcome.message else ""}
    if outcome.files:  # a failed or empty run leaves the previous images on screen
        result = {"images": outcome.files, "saved": outcome.saved, "infotexts": outcome.infotexts,
                  "info": outcome.info, "seconds": outcome.seconds}
        first = outcome.infotexts[0] if outcome.infotexts else ""
        update.update({panel.gallery: outcome.files, panel.result: result, panel.selected: 0,
                       panel.info: job_progress.info_html(first, outcome.seconds)})
    return update
