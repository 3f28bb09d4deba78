"""POST /sdapi/v1/server-restart on a real server started through launch.py, as a user runs it."""

import signal
import time

import httpx
import pytest

from modules.sd_models.random_weights import write_checkpoint
from tests.helpers import TINY_ARCHITECTURES
from tests.server import running_server

# The first job is long enough to still run when the restart arrives; the second is quick.
JOBS = [{"prompt": "a circle", "steps": 60, "width": 64, "height": 64, "seed": 1},
        {"prompt": "a square", "steps": 1, "width": 64, "height": 64, "seed": 2}]


def wait_for(condition, what: str, server, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; server log:\n{server.log()}")


def test_restart_comes_back_on_the_same_port_and_keeps_queued_jobs(tmp_path):
    write_checkpoint(tmp_path / "models" / "Stable-diffusion" / "tiny.safetensors", TINY_ARCHITECTURES["sd1"])
    with running_server(tmp_path, "--nowebui", "--api-server-stop", "--no-demo-model") as server:
        server.wait_until_answering("/sdapi/v1/options")
        server.wait_for_checkpoint()

        def status(job_id: str) -> str:
            return httpx.get(f"{server.base}/easel/v1/jobs/{job_id}", timeout=5).json()["status"]

        # The first job runs through the stop; the second must wait for the next start in SQLite.
        jobs = [httpx.post(server.base + "/easel/v1/jobs", json={"kind": "txt2img", "params": params},
                           timeout=10).json()["id"] for params in JOBS]
        wait_for(lambda: status(jobs[0]) == "running", "the first job to start", server)
        assert httpx.post(server.base + "/sdapi/v1/server-restart", timeout=10).status_code == 200

        wait_for(lambda: server.log().count("Running on") == 2, "the second start", server)
        server.wait_for_checkpoint()  # the same port answers again
        assert server.process.poll() is None  # the same process, running a fresh interpreter
        wait_for(lambda: [status(job) for job in jobs] == ["done", "done"], "both jobs", server)

        log = server.log()
        stopped_at = log.index("Server stopped for a restart")
        assert log.index(f"job {jobs[0]} ended done") < stopped_at  # finished before the stop
        assert log.index(f"job {jobs[1]} (txt2img") > stopped_at  # started only after it


def test_without_the_flag_there_is_no_restart_route(tmp_path):
    with running_server(tmp_path, "--nowebui", "--no-demo-model") as server:
        server.wait_until_answering("/sdapi/v1/scripts")
        assert httpx.post(server.base + "/sdapi/v1/server-restart", timeout=10).status_code == 404
        assert server.process.poll() is None


@pytest.mark.parametrize("route, exit_status", [("server-stop", 0), ("server-kill", -signal.SIGTERM)])
def test_stop_and_kill_end_the_server_when_enabled(tmp_path, route, exit_status):
    with running_server(tmp_path, "--nowebui", "--api-server-stop", "--no-demo-model") as server:
        server.wait_until_answering("/sdapi/v1/scripts")
        try:
            httpx.post(f"{server.base}/sdapi/v1/{route}", timeout=10)
        except httpx.HTTPError:
            pass  # the server may go before it answers
        assert server.process.wait(30) == exit_status, server.log()
        assert "Application shutdown complete" in server.log()  # the job queue was stopped in order
