"""Jobs persisted in SQLite (WAL) in the data dir: they survive restarts, results stay readable.

Every status change is one conditional UPDATE (``WHERE status = ...``) or one immediate
transaction, so two threads can never both start, or both finish, the same job.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modules.jobs.fairness import OwnerTurn, next_owner
from modules.jobs.records import Job, JobNotFound, JobProgress, JobStatus

log = logging.getLogger(__name__)

JOBS_DB_NAME = "jobs.sqlite3"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order, never reused
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    served_seq INTEGER,                     -- start order, read by the fair scheduler
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    job_no INTEGER NOT NULL DEFAULT 0,
    job_count INTEGER NOT NULL DEFAULT 0,
    sampling_step INTEGER NOT NULL DEFAULT 0,
    sampling_steps INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    eta_relative REAL,
    textinfo TEXT,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, owner, seq);
CREATE INDEX IF NOT EXISTS jobs_by_owner_served ON jobs (owner, served_seq);
"""

ENDING_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.INTERRUPTED)


def to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be JSON-serialisable: {e}") from None


class JobStore:
    """The jobs table. One connection shared by all threads behind a lock (simple, and
    SQLite serialises writers anyway); WAL keeps readers of other processes unblocked."""

    def __init__(self, path: str | Path, wall_clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.wall_clock = wall_clock
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._create_schema()
        self.recovered = self.requeue_running()
        if self.recovered:
            log.warning("requeued %d job(s) left running by an unclean shutdown: %s",
                        len(self.recovered), ", ".join(self.recovered))

    def _create_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ValueError(f"{self.path} has job schema version {version}; this Easel knows {SCHEMA_VERSION}")
        self._conn.executescript(SCHEMA)
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"job store {self.path} is closed")
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # --- reading -------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return row_to_job(row)

    def list(self, owner: str | None = None, status: str | JobStatus | None = None) -> list[Job]:
        """Jobs in submission order, optionally only one owner's and/or one status."""
        clauses, args = [], []
        if owner is not None:
            clauses.append("owner = ?")
            args.append(owner)
        if status is not None:
            clauses.append("status = ?")
            args.append(JobStatus.parse(status).value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(f"SELECT * FROM jobs {where} ORDER BY seq", args).fetchall()
        return [row_to_job(row) for row in rows]

    # --- status transitions ---------------------------------------------------------

    def add(self, owner: str, kind: str, params: dict[str, Any]) -> Job:
        if not isinstance(owner, str) or not owner:
            raise ValueError(f"owner={owner!r} must be a non-empty string")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"kind={kind!r} must be a non-empty string")
        if not isinstance(params, dict):
            raise ValueError(f"params must be a dict, not {type(params).__name__}")
        params_json = to_json(params, "params")
        job_id = uuid.uuid4().hex
        with self._lock:
            self._conn.execute(
                "INSERT INTO jobs (id, owner, kind, params, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, owner, kind, params_json, JobStatus.QUEUED.value, self.wall_clock()))
        return self.get(job_id)

    def claim_next(self) -> Job | None:
        """Mark the fairly chosen next queued job running and return it (None: nothing queued)."""
        with self._transaction() as conn:
            rows = conn.execute(
                """SELECT q.owner, MIN(q.seq) AS oldest_seq,
                          (SELECT MAX(s.served_seq) FROM jobs s WHERE s.owner = q.owner) AS last_served
                   FROM jobs q WHERE q.status = ? GROUP BY q.owner""", (JobStatus.QUEUED.value,)).fetchall()
            turn = next_owner(OwnerTurn(row["owner"], row["oldest_seq"], row["last_served"]) for row in rows)
            if turn is None:
                return None
            conn.execute(
                """UPDATE jobs SET status = ?, started_at = ?,
                          served_seq = (SELECT COALESCE(MAX(served_seq), 0) + 1 FROM jobs)
                   WHERE seq = ? AND status = ?""",
                (JobStatus.RUNNING.value, self.wall_clock(), turn.oldest_seq, JobStatus.QUEUED.value))
            row = conn.execute("SELECT * FROM jobs WHERE seq = ?", (turn.oldest_seq,)).fetchone()
        return row_to_job(row)

    def finish(self, job_id: str, status: JobStatus, *, result: dict[str, Any] | None = None,
               error: str | None = None, progress: JobProgress | None = None, textinfo: str | None = None) -> Job:
        """End a running job as done, failed or interrupted, with its result or error."""
        status = JobStatus.parse(status)
        if status not in ENDING_STATUSES:
            raise ValueError(f"status={status.value!r} cannot end a running job; "
                             f"expected one of: {', '.join(s.value for s in ENDING_STATUSES)}")
        result_json = None if result is None else to_json(result, "result")
        progress = progress or JobProgress()
        with self._lock:
            changed = self._conn.execute(
                """UPDATE jobs SET status = ?, finished_at = ?, result = ?, error = ?, textinfo = ?,
                          job_no = ?, job_count = ?, sampling_step = ?, sampling_steps = ?,
                          progress = ?, eta_relative = ?
                   WHERE id = ? AND status = ?""",
                (status.value, self.wall_clock(), result_json, error, textinfo,
                 progress.job_no, progress.job_count, progress.sampling_step, progress.sampling_steps,
                 progress.fraction, progress.eta_relative, job_id, JobStatus.RUNNING.value)).rowcount
            if not changed:
                current = self.get(job_id)  # raises JobNotFound for an unknown id
                raise ValueError(f"job {job_id} is {current.status.value}, not running; cannot mark it {status.value}")
        return self.get(job_id)

    def cancel_queued(self, job_id: str) -> bool:
        """queued -> cancelled; False when the job is no longer queued."""
        with self._lock:
            changed = self._conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ? AND status = ?",
                (JobStatus.CANCELLED.value, self.wall_clock(), job_id, JobStatus.QUEUED.value)).rowcount
        return changed == 1

    def requeue_running(self) -> list[str]:
        """Put jobs a crash left running back in the queue. Their start number is cleared,
        so the fair order is as if they had never started: they run first again."""
        with self._transaction() as conn:
            ids = [row["id"] for row in conn.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY seq", (JobStatus.RUNNING.value,))]
            conn.execute("UPDATE jobs SET status = ?, started_at = NULL, served_seq = NULL WHERE status = ?",
                         (JobStatus.QUEUED.value, JobStatus.RUNNING.value))
        return ids


def row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], owner=row["owner"], kind=row["kind"], params=json.loads(row["params"]),
        status=JobStatus(row["status"]), seq=row["seq"], served_seq=row["served_seq"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        progress=JobProgress(job_no=row["job_no"], job_count=row["job_count"], sampling_step=row["sampling_step"],
                             sampling_steps=row["sampling_steps"], fraction=row["progress"],
                             eta_relative=row["eta_relative"]),
        textinfo=row["textinfo"],
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
    )
