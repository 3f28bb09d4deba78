"""JobQueue: every generation goes through here, one worker thread per device.

Jobs are taken in fair order across owners (see fairness.py), persisted in a JobStore,
and run by a plain callable per kind: ``runner(params, ctx) -> dict`` (JSON-serialisable).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from modules.jobs.context import JobContext
from modules.jobs.progress import idle_progress_response
from modules.jobs.records import Job, JobStatus
from modules.jobs.store import JobStore, to_json

log = logging.getLogger(__name__)

Runner = Callable[[dict[str, Any], JobContext], dict[str, Any]]


def readable_error(exc: BaseException) -> str:
    """The message users see: exception type and text, no traceback (that goes to the log)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobQueue:
    def __init__(self, store: JobStore, runners: Mapping[str, Runner], devices: Sequence[str] = ("default",),
                 clock: Callable[[], float] = time.monotonic):
        for kind, runner in runners.items():
            if not isinstance(kind, str) or not kind or not callable(runner):
                raise ValueError(f"runners[{kind!r}] must map a non-empty kind name to a callable")
        if not devices or len(set(devices)) != len(devices):
            raise ValueError(f"devices={list(devices)!r} must be a non-empty list of distinct names")
        self.store = store
        self.runners = dict(runners)
        self.devices = tuple(devices)
        self.clock = clock
        # guards the running map and the stop flag; notified whenever a job is added or ends
        self._changed = threading.Condition()
        self._running: dict[str, JobContext] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._seconds_per_step: dict[str, float] = {}  # last measured rate per kind, seeds the next ETA

    # --- submitting and reading -------------------------------------------------------

    def submit(self, kind: str, params: dict[str, Any], owner: str) -> str:
        """Queue a job and return its id."""
        if kind not in self.runners:
            raise ValueError(f"kind={kind!r} has no runner; known kinds: {', '.join(sorted(self.runners))}")
        job = self.store.add(owner, kind, params)
        with self._changed:
            self._changed.notify_all()
        return job.id

    def get(self, job_id: str) -> Job:
        """The job as stored, with live progress while it runs. Raises JobNotFound."""
        return self._with_live_progress(self.store.get(job_id))

    def list(self, owner: str | None = None, status: str | JobStatus | None = None) -> list[Job]:
        """Jobs in submission order, optionally one owner's and/or one status."""
        return [self._with_live_progress(job) for job in self.store.list(owner=owner, status=status)]

    def preview(self, job_id: str) -> Any:
        """The latest live preview of a running job (None otherwise)."""
        ctx = self._running.get(job_id)
        return ctx.preview if ctx is not None else None

    def _with_live_progress(self, job: Job) -> Job:
        ctx = self._running.get(job.id)
        if job.status is not JobStatus.RUNNING or ctx is None:
            return job
        return replace(job, progress=ctx.progress(), textinfo=ctx.textinfo)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (any final status) and return it.
        Raises TimeoutError after ``timeout`` seconds, JobNotFound for an unknown id."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                job = self.store.get(job_id)
                if job.finished:
                    return job
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.status.value} after {timeout} s")
                self._changed.wait(left)

    # --- stopping work ------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Queued: cancelled at once. Running: interrupted after its current step; it ends
        "interrupted" with the partial result its runner returns. Finished: unchanged."""
        with self._changed:
            if self.store.cancel_queued(job_id):
                self._changed.notify_all()
            elif job_id in self._running:
                self._running[job_id].interrupt()
            return self.get(job_id)

    def interrupt(self, owner: str | None = None) -> list[str]:
        """A1111 /interrupt: running jobs (only ``owner``'s, if given) stop after the current
        step and keep what is done. Returns the ids it reached."""
        reached = self._running_contexts(owner)
        for ctx in reached:
            ctx.interrupt()
        return [ctx.job.id for ctx in reached]

    def skip(self, owner: str | None = None) -> list[str]:
        """A1111 /skip: running jobs drop their current image and go on with the next one."""
        reached = self._running_contexts(owner)
        for ctx in reached:
            ctx.skip()
        return [ctx.job.id for ctx in reached]

    def _running_contexts(self, owner: str | None) -> list[JobContext]:
        with self._changed:
            return [ctx for ctx in self._running.values() if owner is None or ctx.job.owner == owner]

    # --- progress -------------------------------------------------------------------------

    def progress_snapshot(self) -> dict[str, Any]:
        """/sdapi/v1/progress: the running job (the longest-running one, with several
        devices) in A1111's shape; idle values when nothing runs."""
        with self._changed:
            running = sorted(self._running.values(), key=lambda ctx: ctx.job.served_seq or 0)
        return running[0].progress_response() if running else idle_progress_response()

    # --- workers --------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return any(worker.is_alive() for worker in self._workers)

    def start(self) -> "JobQueue":
        """Start one worker thread per device (no-op when already started)."""
        with self._changed:
            if self.is_running:
                return self
            self._stopping = False
            self._workers = [threading.Thread(target=self._work, args=(device,), name=f"easel-jobs-{device}",
                                              daemon=True) for device in self.devices]
        for worker in self._workers:
            worker.start()
        return self

    def stop(self, timeout: float | None = None, interrupt: bool = False) -> bool:
        """Stop taking jobs and wait for the running ones to end (``interrupt``: ask them to
        stop after their current step). Queued jobs stay queued. False if ``timeout`` ran out."""
        with self._changed:
            self._stopping = True
            if interrupt:
                for ctx in self._running.values():
                    ctx.interrupt()
            self._changed.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self._workers:
            worker.join(None if deadline is None else max(deadline - time.monotonic(), 0))
        return not self.is_running

    def _work(self, device: str) -> None:
        while True:
            with self._changed:
                job = self._claim_next()
                while job is None:
                    if self._stopping:
                        return
                    self._changed.wait()
                    job = self._claim_next()
                ctx = JobContext(job, device, self.clock, self._seconds_per_step.get(job.kind))
                self._running[job.id] = ctx
            try:
                self._run(job, ctx)
            finally:
                with self._changed:
                    del self._running[job.id]
                    self._changed.notify_all()

    def _claim_next(self) -> Job | None:
        return None if self._stopping else self.store.claim_next()

    def _run(self, job: Job, ctx: JobContext) -> None:
        log.info("job %s (%s for %s) started on %s", job.id, job.kind, job.owner, ctx.device)
        result, error = None, None
        try:
            runner = self.runners.get(job.kind)
            if runner is None:
                raise LookupError(f"no runner for kind {job.kind!r} (known: {', '.join(sorted(self.runners))})")
            result = runner(dict(job.params), ctx)
            if not isinstance(result, dict):
                raise TypeError(f"the {job.kind!r} runner returned {type(result).__name__}, expected a dict")
            to_json(result, f"the result of the {job.kind!r} runner")
            status = JobStatus.INTERRUPTED if ctx.interrupted else JobStatus.DONE
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            # an interrupted runner may give up by raising; that is still the user's interrupt
            status = JobStatus.INTERRUPTED if ctx.interrupted else JobStatus.FAILED
            result, error = None, readable_error(exc)
        rate = ctx.measured_seconds_per_step
        if rate is not None:
            self._seconds_per_step[job.kind] = rate
        progress = ctx.progress()
        progress = replace(progress, eta_relative=0.0,
                           fraction=1.0 if status is JobStatus.DONE else progress.fraction)
        try:
            self.store.finish(job.id, status, result=result, error=error, progress=progress, textinfo=ctx.textinfo)
        except Exception:
            log.exception("could not record the end of job %s", job.id)
            return
        log.info("job %s ended %s", job.id, status.value)
