"""The job queue: every generation (UI and API) runs through one persisted, fair queue.

Usage by the app::

    store = JobStore(paths.data_dir / JOBS_DB_NAME)      # pending jobs survive restarts
    queue = JobQueue(store, {"txt2img": run_txt2img, "img2img": run_img2img}).start()
    job_id = queue.submit("txt2img", params_dict, owner="alice")
    job = queue.wait(job_id)                              # the A1111 sync routes
    queue.progress_snapshot()                             # /sdapi/v1/progress
    queue.interrupt(); queue.skip(); queue.cancel(job_id)

A runner is ``runner(params: dict, ctx: JobContext) -> dict`` (JSON-serialisable result).
"""

from modules.jobs.context import JobContext
from modules.jobs.queue import JobQueue, Runner
from modules.jobs.records import Job, JobNotFound, JobProgress, JobStatus
from modules.jobs.store import JOBS_DB_NAME, JobStore

__all__ = ["JOBS_DB_NAME", "Job", "JobContext", "JobNotFound", "JobProgress", "JobQueue", "JobStatus", "JobStore",
           "Runner"]
