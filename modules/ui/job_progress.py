"""Follow a queued job for the page: snapshots while it runs, progress text, result files.

Gradio-free: a tab's generator handler turns these into component updates.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

from PIL import Image

from modules.jobs import Job, JobQueue, JobStatus


def follow_job(queue: JobQueue, job_id: str, poll_seconds: float = 0.25,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[Job]:
    """Snapshots of the job (with live progress) until it has finished; the last one is final."""
    while True:
        job = queue.get(job_id)
        yield job
        if job.finished:
            return
        sleep(poll_seconds)


def preview_image(raw: Any) -> Image.Image | None:
    """The queue keeps what the runner handed over: a PIL image or encoded bytes."""
    if raw is None or isinstance(raw, Image.Image):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        return Image.open(io.BytesIO(raw))
    return None


def progress_text(job: Job | None) -> str:
    """One line: where the job stands, in words."""
    if job is None or job.status is JobStatus.QUEUED:
        return "Waiting in the queue…"
    p = job.progress
    parts = []
    if p.job_count > 1:
        parts.append(f"image {min(p.job_no + 1, p.job_count)}/{p.job_count}")
    if p.sampling_steps:
        parts.append(f"step {p.sampling_step}/{p.sampling_steps}")
    parts.append(f"{p.fraction:.0%}")
    if p.eta_relative is not None and not job.finished:
        parts.append(f"ETA {format_seconds(p.eta_relative)}")
    return ", ".join(parts)


def format_seconds(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def progress_html(job: Job | None, label: str = "") -> str:
    """A progress bar with its text (classes for user CSS: easel-progress…); `label` goes first
    (e.g. which file of a batch)."""
    fraction = job.progress.fraction if job is not None and job.status is JobStatus.RUNNING else 0.0
    text = f"{label}: {progress_text(job)}" if label else progress_text(job)
    return (f'<div class="easel-progress" data-fraction="{fraction:.3f}">'
            f'<div class="easel-progress-bar" style="width:{fraction * 100:.1f}%"></div>'
            f'<span class="easel-progress-text">{html.escape(text)}</span></div>')


def error_html(message: str) -> str:
    return f'<div class="easel-error" role="alert">{html.escape(message)}</div>'


def result_files(job: Job) -> list[str]:
    return list((job.result or {}).get("images", []))


def result_infotexts(job: Job) -> list[str]:
    return list((job.result or {}).get("infotexts", []))


def finished_message(job: Job) -> str | None:
    """None for success; otherwise what to tell the user."""
    if job.status is JobStatus.FAILED:
        return f"Generation failed: {job.error or 'unknown error'}"
    if job.status is JobStatus.CANCELLED:
        return "The job was cancelled."
    if job.status is JobStatus.INTERRUPTED and not result_files(job):
        return "Interrupted before any image was finished."
    return None


def info_html(infotext: str, seconds: float | None = None) -> str:
    """The selected image's infotext as A1111 shows it under the gallery."""
    body = html.escape(infotext).replace("\n", "<br>")
    took = f'<p class="easel-time">Time taken: {format_seconds(seconds)}</p>' if seconds is not None else ""
    return f'<div class="easel-infotext"><p>{body}</p>{took}</div>'


def job_seconds(job: Job) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return job.finished_at - job.started_at
