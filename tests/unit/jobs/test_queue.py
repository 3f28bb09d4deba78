import logging
import threading

import pytest

from modules.jobs import JobNotFound, JobQueue, JobStatus, JobStore
from tests.unit.jobs.conftest import WAIT, ManualClock


def recording_runner(log: list):
    def run(params, ctx):
        log.append((ctx.job.owner, params["n"]))
        return {"n": params["n"], "device": ctx.device}
    return run


def wait_all(queue, ids):
    return [queue.wait(job_id, timeout=WAIT) for job_id in ids]


def test_fair_order_interleaves_owners_and_keeps_fifo_within_each(make_queue):
    ran = []
    queue = make_queue({"txt2img": recording_runner(ran)})
    ids = [queue.submit("txt2img", {"n": n}, owner) for owner, count in (("A", 5), ("B", 2), ("C", 1))
           for n in range(count)]
    queue.start()
    assert all(job.status is JobStatus.DONE for job in wait_all(queue, ids))
    assert [owner for owner, _ in ran] == ["A", "B", "C", "A", "B", "A", "A", "A"]
    for owner in "ABC":
        assert [n for who, n in ran if who == owner] == sorted(n for who, n in ran if who == owner)


def test_owner_arriving_while_another_is_served_goes_next(make_queue, gates):
    ran, gate = [], gates()

    def run(params, ctx):
        ran.append((ctx.job.owner, params["n"]))
        if params["n"] == 0 and ctx.job.owner == "A":
            gate.hold()
        return {}

    queue = make_queue({"txt2img": run}).start()
    ids = [queue.submit("txt2img", {"n": n}, "A") for n in range(3)]
    gate.wait_reached()
    ids.append(queue.submit("txt2img", {"n": 0}, "B"))
    gate.release()
    wait_all(queue, ids)
    assert ran == [("A", 0), ("B", 0), ("A", 1), ("A", 2)]


def test_pending_jobs_survive_a_restart_and_results_stay_retrievable(db_path):
    ran = []
    store = JobStore(db_path)
    first = JobQueue(store, {"txt2img": recording_runner(ran)})  # never started: the server went down
    ids = [first.submit("txt2img", {"n": n}, owner) for n, owner in enumerate(["a", "b", "a"])]
    store.close()

    store = JobStore(db_path)
    second = JobQueue(store, {"txt2img": recording_runner(ran)}).start()
    try:
        finished = wait_all(second, ids)
    finally:
        second.stop(timeout=WAIT)
        store.close()
    assert [job.status for job in finished] == [JobStatus.DONE] * 3
    assert ran == [("a", 0), ("b", 1), ("a", 2)]
    with JobStore(db_path) as reopened:
        assert [reopened.get(job_id).result["n"] for job_id in ids] == [0, 1, 2]


def test_job_interrupted_by_a_crash_runs_again_after_restart(db_path, make_queue):
    with JobStore(db_path) as store:
        job = store.add("alice", "txt2img", {"n": 7})
        store.claim_next()  # running when the process "dies"
    ran = []
    queue = make_queue({"txt2img": recording_runner(ran)}).start()
    assert queue.store.recovered == [job.id]
    assert queue.wait(job.id, timeout=WAIT).result == {"n": 7, "device": "default"}
    assert ran == [("alice", 7)]


def test_cancel_queued_job_means_it_never_runs(make_queue):
    ran = []
    queue = make_queue({"txt2img": recording_runner(ran)})
    cancelled, kept = queue.submit("txt2img", {"n": 1}, "a"), queue.submit("txt2img", {"n": 2}, "a")
    assert queue.cancel(cancelled).status is JobStatus.CANCELLED
    queue.start()
    assert queue.wait(kept, timeout=WAIT).status is JobStatus.DONE
    assert queue.wait(cancelled, timeout=WAIT).finished_at is not None
    assert ran == [("a", 2)]
    assert queue.cancel(kept).status is JobStatus.DONE  # finished jobs stay as they are
    with pytest.raises(JobNotFound):
        queue.cancel("no-such-job")


def stepping_runner(gate, hold_at_step=3, steps=10):
    """One image of ``steps`` steps, polled A1111-style; held at ``hold_at_step``."""
    def run(params, ctx):
        ctx.set_total(1, steps)
        done = 0
        for step in range(1, steps + 1):
            if ctx.check():
                break
            ctx.step(step)
            done = step
            if step == hold_at_step:
                gate.hold()
        return {"steps_done": done}
    return run


@pytest.mark.parametrize("how", ["cancel", "interrupt"])
def test_interrupting_a_running_job_keeps_its_partial_result(make_queue, gates, how):
    gate = gates()
    queue = make_queue({"txt2img": stepping_runner(gate)}).start()
    job_id = queue.submit("txt2img", {}, "alice")
    gate.wait_reached()
    if how == "cancel":
        assert queue.cancel(job_id).status is JobStatus.RUNNING  # ends after the current step
    else:
        assert queue.interrupt() == [job_id]
    assert queue.progress_snapshot()["state"]["interrupted"] is True
    gate.release()
    job = queue.wait(job_id, timeout=WAIT)
    assert job.status is JobStatus.INTERRUPTED
    assert job.result == {"steps_done": 3}
    assert job.progress.sampling_step == 3 and job.progress.fraction == pytest.approx(0.3)


def test_interrupt_and_skip_for_one_owner_leave_other_owners_jobs_alone(make_queue, gates):
    gate = gates()
    queue = make_queue({"txt2img": stepping_runner(gate)}).start()
    job_id = queue.submit("txt2img", {}, "alice")
    gate.wait_reached()
    assert queue.interrupt(owner="bob") == [] and queue.skip(owner="bob") == []
    gate.release()
    job = queue.wait(job_id, timeout=WAIT)
    assert (job.status, job.result) == (JobStatus.DONE, {"steps_done": 10})


def test_skip_drops_the_current_image_and_the_batch_goes_on(make_queue, gates):
    gate = gates()

    def run(params, ctx):
        ctx.set_total(3, 4)
        done = []
        for image in range(3):
            steps = 0
            for step in range(1, 5):
                if ctx.check():
                    break
                ctx.step(step)
                steps = step
                if image == 0 and step == 2:
                    gate.hold()
            done.append(steps)
            ctx.next_job()
        return {"steps_per_image": done}

    queue = make_queue({"txt2img": run}).start()
    job_id = queue.submit("txt2img", {}, "alice")
    gate.wait_reached()
    assert queue.skip() == [job_id]
    assert queue.progress_snapshot()["state"]["skipped"] is True
    gate.release()
    job = queue.wait(job_id, timeout=WAIT)
    assert (job.status, job.result) == (JobStatus.DONE, {"steps_per_image": [2, 4, 4]})
    assert job.progress.fraction == 1.0


def test_failing_runner_fails_its_job_with_a_readable_message_and_the_queue_goes_on(make_queue, caplog):
    def run(params, ctx):
        if params["width"] % 8:
            raise ValueError(f"width={params['width']} must be a multiple of 8")
        return {"ok": True}

    queue = make_queue({"txt2img": run}).start()
    with caplog.at_level(logging.ERROR, logger="modules.jobs.queue"):
        bad = queue.wait(queue.submit("txt2img", {"width": 63}, "a"), timeout=WAIT)
    good = queue.wait(queue.submit("txt2img", {"width": 64}, "a"), timeout=WAIT)
    assert bad.status is JobStatus.FAILED
    assert bad.error == "ValueError: width=63 must be a multiple of 8"
    assert bad.result is None
    assert any(record.exc_info for record in caplog.records)  # the traceback went to the log
    assert (good.status, good.result) == (JobStatus.DONE, {"ok": True})


@pytest.mark.parametrize("result, message", [
    (["not", "a", "dict"], "returned list, expected a dict"),
    ({"image": object()}, "must be JSON-serialisable"),
])
def test_runner_returning_an_unusable_result_fails_the_job(make_queue, result, message):
    queue = make_queue({"txt2img": lambda params, ctx: result}).start()
    job = queue.wait(queue.submit("txt2img", {}, "a"), timeout=WAIT)
    assert job.status is JobStatus.FAILED and message in job.error


def test_wait_returns_the_finished_job_and_times_out_on_a_pending_one(make_queue):
    queue = make_queue({"txt2img": lambda params, ctx: {"images": [f"{params['seed']}.png"]}})
    job_id = queue.submit("txt2img", {"seed": 42}, "a")
    with pytest.raises(TimeoutError, match="still queued"):
        queue.wait(job_id, timeout=0.01)
    queue.start()
    job = queue.wait(job_id, timeout=WAIT)
    assert (job.status, job.result) == (JobStatus.DONE, {"images": ["42.png"]})
    assert queue.get(job_id) == job
    with pytest.raises(JobNotFound):
        queue.wait("no-such-job", timeout=0.01)


def test_progress_snapshot_and_eta_from_measured_step_time(make_queue, gates):
    clock, gate = ManualClock(), gates()

    def run(params, ctx):
        ctx.set_total(2, 10)
        clock.advance(3.0)  # setup before the first step
        ctx.step(1)
        for step in (2, 3):
            clock.advance(0.5)
            ctx.step(step)
        ctx.textinfo = "Sampling"
        ctx.set_preview(b"preview")
        gate.hold()
        return {"images": []}

    queue = make_queue({"txt2img": run}, clock=clock)
    assert queue.progress_snapshot() == {"progress": 0.0, "eta_relative": 0.0, "current_image": None,
                                         "textinfo": None, "state": {
                                             "skipped": False, "interrupted": False, "job": "", "job_count": 0,
                                             "job_timestamp": "0", "job_no": 0, "sampling_step": 0,
                                             "sampling_steps": 0}}
    job_id = queue.start().submit("txt2img", {}, "alice")
    gate.wait_reached()
    snapshot = queue.progress_snapshot()
    assert snapshot["progress"] == pytest.approx((0 + 3 / 10) / 2)
    assert snapshot["eta_relative"] == pytest.approx(0.5 * (10 + 7))  # 0.5 s/step x 17 steps left
    state = snapshot["state"]
    assert (state["job"], state["job_no"], state["job_count"]) == ("txt2img", 0, 2)
    assert (state["sampling_step"], state["sampling_steps"]) == (3, 10)
    assert (state["skipped"], state["interrupted"]) == (False, False)
    assert len(state["job_timestamp"]) == 14
    assert (snapshot["current_image"], snapshot["textinfo"]) == (b"preview", "Sampling")
    assert queue.preview(job_id) == b"preview"

    live = queue.get(job_id)  # per-job view for GET /easel/v1/jobs/{id}
    assert live.status is JobStatus.RUNNING
    assert live.progress.fraction == pytest.approx(0.15)
    assert live.progress.eta_relative == pytest.approx(8.5)
    assert live.textinfo == "Sampling"
    assert [job.progress.fraction for job in queue.list(owner="alice")] == [pytest.approx(0.15)]

    gate.release()
    done = queue.wait(job_id, timeout=WAIT)
    assert (done.progress.fraction, done.progress.eta_relative) == (1.0, 0.0)
    assert queue.progress_snapshot()["state"]["job_count"] == 0
    assert queue.preview(job_id) is None


def test_next_job_of_a_kind_starts_with_the_step_time_measured_on_the_last_one(make_queue, gates):
    clock, holds = ManualClock(), {"txt2img": gates(), "img2img": gates()}

    def run(params, ctx):
        if params.get("measure"):
            ctx.set_total(1, 4)
            for step in range(1, 5):
                clock.advance(0.25)
                ctx.step(step)
        else:
            ctx.set_total(1, 8)
            holds[ctx.job.kind].hold()  # planned, but no step timed yet
        return {}

    queue = make_queue({"txt2img": run, "img2img": run}, clock=clock).start()
    queue.wait(queue.submit("txt2img", {"measure": True}, "a"), timeout=WAIT)

    other_kind = queue.submit("img2img", {}, "a")
    holds["img2img"].wait_reached()
    assert queue.get(other_kind).progress.eta_relative is None  # nothing measured for img2img: no guess
    assert queue.progress_snapshot()["eta_relative"] == 0.0
    holds["img2img"].release()

    same_kind = queue.submit("txt2img", {}, "a")
    holds["txt2img"].wait_reached()
    assert queue.get(same_kind).progress.eta_relative == pytest.approx(0.25 * 8)
    assert queue.progress_snapshot()["eta_relative"] == pytest.approx(0.25 * 8)


def test_one_worker_per_device_runs_jobs_side_by_side(make_queue, gates):
    both_running = threading.Barrier(2, timeout=WAIT)

    def run(params, ctx):
        both_running.wait()  # only passes when two jobs run at the same time
        return {"device": ctx.device}

    queue = make_queue({"txt2img": run}, devices=("cuda:0", "cuda:1")).start()
    jobs = wait_all(queue, [queue.submit("txt2img", {}, owner) for owner in ("a", "b")])
    assert sorted(job.result["device"] for job in jobs) == ["cuda:0", "cuda:1"]


def test_stop_waits_for_the_running_job_and_leaves_the_queue_for_next_start(make_queue, gates):
    gate = gates()

    def run(params, ctx):
        if params["n"] == 0:
            gate.hold()
        return {"n": params["n"]}

    queue = make_queue({"txt2img": run}).start()
    first, second = queue.submit("txt2img", {"n": 0}, "a"), queue.submit("txt2img", {"n": 1}, "a")
    gate.wait_reached()
    assert queue.stop(timeout=0.05) is False  # still running: stop does not abandon it
    gate.release()
    assert queue.stop(timeout=WAIT) is True
    assert queue.get(first).status is JobStatus.DONE
    assert queue.get(second).status is JobStatus.QUEUED
    queue.start()
    assert queue.wait(second, timeout=WAIT).status is JobStatus.DONE


def test_job_of_a_kind_without_runner_fails_clearly(db_path, make_queue):
    with JobStore(db_path) as store:
        job = store.add("a", "train", {})  # queued by an earlier run that had a trainer
    queue = make_queue({"txt2img": lambda params, ctx: {}}).start()
    failed = queue.wait(job.id, timeout=WAIT)
    assert failed.status is JobStatus.FAILED and "no runner for kind 'train'" in failed.error


@pytest.mark.parametrize("runners, devices, message", [
    ({"": lambda p, c: {}}, ("default",), "runners\\[''\\]"),
    ({"txt2img": "not callable"}, ("default",), "runners\\['txt2img'\\]"),
    ({"txt2img": lambda p, c: {}}, (), "devices=\\[\\]"),
    ({"txt2img": lambda p, c: {}}, ("cuda:0", "cuda:0"), "distinct"),
])
def test_bad_queue_setup_is_rejected(db_path, runners, devices, message):
    with JobStore(db_path) as store:
        with pytest.raises(ValueError, match=message):
            JobQueue(store, runners, devices=devices)


def test_submit_rejects_unknown_kind_and_bad_params_naming_them(make_queue):
    queue = make_queue({"txt2img": lambda params, ctx: {}})
    with pytest.raises(ValueError, match="kind='txt3img' has no runner; known kinds: txt2img"):
        queue.submit("txt3img", {}, "a")
    with pytest.raises(ValueError, match="owner=''"):
        queue.submit("txt2img", {}, "")
    assert queue.list() == []
