"""Progress arithmetic in A1111's terms, and step timing measured while a job runs.

The plan of a job is ``job_count`` images of ``sampling_steps`` steps each; ``job_no`` is
the 0-based image being made and ``sampling_step`` the steps it has finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def plan_fraction(job_no: int, job_count: int, sampling_step: int, sampling_steps: int) -> float:
    """How much of the whole plan is done, 0..1 (0 while the plan is unknown)."""
    if job_count <= 0:
        return 0.0
    within_image = sampling_step / sampling_steps if sampling_steps > 0 else 0.0
    return min(max((job_no + within_image) / job_count, 0.0), 1.0)


def remaining_steps(job_no: int, job_count: int, sampling_step: int, sampling_steps: int) -> int:
    """Sampling steps left in the plan: the rest of this image and all later images."""
    later_images = max(job_count - job_no - 1, 0)
    this_image = max(sampling_steps - sampling_step, 0) if job_no < job_count else 0
    return later_images * sampling_steps + this_image


class StepTimer:
    """Measures seconds per step from the runner's reports.

    Steps are timed from one report to the next within an image; the first step of an
    image (which also pays for text encoding or model loading) only counts while there is
    nothing better. Whole images are timed too, for plans without sampling steps (extras).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._image_started = clock()
        self._last_step_at: float | None = None
        self._between = [0.0, 0]  # seconds, steps
        self._first = [0.0, 0]
        self._images = [0.0, 0]

    def start_image(self) -> None:
        self._image_started = self.clock()
        self._last_step_at = None

    def record_steps(self, advanced: int) -> None:
        now = self.clock()
        if advanced > 0:
            bucket, since = ((self._first, self._image_started) if self._last_step_at is None
                             else (self._between, self._last_step_at))
            bucket[0] += now - since
            bucket[1] += advanced
        self._last_step_at = now

    def finish_image(self) -> None:
        self._images[0] += self.clock() - self._image_started
        self._images[1] += 1
        self.start_image()

    @property
    def seconds_per_step(self) -> float | None:
        for seconds, steps in (self._between, self._first):
            if steps:
                return seconds / steps
        return None

    @property
    def seconds_per_image(self) -> float | None:
        seconds, images = self._images
        return seconds / images if images else None

    def seconds_into_image(self) -> float:
        return self.clock() - self._image_started


def estimate_eta(job_no: int, job_count: int, sampling_step: int, sampling_steps: int,
                 timer: StepTimer, prior_seconds_per_step: float | None = None) -> float | None:
    """Seconds left: measured step time x remaining steps (None until something is measured).

    ``prior_seconds_per_step`` is the rate measured on the previous job of the same kind,
    used until this job has timed a step of its own.
    """
    if job_count <= 0:
        return None
    if sampling_steps > 0:
        rate = timer.seconds_per_step if timer.seconds_per_step is not None else prior_seconds_per_step
        if rate is None:
            return None
        return rate * remaining_steps(job_no, job_count, sampling_step, sampling_steps)
    per_image = timer.seconds_per_image
    if per_image is None:
        return None
    return max(per_image * max(job_count - job_no, 0) - timer.seconds_into_image(), 0.0)


def job_timestamp(started_at: float | None) -> str:
    """A1111's state.job_timestamp: local start time as YYYYmmddHHMMSS ("0" before any job)."""
    if started_at is None:
        return "0"
    return time.strftime("%Y%m%d%H%M%S", time.localtime(started_at))


def idle_progress_response() -> dict[str, Any]:
    """/sdapi/v1/progress while nothing runs (A1111's shape and values)."""
    state = {"skipped": False, "interrupted": False, "job": "", "job_count": 0, "job_timestamp": "0",
             "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
    return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None, "textinfo": None}
