"""The job queue of a real server: fair to concurrent users, and nothing lost to a crash.

Three API users (--api-auth; the queue's owner is the user name) submit five small
demo-model jobs each through POST /easel/v1/jobs, while a first job runs. The order the jobs
ran in must be round-robin across users and first-in-first-out within each; the progress
/sdapi/v1/progress reports for the running job, and each job's own progress, must only go forward. Then the server is killed with SIGKILL
while jobs wait, and restarted on the same data dir: every job must end done, and every
image finished before the crash must still download, byte for byte.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from itertools import pairwise
from pathlib import Path

import httpx

from modules.jobs import JOBS_DB_NAME
from tests.server import Server, free_port, launch

USERS = {"user1": "pw1", "user2": "pw2", "user3": "pw3"}
JOB = {"prompt": "a red circle on a white background", "width": 64, "height": 64, "steps": 3,
       "sampler_name": "Euler", "cfg_scale": 7}
# runs while the others are submitted, so all of them wait in the queue together
HEAD_JOB = {**JOB, "steps": 40, "n_iter": 3}
LONG_JOB = {**JOB, "steps": 60}  # long enough to be killed half-way


class User:
    """One API user's view of the server: their jobs only."""

    def __init__(self, base: str, name: str):
        self.name = name
        self.http = httpx.Client(base_url=base, auth=(name, USERS[name]), timeout=60)

    def submit(self, params: dict) -> str:
        response = self.http.post("/easel/v1/jobs", json={"kind": "txt2img", "params": params})
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        response = self.http.get(f"/easel/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def image(self, job_id: str) -> bytes:
        response = self.http.get(f"/easel/v1/jobs/{job_id}/images/0")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
        return response.content


def start(data_dir: Path, port: int) -> Server:
    server = launch(data_dir, "--api", "--nowebui",
                    "--api-auth", ",".join(f"{user}:{password}" for user, password in USERS.items()), port=port)
    server.wait_until_answering("/docs")
    server.wait_for_checkpoint(auth=("user1", USERS["user1"]))
    return server


def wait_until_done(users: dict[str, User], jobs: dict[str, str], timeout: float = 120,
                    history: dict[str, list[dict]] | None = None) -> dict[str, dict]:
    """{job id: job view} once every job (id -> owner name) has finished; `history` gets
    every view polled meanwhile, by job id."""
    deadline = time.monotonic() + timeout
    while True:
        views = {job_id: users[owner].job(job_id) for job_id, owner in jobs.items()}
        if history is not None:
            for job_id, view in views.items():
                history.setdefault(job_id, []).append(view)
        if all(view["status"] not in ("queued", "running") for view in views.values()):
            return views
        assert time.monotonic() < deadline, {k: v["status"] for k, v in views.items()}
        time.sleep(0.1)


def progress_while_running(user: User, job_id: str) -> list[dict]:
    """/sdapi/v1/progress samples taken while `job_id` was the running job (it was running
    both before and after each sample; one worker runs one job at a time)."""
    samples = []
    while user.job(job_id)["status"] in ("queued", "running"):
        before = user.job(job_id)["status"]
        sample = user.http.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()
        if before == "running" and user.job(job_id)["status"] == "running":
            samples.append(sample)
        time.sleep(0.02)
    return samples


def submit_concurrently(users: dict[str, User], counts: dict[str, int], params: dict) -> dict[str, str]:
    """Each user submits `counts[user]` jobs in a row, all users at once; {job id: owner}."""
    submitted: dict[str, str] = {}

    def submit_all(user: User) -> None:
        for _ in range(counts[user.name]):
            submitted[user.submit(params)] = user.name

    threads = [threading.Thread(target=submit_all, args=(users[name],)) for name in counts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(submitted) == sum(counts.values())
    return submitted


def test_fair_order_forward_progress_and_nothing_lost_to_a_crash(tmp_path):
    data_dir, port = tmp_path, free_port()
    server = start(data_dir, port)
    try:
        users = {name: User(server.base, name) for name in USERS}
        finished_images = check_fair_order_and_progress(users)
        server = crash_mid_queue_and_restart(server, users, data_dir, port, finished_images)
    finally:
        server.stop()


def check_fair_order_and_progress(users: dict[str, User]) -> dict[tuple[str, str], bytes]:
    """Runs the 3 x 5 jobs; returns the first image of each, by (owner, job id)."""
    head = users["user1"].submit(HEAD_JOB)
    progress: list[dict] = []
    watcher = threading.Thread(target=lambda: progress.extend(progress_while_running(users["user1"], head)))
    watcher.start()
    # user1 queues the rest first, so first-come-first-served would run all of user1's jobs next
    jobs = {head: "user1", **submit_concurrently(users, {"user1": 4}, JOB),
            **submit_concurrently(users, {"user2": 5, "user3": 5}, JOB)}
    history: dict[str, list[dict]] = {}
    views = wait_until_done(users, jobs, history=history)
    watcher.join(120)
    assert all(view["status"] == "done" for view in views.values()), views
    for job_id, seen in history.items():  # every job's own progress, from queued to done, only goes forward
        statuses = [view["status"] for view in seen]
        assert statuses == sorted(statuses, key=["queued", "running", "done"].index), (job_id, statuses)
        fractions = [view["progress"]["fraction"] for view in seen]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0, (job_id, fractions)
    assert any("running" in (view["status"] for view in seen) for seen in history.values())

    others_submitted = max(view["created_at"] for job_id, view in views.items() if job_id != head)
    assert others_submitted < views[head]["finished_at"], "setup: the head job ended before all jobs were queued"
    runs = sorted(views.values(), key=lambda view: view["served_seq"])
    assert all(a["finished_at"] <= b["started_at"] for a, b in pairwise(runs))  # one at a time
    first_turns = sorted(("user:user2", "user:user3"), key=lambda owner: min(
        view["seq"] for view in views.values() if view["owner"] == owner))
    assert [view["owner"] for view in runs] == ["user:user1", *first_turns] * 5  # round-robin
    for owner in ("user:user1", "user:user2", "user:user3"):
        mine = [view["seq"] for view in runs if view["owner"] == owner]
        assert mine == sorted(mine), f"{owner}'s jobs ran out of submission order"

    assert len(progress) >= 5, progress
    plan = [(p["state"]["job_no"], p["state"]["sampling_step"]) for p in progress]
    fractions = [p["progress"] for p in progress]
    assert plan == sorted(plan) and fractions == sorted(fractions), (plan, fractions)
    assert fractions[0] < fractions[-1] and {p["state"]["job_count"] for p in progress} == {3}
    return {(owner, job_id): users[owner].image(job_id) for job_id, owner in jobs.items()}


def crash_mid_queue_and_restart(server: Server, users: dict[str, User], data_dir: Path, port: int,
                                finished_images: dict[tuple[str, str], bytes]) -> Server:
    jobs = submit_concurrently(users, {name: 2 for name in USERS}, JOB)
    jobs.update({users[name].submit(LONG_JOB): name for name in USERS})
    wait_for_sampling(users["user1"], LONG_JOB["steps"])  # a long job is half-way: kill now
    done = [job_id for job_id, owner in jobs.items() if users[owner].job(job_id)["status"] == "done"]
    finished_images.update({(jobs[job_id], job_id): users[jobs[job_id]].image(job_id) for job_id in done})
    server.kill()
    at_kill = job_statuses(data_dir / JOBS_DB_NAME)
    assert {"done", "running", "queued"} <= set(at_kill.values()), at_kill

    restarted_at = time.time()
    server = start(data_dir, port)
    after = wait_until_done(users, jobs)
    assert all(view["status"] == "done" for view in after.values()), after
    for job_id, status in at_kill.items():
        if status in ("queued", "running"):
            assert after[job_id]["started_at"] > restarted_at, f"{status} job {job_id} did not run after the restart"
    for (owner, job_id), image in finished_images.items():
        assert users[owner].image(job_id) == image, f"the result of job {job_id} changed or was lost"
    for name, user in users.items():  # nobody's list lost or gained a job
        listed = {view["id"] for view in user.http.get("/easel/v1/jobs").json()}
        assert listed == {job_id for (owner, job_id) in finished_images if owner == name} | \
               {job_id for job_id, owner in jobs.items() if owner == name}
    return server


def wait_for_sampling(user: User, steps: int, timeout: float = 60) -> None:
    """Until /sdapi/v1/progress shows a job of `steps` steps in its first half."""
    deadline = time.monotonic() + timeout
    while True:
        state = user.http.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()["state"]
        if state["sampling_steps"] == steps and 0 < state["sampling_step"] < steps // 2:
            return
        assert time.monotonic() < deadline, state
        time.sleep(0.02)


def job_statuses(db_path: Path) -> dict[str, str]:
    """What the queue's database held at the moment of the crash (read-only)."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT id, status FROM jobs").fetchall())
