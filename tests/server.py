"""Start the real server as a user does (launch.py in a subprocess) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from modules.cmd_args import REPO_ROOT

# One torch thread, as in-process tests use: the CI machine has 2 cores.
SERVER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
              "GRADIO_ANALYTICS_ENABLED": "False"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A launch.py process serving `data_dir` at `base` (http://127.0.0.1:PORT)."""

    process: subprocess.Popen
    base: str
    data_dir: Path
    log_path: Path
    started_at: float = field(default_factory=time.perf_counter)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_answering(self, path: str = "/", timeout: float = 120, **request) -> float:
        """Seconds from launch until GET `path` answers 200 (the server log on failure)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base + path, timeout=2, **request).status_code == 200:
                    return time.perf_counter() - self.started_at
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.base}{path} did not answer within {timeout}s:\n{self.log()}")

    def wait_for_checkpoint(self, timeout: float = 120, **request) -> str:
        """The title of the checkpoint once the background load has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            title = httpx.get(self.base + "/sdapi/v1/options", timeout=10, **request).json()["sd_model_checkpoint"]
            if title:
                return title
            time.sleep(0.2)
        raise AssertionError(f"no checkpoint loaded within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power cut."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(20)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def launch(data_dir: Path, *flags: str, port: int | None = None) -> Server:
    """Start `launch.py --skip-install --data-dir DATA_DIR FLAGS` on a free (or given) port.
    The output goes to DATA_DIR/server.log, appended to across restarts."""
    port = port or free_port()
    log_path = data_dir / "server.log"
    with open(log_path, "a") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "launch.py"), "--skip-install", "--port", str(port),
             "--data-dir", str(data_dir), *flags],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env={**os.environ, **SERVER_ENV})
    return Server(process, f"http://127.0.0.1:{port}", data_dir, log_path)


@contextmanager
def running_server(data_dir: Path, *flags: str) -> Iterator[Server]:
    """`launch` that always stops the server afterwards."""
    server = launch(data_dir, *flags)
    try:
        yield server
    finally:
        server.stop()
