"""What a job is: its status, its progress and the stored record the API reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES

    @classmethod
    def parse(cls, value: "str | JobStatus") -> "JobStatus":
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(status.value for status in cls)
            raise ValueError(f"status={value!r} is not a job status; expected one of: {allowed}") from None


FINISHED_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED})


class JobNotFound(LookupError):
    """No job with this id (the API answers 404)."""

    def __init__(self, job_id: str):
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


@dataclass(frozen=True)
class JobProgress:
    """Where a job stands, in A1111's terms: image ``job_no`` of ``job_count`` (0-based, as
    A1111's state.job_no), step ``sampling_step`` of ``sampling_steps`` within that image.

    ``fraction`` covers the whole plan of the job (0..1); ``eta_relative`` is seconds left,
    from measured step time, or None while nothing has been measured yet.
    """

    job_no: int = 0
    job_count: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    fraction: float = 0.0
    eta_relative: float | None = None


@dataclass(frozen=True)
class Job:
    """One stored job. ``seq`` is the submission order; ``served_seq`` the order in which
    jobs were started (None until started), which the fair scheduler reads."""

    id: str
    owner: str
    kind: str
    params: dict[str, Any]
    status: JobStatus
    seq: int
    served_seq: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress = field(default_factory=JobProgress)
    textinfo: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status.finished

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the API (status as its plain string)."""
        data = asdict(self)
        data["status"] = self.status.value
        return data
