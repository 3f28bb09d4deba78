"""Start the real server as a user does and load the page."""

import re
import subprocess
import sys
import time

import httpx
import pytest

from modules.cmd_args import REPO_ROOT
from modules.sd_models.random_weights import write_checkpoint
from tests.helpers import TINY_ARCHITECTURES


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    write_checkpoint(tmp_path / "models" / "Stable-diffusion" / "tiny.safetensors", TINY_ARCHITECTURES["sd1"])
    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "launch.py"), "--skip-install", "--api", "--port", str(port),
         "--data-dir", str(tmp_path), "--no-demo-model"],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    base = f"http://127.0.0.1:{port}"
    page_seconds = None
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    page_seconds = time.perf_counter() - started
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert page_seconds is not None, open(tmp_path / "server.log").read()
        yield base, page_seconds, tmp_path / "server.log"
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def test_page_and_api_answer_and_startup_is_logged(server):
    base, page_seconds, log_path = server
    page = httpx.get(base + "/", timeout=10)
    assert "<title>Easel</title>" in page.text or "gradio" in page.text.lower()
    for _ in range(300):  # the checkpoint loads in the background
        options = httpx.get(base + "/sdapi/v1/options", timeout=10).json()
        if options["sd_model_checkpoint"]:
            break
        time.sleep(0.2)
    assert re.fullmatch(r"tiny\.safetensors \[[0-9a-f]{10}\]", options["sd_model_checkpoint"])
    log = log_path.read_text()
    assert re.search(r"Startup time: [\d.]+s \(import torch: [\d.]+s", log)
    print(f"page answered {page_seconds:.1f}s after launch")  # goal: within 10 s (measured in tools/)
