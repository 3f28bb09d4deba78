"""JobContext: what a runner sees of the queue while its job runs.

A runner reports its plan and progress (``set_total``, ``step``, ``next_job``), hands over
live previews and a status line, and polls ``check()`` between steps: once it returns True
the current image should stop (skip) or the whole job should wrap up with what is done
(interrupt), exactly as A1111's shared.state.interrupted / skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from modules.jobs.progress import StepTimer, estimate_eta, job_timestamp, plan_fraction
from modules.jobs.records import Job, JobProgress


class JobContext:
    def __init__(self, job: Job, device: str = "default", clock: Callable[[], float] = time.monotonic,
                 prior_seconds_per_step: float | None = None):
        self.job = job
        self.device = device
        self.prior_seconds_per_step = prior_seconds_per_step
        self._lock = threading.Lock()
        self._timer = StepTimer(clock)
        self._interrupted = threading.Event()
        self._skipped = threading.Event()
        self._job_no = 0
        self._job_count = 0
        self._step = 0
        self._steps = 0
        self._preview: Any = None
        self._textinfo: str | None = None

    # --- reported by the runner -------------------------------------------------------

    def set_total(self, job_count: int, steps_per_job: int) -> None:
        """Announce the plan: ``job_count`` images of ``steps_per_job`` sampling steps each
        (0 steps for work without a sampler, e.g. upscaling). May be called again to revise it."""
        if not isinstance(job_count, int) or job_count < 1:
            raise ValueError(f"job_count={job_count!r} must be a whole number >= 1")
        if not isinstance(steps_per_job, int) or steps_per_job < 0:
            raise ValueError(f"steps_per_job={steps_per_job!r} must be a whole number >= 0")
        with self._lock:
            if self._job_count == 0:
                self._timer.start_image()  # the plan starts now, not when the job was claimed
            self._job_count = job_count
            self._steps = steps_per_job
            self._job_no = min(self._job_no, job_count)

    def step(self, step: int) -> None:
        """``step`` sampling steps of the current image are finished (1 after the first).
        A count past the announced total raises the total (adaptive samplers cannot know it)."""
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} must be a whole number >= 0")
        with self._lock:
            self._timer.record_steps(step - self._step)
            self._step = step
            self._steps = max(self._steps, step)

    def next_job(self) -> None:
        """The current image is finished (or skipped); move on to the next one."""
        with self._lock:
            self._timer.finish_image()
            self._job_no += 1
            if self._job_count:
                self._job_no = min(self._job_no, self._job_count)
            self._step = 0
            self._skipped.clear()  # a skip only ever applies to the image it was meant for

    def set_preview(self, image: Any) -> None:
        """Latest live preview (a PIL image or encoded bytes); /progress returns it as given."""
        with self._lock:
            self._preview = image

    @property
    def textinfo(self) -> str | None:
        return self._textinfo

    @textinfo.setter
    def textinfo(self, text: str | None) -> None:
        self._textinfo = text

    # --- flags, set from outside, polled by the runner -----------------------------------

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    @property
    def skipped(self) -> bool:
        return self._skipped.is_set()

    def check(self) -> bool:
        """True when the runner should stop the current image now (skip or interrupt).
        Never raises, so it fits a sampler's ``should_stop`` callback."""
        return self._interrupted.is_set() or self._skipped.is_set()

    def interrupt(self) -> None:
        self._interrupted.set()

    def skip(self) -> None:
        self._skipped.set()

    # --- read by the queue and the API ----------------------------------------------------

    @property
    def preview(self) -> Any:
        return self._preview

    @property
    def measured_seconds_per_step(self) -> float | None:
        with self._lock:
            return self._timer.seconds_per_step

    def progress(self) -> JobProgress:
        with self._lock:
            plan = (self._job_no, self._job_count, self._step, self._steps)
            eta = estimate_eta(*plan, self._timer, self.prior_seconds_per_step)
        return JobProgress(job_no=plan[0], job_count=plan[1], sampling_step=plan[2], sampling_steps=plan[3],
                           fraction=plan_fraction(*plan), eta_relative=eta)

    def progress_response(self) -> dict[str, Any]:
        """This job's progress in /sdapi/v1/progress shape (current_image: the raw preview)."""
        progress = self.progress()
        state = {"skipped": self.skipped, "interrupted": self.interrupted, "job": self.job.kind,
                 "job_count": progress.job_count, "job_timestamp": job_timestamp(self.job.started_at),
                 "job_no": progress.job_no, "sampling_step": progress.sampling_step,
                 "sampling_steps": progress.sampling_steps}
        return {"progress": progress.fraction, "eta_relative": progress.eta_relative or 0.0, "state": state,
                "current_image": self.preview, "textinfo": self.textinfo}
