import json
import sqlite3
import threading

import pytest

from modules.jobs import JobNotFound, JobProgress, JobStatus, JobStore


def test_added_job_is_queued_with_a_uuid_hex_id_and_its_params(db_path):
    with JobStore(db_path, wall_clock=lambda: 123.0) as store:
        job = store.add("alice", "txt2img", {"prompt": "a red circle", "steps": 20})
        assert len(job.id) == 32 and int(job.id, 16) >= 0
        assert (job.owner, job.kind, job.status, job.created_at) == ("alice", "txt2img", JobStatus.QUEUED, 123.0)
        assert store.get(job.id).params == {"prompt": "a red circle", "steps": 20}


def test_database_uses_wal_mode(db_path):
    JobStore(db_path).close()
    assert sqlite3.connect(db_path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_finished_job_and_its_result_survive_a_reopen(db_path):
    with JobStore(db_path) as store:
        job = store.add("alice", "txt2img", {"steps": 4})
        store.claim_next()
        progress = JobProgress(job_no=1, job_count=1, sampling_step=4, sampling_steps=4, fraction=1.0, eta_relative=0)
        store.finish(job.id, JobStatus.DONE, result={"images": ["outputs/1.png"]}, progress=progress,
                     textinfo="done")
    with JobStore(db_path) as store:
        again = store.get(job.id)
    assert again.status is JobStatus.DONE
    assert again.result == {"images": ["outputs/1.png"]}
    assert again.progress == progress and again.textinfo == "done"
    assert again.started_at is not None and again.finished_at is not None
    as_json = json.loads(json.dumps(again.to_dict()))  # what the API returns
    assert as_json["status"] == "done" and as_json["progress"]["fraction"] == 1.0
    assert as_json["result"] == {"images": ["outputs/1.png"]}


def test_job_left_running_by_a_crash_is_queued_again_and_runs_first(db_path):
    with JobStore(db_path) as store:
        crashed = store.add("alice", "txt2img", {})
        other = store.add("bob", "txt2img", {})
        assert store.claim_next().id == crashed.id
    # closed without finish(): as if the process died mid-job
    with JobStore(db_path) as store:
        assert store.recovered == [crashed.id]
        job = store.get(crashed.id)
        assert (job.status, job.started_at, job.served_seq) == (JobStatus.QUEUED, None, None)
        assert store.claim_next().id == crashed.id
        assert store.get(other.id).status is JobStatus.QUEUED


def test_claim_follows_fair_order_and_fifo_within_an_owner(db_path):
    with JobStore(db_path) as store:
        ids = {}
        for owner, count in (("A", 3), ("B", 2)):
            ids[owner] = [store.add(owner, "txt2img", {"n": n}).id for n in range(count)]
        claimed = [store.claim_next() for _ in range(5)]
        assert store.claim_next() is None
    assert [job.owner for job in claimed] == ["A", "B", "A", "B", "A"]
    assert [job.id for job in claimed if job.owner == "A"] == ids["A"]
    assert [job.served_seq for job in claimed] == [1, 2, 3, 4, 5]


def test_concurrent_claims_never_hand_out_a_job_twice(db_path):
    with JobStore(db_path) as store:
        for n in range(40):
            store.add(f"owner{n % 3}", "txt2img", {"n": n})
        claimed, lock = [], threading.Lock()

        def claim_all():
            while (job := store.claim_next()) is not None:
                with lock:
                    claimed.append(job.id)

        threads = [threading.Thread(target=claim_all) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40


def test_cancel_only_changes_a_queued_job(db_path):
    with JobStore(db_path) as store:
        queued = store.add("alice", "txt2img", {})
        assert store.cancel_queued(queued.id) is True
        assert store.cancel_queued(queued.id) is False
        assert store.get(queued.id).status is JobStatus.CANCELLED
        assert store.claim_next() is None


def test_finish_is_only_allowed_from_running_and_to_an_ending_status(db_path):
    with JobStore(db_path) as store:
        job = store.add("alice", "txt2img", {})
        with pytest.raises(ValueError, match="is queued, not running"):
            store.finish(job.id, JobStatus.DONE)
        store.claim_next()
        with pytest.raises(ValueError, match="status='cancelled' cannot end a running job"):
            store.finish(job.id, JobStatus.CANCELLED)
        with pytest.raises(ValueError, match="result must be JSON-serialisable"):
            store.finish(job.id, JobStatus.DONE, result={"image": object()})
        assert store.finish(job.id, JobStatus.FAILED, error="boom").error == "boom"
        with pytest.raises(ValueError, match="is failed, not running"):
            store.finish(job.id, JobStatus.DONE)


def test_list_filters_by_owner_and_status(db_path):
    with JobStore(db_path) as store:
        a1 = store.add("a", "txt2img", {})
        b1 = store.add("b", "img2img", {})
        a2 = store.add("a", "extras", {})
        store.cancel_queued(a2.id)
        assert [job.id for job in store.list()] == [a1.id, b1.id, a2.id]
        assert [job.id for job in store.list(owner="a")] == [a1.id, a2.id]
        assert [job.id for job in store.list(owner="a", status="queued")] == [a1.id]
        assert [job.id for job in store.list(status=JobStatus.CANCELLED)] == [a2.id]
        with pytest.raises(ValueError, match="status='bogus' is not a job status"):
            store.list(status="bogus")


@pytest.mark.parametrize("owner, kind, params, message", [
    ("", "txt2img", {}, "owner=''"),
    ("a", "", {}, "kind=''"),
    ("a", "txt2img", ["steps"], "params must be a dict"),
    ("a", "txt2img", {"image": b"\x89PNG"}, "params must be JSON-serialisable"),
    ("a", "txt2img", {"cfg": float("nan")}, "params must be JSON-serialisable"),
])
def test_bad_jobs_are_rejected_with_the_field_named(db_path, owner, kind, params, message):
    with JobStore(db_path) as store:
        with pytest.raises(ValueError, match=message):
            store.add(owner, kind, params)
        assert store.list() == []


def test_unknown_job_id_and_closed_store_give_clear_errors(db_path):
    store = JobStore(db_path)
    with pytest.raises(JobNotFound, match="no job with id 'nope'"):
        store.get("nope")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="is closed"):
        store.list()
