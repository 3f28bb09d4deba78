"""What a generation reports while it runs, and how it is told to stop.

The job queue's context implements this; `NullProgress` serves direct calls and tests.
"""

from __future__ import annotations

from typing import Any, Protocol


class ProgressSink(Protocol):
    interrupted: bool  # A1111 interrupt: finish the current step, return what is done
    skipped: bool  # A1111 skip: end this batch, go on with the next

    def set_total(self, job_count: int, steps_per_job: int) -> None: ...
    def next_job(self) -> None: ...  # a batch is done; clears `skipped`
    def step(self, step: int) -> None: ...
    def set_preview(self, image: Any) -> None: ...


class NullProgress:
    def __init__(self) -> None:
        self.interrupted = False
        self.skipped = False
        self.steps: list[int] = []
        self.previews: list[Any] = []
        self.jobs = 0

    def set_total(self, job_count: int, steps_per_job: int) -> None:
        self.total = (job_count, steps_per_job)

    def next_job(self) -> None:
        self.jobs += 1
        self.skipped = False

    def step(self, step: int) -> None:
        self.steps.append(step)

    def set_preview(self, image: Any) -> None:
        self.previews.append(image)
